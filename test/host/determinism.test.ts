// Determinism at scale: 1,000 expansions of serde_derive 1.0.152 (built with `macrobox build`) over
// the serde_derive corpus give byte-identical results within a process (each case every time it
// comes round) and across two fresh child processes (one digest over all outputs).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildModule } from "../support/build.js";
import { loadMacroModule } from "../../src/index.js";
import { runExpansions, serdeJobs, type RunSummary } from "../fixtures/determinism-run.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const RUNNER = join(ROOT, "test", "fixtures", "determinism-run.ts");
const TSX = join(ROOT, "node_modules", "tsx", "dist", "esm", "index.mjs");
const COUNT = 1000;

function child(wasm: string): Promise<RunSummary> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", TSX, RUNNER, wasm, String(COUNT)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as RunSummary) : reject(new Error(`runner exited ${code}: ${err}`))));
  });
}

test("1,000 serde_derive expansions are byte-identical within a process and across two processes", { timeout: 20 * 60_000 }, async () => {
  const dir = join(tmpdir(), `macrobox-determinism-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true });
  const wasm = join(dir, "serde_derive-1.0.152.wasm");
  await buildModule({ crate: "serde_derive@1.0.152", output: wasm });

  const jobs = serdeJobs();
  assert.ok(jobs.length >= 200, `the corpus gives ${jobs.length} expansions`);
  // The children run while this process does its own 1,000.
  const children = [child(wasm), child(wasm)];
  const module = await loadMacroModule(new Uint8Array(readFileSync(wasm)));
  const here = await runExpansions(module, jobs, COUNT);
  assert.deepEqual(here.unstable, [], "a case expanded differently when it came round again");
  assert.equal(Object.keys(here.cases).length, jobs.length);
  const [a, b] = await Promise.all(children);
  for (const [name, other] of [
    ["first child", a],
    ["second child", b],
  ] as const) {
    assert.deepEqual(other.unstable, [], `${name}: unstable cases`);
    const differing = Object.keys(here.cases).filter((id) => here.cases[id] !== other.cases[id]);
    assert.deepEqual(differing, [], `${name}: cases that differ from this process`);
    assert.equal(other.digest, here.digest, `${name}: digest over all ${COUNT} outputs`);
  }
  // Not vacuous: the corpus has both successful expansions and errors, and distinct outputs.
  assert.ok(new Set(Object.values(here.cases)).size > jobs.length / 2);
});
