// rustc-literal-escaper 0.0.7's `check_for_errors`: validates the inside of a quoted literal
// and reports each escape error with its UTF-16 range within the content. Also the small
// char-escaping helpers rustc uses in messages and doc-comment desugaring, and the value of a
// cooked string literal (the one unescaper: the host and the bridge use it).
//
// Browser-safe: no Node APIs here.

export type EscapeMode = "Char" | "Byte" | "Str" | "RawStr" | "ByteStr" | "RawByteStr" | "CStr" | "RawCStr";

export type EscapeError =
  | "ZeroChars"
  | "MoreThanOneChar"
  | "LoneSlash"
  | "InvalidEscape"
  | "BareCarriageReturn"
  | "BareCarriageReturnInRawString"
  | "EscapeOnlyChar"
  | "TooShortHexEscape"
  | "InvalidCharInHexEscape"
  | "OutOfRangeHexEscape"
  | "NoBraceInUnicodeEscape"
  | "InvalidCharInUnicodeEscape"
  | "EmptyUnicodeEscape"
  | "UnclosedUnicodeEscape"
  | "LeadingUnderscoreUnicodeEscape"
  | "OverlongUnicodeEscape"
  | "LoneSurrogateUnicodeEscape"
  | "OutOfRangeUnicodeEscape"
  | "UnicodeEscapeInByte"
  | "NonAsciiCharInByte"
  | "NulInCStr"
  | "UnskippedWhitespaceWarning"
  | "MultipleSkippedLinesWarning";

export function isFatalEscapeError(e: EscapeError): boolean {
  return e !== "UnskippedWhitespaceWarning" && e !== "MultipleSkippedLinesWarning";
}

type Unit = "char" | "byte" | "cstr";

/** A char iterator over a JS string by code point; `pos` is a UTF-16 index. */
class Chars {
  constructor(
    readonly s: string,
    public pos: number,
    readonly end: number,
  ) {}
  next(): number | undefined {
    if (this.pos >= this.end) return undefined;
    const c = this.s.codePointAt(this.pos)!;
    this.pos += c > 0xffff ? 2 : 1;
    return c;
  }
  peek(): number | undefined {
    if (this.pos >= this.end) return undefined;
    return this.s.codePointAt(this.pos)!;
  }
}

class Fail {
  constructor(readonly error: EscapeError) {}
}

