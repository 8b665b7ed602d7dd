// The raw lexer: a port of rustc 1.96's compiler/rustc_lexer.
//
// Like rustc_lexer it only classifies: each `advance()` recognises one token starting at `pos`
// and records its kind and extent in the cursor's own fields (no object per token). Errors are
// flags on the token (unterminated, empty exponent, ...); the cooking layer (cook.ts) turns
// them into rustc's diagnostics. Positions are UTF-16 indices into the JS string; byte
// offsets are derived by the caller incrementally.
//
// Frontmatter is never allowed here: `TokenStream::from_str` lexes with FrontmatterAllowed::No.
//
// Browser-safe: no Node APIs here.

import { isIdContinue, isIdStart, isNonAsciiEmoji, isWhitespace } from "./unicode.js";

/** rustc_lexer::TokenKind, as small integers. */
export const Raw = {
  LineComment: 1,
  BlockComment: 2,
  Whitespace: 3,
  Ident: 4,
  InvalidIdent: 5,
  RawIdent: 6,
  UnknownPrefix: 7,
  UnknownPrefixLifetime: 8,
  RawLifetime: 9,
  GuardedStrPrefix: 10,
  Literal: 11,
  Lifetime: 12,
  /** Any one-character punctuation or delimiter; the character is `ch`. */
  Single: 13,
  Unknown: 14,
  Eof: 15,
} as const;
export type RawKind = (typeof Raw)[keyof typeof Raw];

/** rustc_lexer::LiteralKind. */
export const Lit = {
  Int: 1,
  Float: 2,
  Char: 3,
  Byte: 4,
  Str: 5,
  ByteStr: 6,
  CStr: 7,
  RawStr: 8,
  RawByteStr: 9,
  RawCStr: 10,
} as const;
export type LitClass = (typeof Lit)[keyof typeof Lit];

export const enum DocStyle {
  None = 0,
  Outer = 1,
  Inner = 2,
}

/** Why a raw string is invalid (rustc_lexer::RawStrError). */
export type RawStrError =
  { kind: "InvalidStarter"; badChar: number } | { kind: "NoTerminator"; expected: number; found: number } | { kind: "TooManyDelimiters"; found: number };

const EOF = -1;
const CH_QUOTE = 0x27; // '
const CH_DQUOTE = 0x22; // "
const CH_HASH = 0x23; // #
const CH_SLASH = 0x2f;
const CH_STAR = 0x2a;
const CH_BACKSLASH = 0x5c;
const CH_NL = 0x0a;

function isDigit(cp: number): boolean {
  return cp >= 0x30 && cp <= 0x39;
}

const SINGLE_CHARS = ";,.(){}[]@#~?:$=!<>-&|+*/^%";

export class RawCursor {
  readonly src: string;
  /** UTF-16 index of the next character to lex. */
  pos = 0;

  // The last token, filled by advance().
  kind: RawKind = Raw.Eof;
  start = 0;
  end = 0;
  /** For Single: the character. */
  ch = 0;
  /** For Literal. */
  lit: LitClass = Lit.Int;
  suffixStart = 0;
  terminated = true;
  /** For raw strings: hash count, or -1 when invalid. */
  nHashes = 0;
  /** For Int/Float: 2, 8, 10 or 16. */
  base = 10;
  emptyInt = false;
  emptyExponent = false;
  /** For comments. */
  docStyle: DocStyle = DocStyle.None;
  /** For Lifetime. */
  startsWithNumber = false;

  constructor(src: string, start = 0) {
    this.src = src;
    this.pos = start;
  }

  private cp(at: number): number {
    if (at >= this.src.length) return EOF;
    return this.src.codePointAt(at)!;
  }
  first(): number {
    return this.cp(this.pos);
  }
  second(): number {
    const c = this.cp(this.pos);
    if (c === EOF) return EOF;
    return this.cp(this.pos + (c > 0xffff ? 2 : 1));
  }
  third(): number {
    const c = this.cp(this.pos);
    if (c === EOF) return EOF;
    const p2 = this.pos + (c > 0xffff ? 2 : 1);
    const c2 = this.cp(p2);
    if (c2 === EOF) return EOF;
    return this.cp(p2 + (c2 > 0xffff ? 2 : 1));
  }
  isEof(): boolean {
    return this.pos >= this.src.length;
  }
  /** Consumes one character and returns it, or EOF. */
  bump(): number {
    const c = this.cp(this.pos);
    if (c !== EOF) this.pos += c > 0xffff ? 2 : 1;
    return c;
  }
  private eatWhile(pred: (cp: number) => boolean): void {
    while (!this.isEof() && pred(this.first())) this.bump();
  }

