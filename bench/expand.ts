// Expansion benchmark: per-expansion time over the expansion corpus (test/corpus/expand), per
// macro crate, with fuel metering on (the default). Prints numbers; asserts nothing.
//
//   node --import tsx bench/expand.ts [rounds]     (default 5 rounds after one warm-up round)

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMacroModule } from "../src/bridge/index.js";
import { build } from "../src/build/build.js";
import { crateKey, loadCorpus } from "../test/corpus/expand/load.js";

const rounds = Number(process.argv[2] ?? 5);
const out = mkdtempSync(join(tmpdir(), "macrobox-bench-expand-"));
const byCrate = new Map<string, ReturnType<typeof loadCorpus>>();
for (const c of loadCorpus()) byCrate.set(crateKey(c.crate), [...(byCrate.get(crateKey(c.crate)) ?? []), c]);

console.log(`per-expansion time, ${rounds} rounds after a warm-up round (fresh instance per expansion, fuel metered)`);
console.log(`${"crate".padEnd(24)} ${"expansions".padStart(10)} ${"mean ms".padStart(9)} ${"median ms".padStart(9)} ${"p95 ms".padStart(9)}`);
for (const [key, cases] of byCrate) {
  const crate = cases[0].crate;
  const spec = "path" in crate ? crate.path : `${crate.name}@${crate.version}`;
  const built = await build({ crate: spec, output: join(out, `${key.replace(/[^A-Za-z0-9]+/g, "_")}.wasm`) });
  const module = await loadMacroModule(readFileSync(built.output));
  const jobs = cases.flatMap((c) => c.macros.map((name) => ({ kind: c.kind, name, input: c.input, args: c.args })));
  const times: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    for (const job of jobs) {
      const start = performance.now();
      await module.expand(job);
      if (round > 0) times.push(performance.now() - start);
    }
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  console.log(`${key.replace(/^.*\//, "").padEnd(24)} ${String(jobs.length).padStart(10)} ${mean.toFixed(2).padStart(9)} ${at(0.5).toFixed(2).padStart(9)} ${at(0.95).toFixed(2).padStart(9)}`);
}
