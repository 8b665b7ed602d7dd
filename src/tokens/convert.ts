// How rustc's server stores a token tree a proc macro hands it (`ToInternal`), seen again as
// trees (`FromInternal`): what `TokenStream::from(tree)`, `from_iter` and `extend` leave in a
// stream. Puncts keep only `joint`, idents and literals become Alone, groups lose the
// spacing of their own delimiters (their inner stream is kept as is), and a negative number
// literal becomes a `-` punct followed by the number.
//
// Browser-safe: no Node APIs here.

import type { TokenTree } from "./model.js";

export function fromClientTree(tt: TokenTree): TokenTree[] {
  switch (tt.type) {
    case "punct":
      return [{ type: "punct", ch: tt.ch, joint: tt.joint, span: tt.span }];
    case "ident":
      return [{ type: "ident", sym: tt.sym, isRaw: tt.isRaw, span: tt.span }];
    case "group":
      return [{ type: "group", delimiter: tt.delimiter, stream: tt.stream, span: tt.span }];
    case "literal": {
      const { kind, hashes, symbol, suffix, span } = tt;
      if ((kind === "Integer" || kind === "Float") && symbol.startsWith("-")) {
        // rustc: `token_joint_hidden(Minus)` then the literal without its sign.
        return [
          { type: "punct", ch: "-", joint: false, span, spacing: "JointHidden" },
          { type: "literal", kind, hashes, symbol: symbol.slice(1), suffix, span },
        ];
      }
      return [{ type: "literal", kind, hashes, symbol, suffix, span }];
    }
  }
}
