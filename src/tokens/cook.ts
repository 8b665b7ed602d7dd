// The cooking layer: rustc_parse::lexer's `next_token_from_cursor`. Turns raw tokens from
// RawCursor into rich tokens (identifiers NFC-normalised, literals validated, doc comments,
// unknown characters recovered or skipped) and reports rustc's diagnostics: non-fatal ones
// are collected, fatal ones (unterminated literals and comments, bad raw strings) throw
// FatalLexError, as rustc aborts there.
//
// Positions in the rich tokens and diagnostics are UTF-8 byte offsets into the source.
//
// Browser-safe: no Node APIs here.

import { CONFUSABLES } from "./confusables.js";
import { checkForErrors, escapedChar, escapeDefault, isFatalEscapeError, type EscapeError, type EscapeMode } from "./escape.js";
import { DocStyle, Lit, Raw, RawCursor, type RawStrError } from "./lexer.js";
import type { LitKind } from "./model.js";
import { utf8Length } from "./unicode.js";
import { MacroboxError } from "../errors.js";

export type Edition = "2015" | "2018" | "2021" | "2024";

export interface LexDiagnostic {
  level: "error" | "warning";
  message: string;
  /** UTF-8 byte range in the source. */
  lo: number;
  hi: number;
}

export class FatalLexError extends MacroboxError {
  override name = "FatalLexError";
  constructor(
    message: string,
    readonly lo: number,
    readonly hi: number,
  ) {
    super("input", message);
  }
}

export type RichToken =
  | { k: "ident"; sym: string; raw: boolean; lo: number; hi: number }
  | { k: "lifetime"; /** with the leading quote */ sym: string; raw: boolean; lo: number; hi: number }
  | { k: "lit"; kind: LitKind; hashes: number; symbol: string; suffix: string | null; lo: number; hi: number }
  | { k: "punct"; ch: string; lo: number; hi: number }
  | { k: "open" | "close"; ch: string; lo: number; hi: number }
  | { k: "doc"; comment: "line" | "block"; style: "outer" | "inner"; text: string; lo: number; hi: number }
  | { k: "eof"; lo: number; hi: number };

/** Incremental UTF-16 index → UTF-8 byte offset. */
class ByteMap {
  private u16 = 0;
  private byte = 0;
  constructor(private readonly s: string) {}
  at(i: number): number {
    if (i < this.u16) {
      this.u16 = 0;
      this.byte = 0;
    }
    this.byte += utf8Length(this.s, this.u16, i);
    this.u16 = i;
    return this.byte;
  }
}

/** NFC normalisation; text below U+0300 is always in NFC, so it skips the (allocating) call. */
export function nfc(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x300) return s.normalize("NFC");
  }
  return s;
}

const PATH_SEGMENT_KEYWORDS = new Set(["super", "self", "Self", "crate", "{{root}}", "$crate"]);

/** rustc's Symbol::can_be_raw. */
export function canBeRaw(sym: string): boolean {
  return sym !== "" && sym !== "_" && !PATH_SEGMENT_KEYWORDS.has(sym);
}

const MODE_OF: Record<number, EscapeMode> = {
  [Lit.Char]: "Char",
  [Lit.Byte]: "Byte",
  [Lit.Str]: "Str",
  [Lit.ByteStr]: "ByteStr",
  [Lit.CStr]: "CStr",
  [Lit.RawStr]: "RawStr",
  [Lit.RawByteStr]: "RawByteStr",
  [Lit.RawCStr]: "RawCStr",
};

function atLeast(e: Edition, min: Edition): boolean {
  return Number(e) >= Number(min);
}

export class Cooker {
  readonly diagnostics: LexDiagnostic[] = [];
  private readonly cursor: RawCursor;
  private readonly map: ByteMap;
  private nbspIsWhitespace = false;
  private readonly badIdents = new Set<string>();

  /**
   * `lintTextDirection`: report bidi control characters in comments and literals (rustc's
   * deny-by-default text_direction_codepoint lints). rustc reports them for text it lexes as
   * source (`Literal::from_str`), not for `TokenStream::from_str`, whose call-site spans come
   * from a macro expansion where these lints are silenced.
   */
  constructor(
    readonly src: string,
    readonly edition: Edition,
    start = 0,
    readonly lintTextDirection = false,
  ) {
    this.cursor = new RawCursor(src, start);
    this.map = new ByteMap(src);
  }

  private b(i: number): number {
    return this.map.at(i);
  }

  private error(message: string, from: number, to: number): void {
    this.diagnostics.push({ level: "error", message, lo: this.b(from), hi: this.b(to) });
  }

