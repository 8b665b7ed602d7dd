// The errors a macro reports by emitting `compile_error!("...")` (syn's `Error::to_compile_error`,
// which most macros use): rustc reports them when it compiles the output, at the span of the whole
// `compile_error!(...)` invocation. `macrobox expand` shows them the same way.
//
// Browser-safe.

import type { TokenStream, TokenTree } from "../tokens/model.js";
import type { Diagnostic } from "./types.js";
import type { SpanTable } from "../bridge/spans.js";

export function compileErrors(output: TokenStream, spans: SpanTable): Diagnostic[] {
  const found: Diagnostic[] = [];
  // Depth first in order, with an explicit stack: the output may be nested as deep as the
  // nestingDepth limit allows, which a recursive walk could not take.
  const stack: { stream: TokenTree[]; next: number }[] = [{ stream: output, next: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const stream = frame.stream;
    if (frame.next >= stream.length) {
      stack.pop();
      continue;
    }
    const i = frame.next++;
    const t = stream[i];
    const bang = stream[i + 1];
    const args = stream[i + 2];
    if (t.type === "ident" && t.sym === "compile_error" && bang?.type === "punct" && bang.ch === "!" && args?.type === "group") {
      const lit = args.stream[0];
      const message =
        lit?.type === "literal" && lit.kind === "Str" ? unescapeStr(lit.symbol) : lit?.type === "literal" && lit.kind === "StrRaw" ? lit.symbol : "compile_error!";
      // rustc's span for the invocation: from the macro name to the closing delimiter.
      const span = spans.join(t.span, args.span.entire) ?? t.span;
      found.push({ level: "error", message, spans: [spans.location(span)], children: [] });
      frame.next += 2;
    } else if (t.type === "group") stack.push({ stream: t.stream, next: 0 });
  }
  return found;
}

/** The value of a `"..."` literal's symbol (escapes as written in source). */
export function unescapeStr(symbol: string): string {
  return symbol.replace(/\\(?:u\{([0-9a-fA-F_]+)\}|x([0-9a-fA-F]{2})|\n\s*|(.))/g, (whole, u, x, c) => {
    if (u !== undefined) return String.fromCodePoint(parseInt(u.replace(/_/g, ""), 16));
    if (x !== undefined) return String.fromCharCode(parseInt(x, 16));
    if (c === undefined) return ""; // line continuation
    return ({ n: "\n", t: "\t", r: "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"' } as Record<string, string>)[c] ?? whole;
  });
}
