// How rustc hands source tokens to a function-like macro.
//
// The arguments of `name!(...)` reach a proc macro with their doc comments already desugared the
// way rustc_ast's `TokenStream::desugar_doc_comments` does it: `/// x` becomes `#[doc = r" x"]`,
// a raw string with just enough `#`s, `#` Joint before the `!` of an inner comment (rustc 1.96,
// checked against the native compiler by test/bridge/bridge.test.ts). Derive and attribute macros get
// their item through the AST instead, where doc comments stay comments until the bridge turns
// them into `#[doc = " x"]` with an escaped plain string — which is what the lexer's
// `tokenStreamFromStr` already produces.
//
// Browser-safe: no Node APIs here.

import type { Punct, TokenStream, TokenTree } from "../tokens/model.js";
import { copyStream } from "../tokens/index.js";

/**
 * The stream with lexed doc comments in rustc's macro-argument form (see the header comment).
 * Level by level with an explicit queue, so that no depth of nesting recurses: each group is copied
 * with a new inner array, which is filled when the queue reaches it.
 */
export function desugarDocCommentsAsMacroArgs(stream: TokenStream): TokenStream {
  return copyStream(stream, desugarLevel);
}

/** One level of desugarDocCommentsAsMacroArgs; `nested` gives the (later filled) copy of a group's stream. */
function desugarLevel(stream: TokenStream, out: TokenTree[], nested: (inner: TokenStream) => TokenTree[]): void {
  for (let i = 0; i < stream.length; i++) {
    const t = stream[i];
    if (t.type === "group") {
      out.push({ ...t, stream: nested(t.stream) });
      continue;
    }
    if (t.type !== "punct" || !t.doc) {
      out.push(t);
      continue;
    }
    const doc = t.doc;
    const inner = doc.style === "inner";
    const pound: Punct = { type: "punct", ch: "#", joint: inner, spacing: inner ? "Joint" : "JointHidden", span: t.span };
    out.push(pound);
    let j = i + 1;
    if (inner && stream[j]?.type === "punct") {
      const bang = stream[j] as Punct;
      out.push({ type: "punct", ch: "!", joint: false, spacing: "JointHidden", span: bang.span });
      j++;
    }
    const body = stream[j];
    if (body?.type === "group" && body.delimiter === "Bracket" && body.stream.length === 3) {
      const [ident, eq, lit] = body.stream;
      out.push({
        ...body,
        delimSpacing: { open: "JointHidden", close: "Alone" },
        stream: [
          { ...ident, spacing: "Alone" } as TokenTree,
          { ...(eq as Punct), joint: false, spacing: "Alone" },
          {
            type: "literal",
            kind: "StrRaw",
            hashes: rawHashes(doc.text),
            symbol: doc.text,
            suffix: null,
            span: lit.type === "group" ? lit.span.entire : lit.span,
            spacing: "Alone",
          },
        ],
      });
      i = j;
    } else {
      i = j - 1;
    }
  }
}

/** The fewest `#`s that let a raw string hold `text` (rustc's `desugared_tts`). */
export function rawHashes(text: string): number {
  let hashes = 0;
  let count = 0;
  for (const ch of text) {
    count = ch === '"' ? 1 : ch === "#" && count > 0 ? count + 1 : 0;
    hashes = Math.max(hashes, count);
  }
  return hashes;
}