  /** Lexes one token starting at `pos`. */
  advance(): RawKind {
    this.start = this.pos;
    this.kind = this.lexOne();
    this.end = this.pos;
    return this.kind;
  }

  private lexOne(): RawKind {
    const c = this.bump();
    if (c === EOF) return Raw.Eof;
    switch (c) {
      case CH_SLASH: {
        const f = this.first();
        if (f === CH_SLASH) return this.lineComment();
        if (f === CH_STAR) return this.blockComment();
        return this.single(c);
      }
      case 0x72: {
        // r: raw identifier, raw string or identifier
        const f = this.first();
        const s = this.second();
        if (f === CH_HASH && isIdStart(s)) {
          this.bump();
          this.eatIdentifier();
          return Raw.RawIdent;
        }
        if (f === CH_HASH || f === CH_DQUOTE) {
          const err = this.rawDoubleQuotedString(1);
          return this.literal(Lit.RawStr, err === null, true);
        }
        return this.identOrUnknownPrefix();
      }
      case 0x62: // b
        return this.cOrByteString(Lit.ByteStr, Lit.RawByteStr, true);
      case 0x63: // c
        return this.cOrByteString(Lit.CStr, Lit.RawCStr, false);
      case CH_HASH: {
        const f = this.first();
        if (f === CH_DQUOTE || f === CH_HASH) {
          this.bump();
          return Raw.GuardedStrPrefix;
        }
        return this.single(c);
      }
      case CH_QUOTE:
        return this.lifetimeOrChar();
      case CH_DQUOTE: {
        const terminated = this.doubleQuotedString();
        this.terminated = terminated;
        return this.literal(Lit.Str, terminated, false);
      }
    }
    if (isWhitespace(c)) {
      this.eatWhile(isWhitespace);
      return Raw.Whitespace;
    }
    if (isIdStart(c)) return this.identOrUnknownPrefix();
    if (isDigit(c)) {
      this.number(c);
      this.suffixStart = this.pos;
      this.eatIdentifier();
      this.terminated = true;
      return Raw.Literal;
    }
    if (c < 0x80 && SINGLE_CHARS.indexOf(String.fromCharCode(c)) >= 0) return this.single(c);
    if (isNonAsciiEmoji(c)) return this.invalidIdent();
    return Raw.Unknown;
  }

  private single(c: number): RawKind {
    this.ch = c;
    return Raw.Single;
  }

  /** Sets literal fields; eats the suffix when `eatSuffix` (terminated/valid literals). */
  private literal(kind: LitClass, eatSuffix: boolean, raw: boolean): RawKind {
    this.lit = kind;
    this.suffixStart = this.pos;
    if (eatSuffix) this.eatIdentifier();
    if (!raw) this.terminated = eatSuffix;
    return Raw.Literal;
  }

  private lineComment(): RawKind {
    this.bump();
    const f = this.first();
    if (f === 0x21) this.docStyle = DocStyle.Inner;
    else if (f === CH_SLASH && this.second() !== CH_SLASH) this.docStyle = DocStyle.Outer;
    else this.docStyle = DocStyle.None;
    const nl = this.src.indexOf("\n", this.pos);
    this.pos = nl < 0 ? this.src.length : nl;
    return Raw.LineComment;
  }

