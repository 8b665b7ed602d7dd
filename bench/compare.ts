// macrobox against native proc macros, side by side (`npm run bench`).
//
// Both servers get the identical request stream over rust-analyzer's own client protocol
// (json-legacy, Id span mode): rust-analyzer's native proc-macro-srv 1.96 expanding dylibs that
// cargo built from the same sources (dev profile, as cargo and rust-analyzer build them; release beside
// it), and `macrobox proc-macro-server` expanding wasm modules that
// `macrobox build` made. Requests alternate between the two servers, so machine noise hits both
// alike. Prints, per macro: warm median and p90 of each side and their ratio; cold start of each
// side (spawn → version → list → first expansion) beside node's bare start; the cached ratio
// (a repeated unchanged expansion against a native one); throughput; peak RSS of each server;
// time against input size (structs of 1, 10, 100 and 1,000 fields); fuel on and off. Writes the
// same as JSON to bench/results/compare.json (or --json <path>). Prints numbers; asserts nothing.
//
//   npm run bench [-- --quick] [-- --rounds N]

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { build } from "../src/builder/build.js";
import { loadMacroModule } from "../src/index.js";
import { ProcMacroServerClient, spawnRustAnalyzerServer } from "../test/support/server-client.js";
import { encodeFlatTree } from "../src/server/flat.js";
import { encodeRequestLine, type Request } from "../src/server/protocol.js";
import { buildNativeMacro, lexSource, NATIVE_SPANS } from "../test/oracle/native.js";
import { loadCorpus, type CorpusCase, type CrateRef } from "../test/corpus/expand/load.js";
import { bareNodeMs, coldStart, stats, timed, type ColdStart } from "./servers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean" },
    rounds: { type: "string" },
    json: { type: "string" },
  },
});
const quick = opts.quick ?? false;
const rounds = Number(opts.rounds ?? (quick ? 3 : 15));
const jsonPath = resolve(opts.json ?? join(ROOT, "bench", "results", quick ? "compare-quick.json" : "compare.json"));

/** The macros the performance goals name, each with the corpus file that exercises it. */
const SUBJECTS: Array<{ label: string; crate: CrateRef; kind: "derive" | "attr" | "bang"; name: string }> = [
  { label: "serde_derive Serialize", crate: { name: "serde_derive", version: "1.0.152" }, kind: "derive", name: "Serialize" },
  { label: "serde_derive Deserialize", crate: { name: "serde_derive", version: "1.0.152" }, kind: "derive", name: "Deserialize" },
  { label: "thiserror-impl Error", crate: { name: "thiserror-impl", version: "1.0.38" }, kind: "derive", name: "Error" },
  { label: "demo Describe", crate: { path: "examples/demo-macros" }, kind: "derive", name: "Describe" },
  { label: "demo route", crate: { path: "examples/demo-macros" }, kind: "attr", name: "route" },
  { label: "demo sql", crate: { path: "examples/demo-macros" }, kind: "bang", name: "sql" },
];

const crateId = (c: CrateRef) => ("path" in c ? resolve(ROOT, c.path) : `${c.name}@${c.version}`);
const crateName = (c: CrateRef) => ("path" in c ? "demo_macros" : c.name.replace(/-/g, "_"));

// ---- artifacts: the native dylib and the wasm module of each crate ----

const work = mkdtempSync(join(tmpdir(), "macrobox-bench-compare-"));
// Native dylibs in cargo's dev profile, what `cargo build` and rust-analyzer's `cargo check` give a
// user's macros (opt-level 0: cargo builds proc macros unoptimised unless a profile's
// build-override says otherwise), which the ratios are against; and in the release profile
// (optimised, like our modules), printed beside them as the harder reference.
const artifacts = new Map<string, { dylib: string; dylibRelease: string; wasm: string }>();
for (const s of SUBJECTS) {
  const id = crateId(s.crate);
  if (artifacts.has(id)) continue;
  const native = "path" in s.crate ? { path: id } : s.crate;
  const built = await build({ crate: id, output: join(work, `${crateName(s.crate)}.wasm`) });
  artifacts.set(id, { dylib: buildNativeMacro(native, "dev"), dylibRelease: buildNativeMacro(native, "release"), wasm: built.output });
}
const modulesEnv = [...artifacts.values()].map((a) => `${libStem(a.dylib)}=${a.wasm}`).join(",");

