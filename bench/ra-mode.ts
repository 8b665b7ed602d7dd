// macrobox against native proc macros in the mode rust-analyzer 1.96 uses (`npm run bench:ra`).
//
// bench/compare.ts speaks json-legacy with `Id` spans over the conformance corpus; rust-analyzer
// 1.96 sends `SetConfig { span_mode: RustAnalyzer }` first and then every ExpandMacro with a span
// data table (editioned file ids, AST-id anchors, anchor-relative ranges, syntax contexts), as
// json-legacy lines or, with `--format bidirectional-postcard-prototype`, as COBS-framed postcard
// messages answering the server's span sub-requests. This benchmark drives both formats in that
// mode (and json-legacy in `Id` mode beside them, today's benchmark's mode) over a corpus that
// looks like real code: bench/corpus/*.rs, real-world-style serde items (`#[serde]` attributes,
// tagged and untagged enums, generics, where clauses, large items) and thiserror enums.
//
// The two sides are rust-analyzer's native server (/usr/libexec/rust-analyzer-proc-macro-srv,
// dylibs in cargo's dev profile, what rust-analyzer's own build gives macros) and
// `macrobox-proc-macro-srv` (bin/macrobox-proc-macro-srv.js, the executable rust-analyzer is
// pointed at; the expansion cache off). Each request goes to both, alternating which goes first,
// so machine noise falls on both alike: the ratios are taken within one run and are what to
// compare; absolute milliseconds move with the machine.
//
// Run twice: quiet, and loaded (a CPU-bound process on every core, started by the benchmark,
// ended by it). Prints per macro and format the warm median and p90 of each side and their ratios,
// quiet and loaded beside each other, and the peak RSS of each macrobox server. Writes the same as
// JSON to bench/results/ra-mode.json (or --json <path>). Prints numbers; asserts nothing.
//
//   npm run bench:ra [-- --rounds N] [-- --quiet-only] [-- --loaded-only]

import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { ProcMacroServerClient, spawnRustAnalyzerServer } from "../test/support/server-client.js";
import { encodeFlatTree } from "../src/server/flat.js";
import { encodeRequestLine, type Request, type SpanMode } from "../src/server/protocol.js";
import { loadCorpus, type CrateRef } from "../test/corpus/expand/load.js";
import { buildNativeMacro, lexSource, NATIVE_SPANS, PROC_MACRO_SRV } from "../test/oracle/native.js";
import { PostcardClient } from "../test/oracle/postcard-client.js";
import { CONFORMANCE_CRATES, conformanceWasm, raRequest, spanWorld } from "../test/oracle/server-requests.js";
import { stats } from "./servers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string" },
    json: { type: "string" },
    "quiet-only": { type: "boolean" },
    "loaded-only": { type: "boolean" },
  },
});
const rounds = Number(opts.rounds ?? 8);
const jsonPath = resolve(opts.json ?? join(ROOT, "bench", "results", "ra-mode.json"));

const [SERDE, THISERROR] = CONFORMANCE_CRATES;
const SUBJECTS = [
  { label: "serde_derive Serialize", crate: SERDE, name: "Serialize" },
  { label: "serde_derive Deserialize", crate: SERDE, name: "Deserialize" },
  { label: "thiserror-impl Error", crate: THISERROR, name: "Error" },
];
const key = (c: CrateRef) => ("path" in c ? c.path : `${c.name}@${c.version}`);

// ---- artifacts and requests ----

const corpus = loadCorpus(join(ROOT, "bench", "corpus"));
const dylibs = new Map<string, string>();
const moduleArgs: string[] = [];
for (const s of SUBJECTS) {
  const k = key(s.crate);
  if (dylibs.has(k)) continue;
  dylibs.set(k, buildNativeMacro(s.crate, "dev"));
  moduleArgs.push("--module", `${s.crate.name.replace(/-/g, "_")}=${await conformanceWasm(s.crate)}`);
}

type Format = "json Id" | "json RustAnalyzer" | "postcard RustAnalyzer";
const FORMATS: Format[] = ["json Id", "json RustAnalyzer", "postcard RustAnalyzer"];

