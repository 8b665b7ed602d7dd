// How rustc's server stores a token tree a proc macro hands it (`ToInternal`), seen again as
// trees (`FromInternal`): what `TokenStream::from(tree)`, `from_iter` and `extend` leave in a
// stream. Puncts keep only `joint`, idents and literals become Alone, groups lose the
// spacing of their own delimiters (their inner stream is kept as is), and a negative number
// literal becomes a `-` punct followed by the number.
//
// Browser-safe: no Node APIs here.

import type { TokenTree } from "./model.js";

/**
 * rustc's `ToInternal` for one tree, appended to `out` (no array per tree): a negative integer or
 * float literal (which a macro can make with `Literal::i32_unsuffixed(-5)`) becomes a `-` punct
 * followed by the positive literal; anything else is kept as it is. The one home of that rule:
 * the bridge's `ts_from_token_tree` and `ts_concat_trees`, and `fromClientTree`.
 */
export function pushInternal(tt: TokenTree, out: TokenTree[]): void {
  if (tt.type === "literal" && (tt.kind === "Integer" || tt.kind === "Float") && tt.symbol.startsWith("-")) {
    // rustc: `token_joint_hidden(Minus)` then the literal without its sign: invisible to macros, printed glued (`-5`).
    out.push({ type: "punct", ch: "-", joint: false, spacing: "JointHidden", span: tt.span }, { ...tt, symbol: tt.symbol.slice(1) });
  } else out.push(tt);
}

/** A tree as rustc's server keeps it (see the top of this file): spacing beyond `joint` dropped, then `pushInternal`. */
export function fromClientTree(tt: TokenTree): TokenTree[] {
  const out: TokenTree[] = [];
  pushInternal(withoutSpacing(tt), out);
  return out;
}

function withoutSpacing(tt: TokenTree): TokenTree {
  switch (tt.type) {
    case "punct":
      return { type: "punct", ch: tt.ch, joint: tt.joint, span: tt.span };
    case "ident":
      return { type: "ident", sym: tt.sym, isRaw: tt.isRaw, span: tt.span };
    case "group":
      return { type: "group", delimiter: tt.delimiter, stream: tt.stream, span: tt.span };
    case "literal":
      return { type: "literal", kind: tt.kind, hashes: tt.hashes, symbol: tt.symbol, suffix: tt.suffix, span: tt.span };
  }
}