  private blockComment(): RawKind {
    this.bump();
    const f = this.first();
    if (f === 0x21) this.docStyle = DocStyle.Inner;
    else if (f === CH_STAR && this.second() !== CH_STAR && this.second() !== CH_SLASH) this.docStyle = DocStyle.Outer;
    else this.docStyle = DocStyle.None;
    let depth = 1;
    const s = this.src;
    let i = this.pos;
    while (i < s.length) {
      const u = s.charCodeAt(i++);
      if (u === CH_SLASH && s.charCodeAt(i) === CH_STAR) {
        i++;
        depth++;
      } else if (u === CH_STAR && s.charCodeAt(i) === CH_SLASH) {
        i++;
        depth--;
        if (depth === 0) break;
      }
    }
    this.pos = i;
    this.terminated = depth === 0;
    return Raw.BlockComment;
  }

  private eatIdentifier(): void {
    if (!isIdStart(this.first())) return;
    this.bump();
    this.eatWhile(isIdContinue);
  }

  private identOrUnknownPrefix(): RawKind {
    this.eatWhile(isIdContinue);
    const f = this.first();
    if (f === CH_HASH || f === CH_DQUOTE || f === CH_QUOTE) return Raw.UnknownPrefix;
    if (isNonAsciiEmoji(f)) return this.invalidIdent();
    return Raw.Ident;
  }

  private invalidIdent(): RawKind {
    this.eatWhile((c) => isIdContinue(c) || isNonAsciiEmoji(c) || c === 0x200d);
    return Raw.InvalidIdent;
  }

  private cOrByteString(kind: LitClass, rawKind: LitClass, singleQuoted: boolean): RawKind {
    const f = this.first();
    const s = this.second();
    if (f === CH_QUOTE && singleQuoted) {
      this.bump();
      const terminated = this.singleQuotedString();
      return this.literal(Lit.Byte, terminated, false);
    }
    if (f === CH_DQUOTE) {
      this.bump();
      const terminated = this.doubleQuotedString();
      return this.literal(kind, terminated, false);
    }
    if (f === 0x72 && (s === CH_DQUOTE || s === CH_HASH)) {
      this.bump();
      const err = this.rawDoubleQuotedString(2);
      return this.literal(rawKind, err === null, true);
    }
    return this.identOrUnknownPrefix();
  }

  private number(firstDigit: number): void {
    this.lit = Lit.Int;
    this.emptyInt = false;
    this.emptyExponent = false;
    this.base = 10;
    if (firstDigit === 0x30) {
      const f = this.first();
      if (f === 0x62 || f === 0x6f || f === 0x78) {
        const base = f === 0x62 ? 2 : f === 0x6f ? 8 : 16;
        this.base = base;
        this.bump();
        const has = base === 16 ? this.eatHexDigits() : this.eatDecimalDigits();
        if (!has) {
          this.emptyInt = true;
          return;
        }
      } else if (isDigit(f) || f === 0x5f) {
        this.eatDecimalDigits();
      } else if (f === 0x2e || f === 0x65 || f === 0x45) {
        // fall through to the fraction/exponent check
      } else {
        return;
      }
    } else {
      this.eatDecimalDigits();
    }
    const f = this.first();
    if (f === 0x2e && this.second() !== 0x2e && !isIdStart(this.second())) {
      this.bump();
      this.lit = Lit.Float;
      if (isDigit(this.first())) {
        this.eatDecimalDigits();
        const e = this.first();
        if (e === 0x65 || e === 0x45) {
          this.bump();
          this.emptyExponent = !this.eatFloatExponent();
        }
      }
    } else if (f === 0x65 || f === 0x45) {
      this.bump();
      this.lit = Lit.Float;
      this.emptyExponent = !this.eatFloatExponent();
    }
  }

