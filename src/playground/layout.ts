// Lays out an expansion for reading. rustfmt does not run in a browser, so this is a token-based
// layout: rustc's own printer (printTokenStream, the core's port of rustc's pretty printer, whose
// spacing is what `TokenStream::to_string` gives) prints each statement or item, and this file only
// decides the lines: outer attributes, items and statements (ended by `;` or by a brace block) each
// on their own line, brace blocks indented by four spaces, `,`-separated entries inside braces
// (struct fields, match arms) one per line. Tokens are never added, dropped or reordered, so the
// text lexes back to the same tokens as the core's `text`.
//
// Browser-safe: imports only the core.

import { printTokenStream, type TokenStream, type TokenTree } from "../index.js";

const INDENT = "    ";

export function layoutTokens(stream: TokenStream): string {
  const lines: string[] = [];
  block(stream, 0, lines);
  return lines.join("\n");
}

function isPunct(tt: TokenTree | undefined, ch: string): boolean {
  return tt !== undefined && tt.type === "punct" && tt.ch === ch;
}

function isBrace(tt: TokenTree | undefined): tt is Extract<TokenTree, { type: "group" }> {
  return tt !== undefined && tt.type === "group" && tt.delimiter === "Brace";
}

/** Whether `stream[i]` starts an outer or inner attribute (`#[...]`, `#![...]`). */
function attributeLength(stream: TokenStream, i: number): number {
  if (!isPunct(stream[i], "#")) return 0;
  const bang = isPunct(stream[i + 1], "!") ? 1 : 0;
  const group = stream[i + 1 + bang];
  return group !== undefined && group.type === "group" && group.delimiter === "Bracket" ? 2 + bang : 0;
}

/**
 * Lays out the contents of a brace block (or the top level) at `depth`: a sequence of entries,
 * each ending at a top-level `;`, `,` or after a brace block that closes it.
 */
function block(stream: TokenStream, depth: number, lines: string[]): void {
  const pad = INDENT.repeat(depth);
  // rustc's printer breaks long lines itself: its continuation lines are indented under the entry.
  const print = (tts: TokenTree[]) => printTokenStream(tts).replace(/\n/g, "\n" + pad + INDENT);
  let current: TokenTree[] = [];
  /** `} ` of a block the current entry continues (`} else {`). */
  let prefix = "";
  const flush = () => {
    if (current.length > 0 || prefix !== "") lines.push(pad + prefix + print(current));
    current = [];
    prefix = "";
  };
  for (let i = 0; i < stream.length; i++) {
    const tt = stream[i];
    const attr = current.length === 0 && prefix === "" ? attributeLength(stream, i) : 0;
    if (attr > 0) {
      current = stream.slice(i, i + attr);
      i += attr - 1;
      flush();
      continue;
    }
    if (isBrace(tt) && tt.stream.length > 0) {
      // `head {`, the block's entries indented, then `}` with what closes the entry (`;`, `,`).
      lines.push(pad + prefix + (current.length > 0 ? print(current) + " {" : "{"));
      current = [];
      prefix = "";
      block(tt.stream, depth + 1, lines);
      let close = "}";
      while (isPunct(stream[i + 1], ";") || isPunct(stream[i + 1], ",")) close += (stream[++i] as { ch: string }).ch;
      const next = stream[i + 1];
      if (close === "}" && next !== undefined && next.type === "ident" && next.sym === "else") prefix = "} ";
      else lines.push(pad + close);
      continue;
    }
    current.push(tt);
    if (isPunct(tt, ";") || (isPunct(tt, ",") && depth > 0 && !inGenerics(current))) flush();
  }
  flush();
}

/** Whether a `,` just pushed sits inside unclosed `<...>` (generic arguments), where it must not break. */
function inGenerics(entry: TokenTree[]): boolean {
  let open = 0;
  for (let i = 0; i < entry.length; i++) {
    const tt = entry[i];
    if (isPunct(tt, "<")) open++;
    else if (isPunct(tt, ">") && !isPunct(entry[i - 1], "-") && !isPunct(entry[i - 1], "=")) open = Math.max(0, open - 1);
  }
  return open > 0;
}
