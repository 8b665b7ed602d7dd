// The token layer on hostile input: it must answer (a stream or a clear error), never throw
// or overflow the stack. What rustc answers for the shapes involved is covered by the oracle
// tests; here the sizes are beyond what a corpus can hold.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseLiteral, tokenStreamFromStr, printTokenStream } from "../../src/tokens/index.js";

const noSpan = () => 0;

test("deeply nested groups parse and print without recursion limits", () => {
  for (const [open, close] of [
    ["(", ")"],
    ["[", "]"],
    ["{", "}"],
  ]) {
    const n = 100_000;
    const r = tokenStreamFromStr(open.repeat(n) + "x" + close.repeat(n), noSpan);
    assert.ok(r.ok);
    let depth = 0;
    let tt = r.stream[0];
    while (tt.type === "group") {
      depth++;
      tt = tt.stream[0];
    }
    assert.equal(depth, n);
    const text = printTokenStream(r.stream);
    assert.ok(text.startsWith(open.repeat(10)) && text.includes("x"));
  }
});

test("unclosed deep nesting is a LexError, not a crash", () => {
  const r = tokenStreamFromStr("(".repeat(50_000), noSpan);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.error.kind === "lex" && r.error.message === "this file contains an unclosed delimiter");
  assert.ok(!r.ok && r.error.lo === 50_000 && r.error.hi === 50_000);
});

test("a huge unterminated string is one fatal error at its start", () => {
  const r = tokenStreamFromStr('a "' + "x".repeat(1_000_000), noSpan);
  assert.ok(!r.ok && r.error.kind === "fatal" && r.error.message === "unterminated double quote string" && r.error.lo === 2);
});

test("lone surrogates and NULs are unknown characters, reported with byte offsets", () => {
  const r = tokenStreamFromStr("a \ud800 b \u0000 c \udfff", noSpan);
  assert.ok(r.ok);
  assert.deepEqual(
    r.stream.map((t) => (t.type === "ident" ? t.sym : t.type)),
    ["a", "b", "c"],
  );
  assert.deepEqual(
    r.diagnostics.map((d) => [d.message, d.lo, d.hi]),
    [
      ["unknown start of token: \\u{d800}", 2, 5],
      ["unknown start of token: \\u{0}", 8, 9],
      ["unknown start of token: \\u{dfff}", 12, 15],
    ],
  );
});

test("spans are UTF-8 byte ranges of the caller's text, across BOM and CRLF", () => {
  const ranges: [number, number][] = [];
  const r = tokenStreamFromStr("\ufeffé\r\nü 😀x", (lo, hi) => ranges.push([lo, hi]) - 1);
  assert.ok(r.ok);
  // é at bytes 3..5 (after the 3-byte BOM), ü after the CRLF at 7..9, 😀x at 10..15.
  assert.deepEqual(
    r.stream.map((t) => (t.type === "ident" ? ranges[t.span] : null)),
    [
      [3, 5],
      [7, 9],
      [10, 15],
    ],
  );
});

test("Literal::from_str rejects what is not exactly one literal", () => {
  for (const [src, error] of [
    ["", "not a literal"],
    ["x", "not a literal"],
    ["1 2", "comment or whitespace around literal"],
    ["- 1", "comment or whitespace after minus"],
    ['-"a"', "non-numeric literal may not be negated"],
    ["(1", "this file contains an unclosed delimiter"],
  ]) {
    const r = parseLiteral(src, 0);
    assert.ok(!r.ok, src);
    assert.equal(!r.ok && r.error, error, src);
  }
});
