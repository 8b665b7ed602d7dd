// Expansion benchmark: per-expansion time over the expansion corpus (test/corpus/expand), per
// macro crate, with fuel metering (the default) and without, and what metering costs.
// Prints numbers; asserts nothing. The sandbox issue's goal: metering under 25% slower.
//
//   node --import tsx bench/expand.ts [rounds]     (default 5 rounds after one warm-up round)

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMacroModule } from "../src/index.js";
import { build } from "../src/builder/build.js";
import { crateKey, loadCorpus } from "../test/corpus/expand/load.js";

const rounds = Number(process.argv[2] ?? 5);
const out = mkdtempSync(join(tmpdir(), "macrobox-bench-expand-"));
const byCrate = new Map<string, ReturnType<typeof loadCorpus>>();
for (const c of loadCorpus()) byCrate.set(crateKey(c.crate), [...(byCrate.get(crateKey(c.crate)) ?? []), c]);

console.log(`per-expansion time in ms, ${rounds} rounds after a warm-up round (fresh instance per expansion)`);
console.log(
  `${"crate".padEnd(24)} ${"expansions".padStart(10)} ${"metered mean".padStart(13)} ${"median".padStart(7)} ${"p95".padStart(7)} ${"unmetered mean".padStart(15)} ${"metering cost".padStart(14)}`,
);
for (const [key, cases] of byCrate) {
  const crate = cases[0].crate;
  const spec = "path" in crate ? crate.path : `${crate.name}@${crate.version}`;
  const built = await build({ crate: spec, output: join(out, `${key.replace(/[^A-Za-z0-9]+/g, "_")}.wasm`) });
  const bytes = readFileSync(built.output);
  const jobs = cases.flatMap((c) => c.macros.map((name) => ({ kind: c.kind, name, input: c.input, args: c.args })));
  const metered = await timeAll(await loadMacroModule(bytes), jobs);
  const plain = await timeAll(await loadMacroModule(bytes, { meter: false }), jobs);
  const cost = `${((metered.mean / plain.mean - 1) * 100).toFixed(1)}%`;
  console.log(
    `${key.replace(/^.*\//, "").padEnd(24)} ${String(jobs.length).padStart(10)} ${metered.mean.toFixed(2).padStart(13)} ${metered.median.toFixed(2).padStart(7)} ${metered.p95.toFixed(2).padStart(7)} ${plain.mean.toFixed(2).padStart(15)} ${cost.padStart(14)}`,
  );
}

async function timeAll(module: Awaited<ReturnType<typeof loadMacroModule>>, jobs: Parameters<typeof module.expand>[0][]) {
  const times: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    for (const job of jobs) {
      const start = performance.now();
      await module.expand(job);
      if (round > 0) times.push(performance.now() - start);
    }
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { mean: times.reduce((a, b) => a + b, 0) / times.length, median: at(0.5), p95: at(0.95) };
}
