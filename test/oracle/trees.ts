// Hand-built token trees for protocol tests (no lexer needed). Every token gets a fresh span id.

import type { Group, Literal, TokenStream, TokenTree } from "../../src/tokens/model.js";

let nextSpan = 100;
/** Restarts span numbering, so two runs build identical trees. */
export function resetSpans(first = 100): void {
  nextSpan = first;
}
export const span = () => nextSpan++;
export const ident = (sym: string, isRaw = false): TokenTree => ({ type: "ident", sym, isRaw, span: span() });
export const punct = (ch: string, joint = false): TokenTree => ({ type: "punct", ch, joint, span: span() });
export const lit = (kind: Literal["kind"], symbol: string, suffix: string | null = null, hashes = 0): TokenTree => ({
  type: "literal",
  kind,
  symbol,
  suffix,
  hashes,
  span: span(),
});
export function group(delimiter: Group["delimiter"], stream: TokenStream): Group {
  const open = span();
  const close = span();
  // The protocol carries open and close only; the decoder rebuilds `entire` as the close span,
  // as proc-macro-srv does in Id mode, so build fixtures that way to compare spans exactly.
  return { type: "group", delimiter, stream, span: { open, close, entire: close } };
}

/** `struct r#Foo<'a> { x: [u8; 0x10usize], s: &'a str } "s" r##"raw"## b'x' 'c' c"c" 1.5e3f64 ...` */
export function richStream(): TokenStream {
  return [
    punct("#"),
    group("Bracket", [ident("doc"), punct("="), lit("Str", 'a \\"doc\\" \\u{1F600}')]),
    ident("struct"),
    ident("Foo", true),
    punct("<"),
    punct("'", true),
    ident("a"),
    punct(">"),
    group("Brace", [
      ident("x"),
      punct(":"),
      group("Bracket", [ident("u8"), punct(";"), lit("Integer", "0x10", "usize")]),
      punct(","),
      ident("s"),
      punct(":"),
      punct("&"),
      punct("'", true),
      ident("a"),
      ident("str"),
      punct("-", true),
      punct(">"),
      punct("=", true),
      punct("="),
      group("None", [ident("inner"), group("Parenthesis", [])]),
    ]),
    lit("Str", "s"),
    lit("StrRaw", 'raw "quoted"', null, 2),
    lit("ByteStr", "bytes\\n"),
    lit("ByteStrRaw", "br", null, 1),
    lit("Byte", "x"),
    lit("Char", "c"),
    lit("Char", "\\'"),
    lit("CStr", "c"),
    lit("CStrRaw", "craw", null, 0),
    lit("Float", "1.5e3", "f64"),
    lit("Integer", "7", "u8"),
    lit("Integer", "1_000"),
    lit("Str", "suffixed", "custom"),
    ident("größe"),
    group("Parenthesis", [group("Brace", [group("Bracket", [ident("deep")])])]),
  ];
}
