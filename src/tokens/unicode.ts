// Unicode character classes the lexer needs, answered by the JS engine's own Unicode tables
// (`\p{...}` regexes), cached per code point so each class is tested once per character.
// ASCII never reaches here: the lexer answers ASCII itself.
//
// rustc uses unicode-ident (XID_Start/XID_Continue) and unicode-properties (Emoji); both follow
// the Unicode version of the toolchain, the JS engine follows its ICU. They agree except for
// characters added between the two versions.
//
// Browser-safe: no Node APIs here.

const XID_START = /^\p{XID_Start}$/u;
const XID_CONTINUE = /^\p{XID_Continue}$/u;
const EMOJI = /^\p{Emoji}$/u;

function cachedClass(re: RegExp): (cp: number) => boolean {
  const cache = new Map<number, boolean>();
  return (cp) => {
    let hit = cache.get(cp);
    if (hit === undefined) {
      hit = re.test(String.fromCodePoint(cp));
      cache.set(cp, hit);
    }
    return hit;
  };
}

const nonAsciiXidStart = cachedClass(XID_START);
const nonAsciiXidContinue = cachedClass(XID_CONTINUE);
const nonAsciiEmoji = cachedClass(EMOJI);

function isAsciiAlpha(cp: number): boolean {
  return (cp >= 0x61 && cp <= 0x7a) || (cp >= 0x41 && cp <= 0x5a);
}

/** rustc_lexer::is_id_start: `_` or XID_Start. */
export function isIdStart(cp: number): boolean {
  if (cp < 0x80) return isAsciiAlpha(cp) || cp === 0x5f;
  return nonAsciiXidStart(cp);
}

/** rustc_lexer::is_id_continue: XID_Continue. */
export function isIdContinue(cp: number): boolean {
  if (cp < 0x80) return isAsciiAlpha(cp) || cp === 0x5f || (cp >= 0x30 && cp <= 0x39);
  return nonAsciiXidContinue(cp);
}

/** `!c.is_ascii() && c.is_emoji_char()` as rustc_lexer asks it. */
export function isNonAsciiEmoji(cp: number): boolean {
  return cp >= 0x80 && nonAsciiEmoji(cp);
}

/** rustc_lexer::is_whitespace (Pattern_White_Space). */
export function isWhitespace(cp: number): boolean {
  switch (cp) {
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x85:
    case 0x2028:
    case 0x2029:
    case 0x200e:
    case 0x200f:
    case 0x09:
    case 0x20:
      return true;
    default:
      return false;
  }
}

/** rustc_lexer::is_ident on a whole string. */
export function isIdent(s: string): boolean {
  if (s.length === 0) return false;
  let i = 0;
  let first = true;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    if (first ? !isIdStart(cp) : !isIdContinue(cp)) return false;
    first = false;
    i += cp > 0xffff ? 2 : 1;
  }
  return true;
}

/** UTF-8 length of the UTF-16 range [from, to) of `s` (surrogate pairs count 4 bytes). */
export function utf8Length(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const u = s.charCodeAt(i);
    if (u < 0x80) n += 1;
    else if (u < 0x800) n += 2;
    else if (u >= 0xd800 && u <= 0xdbff && i + 1 < to) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
