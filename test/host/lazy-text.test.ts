// An expansion's `text` (src/host/lazy-text.ts): printed only when read, yet an ordinary enumerable
// property to every reader; and through the module, what rustc's `to_string` prints.

import { test } from "node:test";
import assert from "node:assert/strict";
import { withLazyText } from "../../src/host/lazy-text.js";
import { loadMacroModule } from "../../src/index.js";
import { printTokenStream, tokenStreamFromStr } from "../../src/tokens/index.js";
import type { TokenStream } from "../../src/tokens/model.js";
import { macroWasm } from "../support/bridge-build.js";

const lex = (src: string): TokenStream => {
  const r = tokenStreamFromStr(src, () => 0);
  assert.ok(r.ok);
  return r.stream;
};

test("text reads as an own enumerable string: spread, JSON, deep equality, keys", () => {
  const output = lex("fn f ( ) -> u8 { 1 }");
  const r = withLazyText({ ok: true, output }, output);
  const printed = printTokenStream(output);
  assert.equal(r.text, printed);
  assert.deepEqual(Object.keys(r), ["ok", "output", "text"]);
  assert.deepEqual({ ...r }, { ok: true, output, text: printed });
  assert.deepStrictEqual(r, { ok: true, output, text: printed });
  assert.equal(JSON.parse(JSON.stringify(r)).text, printed);
  // The slot that holds the tokens is not enumerable: nothing else shows.
  assert.deepEqual(Object.getOwnPropertyDescriptor(r, "text")?.enumerable, true);
});

test("each result prints its own output, once, and keeps a text set on it", () => {
  const a = lex("a + b");
  const b = lex("struct S ;");
  const ra = withLazyText({ output: a }, a);
  const rb = withLazyText({ output: b }, b);
  assert.equal(rb.text, printTokenStream(b));
  assert.equal(ra.text, printTokenStream(a));
  // Printed once: the stream changed afterwards does not change the text read again.
  a.length = 0;
  assert.equal(ra.text, "a + b");
  rb.text = "replaced";
  assert.equal(rb.text, "replaced");
  assert.equal(ra.text, "a + b");
  // Given already printed: that text, not a print of the tokens.
  const rc = withLazyText({ output: b }, b, "given");
  assert.equal(rc.text, "given");
});

test("an expansion's text is its output printed", async () => {
  const module = await loadMacroModule(await macroWasm("bridge-probe"));
  const r = await module.expand({ kind: "bang", name: "echo", input: 'x :: < T > ( 1u8 , "s" )' });
  assert.ok(r.ok, r.error?.message);
  assert.equal(r.text, printTokenStream(r.output!));
  assert.equal({ ...r }.text, r.text);
});
