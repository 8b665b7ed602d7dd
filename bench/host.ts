// The cargo host's throughput when several rustc processes expand at once (`cargo build -j N`):
// each "rustc" is a shim-like client (test/patch/shim-client.ts) sending the serde_derive and
// thiserror-impl corpus cases one after another, each on a connection of its own, as a shim does.
// Prints expansions per second with 1 and with 2 such clients at once, and the ratio, for a host
// with one expansion thread (the pool of one: the host before its pool expanded on its main thread,
// without the hand-off to a worker) and with the default pool (one per core), alternating, in one
// run: the machine's load falls on all alike, so compare the ratios.
// Prints numbers; asserts nothing.
//
// `--base <checkout>` adds a host run from another checkout's sources (its node_modules linked),
// e.g. the commit before the pool, for an A/B in the same run.
//
//   node --import tsx bench/host.ts [--rounds N] [--base <checkout>]

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { loadCorpus } from "../test/corpus/expand/load.js";
import { CONFORMANCE_CRATES, conformanceWasm } from "../test/oracle/server-requests.js";
import { encodeShimRequest, shimExchange, startHostProcess } from "../test/patch/shim-client.js";
import { stats } from "./servers.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" }, base: { type: "string" } } });
const rounds = Number(values.rounds);
const scratch = mkdtempSync(join(tmpdir(), "macrobox-bench-host-"));

const requests: Buffer[] = [];
for (const crate of CONFORMANCE_CRATES) {
  if ("path" in crate) continue;
  const module = await conformanceWasm(crate);
  for (const c of loadCorpus().filter(
    (c) => "name" in c.crate && c.crate.name === crate.name && c.kind === "derive" && c.expect === "ok" && !c.input.includes("///"),
  ))
    for (const name of c.macros) requests.push(encodeShimRequest({ module, crate: crate.name, kind: "derive", name, input: c.input }));
}

/** Expansions per second with `clients` clients each sending every request once. */
async function throughput(socket: string, clients: number): Promise<number> {
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, k) => {
      // Each client its own order, as two rustc processes expand different crates.
      for (let i = 0; i < requests.length; i++) await shimExchange(socket, requests[(i * (k + 1) + k * 7) % requests.length]);
    }),
  );
  return (clients * requests.length) / ((performance.now() - start) / 1000);
}

function rssMiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

const hosts: Array<{ label: string; workers: number; repo?: string }> = [
  ...(values.base !== undefined ? [{ label: "base checkout", workers: 1, repo: values.base }] : []),
  { label: "1 expansion thread", workers: 1 },
  { label: `pool (${availableParallelism()} threads)`, workers: availableParallelism() },
];
console.log(`cargo host throughput: ${requests.length} requests per client, ${rounds} rounds after a warm-up, ${availableParallelism()} cores`);
try {
  const started = [];
  for (const h of hosts) {
    const dir = join(scratch, h.label.replace(/\W+/g, "-"));
    mkdirSync(dir, { mode: 0o700 });
    const socket = join(dir, "host.sock");
    const { child } = await startHostProcess(socket, ["--workers", String(h.workers), "--idle-ms", "600000"], {
      ...process.env,
      MACROBOX_EXPANSION_CACHE: "off",
    });
    started.push({ ...h, socket, child, one: [] as number[], two: [] as number[] });
  }
  for (let round = 0; round <= rounds; round++) {
    // Alternate which host goes first, so neither always meets the other's leftovers.
    for (const h of round % 2 === 0 ? started : [...started].reverse()) {
      const one = await throughput(h.socket, 1);
      const two = await throughput(h.socket, 2);
      if (round === 0) continue; // warm-up: modules loaded in every thread, code tiered up
      h.one.push(one);
      h.two.push(two);
    }
  }
  console.log(`host                         1 rustc (/s)   2 rustc at once (/s)   ratio   peak RSS`);
  for (const h of started) {
    const one = stats(h.one).median;
    const two = stats(h.two).median;
    console.log(
      `${h.label.padEnd(28)} ${one.toFixed(1).padStart(12)} ${two.toFixed(1).padStart(22)} ${(two / one).toFixed(2).padStart(6)}×   ${rssMiB(h.child.pid!).toFixed(0)} MiB`,
    );
    h.child.kill();
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
