// Walks over token trees without recursion. Streams nest as deep as a source or a macro makes
// them (the nesting-depth limit is checked by the walks that prepare an expansion, so they cannot
// rely on it), and a recursive walk would overflow the JavaScript stack long before that.
//
// Two walks: `forEachTree` visits every tree depth first, in source order (what printing or
// encoding a stream does); `copyStream` rebuilds a stream one level at a time (what mapping its
// spans or desugaring its doc comments does). `streamShape` (shape.ts) is the post-order measure.
// The `compile_error!` scan and the CLI's item finder keep stacks of their own: they read a level
// as a sequence with lookahead (attributes, then the item they belong to), not tree by tree.
//
// Browser-safe: no Node APIs here.

import type { TokenStream, TokenTree } from "./model.js";

/**
 * Calls `visit` on every tree of `stream`, depth first in order: a group before its contents.
 * `visit` returning true stops the walk; the tree it stopped at is returned.
 */
export function forEachTree(stream: TokenStream, visit: (tree: TokenTree) => boolean | void): TokenTree | undefined {
  return forEachTreeIn(stream, undefined, (tree) => (visit(tree) === true ? STOP : undefined));
}

/** What a `forEachTreeIn` visitor returns to end the walk. */
export const STOP: unique symbol = Symbol("stop");

/**
 * `forEachTree` with a value per level (the enclosing braces, say): `visit` gets the tree and the
 * value of the stream holding it (`top` for `stream` itself), and returns, for a group, the value
 * of the group's contents (for anything else, nothing), or `STOP` to end the walk there; the tree
 * it stopped at is returned.
 */
export function forEachTreeIn<L>(stream: TokenStream, top: L, visit: (tree: TokenTree, level: L) => L | typeof STOP | void): TokenTree | undefined {
  const stack: { stream: TokenStream; next: number; level: L }[] = [{ stream, next: 0, level: top }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.next >= frame.stream.length) {
      stack.pop();
      continue;
    }
    const tree = frame.stream[frame.next++];
    const inner = visit(tree, frame.level);
    if (inner === STOP) return tree;
    if (tree.type === "group") stack.push({ stream: tree.stream, next: 0, level: inner as L });
  }
  return undefined;
}

/**
 * A copy of `stream` made by `copyLevel`, one level at a time: it appends to `into` the trees
 * standing for `from`, and for each group it keeps calls `nested(group.stream)`, which returns the
 * (still empty) array that copy of the group's stream is filled into when the walk reaches it.
 */
export function copyStream(
  stream: TokenStream,
  copyLevel: (from: TokenStream, into: TokenTree[], nested: (inner: TokenStream) => TokenTree[]) => void,
): TokenTree[] {
  const top: TokenTree[] = [];
  const queue: { from: TokenStream; into: TokenTree[] }[] = [{ from: stream, into: top }];
  const nested = (inner: TokenStream): TokenTree[] => {
    const copy: TokenTree[] = [];
    queue.push({ from: inner, into: copy });
    return copy;
  };
  for (let q = 0; q < queue.length; q++) copyLevel(queue[q].from, queue[q].into, nested);
  return top;
}
