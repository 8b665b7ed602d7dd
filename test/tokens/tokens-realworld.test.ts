// The token layer against rustc 1.96 on real Rust code: whole source files of the Rust
// standard library (from /usr/src/rustc-1.96.0, which scripts/setup installs with rust-web-src) go through
// `TokenStream::from_str` in rustc (the native oracle) and in src/tokens; the trees, the
// spans, `to_string()` of the parsed stream (long lines wrapped by the pretty printer) and of
// the rebuilt stream must be identical.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tokenStreamFromStr, printTokenStream } from "../../src/tokens/index.js";
import { oracleTrees, rebuiltTrees, runOracleRecords, type InputRecord } from "../oracle/lexer/harness.js";

const ROOT = "/usr/src/rustc-1.96.0/library";
const DIRS = ["alloc/src/collections/btree", "core/src/num", "core/src/iter/adapters", "proc_macro/src", "std/src/sync"];
const MAX_BYTES = 120_000;

function sourceFiles(): string[] {
  const out: string[] = [];
  for (const d of DIRS) {
    const dir = join(ROOT, d);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (f.endsWith(".rs") && statSync(p).size <= MAX_BYTES) out.push(p);
    }
  }
  return out;
}

const spans: [number, number][] = [];
const makeSpan = (lo: number, hi: number): number => spans.push([lo, hi]) - 1;

const files = sourceFiles();

test("standard library sources tokenize and print exactly as rustc does", { timeout: 600_000 }, () => {
  // The toolchain's own sources are part of the test setup (build-std needs them too): absent is a failure.
  assert.ok(files.length > 50, `expected the standard library's sources under ${ROOT} (Debian's rust-web-src); found ${files.length} files`);
  const records: InputRecord[] = files.map((f) => ({ kind: "stream", payload: readFileSync(f, "utf8"), category: f }));
  const answers = runOracleRecords(records, "2021", "std-sources");
  const problems: string[] = [];
  let bytes = 0;
  for (const r of answers) {
    bytes += r.payload.length;
    spans.length = 0;
    const ours = tokenStreamFromStr(r.payload, makeSpan, { edition: "2021" });
    const a = r.answer;
    const where = r.category.slice(ROOT.length + 1);
    if (a.result !== "ok" || !ours.ok) {
      problems.push(`${where}: rustc ${a.result} ${a.message ?? ""}, ours ${ours.ok ? "ok" : ours.error.message}`);
      continue;
    }
    const same = (aspect: string, x: unknown, y: unknown) => {
      try {
        assert.deepEqual(x, y);
      } catch {
        problems.push(`${where}: ${aspect} differs`);
      }
    };
    same("trees", oracleTrees(ours.stream), a.trees);
    if (r.spans)
      same(
        "spans",
        oracleTrees(ours.stream, (i) => spans[i]),
        r.spans,
      );
    same("display", printTokenStream(ours.stream), a.display);
    same("rebuilt", printTokenStream(rebuiltTrees(ours.stream)), a.rebuilt);
  }
  assert.deepEqual(problems, [], problems.join("\n"));
  assert.ok(bytes > 100_000, `only ${bytes} bytes of source checked`);
});