function libStem(dylib: string): string {
  return dylib
    .replace(/^.*\//, "")
    .replace(/\.(so|dylib|dll)$/, "")
    .replace(/-[0-9a-f]{8,}$/, "");
}

// ---- the request stream ----

interface Job {
  subject: string;
  line: string;
  /** The same request naming the release dylib. */
  releaseLine: string;
}

function expandLine(dylib: string, kind: "derive" | "attr" | "bang", name: string, input: string, args?: string): string {
  const rootSpan = NATIVE_SPANS.callSite;
  const req: Request = {
    type: "ExpandMacro",
    lib: dylib,
    env: [],
    currentDir: null,
    macroBody: encodeFlatTree(lexSource(input), { rootSpan }),
    macroName: name,
    attributes: kind === "attr" ? encodeFlatTree(lexSource(args ?? ""), { rootSpan }) : null,
    globals: { ...NATIVE_SPANS },
    spanDataTable: [],
  };
  return encodeRequestLine(req);
}

const corpus = loadCorpus();
const jobs: Job[] = [];
for (const s of SUBJECTS) {
  const { dylib, dylibRelease } = artifacts.get(crateId(s.crate))!;
  let cases = corpus.filter((c: CorpusCase) => crateId(c.crate) === crateId(s.crate) && c.kind === s.kind && c.macros.includes(s.name) && c.expect === "ok");
  if (quick) cases = cases.slice(0, 5);
  for (const c of cases) {
    jobs.push({
      subject: s.label,
      line: expandLine(dylib, s.kind, s.name, c.input, c.args),
      releaseLine: expandLine(dylibRelease, s.kind, s.name, c.input, c.args),
    });
  }
}

// ---- servers ----

function spawnMacrobox(env: Record<string, string> = {}): ProcMacroServerClient {
  return new ProcMacroServerClient({
    command: process.execPath,
    args: [join(ROOT, "bin", "macrobox.js"), "proc-macro-server"],
    env: { MACROBOX_MODULES: modulesEnv, ...env },
  });
}

function peakRssMiB(client: ProcMacroServerClient): number | null {
  const pid = (client as unknown as { child: { pid?: number } }).child.pid;
  if (pid === undefined) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

// ---- run ----

const summary: Record<string, unknown> = { quick, rounds, node: process.version, date: new Date().toISOString() };
const fmt = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

console.log(`macrobox vs native proc-macro-srv — ${jobs.length} requests, ${rounds} rounds after a warm-up, alternating`);
const native = spawnRustAnalyzerServer();
const nativeRelease = spawnRustAnalyzerServer();
const ours = spawnMacrobox({ MACROBOX_EXPANSION_CACHE: "off" });
for (const c of [native, nativeRelease]) await c.request({ type: "SetConfig", spanMode: "Id" }).catch(() => undefined);
for (const c of [native, nativeRelease, ours]) await c.request({ type: "ApiVersionCheck" });

const times = new Map<string, { native: number[]; release: number[]; ours: number[] }>();
let totalNative = 0;
let totalOurs = 0;
for (let round = 0; round <= rounds; round++) {
  for (const [i, job] of jobs.entries()) {
    // Rotate which side goes first, so none always runs on a cache another warmed.
    const sides = [() => timed(native, job.line), () => timed(ours, job.line), () => timed(nativeRelease, job.releaseLine)];
    const measured = [0, 0, 0];
    for (let k = 0; k < 3; k++) {
      const side = (round + i + k) % 3;
      measured[side] = await sides[side]();
    }
    const [n, b, r] = measured;
    if (round === 0) continue;
    const entry = times.get(job.subject) ?? { native: [], release: [], ours: [] };
    entry.native.push(n);
    entry.release.push(r);
    entry.ours.push(b);
    times.set(job.subject, entry);
    totalNative += n;
    totalOurs += b;
  }
}
const warm: Record<string, unknown> = {};
console.log(`\nnative: cargo's dev profile (what cargo build and rust-analyzer's cargo check give macros); release: optimised`);
console.log(`warm per expansion (ms)            native median   p90 │ macrobox median   p90 │ ratio median   p90 │ release median  ratio`);
for (const [subject, t] of times) {
  const n = stats(t.native);
  const o = stats(t.ours);
  const r = stats(t.release);
  warm[subject] = {
    native: n,
    macrobox: o,
    nativeRelease: r,
    ratioMedian: o.median / n.median,
    ratioP90: o.p90 / n.p90,
    ratioMedianRelease: o.median / r.median,
  };
  console.log(
    `${subject.padEnd(32)} ${fmt(n.median).padStart(8)} ${fmt(n.p90).padStart(6)} │ ${fmt(o.median).padStart(8)} ${fmt(o.p90).padStart(6)} │ ${ratio(o.median, n.median).padStart(8)} ${ratio(o.p90, n.p90).padStart(6)} │ ${fmt(r.median).padStart(8)} ${ratio(o.median, r.median).padStart(7)}`,
  );
}
summary.warm = warm;
const requests = rounds * jobs.length;
summary.throughput = { requests, nativePerSecond: (requests / totalNative) * 1000, macroboxPerSecond: (requests / totalOurs) * 1000 };
console.log(`throughput over the corpus: native ${((requests / totalNative) * 1000).toFixed(0)}/s, macrobox ${((requests / totalOurs) * 1000).toFixed(0)}/s`);
const rss = { native: peakRssMiB(native), macrobox: peakRssMiB(ours) };
summary.peakRssMiB = rss;
console.log(`peak RSS: native ${rss.native?.toFixed(1) ?? "?"} MiB, macrobox ${rss.macrobox?.toFixed(1) ?? "?"} MiB`);

// Time against input size: one derive over structs of growing field counts.
{
  const serde = artifacts.get(crateId(SUBJECTS[0].crate))!;
  const curve: Array<{ fields: number; native: number; macrobox: number }> = [];
  console.log(`\nSerialize of a struct with N fields (median ms)   native  macrobox  ratio`);
  for (const fields of [1, 10, 100, 1000]) {
    const input = `struct S { ${Array.from({ length: fields }, (_, i) => `f${i}: u32,`).join(" ")} }`;
    const line = expandLine(serde.dylib, "derive", "Serialize", input);
    const n: number[] = [];
    const o: number[] = [];
    const reps = fields >= 1000 ? Math.max(3, Math.ceil(rounds / 3)) : rounds;
    for (let i = 0; i <= reps; i++) {
      const a = await timed(native, line);
      const b = await timed(ours, line);
      if (i > 0) {
        n.push(a);
        o.push(b);
      }
    }
    const nm = stats(n).median;
    const om = stats(o).median;
    curve.push({ fields, native: nm, macrobox: om });
    console.log(`${String(fields).padStart(5)} fields ${"".padEnd(36)} ${fmt(nm).padStart(7)} ${fmt(om).padStart(9)} ${ratio(om, nm).padStart(6)}`);
  }
  summary.sizeCurve = curve;
}
await native.close();
await nativeRelease.close();
await ours.close();

// The expansion cache: the same request again, served from the cache, against a native expansion.
{
  const cached = spawnMacrobox({ MACROBOX_EXPANSION_CACHE: "on", MACROBOX_CACHE: join(work, "cache") });
  const nat = spawnRustAnalyzerServer();
  await nat.request({ type: "SetConfig", spanMode: "Id" }).catch(() => undefined);
  const job = jobs.find((j) => j.subject === "serde_derive Serialize") ?? jobs[0];
  await timed(cached, job.line); // fills the cache
  const c: number[] = [];
  const n: number[] = [];
  for (let i = 0; i < Math.max(5, rounds); i++) {
    c.push(await timed(cached, job.line));
    n.push(await timed(nat, job.line));
  }
  const cm = stats(c).median;
  const nm = stats(n).median;
  summary.cached = { macrobox: cm, native: nm, ratio: cm / nm };
  console.log(`\nrepeated unchanged expansion (${job.subject}): macrobox ${fmt(cm)} ms vs native ${fmt(nm)} ms = ${ratio(cm, nm)}`);
  await cached.close();
  await nat.close();
}

// Cold start, module already built.
{
  const serde = artifacts.get(crateId(SUBJECTS[0].crate))!;
  const first = jobs.find((j) => j.subject === "serde_derive Serialize")!.line;
  const runs = quick ? 2 : 5;
  const n: number[] = [];
  const o: ColdStart[] = [];
  for (let i = 0; i < runs; i++) {
    n.push((await coldStart(() => spawnRustAnalyzerServer(), serde.dylib, first)).total);
    o.push(await coldStart(() => spawnMacrobox(), serde.dylib, first));
  }
  const bare = bareNodeMs();
  const nm = stats(n).median;
  const om = stats(o.map((x) => x.total)).median;
  const parts = (k: "version" | "list" | "expand") => stats(o.map((x) => x[k])).median;
  summary.coldStart = {
    native: nm,
    macrobox: om,
    ratio: om / nm,
    bareNode: bare,
    macroboxParts: { version: parts("version"), list: parts("list"), firstExpand: parts("expand") },
  };
  console.log(
    `cold start (spawn → version → list → first expansion): native ${fmt(nm)} ms, macrobox ${fmt(om)} ms (${ratio(om, nm)}); ` +
      `bare \`node -e ''\` ${fmt(bare)} ms; macrobox parts: version ${fmt(parts("version"))}, list ${fmt(parts("list"))}, first expansion ${fmt(parts("expand"))}`,
  );
}

// Fuel metering on and off, in process (the same module bytes, metered or not). Both sides without
// warm starts: the snapshot a warm start (and instance reuse) restores needs the exports only the
// fuel instrumentation adds (src/sandbox/fuel.ts SNAPSHOT_EXPORT), so with them on, the metered
// side alone would skip its constructors, and the difference would be that, not the metering (it
// printed -43% and -52%: metered "faster").
{
  const serde = artifacts.get(crateId(SUBJECTS[0].crate))!;
  const bytes = readFileSync(serde.wasm);
  const metered = await loadMacroModule(bytes, { warmSnapshots: false });
  const plain = await loadMacroModule(bytes, { meter: false, warmSnapshots: false });
  const cases = corpus.filter((c) => crateId(c.crate) === crateId(SUBJECTS[0].crate) && c.expect === "ok").slice(0, 40);
  const pass = async (m: typeof metered) => {
    const start = performance.now();
    for (const c of cases) for (const name of c.macros) await m.expand({ kind: c.kind, name, input: c.input, args: c.args });
    return performance.now() - start;
  };
  // Both warmed up first (V8 tiers wasm and host code up while they run: three passes, as the
  // first passes of each move by ±50% while its functions tier up), then passes alternate, so neither
  // side is measured on colder code or a noisier moment than the other; the cost is the median of
  // the pairs' ratios, which a GC pause in one pass does not move as it moves a sum.
  for (let r = 0; r < 3; r++) {
    await pass(metered);
    await pass(plain);
  }
  const ratios: number[] = [];
  let on = 0;
  let off = 0;
  for (let r = 0; r < Math.max(5, Math.min(rounds, 9)); r++) {
    const a = await pass(metered);
    const b = await pass(plain);
    on += a;
    off += b;
    ratios.push(a / b);
  }
  const cost = stats(ratios).median - 1;
  summary.fuel = { meteredMs: on, unmeteredMs: off, cost };
  console.log(`fuel metering cost (serde_derive corpus, in process, both without warm starts): ${(cost * 100).toFixed(1)}%`);
}

mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify(summary, null, 2) + "\n");
console.log(`\nsummary written to ${jsonPath}`);
