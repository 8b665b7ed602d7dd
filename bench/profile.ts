// An in-process loop for CPU profiles of warm expansions (no process boundary, no native side):
// the serde_derive corpus through createServerSession(createWasmBackend(...)).answerLine (the session the server's worker runs), then
// Serialize over structs of 1, 10, 100 and 1,000 fields (time against input size).
//
//   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.ts [--rounds N] [--no-curve] [--no-corpus]
//   node --import tsx bench/profile.ts --base /tmp/old-checkout      (A/B: both hosts in this process)
//   node --import tsx bench/profile.ts --no-warm-snapshots           (every instance runs its constructors and warm-up)
//   node --import tsx bench/profile.ts --ra                          (rust-analyzer's span mode: span data tables, as bench:ra)
//   node --import tsx bench/profile.ts --alloc                       (what one expansion allocates, and where: V8's sampling
//                                                                      heap profiler, collected objects included, over the corpus;
//                                                                      then what outlives a young-generation collection)
//
// Both hosts in one process share its garbage collector: compare changes to what is allocated
// (memory grown per instance, say) from separate processes, alternating.
//
// Prints per expansion the p25, median and p90 wall time and the mean CPU time (steadier than wall time
// on a shared machine). With --base, a second copy of the host (another checkout's src/, e.g. from
// `git archive`) is loaded beside this one and the two are driven alternately, round by round.

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { build } from "../src/builder/build.js";
import { encodeFlatTree } from "../src/server/flat.js";
import { encodeRequestLine } from "../src/server/protocol.js";
import { lexSource, NATIVE_SPANS } from "../test/oracle/native.js";
import { raRequest } from "../test/oracle/server-requests.js";
import { loadCorpus } from "../test/corpus/expand/load.js";

const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string" },
    "no-curve": { type: "boolean" },
    "no-corpus": { type: "boolean" },
    "no-warm-snapshots": { type: "boolean" },
    base: { type: "string" },
    ra: { type: "boolean" },
    alloc: { type: "boolean" },
  },
});
const rounds = Number(opts.rounds ?? 20);

const built = await build({ crate: "serde_derive@1.0.152", output: join(mkdtempSync(join(tmpdir(), "macrobox-profile-")), "serde_derive.wasm") });
const bytes = readFileSync(built.output);

interface Side {
  name: string;
  answerLine(line: string): Promise<{ response: string }>;
}

/** A server session of the host whose src/ is under `root`. */
async function side(name: string, root: string): Promise<Side> {
  const from = (path: string) => import(pathToFileURL(join(root, path)).href);
  const { loadMacroModule } = await from("src/index.ts");
  const { createServerSession } = await from("src/server/serve.ts");
  const { createWasmBackend } = await from("src/server/wasm-backend.ts");
  const module = await loadMacroModule(bytes, { warmSnapshots: !opts["no-warm-snapshots"] });
  return { name, ...createServerSession(createWasmBackend({ loadModule: async () => module }), { spanMode: opts.ra ? "RustAnalyzer" : "Id" }) };
}
const here = resolve(import.meta.dirname, "..");
const sides = [await side(opts.base ? "this" : "", here)];
if (opts.base) sides.push(await side("base", resolve(opts.base)));

const requestLine = (input: string, name: string) =>
  encodeRequestLine(
    opts.ra
      ? raRequest("serde_derive", name, input, null)
      : {
          type: "ExpandMacro",
          lib: "serde_derive",
          env: [],
          currentDir: null,
          macroBody: encodeFlatTree(lexSource(input), { rootSpan: NATIVE_SPANS.callSite }),
          macroName: name,
          attributes: null,
          globals: { ...NATIVE_SPANS },
          spanDataTable: [],
        },
  );

/** Runs every line once per round on each side, the sides alternating by round; times per side. */
async function timeLines(lines: string[], rounds: number): Promise<string> {
  const times = sides.map(() => [] as number[]);
  const cpu = sides.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    for (const [i, s] of (r % 2 === 0 ? sides : [...sides].reverse()).entries()) {
      const k = r % 2 === 0 ? i : sides.length - 1 - i;
      const before = process.cpuUsage();
      for (const line of lines) {
        const start = performance.now();
        const res = (await s.answerLine(line)).response;
        times[k].push(performance.now() - start);
        if (!/^\{"ExpandMacro(Extended)?":\{"Ok"/.test(res)) throw new Error(`expansion failed: ${res.slice(0, 300)}`);
      }
      const used = process.cpuUsage(before);
      cpu[k] += (used.user + used.system) / 1000;
    }
  }
  return sides
    .map((s, k) => {
      const t = times[k].sort((a, b) => a - b);
      const at = (q: number) => t[Math.min(t.length - 1, Math.floor(q * t.length))].toFixed(3);
      return `${s.name ? `${s.name}: ` : ""}p25 ${at(0.25)} ms, median ${at(0.5)} ms, p90 ${at(0.9)} ms, cpu ${(cpu[k] / t.length).toFixed(3)} ms`;
    })
    .join(" | ");
}

if (!opts["no-corpus"]) {
  const lines = loadCorpus()
    .filter((c) => "name" in c.crate && c.crate.name === "serde_derive" && c.kind === "derive" && c.expect === "ok")
    .flatMap((c) => c.macros.map((name) => requestLine(c.input, name)));
  await timeLines(lines, 2); // warm-up (V8 tier-up)
  console.log(`corpus, ${lines.length} expansions × ${rounds} rounds: ${await timeLines(lines, rounds)}`);
  if (opts.alloc) await allocation(lines);
}

if (!opts["no-curve"]) {
  for (const fields of [1, 10, 100, 1000]) {
    const input = `struct S { ${Array.from({ length: fields }, (_, i) => `f${i}: u32,`).join(" ")} }`;
    const line = requestLine(input, "Serialize");
    const reps = Math.max(4, Math.round((rounds * 20) / Math.max(1, Math.sqrt(fields))));
    await timeLines([line], 2);
    console.log(`Serialize, ${String(fields).padStart(4)} fields × ${reps}: ${await timeLines([line], reps)}`);
  }
}

/**
 * Bytes allocated per expansion over one round of `lines` (the first side), and the functions that
 * allocated most: V8's sampling heap profiler with collected objects kept (a sample every 4 KiB), so
 * garbage counts as much as what survives. Built-ins are named with the function that called them.
 * Then the same over four rounds without what a young-generation collection freed: what outlives a
 * scavenge and is promoted, the garbage the old generation grows by until a full collection
 * (DEVELOPERS.md, "What outlives an expansion").
 */
async function allocation(lines: string[]): Promise<void> {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  for (const [label, rounds, minor] of [
    ["allocated", 1, true],
    ["outlived a scavenge", 4, false],
  ] as const) {
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: minor,
    } as never);
    for (let r = 0; r < rounds; r++) for (const line of lines) await sides[0].answerLine(line);
    const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: { head: AllocationNode } };
    const byFunction = new Map<string, number>();
    let total = 0;
    const walk = (node: AllocationNode, caller: string) => {
      const f = node.callFrame;
      const name = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}`;
      const key = f.url === "" ? `${name}(built-in) <- ${caller}` : name;
      byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
      for (const child of node.children) walk(child, name);
    };
    walk(profile.head, "");
    const n = lines.length * rounds;
    console.log(`${label}: ${(total / n / 1e3).toFixed(1)} KB per expansion (${(total / 1e6).toFixed(1)} MB over ${n})`);
    for (const [key, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, minor ? 15 : 8)) {
      console.log(`  ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${key}`);
    }
  }
  session.disconnect();
}

interface AllocationNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: AllocationNode[];
}
