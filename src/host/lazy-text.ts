// An expansion's `text` (the output printed as rustc's `to_string`), printed only when read.
//
// Printing costs as much as a good part of the expansion, and most callers never read it: the
// proc-macro server sends tokens, the cache keeps tokens. The property is an ordinary enumerable
// one to every reader (spread, JSON, deep equality all see the string); it prints on first read
// and keeps the result.
//
// One getter and one setter for every result, the tokens (then the printed string) kept in a
// non-enumerable symbol-keyed slot of the result itself. Accessors made per result (closures over
// the output) gave every result a hidden class of its own: V8 keeps hidden classes in the old
// generation, so each one, dead or alive, held its result's whole output tree through every
// collection of the young generation until the next full collection, and those trees were promoted
// (DEVELOPERS.md, "What outlives an expansion").
//
// Browser-safe: no Node APIs here.

import { printTokenStream } from "../tokens/index.js";
import type { TokenStream } from "../tokens/model.js";

/** The output not yet printed, or its printed text. */
const TEXT = Symbol("macrobox.text");

interface WithText {
  [TEXT]: TokenStream | string;
}

const ACCESSORS = {
  enumerable: true,
  configurable: true,
  get(this: WithText): string {
    const slot = this[TEXT];
    if (typeof slot === "string") return slot;
    const printed = printTokenStream(slot);
    this[TEXT] = printed;
    return printed;
  },
  set(this: WithText, value: string): void {
    this[TEXT] = value;
  },
};

/** `target` with a `text` that prints `output` when first read (or `text` itself, when already printed). */
export function withLazyText<T extends object>(target: T, output: TokenStream, text?: string): T & { text: string } {
  Object.defineProperty(target, TEXT, { value: text ?? output, writable: true, enumerable: false, configurable: true });
  Object.defineProperty(target, "text", ACCESSORS);
  return target as T & { text: string };
}
