// An expansion's `text` (the output printed as rustc's `to_string`), printed only when read.
//
// Printing costs as much as a good part of the expansion, and most callers never read it: the
// proc-macro server sends tokens, the cache keeps tokens. The property is an ordinary enumerable
// one to every reader (spread, JSON, deep equality all see the string); it prints on first read
// and keeps the result.
//
// Browser-safe: no Node APIs here.

import { printTokenStream } from "../tokens/index.js";
import type { TokenStream } from "../tokens/model.js";

/** `target` with a `text` that prints `output` when first read (or `text` itself, when already printed). */
export function withLazyText<T extends object>(target: T, output: TokenStream, text?: string): T & { text: string } {
  let printed: string | undefined = text;
  Object.defineProperty(target, "text", {
    enumerable: true,
    configurable: true,
    get: () => (printed ??= printTokenStream(output)),
    set: (value: string) => {
      printed = value;
    },
  });
  return target as T & { text: string };
}