  private eatDecimalDigits(): boolean {
    let has = false;
    for (;;) {
      const c = this.first();
      if (c === 0x5f) this.bump();
      else if (isDigit(c)) {
        has = true;
        this.bump();
      } else return has;
    }
  }
  private eatHexDigits(): boolean {
    let has = false;
    for (;;) {
      const c = this.first();
      if (c === 0x5f) this.bump();
      else if (isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)) {
        has = true;
        this.bump();
      } else return has;
    }
  }
  private eatFloatExponent(): boolean {
    const c = this.first();
    if (c === 0x2d || c === 0x2b) this.bump();
    return this.eatDecimalDigits();
  }

  private lifetimeOrChar(): RawKind {
    const canBeLifetime = this.second() === CH_QUOTE ? false : isIdStart(this.first()) || isDigit(this.first());
    if (!canBeLifetime) {
      const terminated = this.singleQuotedString();
      return this.literal(Lit.Char, terminated, false);
    }
    if (this.first() === 0x72 && this.second() === CH_HASH && isIdStart(this.third())) {
      this.bump();
      this.bump();
      this.bump();
      this.eatWhile(isIdContinue);
      return Raw.RawLifetime;
    }
    const startsWithNumber = isDigit(this.first());
    this.bump();
    this.eatWhile(isIdContinue);
    const f = this.first();
    if (f === CH_QUOTE) {
      this.bump();
      this.lit = Lit.Char;
      this.terminated = true;
      this.suffixStart = this.pos;
      return Raw.Literal;
    }
    if (f === CH_HASH && !startsWithNumber) return Raw.UnknownPrefixLifetime;
    this.startsWithNumber = startsWithNumber;
    return Raw.Lifetime;
  }

  private singleQuotedString(): boolean {
    if (this.second() === CH_QUOTE && this.first() !== CH_BACKSLASH) {
      this.bump();
      this.bump();
      return true;
    }
    for (;;) {
      const c = this.first();
      if (c === CH_QUOTE) {
        this.bump();
        return true;
      }
      if (c === CH_SLASH) return false;
      if (c === CH_NL && this.second() !== CH_QUOTE) return false;
      if (c === EOF) return false;
      if (c === CH_BACKSLASH) {
        this.bump();
        this.bump();
      } else this.bump();
    }
  }

  private doubleQuotedString(): boolean {
    const s = this.src;
    let i = this.pos;
    while (i < s.length) {
      const u = s.charCodeAt(i++);
      if (u === CH_DQUOTE) {
        this.pos = i;
        return true;
      }
      if (u === CH_BACKSLASH) {
        const n = s.charCodeAt(i);
        if (n === CH_BACKSLASH || n === CH_DQUOTE) i++;
      }
    }
    this.pos = s.length;
    return false;
  }

  /**
   * After `r` (prefixLen counts the prefix incl. `r`): eats `#*"..."#*`. Returns null when
   * valid (hash count in nHashes), else the error (nHashes = -1).
   */
  rawDoubleQuotedString(prefixLen: number): RawStrError | null {
    void prefixLen;
    let n = 0;
    while (this.first() === CH_HASH) {
      n++;
      this.bump();
    }
    const c = this.bump();
    if (c !== CH_DQUOTE) {
      this.nHashes = -1;
      return { kind: "InvalidStarter", badChar: c === EOF ? 0 : c };
    }
    let maxHashes = 0;
    const s = this.src;
    for (;;) {
      const q = s.indexOf('"', this.pos);
      if (q < 0) {
        this.pos = s.length;
        this.nHashes = -1;
        return { kind: "NoTerminator", expected: n, found: maxHashes };
      }
      this.pos = q + 1;
      let m = 0;
      while (this.first() === CH_HASH && m < n) {
        m++;
        this.bump();
      }
      if (m === n) {
        if (n > 255) {
          this.nHashes = -1;
          return { kind: "TooManyDelimiters", found: n };
        }
        this.nHashes = n;
        return null;
      }
      if (m > maxHashes) maxHashes = m;
    }
  }

  /**
   * rustc_lexer's guarded_double_quoted_string, from a `#` at `start`: `#+"..."#*` then a
   * suffix. Returns the end index and whether the string was terminated, or null.
   */
  guardedString(start: number): { end: number; terminated: boolean; nHashes: number } | null {
    const saved = this.pos;
    this.pos = start;
    let n = 0;
    while (this.first() === CH_HASH) {
      n++;
      this.bump();
    }
    if (this.first() !== CH_DQUOTE) {
      this.pos = saved;
      return null;
    }
    this.bump();
    const terminated = this.doubleQuotedString();
    if (terminated) {
      let m = 0;
      while (this.first() === CH_HASH && m < n) {
        m++;
        this.bump();
      }
      this.eatIdentifier();
    }
    const end = this.pos;
    this.pos = saved;
    return { end, terminated, nHashes: n };
  }
}
