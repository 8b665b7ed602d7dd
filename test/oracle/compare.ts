// Token-for-token comparison of two expansions, ignoring spans: what the differential tests
// (wasm through our bridge vs native through rust-analyzer's server) assert on.

import { printLiteral } from "../../src/tokens/print.js";
import type { TokenStream, TokenTree } from "../../src/tokens/model.js";

/** One token, spans left out, for messages: `ident foo`, `punct =joint`, `literal Str "x"`. */
export function describeToken(t: TokenTree): string {
  switch (t.type) {
    case "ident":
      return `ident ${t.isRaw ? "r#" : ""}${t.sym}`;
    case "punct":
      return `punct ${t.ch}${t.joint ? " (joint)" : ""}`;
    case "literal":
      return `literal ${t.kind} ${printLiteral(t)}`;
    case "group":
      return `group ${t.delimiter} (${t.stream.length} trees)`;
  }
}

const OPEN = { Parenthesis: "(", Brace: "{", Bracket: "[", None: "" } as const;
const CLOSE = { Parenthesis: ")", Brace: "}", Bracket: "]", None: "" } as const;

/** A readable rendering (spaces between tokens, joint puncts glued); for messages, not for rustc. */
export function printTokens(stream: TokenStream): string {
  let out = "";
  for (const t of stream) {
    switch (t.type) {
      case "ident":
        out += `${t.isRaw ? "r#" : ""}${t.sym} `;
        break;
      case "punct":
        out += t.joint ? t.ch : `${t.ch} `;
        break;
      case "literal":
        out += `${printLiteral(t)} `;
        break;
      case "group":
        out += `${OPEN[t.delimiter]} ${printTokens(t.stream)}${CLOSE[t.delimiter]} `;
        break;
    }
  }
  return out;
}

/**
 * The first difference between two streams (kind, text, delimiter, spacing; spans ignored), as
 * `<path>: <what>`, where a path like `[3].group[1]` names the second tree inside the fourth; null
 * when they are equal.
 */
export function compareStreams(a: TokenStream, b: TokenStream, path = ""): string | null {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const here = `${path}[${i}]`;
    const x = a[i];
    const y = b[i];
    if (x.type !== y.type) return `${here}: ${describeToken(x)} vs ${describeToken(y)}`;
    switch (x.type) {
      case "ident": {
        const yy = y as typeof x;
        if (x.sym !== yy.sym || x.isRaw !== yy.isRaw) return `${here}: ${describeToken(x)} vs ${describeToken(yy)}`;
        break;
      }
      case "punct": {
        const yy = y as typeof x;
        if (x.ch !== yy.ch || x.joint !== yy.joint) return `${here}: ${describeToken(x)} vs ${describeToken(yy)}`;
        break;
      }
      case "literal": {
        const yy = y as typeof x;
        const hashesX = x.kind.endsWith("Raw") ? x.hashes : 0;
        const hashesY = yy.kind.endsWith("Raw") ? yy.hashes : 0;
        if (x.kind !== yy.kind || x.symbol !== yy.symbol || (x.suffix ?? "") !== (yy.suffix ?? "") || hashesX !== hashesY) {
          return `${here}: ${describeToken(x)} vs ${describeToken(yy)}`;
        }
        break;
      }
      case "group": {
        const yy = y as typeof x;
        if (x.delimiter !== yy.delimiter) return `${here}: ${describeToken(x)} vs ${describeToken(yy)}`;
        const inner = compareStreams(x.stream, yy.stream, `${here}.group`);
        if (inner !== null) return inner;
        break;
      }
    }
  }
  if (a.length !== b.length) {
    const longer = a.length > b.length ? a : b;
    return `${path}[${n}]: ${a.length > b.length ? "only left" : "only right"} has ${describeToken(longer[n])} (lengths ${a.length} vs ${b.length})`;
  }
  return null;
}

/** Whether an expansion reports an error the way proc macros do: a `compile_error!` invocation. */
export function containsCompileError(stream: TokenStream): boolean {
  for (let i = 0; i < stream.length; i++) {
    const t = stream[i];
    if (t.type === "ident" && t.sym === "compile_error") {
      const next = stream[i + 1];
      if (next?.type === "punct" && next.ch === "!") return true;
    }
    if (t.type === "group" && containsCompileError(t.stream)) return true;
  }
  return false;
}

/**
 * rustc's `ToInternal` on a stream another server returned: a negative integer or float literal
 * (`Literal::i32_unsuffixed(-5)`) becomes a `-` punct and the number, both on the literal's span.
 * rustc keeps a macro's negative literal so (test/bridge/bridge.test.ts, "every bridge method":
 * `neg_literal`), and so does macrobox; rust-analyzer's server keeps the one literal `-5`.
 */
export function splitNegativeLiterals(stream: TokenStream): TokenStream {
  return stream.flatMap((t): TokenTree[] => {
    if (t.type === "group") return [{ ...t, stream: splitNegativeLiterals(t.stream) }];
    if (t.type === "literal" && (t.kind === "Integer" || t.kind === "Float") && t.symbol.startsWith("-")) {
      return [
        { type: "punct", ch: "-", joint: false, span: t.span },
        { ...t, symbol: t.symbol.slice(1) },
      ];
    }
    return [t];
  });
}