interface Job {
  subject: string;
  id: Request;
  ra: Request;
  /** The item's source text: what the postcard client answers span questions from. */
  text: string;
}

const jobs: Job[] = [];
for (const s of SUBJECTS) {
  const dylib = dylibs.get(key(s.crate))!;
  for (const c of corpus.filter((c) => key(c.crate) === key(s.crate) && c.macros.includes(s.name))) {
    const rootSpan = NATIVE_SPANS.callSite;
    const id: Request = {
      type: "ExpandMacro",
      lib: dylib,
      env: [["CARGO_PKG_NAME", "app"]],
      currentDir: "/tmp",
      macroBody: encodeFlatTree(lexSource(c.input), { rootSpan }),
      macroName: s.name,
      attributes: null,
      globals: { ...NATIVE_SPANS },
      spanDataTable: [],
    };
    jobs.push({ subject: s.label, id, ra: raRequest(dylib, s.name, c.input, null), text: c.input });
  }
}
const items = new Set(corpus.map((c) => c.id)).size;
const attrs = corpus.reduce((n, c) => n + (c.input.match(/#\[(serde|error|from|source)\b/g)?.length ?? 0), 0);
const enums = corpus.filter((c) => /^\s*(pub(\([^)]*\))?\s+)?enum\b/m.test(c.input)).length;

// ---- servers: one pair per format ----

interface Side {
  /** Sends one request, returns the time (ms) to its response; throws unless it expanded. */
  expand(job: Job): Promise<number>;
  pid(): number | undefined;
  close(): Promise<void>;
}

function ok(line: string): void {
  if (!/^\{"ExpandMacro(Extended)?":\{"Ok"/.test(line)) throw new Error(`expansion failed: ${line.slice(0, 300)}`);
}

async function jsonSide(client: ProcMacroServerClient, mode: SpanMode): Promise<Side> {
  if (mode === "RustAnalyzer") await client.requestLine(encodeRequestLine({ type: "SetConfig", spanMode: "RustAnalyzer" }));
  await client.request({ type: "ApiVersionCheck" });
  const lines = new Map<Job, string>(jobs.map((j) => [j, encodeRequestLine(mode === "Id" ? j.id : j.ra)]));
  return {
    async expand(job) {
      const t = performance.now();
      const res = await client.requestLine(lines.get(job)!);
      const ms = performance.now() - t;
      ok(res);
      return ms;
    },
    pid: () => (client as unknown as { child: ChildProcess }).child.pid,
    close: () => client.close(),
  };
}

async function postcardSide(client: PostcardClient): Promise<Side> {
  await client.request({ type: "SetConfig", spanMode: "RustAnalyzer" });
  await client.request({ type: "ApiVersionCheck" });
  return {
    async expand(job) {
      const t = performance.now();
      const { response } = await client.request(job.ra, spanWorld(job.text));
      const ms = performance.now() - t;
      if (response.type !== "ExpandMacroExtended" || !response.result.ok) throw new Error(`expansion failed: ${JSON.stringify(response).slice(0, 300)}`);
      return ms;
    },
    pid: () => (client as unknown as { child: ChildProcess }).child.pid,
    close: () => client.close(),
  };
}

const macroboxCommand = [join(ROOT, "bin", "macrobox-proc-macro-srv.js"), ...moduleArgs];
const macroboxEnv = { MACROBOX_EXPANSION_CACHE: "off" };

async function pair(format: Format): Promise<{ native: Side; ours: Side }> {
  if (format === "postcard RustAnalyzer") {
    return {
      native: await postcardSide(new PostcardClient(PROC_MACRO_SRV, [])),
      ours: await postcardSide(new PostcardClient(process.execPath, macroboxCommand, macroboxEnv)),
    };
  }
  const mode: SpanMode = format === "json Id" ? "Id" : "RustAnalyzer";
  return {
    native: await jsonSide(spawnRustAnalyzerServer(), mode),
    ours: await jsonSide(new ProcMacroServerClient({ command: process.execPath, args: macroboxCommand, env: macroboxEnv }), mode),
  };
}

function peakRssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

// ---- load: a CPU-bound process on every core ----

function startLoad(): ChildProcess[] {
  return Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
}

async function stopLoad(load: ChildProcess[]): Promise<void> {
  await Promise.all(
    load.map(
      (p) =>
        new Promise<void>((done) => {
          if (p.exitCode !== null || p.signalCode !== null) return done();
          p.once("exit", () => done());
          p.kill("SIGKILL");
        }),
    ),
  );
}

// ---- run ----

interface Row {
  native: ReturnType<typeof stats>;
  macrobox: ReturnType<typeof stats>;
  ratioMedian: number;
  ratioP90: number;
  fastestRatio: number;
}
type Result = Record<Format, { rows: Record<string, Row>; peakRssMiB: number | null }>;

async function measure(): Promise<Result> {
  const out = {} as Result;
  for (const format of FORMATS) {
    const { native, ours } = await pair(format);
    const times = new Map<string, { native: number[]; ours: number[] }>();
    for (let round = 0; round <= rounds; round++) {
      for (const [i, job] of jobs.entries()) {
        const first = (round + i) % 2 === 0;
        const a = first ? await native.expand(job) : await ours.expand(job);
        const b = first ? await ours.expand(job) : await native.expand(job);
        if (round === 0) continue; // warm-up: both sides tier their code up
        const t = times.get(job.subject) ?? { native: [], ours: [] };
        t.native.push(first ? a : b);
        t.ours.push(first ? b : a);
        times.set(job.subject, t);
      }
    }
    const rows: Record<string, Row> = {};
    for (const [subject, t] of times) {
      const n = stats(t.native);
      const o = stats(t.ours);
      rows[subject] = {
        native: n,
        macrobox: o,
        ratioMedian: o.median / n.median,
        ratioP90: o.p90 / n.p90,
        fastestRatio: Math.min(...t.ours) / Math.min(...t.native),
      };
    }
    out[format] = { rows, peakRssMiB: peakRssMiB(ours.pid()) };
    await native.close();
    await ours.close();
  }
  return out;
}

const fmt = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const x = (r: number) => `${r.toFixed(2)}×`;

console.log(
  `rust-analyzer's mode: ${jobs.length} requests per round (${items} items of bench/corpus: ${attrs} field/variant attributes, ${enums} enums), ` +
    `${rounds} rounds after a warm-up; native and macrobox alternate, so compare the ratios (same run), not the milliseconds`,
);
const results: Partial<Record<"quiet" | "loaded", Result>> = {};
if (!opts["loaded-only"]) results.quiet = await measure();
if (!opts["quiet-only"]) {
  const load = startLoad();
  try {
    results.loaded = await measure();
  } finally {
    await stopLoad(load);
  }
}

for (const format of FORMATS) {
  console.log(`\n${format}            native median   p90 │ macrobox median   p90 │ ratio median   p90  fastest`);
  for (const state of ["quiet", "loaded"] as const) {
    const r = results[state]?.[format];
    if (r === undefined) continue;
    for (const [subject, row] of Object.entries(r.rows)) {
      console.log(
        `${state.padEnd(7)} ${subject.padEnd(26)} ${fmt(row.native.median).padStart(7)} ${fmt(row.native.p90).padStart(6)} │ ${fmt(row.macrobox.median).padStart(8)} ${fmt(row.macrobox.p90).padStart(6)} │ ` +
          `${x(row.ratioMedian).padStart(8)} ${x(row.ratioP90).padStart(6)} ${x(row.fastestRatio).padStart(7)}`,
      );
    }
    console.log(`${state.padEnd(7)} peak RSS of the macrobox server: ${r.peakRssMiB?.toFixed(1) ?? "?"} MiB`);
  }
}

mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(
  jsonPath,
  JSON.stringify({ rounds, node: process.version, date: new Date().toISOString(), cores: availableParallelism(), ...results }, null, 2) + "\n",
);
console.log(`\nsummary written to ${jsonPath}`);