  private fatal(message: string, from: number, to: number): never {
    throw new FatalLexError(message, this.b(from), this.b(to));
  }

  /** The next rich token and whether whitespace (or a comment) preceded it. */
  next(): { tok: RichToken; ws: boolean } {
    const c = this.cursor;
    const s = this.src;
    let ws = false;
    let swallow = 0;
    for (;;) {
      const kind = c.advance();
      const start = c.start;
      const end = c.end;
      switch (kind) {
        case Raw.Eof:
          return { tok: { k: "eof", lo: this.b(start), hi: this.b(end) }, ws };
        case Raw.Whitespace:
          ws = true;
          continue;
        case Raw.LineComment:
          if (c.docStyle === DocStyle.None) {
            this.textDirection(start + 2, end, start, end, "comment");
            ws = true;
            continue;
          }
          this.textDirection(start + 3, end, start, end, "doc comment");
          return { tok: this.doc("line", c.docStyle, start, start + 3, end), ws };
        case Raw.BlockComment: {
          if (!c.terminated) {
            this.fatal(c.docStyle === DocStyle.None ? "unterminated block comment" : "unterminated block doc-comment", start, end);
          }
          if (c.docStyle === DocStyle.None) {
            this.textDirection(start + 2, end, start, end, "comment");
            ws = true;
            continue;
          }
          this.textDirection(start + 3, end - 2, start, end, "doc comment");
          return { tok: this.doc("block", c.docStyle, start, start + 3, end - 2), ws };
        }
        case Raw.Ident:
          return { tok: { k: "ident", sym: nfc(s.slice(start, end)), raw: false, lo: this.b(start), hi: this.b(end) }, ws };
        case Raw.RawIdent: {
          const sym = nfc(s.slice(start + 2, end));
          if (!canBeRaw(sym)) this.error(`\`${sym}\` cannot be a raw identifier`, start, end);
          return { tok: { k: "ident", sym, raw: true, lo: this.b(start), hi: this.b(end) }, ws };
        }
        case Raw.UnknownPrefix:
          this.reportUnknownPrefix(start, end);
          return { tok: { k: "ident", sym: nfc(s.slice(start, end)), raw: false, lo: this.b(start), hi: this.b(end) }, ws };
        case Raw.UnknownPrefixLifetime:
          this.reportUnknownPrefix(start, end);
          return { tok: { k: "lifetime", sym: s.slice(start, end), raw: false, lo: this.b(start), hi: this.b(end) }, ws };
        case Raw.Lifetime:
          if (c.startsWithNumber) this.error("lifetimes cannot start with a number", start, end);
          return { tok: { k: "lifetime", sym: nfc(s.slice(start, end)), raw: false, lo: this.b(start), hi: this.b(end) }, ws };
        case Raw.RawLifetime: {
          if (atLeast(this.edition, "2021")) {
            if (s.charCodeAt(end) === 0x27) {
              this.error("character literal may only contain one codepoint", start, end + 1);
            }
            const name = s.slice(start + 3, end);
            if (!canBeRaw(name)) this.error(`\`${name}\` cannot be a raw lifetime`, start, end);
            return { tok: { k: "lifetime", sym: nfc("'" + name), raw: true, lo: this.b(start), hi: this.b(end) }, ws };
          }
          // Before 2021 only `'r` is a lifetime; `#` and the rest are lexed again.
          c.pos = start + 2;
          return { tok: { k: "lifetime", sym: nfc(s.slice(start, start + 2)), raw: false, lo: this.b(start), hi: this.b(start + 2) }, ws };
        }
        case Raw.GuardedStrPrefix:
          return { tok: this.guardedStr(start), ws };
        case Raw.Literal: {
          if ((c.lit === Lit.CStr || c.lit === Lit.RawCStr) && !atLeast(this.edition, "2021")) {
            // Before 2021, `c"..."` is the identifier `c` followed by a string.
            const prefixLen = c.lit === Lit.CStr ? 1 : 2;
            c.pos = start + prefixLen;
            return { tok: { k: "ident", sym: s.slice(start, start + prefixLen), raw: false, lo: this.b(start), hi: this.b(start + prefixLen) }, ws };
          }
          return { tok: this.literal(start, end), ws };
        }
        case Raw.Single: {
          const ch = String.fromCharCode(c.ch);
          if ("([{".includes(ch)) return { tok: { k: "open", ch, lo: this.b(start), hi: this.b(end) }, ws };
          if (")]}".includes(ch)) return { tok: { k: "close", ch, lo: this.b(start), hi: this.b(end) }, ws };
          return { tok: { k: "punct", ch, lo: this.b(start), hi: this.b(end) }, ws };
        }
        case Raw.InvalidIdent:
        case Raw.Unknown: {
          const first = s.codePointAt(start)!;
          const firstLen = first > 0xffff ? 2 : 1;
          if (kind === Raw.InvalidIdent && !(end - start === firstLen && CONFUSABLES.has(first))) {
            // An identifier containing emoji: kept as an identifier. rustc reports each such
            // symbol once per crate, after expansion (so a session should report each message
            // once, however many streams contain it).
            const sym = nfc(s.slice(start, end));
            if (!this.badIdents.has(sym)) {
              this.badIdents.add(sym);
              this.error(sym === "\u{1f980}" ? "Ferris cannot be used as an identifier" : `identifiers cannot contain emoji: \`${sym}\``, start, end);
            }
            return { tok: { k: "ident", sym, raw: false, lo: this.b(start), hi: this.b(end) }, ws };
          }
          if (swallow > 0) {
            swallow--;
            continue;
          }
          if (first === 0xa0) {
            if (this.nbspIsWhitespace) {
              ws = true;
              continue;
            }
            this.nbspIsWhitespace = true;
          }
          let repeats = 0;
          let i = start + firstLen;
          while (i < s.length && s.codePointAt(i) === first) {
            repeats++;
            i += firstLen;
          }
          this.error(`unknown start of token: ${escapedChar(first)}`, start, end + repeats * firstLen);
          if (repeats > 0) swallow = repeats;
          const ascii = CONFUSABLES.get(first);
          if (ascii) return { tok: this.substitute(ascii, start, end), ws };
          ws = true;
          continue;
        }
      }
    }
  }