function hexDigit(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Unit value of a checked unit (only zero-ness and ASCII-ness matter to callers). */
function unescape1(chars: Chars, unit: Unit): number {
  const c = chars.next();
  if (c === undefined) throw new Fail("LoneSlash");
  if (c === 0x30) {
    if (unit === "cstr") throw new Fail("NulInCStr");
    return 0;
  }
  switch (c) {
    case 0x22:
    case 0x6e:
    case 0x72:
    case 0x74:
    case 0x5c:
    case 0x27:
      return 1;
    case 0x78: {
      const hi = chars.next();
      if (hi === undefined) throw new Fail("TooShortHexEscape");
      const h = hexDigit(hi);
      if (h < 0) throw new Fail("InvalidCharInHexEscape");
      const lo = chars.next();
      if (lo === undefined) throw new Fail("TooShortHexEscape");
      const l = hexDigit(lo);
      if (l < 0) throw new Fail("InvalidCharInHexEscape");
      const b = h * 16 + l;
      if (unit === "char" && b >= 0x80) throw new Fail("OutOfRangeHexEscape");
      if (unit === "cstr" && b === 0) throw new Fail("NulInCStr");
      return b;
    }
    case 0x75: {
      const value = unicodeEscape(chars);
      let r: number | EscapeError;
      if (value > 0x10ffff) r = "OutOfRangeUnicodeEscape";
      else if (value >= 0xd800 && value <= 0xdfff) r = "LoneSurrogateUnicodeEscape";
      else r = value;
      if (unit === "byte") throw new Fail("UnicodeEscapeInByte");
      if (typeof r === "string") throw new Fail(r);
      if (unit === "cstr" && r === 0) throw new Fail("NulInCStr");
      return r;
    }
    default:
      throw new Fail("InvalidEscape");
  }
}

function unicodeEscape(chars: Chars): number {
  if (chars.next() !== 0x7b) throw new Fail("NoBraceInUnicodeEscape");
  const first = chars.next();
  if (first === undefined) throw new Fail("UnclosedUnicodeEscape");
  if (first === 0x5f) throw new Fail("LeadingUnderscoreUnicodeEscape");
  if (first === 0x7d) throw new Fail("EmptyUnicodeEscape");
  let value = hexDigit(first);
  if (value < 0) throw new Fail("InvalidCharInUnicodeEscape");
  let nDigits = 1;
  for (;;) {
    const c = chars.next();
    if (c === undefined) throw new Fail("UnclosedUnicodeEscape");
    if (c === 0x5f) continue;
    if (c === 0x7d) {
      if (nDigits > 6) throw new Fail("OverlongUnicodeEscape");
      return value;
    }
    const d = hexDigit(c);
    if (d < 0) throw new Fail("InvalidCharInUnicodeEscape");
    nDigits++;
    if (nDigits > 6) continue;
    value = value * 16 + d;
  }
}

function plainUnit(c: number, unit: Unit): void {
  if (unit === "byte" && c >= 0x80) throw new Fail("NonAsciiCharInByte");
  if (unit === "cstr" && c === 0) throw new Fail("NulInCStr");
}

function unitOf(mode: EscapeMode): Unit {
  if (mode === "Byte" || mode === "ByteStr" || mode === "RawByteStr") return "byte";
  if (mode === "CStr" || mode === "RawCStr") return "cstr";
  return "char";
}

function isRustWhitespace(c: number): boolean {
  // char::is_whitespace (White_Space property)
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/**
 * Calls `onError(from, to, error)` (UTF-16 indices into `s`) for each escape error in the
 * literal content `s[start, end)`, like rustc_literal_escaper::check_for_errors.
 */
export function checkForErrors(s: string, start: number, end: number, mode: EscapeMode, onError: (from: number, to: number, error: EscapeError) => void): void {
  const unit = unitOf(mode);
  const chars = new Chars(s, start, end);
  if (mode === "Char" || mode === "Byte") {
    try {
      const c = chars.next();
      if (c === undefined) throw new Fail("ZeroChars");
      if (c === 0x5c) unescape1(chars, unit);
      else if (c === 0x0a || c === 0x09 || c === 0x27) throw new Fail("EscapeOnlyChar");
      else if (c === 0x0d) throw new Fail("BareCarriageReturn");
      else plainUnit(c, unit);
      if (chars.next() !== undefined) throw new Fail("MoreThanOneChar");
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      onError(start, chars.pos, e.error);
    }
    return;
  }
  if (mode === "RawStr" || mode === "RawByteStr" || mode === "RawCStr") {
    for (;;) {
      const from = chars.pos;
      const c = chars.next();
      if (c === undefined) return;
      if (c === 0x0d) onError(from, chars.pos, "BareCarriageReturnInRawString");
      else if (unit === "byte" && c >= 0x80) onError(from, chars.pos, "NonAsciiCharInByte");
      else if (unit === "cstr" && c === 0) onError(from, chars.pos, "NulInCStr");
    }
  }
  for (;;) {
    const from = chars.pos;
    const c = chars.next();
    if (c === undefined) return;
    try {
      if (c === 0x5c) {
        if (chars.peek() === 0x0a) {
          chars.next();
          skipAsciiWhitespace(chars, from, onError);
          continue;
        }
        unescape1(chars, unit);
      } else if (c === 0x22) throw new Fail("EscapeOnlyChar");
      else if (c === 0x0d) throw new Fail("BareCarriageReturn");
      else plainUnit(c, unit);
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      onError(from, chars.pos, e.error);
    }
  }
}

function skipAsciiWhitespace(chars: Chars, start: number, onError: (from: number, to: number, error: EscapeError) => void): void {
  const s = chars.s;
  let i = chars.pos;
  let sawNewline = false;
  while (i < chars.end) {
    const u = s.charCodeAt(i);
    if (u !== 0x20 && u !== 0x09 && u !== 0x0a && u !== 0x0d) break;
    if (u === 0x0a) sawNewline = true;
    i++;
  }
  // In bytes `end = start + 2 + skipped`; all skipped are ASCII, so UTF-16 agrees.
  const end = i;
  if (sawNewline) onError(start, end, "MultipleSkippedLinesWarning");
  chars.pos = i;
  const next = chars.peek();
  if (next !== undefined && isRustWhitespace(next)) {
    onError(start, end + (next > 0xffff ? 2 : 1), "UnskippedWhitespaceWarning");
  }
}

/** `char::escape_default` as a string. */
export function escapeDefault(c: number): string {
  // escape_default has no `\0`: NUL is `\u{0}`.
  const simple = c === 0 ? undefined : BACKSLASH_ESCAPE.get(c);
  if (simple !== undefined) return simple;
  if (c >= 0x20 && c <= 0x7e) return String.fromCharCode(c);
  return `\\u{${c.toString(16)}}`;
}

/** rustc_parse's `escaped_char`: printable ASCII as is, else escape_default. */
export function escapedChar(c: number): string {
  if (c >= 0x20 && c <= 0x7e) return String.fromCharCode(c);
  return escapeDefault(c);
}

const GRAPHEME_EXTEND = /^\p{Grapheme_Extend}$/u;
// core's `is_printable` is false for control, format, surrogate, private-use, unassigned and
// separator characters other than the ASCII space.
const NOT_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

/** `char::escape_debug` (escapes both quotes, grapheme extenders and non-printables). */
export function escapeDebugChar(c: number): string {
  const simple = BACKSLASH_ESCAPE.get(c);
  if (simple !== undefined) return simple;
  if (c >= 0x20 && c < 0x7f) return String.fromCharCode(c);
  const s = String.fromCodePoint(c);
  if (c !== 0x20 && (GRAPHEME_EXTEND.test(s) || NOT_PRINTABLE.test(s))) return `\\u{${c.toString(16)}}`;
  return s;
}

/**
 * The value of a cooked `"..."` or `'...'` literal's symbol (its escapes as written in source):
 * `\n \r \t \0 \\ \' \"`, `\xHH`, `\u{...}` and line continuations (a backslash-newline skips the
 * ASCII whitespace after it, like rustc_literal_escaper). Null when an escape is not one of those.
 */
export function unescapeStr(symbol: string): string | null {
  let bad = false;
  const value = symbol.replace(/\\(?:u\{([0-9a-fA-F_]{1,12})\}|x([0-9a-fA-F]{2})|(\n[ \t\n\r]*)|([\s\S])|$)/g, (_whole, u, x, continuation, c) => {
    if (u !== undefined) {
      const code = parseInt(u.replace(/_/g, ""), 16);
      if (code <= 0x10ffff) return String.fromCodePoint(code);
    } else if (x !== undefined) return String.fromCharCode(parseInt(x, 16));
    else if (continuation !== undefined) return "";
    else if (c !== undefined && Object.hasOwn(SIMPLE_ESCAPES, c)) return SIMPLE_ESCAPES[c];
    bad = true;
    return "";
  });
  return bad ? null : value;
}

/** The one-character escapes (`\n` ...): what each stands for, and, inverted, how each such character is escaped. */
const SIMPLE_ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", "0": "\0", "\\": "\\", "'": "'", '"': '"' };
const BACKSLASH_ESCAPE = new Map(Object.entries(SIMPLE_ESCAPES).map(([letter, value]) => [value.codePointAt(0)!, `\\${letter}`]));
