// The side-by-side benchmark (bench/compare.ts) runs in CI on a small corpus: it must complete
// and write its JSON summary with every figure. The numbers themselves are printed, never
// asserted (speed goals live in the benchmark, not in timed tests).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const isNumber = (v: unknown) => typeof v === "number" && Number.isFinite(v);

test("bench/compare.ts --quick --rounds 1 completes and writes every figure", { timeout: 900_000 }, () => {
  const json = join(mkdtempSync(join(tmpdir(), "macrobox-bench-test-")), "compare.json");
  const r = spawnSync(process.execPath, ["--import", "tsx", "bench/compare.ts", "--quick", "--rounds", "1", "--json", json], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, `the benchmark failed:\n${r.stdout}\n${r.stderr}`);
  process.stdout.write(r.stdout);
  const s = JSON.parse(readFileSync(json, "utf8")) as Record<string, any>;
  assert.equal(s.quick, true);
  assert.equal(s.rounds, 1);
  const subjects = ["serde_derive Serialize", "serde_derive Deserialize", "thiserror-impl Error", "demo Describe", "demo route", "demo sql"];
  assert.deepEqual(Object.keys(s.warm).sort(), [...subjects].sort());
  for (const name of subjects) {
    const w = s.warm[name];
    for (const side of ["native", "macrobox"]) for (const k of ["median", "p90", "mean", "n"]) assert.ok(isNumber(w[side][k]), `warm ${name} ${side} ${k}`);
    assert.ok(isNumber(w.ratioMedian) && isNumber(w.ratioP90), `warm ${name} ratios`);
  }
  for (const k of ["requests", "nativePerSecond", "macroboxPerSecond"]) assert.ok(isNumber(s.throughput[k]), `throughput ${k}`);
  for (const k of ["native", "macrobox"]) assert.ok(isNumber(s.peakRssMiB[k]), `peak RSS ${k}`);
  assert.deepEqual(
    s.sizeCurve.map((p: { fields: number }) => p.fields),
    [1, 10, 100, 1000],
  );
  for (const p of s.sizeCurve) assert.ok(isNumber(p.native) && isNumber(p.macrobox), `size curve at ${p.fields}`);
  for (const k of ["macrobox", "native", "ratio"]) assert.ok(isNumber(s.cached[k]), `cached ${k}`);
  for (const k of ["native", "macrobox", "ratio", "bareNode"]) assert.ok(isNumber(s.coldStart[k]), `cold start ${k}`);
  for (const k of ["version", "list", "firstExpand"]) assert.ok(isNumber(s.coldStart.macroboxParts[k]), `cold start part ${k}`);
  for (const k of ["meteredMs", "unmeteredMs", "cost"]) assert.ok(isNumber(s.fuel[k]), `fuel ${k}`);
});