  /** The text_direction_codepoint lints, when enabled: [from, to) is the text checked. */
  private textDirection(from: number, to: number, start: number, end: number, what: string): void {
    if (!this.lintTextDirection) return;
    const s = this.src;
    for (let i = from; i < to; i++) {
      const u = s.charCodeAt(i);
      if ((u >= 0x202a && u <= 0x202e) || (u >= 0x2066 && u <= 0x2069)) {
        this.error(`unicode codepoint changing visible direction of text present in ${what}`, start, end);
        return;
      }
    }
  }

  private substitute(ascii: string, start: number, end: number): RichToken {
    const lo = this.b(start);
    const hi = this.b(end);
    if (ascii === "_") return { k: "ident", sym: "_", raw: false, lo, hi };
    if ("([{".includes(ascii)) return { k: "open", ch: ascii, lo, hi };
    if (")]}".includes(ascii)) return { k: "close", ch: ascii, lo, hi };
    // `==` stays one punct token of two characters; parse.ts splits it.
    return { k: "punct", ch: ascii, lo, hi };
  }

  private doc(comment: "line" | "block", style: DocStyle, start: number, contentStart: number, contentEnd: number): RichToken {
    const s = this.src;
    for (let i = contentStart; i < contentEnd; i++) {
      if (s.charCodeAt(i) === 0x0d) {
        this.error(comment === "block" ? "bare CR not allowed in block doc-comment" : "bare CR not allowed in doc-comment", i, i + 1);
      }
    }
    return {
      k: "doc",
      comment,
      style: style === DocStyle.Inner ? "inner" : "outer",
      text: s.slice(contentStart, contentEnd),
      lo: this.b(start),
      hi: this.b(this.cursor.end),
    };
  }

  private reportUnknownPrefix(start: number, end: number): void {
    if (atLeast(this.edition, "2021")) this.error(`prefix \`${this.src.slice(start, end)}\` is unknown`, start, end);
  }

  private guardedStr(start: number): RichToken {
    const c = this.cursor;
    if (!atLeast(this.edition, "2024")) {
      c.pos = start + 1;
      return { k: "punct", ch: "#", lo: this.b(start), hi: this.b(start + 1) };
    }
    const g = c.guardedString(start);
    if (g) {
      c.pos = g.end;
      if (!g.terminated) this.fatal("unterminated double quote string", start + g.nHashes, g.end);
      this.error("invalid string literal", start, g.end);
    } else {
      this.error("reserved multi-hash token is forbidden", start, c.end);
    }
    const end = c.pos;
    return { k: "lit", kind: "ErrWithGuar", hashes: 0, symbol: this.src.slice(start, end), suffix: null, lo: this.b(start), hi: this.b(end) };
  }

