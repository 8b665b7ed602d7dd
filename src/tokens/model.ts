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
export type LitKind = "Byte" | "Char" | "Integer" | "Float" | "Str" | "StrRaw" | "ByteStr" | "ByteStrRaw" | "CStr" | "CStrRaw" | "ErrWithGuar";

/** The raw kinds: the ones whose `Literal.hashes` counts (`r#"..."#`); every other kind has 0. */
export const RAW_LIT_KINDS: ReadonlySet<LitKind> = new Set<LitKind>(["StrRaw", "ByteStrRaw", "CStrRaw"]);

/**
 * rustc's internal `tokenstream::Spacing` of a token that came from source text. Proc macros
 * only see `joint` (Joint), but rustc's printer also honours `JointHidden` (the token was
 * immediately followed by a non-punct, e.g. `a` in `a.b` or `(` in `f(x)`), so streams parsed
 * from text print back without inserted spaces. Absent: derived from `joint` (Joint/Alone),
 * as for every tree a proc macro builds.
 */
export type Spacing = "Alone" | "Joint" | "JointHidden";

/**
 * A doc comment as rustc keeps it inside a parsed stream (one token). Proc macros see it as
 * `#` [`!`] `[doc = "..."]`; the `#` punct carries this so the printer can print the comment
 * itself, as rustc does.
 */
export interface DocComment {
  kind: "line" | "block";
  style: "outer" | "inner";
  /** The comment text after `///`, `//!`, `/**` or `/*!` (and before the closing star-slash). */
  text: string;
  /** The spacing of the doc-comment token. */
  spacing: Spacing;
}

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
  /** rustc's DelimSpacing (open, close) when parsed from text; absent means Alone/Alone. */
  delimSpacing?: { open: Spacing; close: Spacing };
}

export interface Punct {
  type: "punct";
  /** A single ASCII punctuation character. */
  ch: string;
  /** `Spacing::Joint`: the next token is a punct glued to this one (`=` then `=` for `==`). */
  joint: boolean;
  span: Span;
  /** See `Spacing`; absent means `joint ? "Joint" : "Alone"`. */
  spacing?: Spacing;
  /** Set on the `#` of a desugared doc comment (the `!` and `[...]` group follow it). */
  doc?: DocComment;
}

export interface Ident {
  type: "ident";
  /** NFC-normalised identifier text, without the `r#` prefix. */
  sym: string;
  isRaw: boolean;
  span: Span;
  /** See `Spacing`; absent means Alone. */
  spacing?: Spacing;
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
  /** See `Spacing`; absent means Alone. */
  spacing?: Spacing;
}

export type TokenTree = Group | Punct | Ident | Literal;
export type TokenStream = TokenTree[];

/** Characters that `Punct::new` accepts (rustc's `LEGAL_CHARS`). */
export const PUNCT_CHARS = "=<>!~+-*/%^&|@.,;:#$?'";
