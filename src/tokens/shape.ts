// How big and how deep a token stream is, measured without recursion: the nesting-depth limit
// exists so that nothing recurses once per level over a tree it has not measured, so the measure
// itself must not either.
//
// Browser-safe: no Node APIs here.

import type { TokenStream } from "./model.js";

export interface StreamShape {
  /** Tokens, each group counted as one plus its contents. */
  tokens: number;
  /** Groups nested inside each other: 0 for `a b`, 1 for `(a)`, 2 for `((a) b)`. */
  depth: number;
}

/**
 * The shape of `stream`. `memo` keeps the shape of every stream measured (inner streams included),
 * for callers whose streams are immutable and shared (the bridge builds a stream from streams it
 * measured before, so each measure only walks what is new); without it, a fresh one still makes
 * shared inner streams count once per walk instead of once per path.
 *
 * With `stopAbove`, the walk stops as soon as it is deeper than that: the depth returned is then
 * over `stopAbove` but may fall short of the whole depth, and `tokens` is NaN. It also ends the walk of a stream that
 * contains itself (only possible in hand-made values), which has no finite shape.
 */
export function streamShape(stream: TokenStream, memo: WeakMap<TokenStream, StreamShape> = new WeakMap(), stopAbove = Infinity): StreamShape {
  const known = memo.get(stream);
  if (known !== undefined) return known;
  // Post-order with an explicit stack: a frame's shape is done when its last tree is.
  const stack: { stream: TokenStream; next: number; tokens: number; depth: number }[] = [{ stream, next: 0, tokens: 0, depth: 0 }];
  for (;;) {
    const frame = stack[stack.length - 1];
    if (frame.next < frame.stream.length) {
      const t = frame.stream[frame.next++];
      if (t.type !== "group") {
        frame.tokens++;
        continue;
      }
      const inner = memo.get(t.stream);
      if (inner === undefined) {
        if (stack.length > stopAbove) return { tokens: NaN, depth: stack.length };
        stack.push({ stream: t.stream, next: 0, tokens: 0, depth: 0 });
        continue;
      }
      frame.tokens += 1 + inner.tokens;
      frame.depth = Math.max(frame.depth, 1 + inner.depth);
      continue;
    }
    const shape: StreamShape = { tokens: frame.tokens, depth: frame.depth };
    memo.set(frame.stream, shape);
    stack.pop();
    const parent = stack[stack.length - 1];
    if (parent === undefined) return shape;
    parent.tokens += 1 + shape.tokens;
    parent.depth = Math.max(parent.depth, 1 + shape.depth);
  }
}
