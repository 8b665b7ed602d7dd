// Remote-cache benchmark: one expansion's time answered by a remote cache (nginx WebDAV on a
// loopback port, started here), by the local disk cache, and computed afresh, over the
// serde_derive cases of the expansion corpus. Prints numbers; asserts nothing.
//
//   node --import tsx bench/remote-cache.ts [rounds]     (default 5 rounds)

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMacroModule } from "../src/index.js";
import { LayeredCacheStore } from "../src/host/cache.js";
import type { CacheStore } from "../src/host/cache-store.js";
import { build } from "../src/builder/build.js";
import { DiskCacheStore, moduleHash } from "../src/node/disk-cache.js";
import { RemoteCache } from "../src/node/remote-cache.js";
import { loadCorpus } from "../test/corpus/expand/load.js";
import { startNginx } from "../test/support/cache-server.js";

const rounds = Number(process.argv[2] ?? 5);
const out = mkdtempSync(join(tmpdir(), "macrobox-bench-remote-"));
const cases = loadCorpus().filter((c) => !("path" in c.crate) && c.crate.name === "serde_derive");
const jobs = cases.flatMap((c) => c.macros.map((name) => ({ kind: c.kind, name, input: c.input, args: c.args })));
const built = await build({ crate: "serde_derive@1.0.152", output: join(out, "serde_derive.wasm") });
const bytes = readFileSync(built.output);
const server = await startNginx();

const load = (expansionCache?: CacheStore) => loadMacroModule(bytes, { moduleHash: moduleHash(bytes), expansionCache });
const disk = new DiskCacheStore(join(out, "expansions"));
const filler = new RemoteCache({ url: server.url });
{
  // Fill both caches once.
  const module = await load(new LayeredCacheStore([disk, filler.store("expansion")]));
  for (const job of jobs) await module.expand(job);
  await filler.flush(60_000);
}

async function time(expansionCache: () => CacheStore | undefined): Promise<{ mean: number; median: number }> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const module = await load(expansionCache());
    for (const job of jobs) {
      const start = performance.now();
      await module.expand(job);
      times.push(performance.now() - start);
    }
  }
  times.sort((a, b) => a - b);
  return { mean: times.reduce((a, b) => a + b, 0) / times.length, median: times[times.length >> 1] };
}

const fresh = await time(() => undefined);
const local = await time(() => disk);
let remote: RemoteCache | null = null;
const remoteHit = await time(() => {
  remote = new RemoteCache({ url: server.url, readOnly: true });
  return remote.store("expansion");
});
const s = (remote as RemoteCache | null)?.stats.expansion;
console.log(`serde_derive, ${jobs.length} expansions × ${rounds} rounds; ms per expansion (remote: nginx WebDAV on loopback)`);
console.log(`${"".padEnd(28)} ${"mean".padStart(8)} ${"median".padStart(8)}`);
for (const [label, t] of [
  ["fresh expansion", fresh],
  ["local hit (disk cache)", local],
  ["remote hit (empty local)", remoteHit],
] as const) {
  console.log(`${label.padEnd(28)} ${t.mean.toFixed(3).padStart(8)} ${t.median.toFixed(3).padStart(8)}`);
}
console.log(`last round's remote cache: ${s?.hits} hits, ${s?.misses} misses`);
await server.stop();