  private literal(start: number, end: number): RichToken {
    const c = this.cursor;
    const s = this.src;
    const suffixStart = c.suffixStart;
    let kind: LitKind;
    let hashes = 0;
    let symbol: string;
    // The symbol's text (numbers: the digits; quoted literals: what is between the quotes).
    let contentStart = start;
    let contentEnd = suffixStart;
    const quoted = (k: LitKind, prefixLen: number, postfixLen: number): void => {
      const mode = MODE_OF[c.lit];
      const cs = start + prefixLen;
      const ce = suffixStart - postfixLen;
      contentStart = cs;
      contentEnd = ce;
      kind = k;
      checkForErrors(s, cs, ce, mode, (from, to, err) => {
        const fatal = isFatalEscapeError(err);
        const [lo, hi] = escapeErrorSpan(s, start, suffixStart, from, to, err);
        this.diagnostics.push({ level: fatal ? "error" : "warning", message: escapeMessage(s, cs, ce, from, to, err, mode), lo: this.b(lo), hi: this.b(hi) });
        if (fatal) kind = "ErrWithGuar";
      });
      symbol = kind === "ErrWithGuar" ? s.slice(start, suffixStart) : s.slice(cs, ce);
    };
    switch (c.lit) {
      case Lit.Char:
        if (!c.terminated) this.fatal("unterminated character literal", start, suffixStart);
        quoted("Char", 1, 1);
        break;
      case Lit.Byte:
        if (!c.terminated) this.fatal("unterminated byte constant", start + 1, suffixStart);
        quoted("Byte", 2, 1);
        break;
      case Lit.Str:
        if (!c.terminated) this.fatal("unterminated double quote string", start, suffixStart);
        quoted("Str", 1, 1);
        break;
      case Lit.ByteStr:
        if (!c.terminated) this.fatal("unterminated double quote byte string", start + 1, suffixStart);
        quoted("ByteStr", 2, 1);
        break;
      case Lit.CStr:
        if (!c.terminated) this.fatal("unterminated C string", start + 1, suffixStart);
        quoted("CStr", 2, 1);
        break;
      case Lit.RawStr:
      case Lit.RawByteStr:
      case Lit.RawCStr: {
        const prefix = c.lit === Lit.RawStr ? 1 : 2;
        if (c.nHashes < 0) this.rawStrError(start, end, prefix);
        hashes = c.nHashes;
        const k: LitKind = c.lit === Lit.RawStr ? "StrRaw" : c.lit === Lit.RawByteStr ? "ByteStrRaw" : "CStrRaw";
        quoted(k, prefix + 1 + hashes, 1 + hashes);
        if (kind! === "ErrWithGuar") hashes = 0;
        break;
      }
      case Lit.Int: {
        kind = "Integer";
        if (c.emptyInt) {
          this.error("no valid digits found for number", start, suffixStart);
          kind = "ErrWithGuar";
        } else if (c.base === 2 || c.base === 8) {
          for (let i = start + 2; i < suffixStart; i++) {
            const d = s.charCodeAt(i);
            if (d !== 0x5f && !(d >= 0x30 && d < 0x30 + c.base)) {
              this.error(`invalid digit for a base ${c.base} literal`, i, i + 1);
              kind = "ErrWithGuar";
            }
          }
        }
        symbol = s.slice(start, suffixStart);
        break;
      }
      case Lit.Float: {
        kind = "Float";
        if (c.emptyExponent) {
          this.error("expected at least one digit in exponent", start, end);
          kind = "ErrWithGuar";
        }
        const base = c.base === 16 ? "hexadecimal" : c.base === 8 ? "octal" : c.base === 2 ? "binary" : null;
        if (base) {
          this.error(`${base} float literal is not supported`, start, suffixStart);
          kind = "ErrWithGuar";
        }
        symbol = s.slice(start, suffixStart);
        break;
      }
      default:
        throw new Error("unreachable literal class");
    }
    if (kind! !== "ErrWithGuar" && this.lintTextDirection) {
      // Checked on the symbol: the content for quoted literals, the digits otherwise.
      this.textDirection(contentStart, contentEnd, start, end, "literal");
    }
    let suffix: string | null = null;
    if (suffixStart < end) {
      const text = s.slice(suffixStart, end);
      if (text === "_") this.error("underscore literal suffix is not allowed", suffixStart, end);
      else suffix = text;
    }
    return { k: "lit", kind: kind!, hashes, symbol: symbol!, suffix, lo: this.b(start), hi: this.b(end) };
  }

