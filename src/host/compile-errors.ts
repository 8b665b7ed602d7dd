// The errors a macro reports by emitting `compile_error!("...")` (syn's `Error::to_compile_error`,
// which most macros use): rustc reports them when it compiles the output, at the span of the whole
// `compile_error!(...)` invocation. `macrobox expand` shows them the same way.
//
// Browser-safe.

import type { TokenStream, TokenTree } from "../tokens/model.js";
import { unescapeStr } from "../tokens/escape.js";
import type { Diagnostic } from "./types.js";
import type { SpanTable } from "../bridge/spans.js";

export function compileErrors(output: TokenStream, spans: SpanTable): Diagnostic[] {
  const found: Diagnostic[] = [];
  const walk = (stream: TokenTree[]) => {
    for (let i = 0; i < stream.length; i++) {
      const t = stream[i];
      const bang = stream[i + 1];
      const args = stream[i + 2];
      if (t.type === "ident" && t.sym === "compile_error" && bang?.type === "punct" && bang.ch === "!" && args?.type === "group") {
        const lit = args.stream[0];
        const message =
          lit?.type === "literal" && lit.kind === "Str" ? (unescapeStr(lit.symbol) ?? lit.symbol) : lit?.type === "literal" && lit.kind === "StrRaw" ? lit.symbol : "compile_error!";
        // rustc's span for the invocation: from the macro name to the closing delimiter.
        const span = spans.join(t.span, args.span.entire) ?? t.span;
        found.push({ level: "error", message, spans: [spans.location(span)], children: [] });
        i += 2;
      } else if (t.type === "group") walk(t.stream);
    }
  };
  walk(output);
  return found;
}
