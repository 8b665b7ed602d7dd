// The public `parseTokenStream` reports its lexing messages as `Diagnostic`s whose spans say where
// rustc says: the same byte ranges, lines and columns as rustc's own JSON diagnostics for the same
// text compiled as a file (multi-byte chars, a BOM and CRLF line ends included). And its results,
// like every public result, print with `formatMessages`.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { effectiveGrant, formatMessages, parseTokenStream } from "../../src/index.js";

const RUSTC = "/usr/bin/rustc";

interface RustcSpan {
  byte_start: number;
  byte_end: number;
  line_start: number;
  column_start: number;
  line_end: number;
  column_end: number;
}

/** rustc's diagnostics for `text` as a lib crate's source file. */
function rustcDiagnostics(text: string): { level: string; message: string; spans: RustcSpan[] }[] {
  const dir = mkdtempSync(join(tmpdir(), "macrobox-parse-diag-"));
  writeFileSync(join(dir, "lib.rs"), text);
  const r = spawnSync(
    RUSTC,
    ["--edition", "2021", "--crate-type", "lib", "--error-format=json", "--emit=metadata", "-o", join(dir, "out"), join(dir, "lib.rs")],
    {
      encoding: "utf8",
    },
  );
  return r.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { level: string; message: string; spans: RustcSpan[] });
}

const SOURCES = [
  'fn f() {}\n// é\r\nconst X: &str = "a\\qb"; ü § \r\n  const Y: u8 = 1;\n',
  "\ufeffconst Z: char = '😀';\r\n\r\n  /* ü */ const W: &str = \"\\u{zz}\"; ¤\n",
];

for (const [i, text] of SOURCES.entries()) {
  it(`lexing diagnostics point where rustc's do (source ${i})`, () => {
    const ours = parseTokenStream(text, () => 0, { file: "lib.rs" });
    assert.ok(ours.ok, "these sources lex (with recoverable errors)");
    assert.ok(ours.diagnostics.length >= 2, JSON.stringify(ours.diagnostics));
    const theirs = rustcDiagnostics(text);
    for (const d of ours.diagnostics) {
      const match = theirs.find((t) => t.message === d.message && t.level === d.level);
      assert.ok(match, `rustc reports ${JSON.stringify(d.message)}: ${theirs.map((t) => t.message).join(" | ")}`);
      const [s] = d.spans;
      const t = match.spans[0];
      assert.deepEqual(
        { lo: s.lo, hi: s.hi, line: s.line, column: s.column, endLine: s.endLine, endColumn: s.endColumn, file: s.file },
        { lo: t.byte_start, hi: t.byte_end, line: t.line_start, column: t.column_start, endLine: t.line_end, endColumn: t.column_end, file: "lib.rs" },
        d.message,
      );
    }
  });
}

it("a failed parse is { ok: false, error: { kind, message }, diagnostics } with the error as the last diagnostic", () => {
  const text = 'fn f() {\n  let s = "unterminated;\n}\n';
  const r = parseTokenStream(text, () => 0);
  assert.ok(!r.ok);
  assert.deepEqual(r.error, { kind: "fatal", message: "unterminated double quote string" });
  const last = r.diagnostics.at(-1)!;
  assert.equal(last.message, r.error.message);
  assert.equal(last.spans[0].file, "<input>");
  const rustc = rustcDiagnostics(text).find((t) => t.message === r.error.message);
  assert.ok(rustc, "rustc reports the same error");
  assert.deepEqual([last.spans[0].line, last.spans[0].column], [rustc.spans[0].line_start, rustc.spans[0].column_start]);
  assert.equal(
    formatMessages(r, { sources: new Map([["<input>", text]]) }),
    'error: unterminated double quote string\n --> <input>:2:11\n  |\n2 |   let s = "unterminated;\n  |           ^^^^^^^^^^^^^^\n',
  );
});

it("a grant result has the same shape, and formatMessages prints it", () => {
  const bad = effectiveGrant("m", { env: [], read: [] }, { env: ["A=B"], read: [] });
  assert.ok(!bad.ok);
  assert.equal(bad.error.kind, "grant");
  assert.deepEqual(bad.error.exceeding, { env: ["A=B"], read: [] });
  assert.equal(formatMessages(bad), `error: ${bad.error.message}\n`);
  const good = effectiveGrant("m", { env: ["A"], read: [] }, { env: ["*"], read: [] });
  assert.ok(good.ok);
  assert.deepEqual(good.diagnostics, []);
  assert.equal(formatMessages(good), "");
});