  private rawStrError(start: number, end: number, prefixLen: number): never {
    // Re-validate to learn why (rustc_lexer::validate_raw_str).
    const v = new RawCursor(this.src, start + prefixLen);
    const err = v.rawDoubleQuotedString(prefixLen) as RawStrError;
    switch (err.kind) {
      case "InvalidStarter":
        this.fatal(`found invalid character; only \`#\` is allowed in raw string delimitation: ${escapedChar(err.badChar)}`, start, end);
      // falls through (fatal never returns)
      case "NoTerminator":
        this.fatal("unterminated raw string", start, start);
      // falls through
      case "TooManyDelimiters":
        this.fatal(`too many \`#\` symbols: raw strings may be delimited by up to 255 \`#\` symbols, but found ${err.found}`, start, end);
    }
  }
}

/** The primary span (UTF-16 range) rustc's emit_unescape_error gives an escape error. */
function escapeErrorSpan(s: string, litStart: number, litEnd: number, from: number, to: number, err: EscapeError): [number, number] {
  switch (err) {
    case "MoreThanOneChar":
      // The whole literal, prefix and quotes included (not the suffix).
      return [litStart, litEnd];
    case "InvalidEscape":
    case "InvalidCharInHexEscape":
    case "InvalidCharInUnicodeEscape":
    case "NonAsciiCharInByte":
    case "LeadingUnderscoreUnicodeEscape": {
      // The last character of the erroneous range.
      const c = lastChar(s, from, to);
      return [to - (c > 0xffff ? 2 : 1), to];
    }
    default:
      return [from, to];
  }
}

function lastChar(s: string, from: number, to: number): number {
  let i = to - 1;
  const u = s.charCodeAt(i);
  if (u >= 0xdc00 && u <= 0xdfff && i > from) i--;
  return s.codePointAt(i)!;
}

/** The message rustc's emit_unescape_error gives for `err` at [from, to). */
function escapeMessage(s: string, _cs: number, _ce: number, from: number, to: number, err: EscapeError, mode: EscapeMode): string {
  switch (err) {
    case "LoneSurrogateUnicodeEscape":
    case "OutOfRangeUnicodeEscape":
      return "invalid unicode character escape";
    case "MoreThanOneChar":
      return "character literal may only contain one codepoint";
    case "EscapeOnlyChar":
      return `${mode === "Byte" ? "byte" : "character"} constant must be escaped: \`${escapedChar(lastChar(s, from, to))}\``;
    case "BareCarriageReturn":
      return mode === "Char" || mode === "Byte" ? "character constant must be escaped: `\\r`" : "bare CR not allowed in string, use `\\r` instead";
    case "BareCarriageReturnInRawString":
      return "bare CR not allowed in raw string";
    case "InvalidEscape":
      return `${mode === "Byte" || mode === "ByteStr" ? "unknown byte escape" : "unknown character escape"}: \`${escapedChar(lastChar(s, from, to))}\``;
    case "TooShortHexEscape":
      return "numeric character escape is too short";
    case "InvalidCharInHexEscape":
      return `invalid character in numeric character escape: \`${escapedChar(lastChar(s, from, to))}\``;
    case "InvalidCharInUnicodeEscape":
      return `invalid character in unicode escape: \`${escapedChar(lastChar(s, from, to))}\``;
    case "NonAsciiCharInByte":
      return `non-ASCII character in ${mode === "Byte" ? "byte literal" : mode === "ByteStr" ? "byte string literal" : "raw byte string literal"}`;
    case "OutOfRangeHexEscape":
      return "out of range hex escape";
    case "LeadingUnderscoreUnicodeEscape":
      return "invalid start of unicode escape: `_`";
    case "OverlongUnicodeEscape":
      return "overlong unicode escape";
    case "UnclosedUnicodeEscape":
      return "unterminated unicode escape";
    case "NoBraceInUnicodeEscape":
      return "incorrect unicode escape sequence";
    case "UnicodeEscapeInByte":
      return "unicode escape in byte string";
    case "EmptyUnicodeEscape":
      return "empty unicode escape";
    case "ZeroChars":
      return "empty character literal";
    case "LoneSlash":
      return "invalid trailing slash in literal";
    case "NulInCStr":
      return "null characters in C string literals are not supported";
    case "UnskippedWhitespaceWarning":
      return `whitespace symbol '${escapedChar(lastChar(s, from, to))}' is not skipped`;
    case "MultipleSkippedLinesWarning":
      return "multiple lines skipped by escaped newline";
  }
}

export { escapeDefault };
