// The token layer against rustc 1.96 on real Rust code: whole source files of the Rust
// standard library (from /usr/src/rustc-1.96.0, skipped when absent) go through
// `TokenStream::from_str` in rustc (the native oracle) and in src/tokens; the trees, the
// spans, `to_string()` of the parsed stream (long lines wrapped by the pretty printer) and of
// the rebuilt stream must be identical.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseTokenStream, printLiteral, printTokenStream, type TokenStream } from "../src/tokens/index.js";
import { runOracleRecords, type InputRecord, type OracleTree } from "./oracle/lexer/harness.js";

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

function dump(stream: TokenStream, withSpans: boolean): OracleTree[] {
  return stream.map((tt): OracleTree => {
    const sp = (i: number) => (withSpans ? { span: spans[i] } : {});
    switch (tt.type) {
      case "group":
        return withSpans
          ? { t: "group", d: tt.delimiter, open: spans[tt.span.open], close: spans[tt.span.close], entire: spans[tt.span.entire], s: dump(tt.stream, true) }
          : { t: "group", d: tt.delimiter, s: dump(tt.stream, false) };
      case "punct":
        return { t: "punct", c: tt.ch, j: tt.joint, ...sp(tt.span) };
      case "ident":
        return { t: "ident", s: (tt.isRaw ? "r#" : "") + tt.sym, ...sp(tt.span) };
      case "literal": {
        const kind = tt.kind.endsWith("Raw") ? `${tt.kind}(${tt.hashes})` : tt.kind;
        return { t: "literal", kind, s: printLiteral(tt), suffix: tt.suffix, ...sp(tt.span) };
      }
    }
  });
}

function rebuilt(stream: TokenStream): TokenStream {
  return stream.map((tt) => {
    switch (tt.type) {
      case "group": return { ...tt, delimSpacing: undefined };
      case "punct": return { type: "punct", ch: tt.ch, joint: tt.joint, span: tt.span };
      case "ident": return { type: "ident", sym: tt.sym, isRaw: tt.isRaw, span: tt.span };
      case "literal": return { ...tt, spacing: undefined };
    }
  });
}

const files = sourceFiles();

test("standard library sources tokenize and print exactly as rustc does", { skip: files.length === 0 && `no sources under ${ROOT}`, timeout: 600_000 }, () => {
  const records: InputRecord[] = files.map((f) => ({ kind: "stream", payload: readFileSync(f, "utf8"), category: f }));
  const answers = runOracleRecords(records, "2021", "std-sources");
  const problems: string[] = [];
  let bytes = 0;
  for (const r of answers) {
    bytes += r.payload.length;
    spans.length = 0;
    const ours = parseTokenStream(r.payload, makeSpan, { edition: "2021" });
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
    same("trees", dump(ours.stream, false), a.trees);
    if (r.spans) same("spans", dump(ours.stream, true), r.spans);
    same("display", printTokenStream(ours.stream), a.display);
    same("rebuilt", printTokenStream(rebuilt(ours.stream)), a.rebuilt);
  }
  assert.deepEqual(problems, [], problems.join("\n"));
  assert.ok(bytes > 100_000, `only ${bytes} bytes of source checked`);
});
