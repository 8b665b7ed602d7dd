// The cargo host's throughput when several rustc processes expand at once (`cargo build -j N`):
// each "rustc" is a shim-like client (test/patch/shim-client.ts) in a process of its own, sending the
// serde_derive and thiserror-impl corpus cases one after another, each on a connection of its own, as
// a shim does (clients in the benchmark's own process would share its thread and event loop, and
// measure that instead of the host).
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

import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { loadCorpus } from "../test/corpus/expand/load.js";
import { CONFORMANCE_CRATES, conformanceWasm } from "../test/oracle/server-requests.js";
import { encodeShimRequest, shimExchange, startHostProcess } from "../test/patch/shim-client.js";
import { stats } from "./servers.js";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "5" }, base: { type: "string" }, client: { type: "string" }, requests: { type: "string" } },
});

// ---- a client process: `--client <k> --requests <file>`; each stdin line `<socket>` is one pass ----
if (values.client !== undefined) {
  const k = Number(values.client);
  const file = readFileSync(values.requests!);
  const mine: Buffer[] = [];
  for (let at = 0; at < file.length;) {
    const len = 4 + file.readUInt32LE(at);
    mine.push(file.subarray(at, at + len));
    at += len;
  }
  for await (const socket of createInterface({ input: process.stdin })) {
    // Each client its own order, as two rustc processes expand different crates.
    for (let i = 0; i < mine.length; i++) await shimExchange(socket, mine[(i * (k + 1) + k * 7) % mine.length]);
    process.stdout.write("done\n");
  }
  process.exit(0);
}

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

const requestFile = join(scratch, "requests.bin");
writeFileSync(requestFile, Buffer.concat(requests));

/** A client process, started once: `pass(socket)` sends every request once and resolves when done. */
function startClient(k: number): { child: ChildProcess; pass: (socket: string) => Promise<void> } {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), import.meta.filename, "--client", String(k), "--requests", requestFile], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const waiting: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on("line", () => waiting.shift()?.());
  return {
    child,
    pass: (socket) =>
      new Promise((done) => {
        waiting.push(done);
        child.stdin!.write(`${socket}\n`);
      }),
  };
}
const clientProcesses = [startClient(0), startClient(1)];

/** Expansions per second with `clients` client processes each sending every request once. */
async function throughput(socket: string, clients: number): Promise<number> {
  const start = performance.now();
  await Promise.all(clientProcesses.slice(0, clients).map((c) => c.pass(socket)));
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
  for (const c of clientProcesses) c.child.kill();
  rmSync(scratch, { recursive: true, force: true });
}
