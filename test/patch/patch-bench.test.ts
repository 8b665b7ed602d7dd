// bench/patch.ts runs in CI once on the sample (one round): it must complete and print its
// figures. The numbers are printed, never asserted (speed goals live in the benchmark).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));

test("bench/patch.ts --rounds 1 completes and prints native and patched clean-build times", { timeout: 900_000 }, () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "bench/patch.ts", "--rounds", "1"], { cwd: repo, encoding: "utf8" });
  assert.equal(r.status, 0, `the benchmark failed:\n${r.stdout}\n${r.stderr}`);
  process.stdout.write(r.stdout);
  assert.match(r.stdout, /^median clean build: native [\d.]+ s, patched [\d.]+ s \(cold host; ratio [\d.]+×\)/m);
  assert.match(r.stdout, /^units compiled: native \d+, patched \d+$/m);
});
