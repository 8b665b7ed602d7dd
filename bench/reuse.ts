// Instance reuse A/B (issue 20): per-expansion time over the expansion corpus (test/corpus/expand)
// with warm starts, each expansion in a new instance restored from the snapshot (reuse off) or in
// the instance the previous expansion left when that is safe (reuse on, the default; see
// src/bridge/snapshot.ts). Rounds alternate between the two in one process, so load drifts hit both.
// Prints numbers; asserts nothing.
//
//   node --import tsx bench/reuse.ts [rounds]     (default 6 rounds of each after one warm-up round)

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMacroModule } from "../src/index.js";
import { build } from "../src/builder/build.js";
import { instrumentFuel } from "../src/sandbox/fuel.js";
import { reusedInstanceCount, setInstanceReuse } from "../src/bridge/snapshot.js";
import { crateKey, loadCorpus } from "../test/corpus/expand/load.js";

const rounds = Number(process.argv[2] ?? 6);
const out = mkdtempSync(join(tmpdir(), "macrobox-bench-reuse-"));
const byCrate = new Map<string, ReturnType<typeof loadCorpus>>();
for (const c of loadCorpus()) byCrate.set(crateKey(c.crate), [...(byCrate.get(crateKey(c.crate)) ?? []), c]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

console.log(`per-expansion time in ms (metered, warm starts), ${rounds} alternating rounds each after a warm-up round`);
console.log(
  `${"crate".padEnd(24)} ${"expansions".padStart(10)} ${"new mean".padStart(9)} ${"median".padStart(7)} ${"reuse mean".padStart(11)} ${"median".padStart(7)} ${"change".padStart(7)} ${"reused".padStart(7)}`,
);
for (const [key, cases] of byCrate) {
  const crate = cases[0].crate;
  const spec = "path" in crate ? crate.path : `${crate.name}@${crate.version}`;
  const built = await build({ crate: spec, output: join(out, `${key.replace(/[^A-Za-z0-9]+/g, "_")}.wasm`) });
  const compiled = await WebAssembly.compile(instrumentFuel(new Uint8Array(readFileSync(built.output))));
  const module = await loadMacroModule(compiled);
  const jobs = cases.flatMap((c) => c.macros.map((name) => ({ kind: c.kind, name, input: c.input, args: c.args })));
  const times = { off: [] as number[], on: [] as number[] };
  let runsOn = 0;
  let reusedOn = 0;
  for (let round = 0; round <= 2 * rounds; round++) {
    const on = round % 2 === 1;
    setInstanceReuse(on);
    const before = reusedInstanceCount(compiled);
    for (const job of jobs) {
      const t = performance.now();
      await module.expand(job);
      if (round > 0) times[on ? "on" : "off"].push(performance.now() - t);
    }
    if (on) {
      runsOn += jobs.length;
      reusedOn += reusedInstanceCount(compiled) - before;
    }
  }
  setInstanceReuse(true);
  const change = `${((mean(times.on) / mean(times.off) - 1) * 100).toFixed(1)}%`;
  console.log(
    `${key.replace(/^.*\//, "").padEnd(24)} ${String(jobs.length).padStart(10)} ${mean(times.off).toFixed(3).padStart(9)} ${median(times.off).toFixed(3).padStart(7)} ${mean(times.on).toFixed(3).padStart(11)} ${median(times.on).toFixed(3).padStart(7)} ${change.padStart(7)} ${`${((reusedOn / runsOn) * 100).toFixed(0)}%`.padStart(7)}`,
  );
}
