// printedLengthBound (src/tokens/print.ts) is what the output limit is checked against when no one
// asks for an expansion's text: it must never be below the printed size. Checked on the token
// streams of real code (standard library sources, which test/tokens/tokens-realworld.test.ts shows print
// exactly as rustc does), with doc comments as the `#[doc = "..."]` trees a macro builds.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tokenStreamFromStr, printTokenStream, type TokenStream } from "../../src/tokens/index.js";
import { printedLengthBound } from "../../src/tokens/print.js";

const ROOT = "/usr/src/rustc-1.96.0/library";
const DIRS = ["core/src/num", "proc_macro/src", "std/src/sync"];

/** The stream with every doc comment forgotten (its `#`, `!` and `[doc = ...]` trees stay). */
function withoutDocs(stream: TokenStream): TokenStream {
  return stream.map((t) => {
    if (t.type === "group") return { ...t, stream: withoutDocs(t.stream) };
    if (t.type === "punct" && t.doc) {
      const { doc: _doc, ...rest } = t;
      return rest;
    }
    return t;
  });
}

test("the printed-size bound is never below the printed size", () => {
  const files = DIRS.flatMap((d) => {
    const dir = join(ROOT, d);
    return existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith(".rs"))
          .map((f) => join(dir, f))
      : [];
  }).filter((p) => statSync(p).size <= 120_000);
  assert.ok(files.length > 20, `expected the standard library's sources under ${ROOT}`);
  const utf8 = new TextEncoder();
  let checked = 0;
  for (const f of files) {
    const parsed = tokenStreamFromStr(readFileSync(f, "utf8"), () => 0, { edition: "2021" });
    if (!parsed.ok) continue;
    const docs = parsed.stream;
    const plain = withoutDocs(docs);
    const size = utf8.encode(printTokenStream(plain)).length;
    const bound = printedLengthBound(plain);
    assert.ok(Number.isFinite(bound) && bound >= size, `${f}: bound ${bound} < printed ${size}`);
    // Loose enough to be safe, tight enough to be useful: well within an order of magnitude.
    assert.ok(bound < 10 * size + 100, `${f}: bound ${bound} is far above printed ${size}`);
    // Doc comments print through a hard break: no bound, the caller prints.
    if (printTokenStream(docs).includes("///")) assert.equal(printedLengthBound(docs), Infinity);
    checked++;
  }
  assert.ok(checked > 20);
  for (const s of ["", "a", "{ }", "fn f() { { { { x } } } }", 'r#"é"# b"x" \'c\' 1u8 -1.5f32 r#type', "a::b<'x>(&c) -> d"]) {
    const p = tokenStreamFromStr(s, () => 0);
    assert.ok(p.ok);
    assert.ok(printedLengthBound(p.stream) >= utf8.encode(printTokenStream(p.stream)).length, s);
  }
});
