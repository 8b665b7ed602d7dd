// The token model shared by the lexer, the printer and the bridge server.
//
// It mirrors the shapes of rustc 1.96's proc_macro bridge (library/proc_macro/src/bridge/mod.rs):
// a token stream is a list of token trees; a group owns its inner stream. Spans are opaque numbers
// handed out by whoever owns the source (the bridge's span table); the token layer never looks
// inside them, so it stays independent of files, expansions and hygiene.
//
// Browser-safe: no Node APIs here.

/** An opaque span handle. Its meaning belongs to the span table that issued it. */
export type Span = number;

export type Delimiter = "Parenthesis" | "Brace" | "Bracket" | "None";

/** rustc's `bridge::LitKind`, with the raw-string hash count carried in `Literal.hashes`. */
export type LitKind =
  | "Byte"
  | "Char"
  | "Integer"
  | "Float"
  | "Str"
  | "StrRaw"
  | "ByteStr"
  | "ByteStrRaw"
  | "CStr"
  | "CStrRaw"
  | "ErrWithGuar";

export interface DelimSpan {
  open: Span;
  close: Span;
  entire: Span;
}

export interface Group {
  type: "group";
  delimiter: Delimiter;
  stream: TokenTree[];
  span: DelimSpan;
}

export interface Punct {
  type: "punct";
  /** A single ASCII punctuation character. */
  ch: string;
  /** `Spacing::Joint`: the next token is a punct glued to this one (`=` then `=` for `==`). */
  joint: boolean;
  span: Span;
}

export interface Ident {
  type: "ident";
  /** NFC-normalised identifier text, without the `r#` prefix. */
  sym: string;
  isRaw: boolean;
  span: Span;
}

export interface Literal {
  type: "literal";
  kind: LitKind;
  /** Number of `#` for raw kinds (StrRaw, ByteStrRaw, CStrRaw), else 0. */
  hashes: number;
  /**
   * The literal's symbol as rustc stores it: the text between the quotes for strings and chars
   * (escapes kept as written), the digits for numbers, without the suffix.
   */
  symbol: string;
  suffix: string | null;
  span: Span;
}

export type TokenTree = Group | Punct | Ident | Literal;
export type TokenStream = TokenTree[];

/** Characters that `Punct::new` accepts (rustc's `LEGAL_CHARS`). */
export const PUNCT_CHARS = "=<>!~+-*/%^&|@.,;:#$?'";
