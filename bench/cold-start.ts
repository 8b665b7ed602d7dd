// Cold start of the proc-macro server, focused (`node --import tsx bench/cold-start.ts [--runs N] [--bin srv|cli]`):
// spawn → version → list → first expansion of serde_derive Serialize, macrobox and the native
// server alternately, module already built and in the module cache. Prints medians of each part
// and node's bare start beside them. bench/compare.ts prints the same figure among the others;
// this one runs only it, many times, to measure start-up changes.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { build } from "../src/builder/build.js";
import { ProcMacroServerClient, spawnRustAnalyzerServer } from "../test/support/server-client.js";
import { encodeFlatTree } from "../src/server/flat.js";
import { encodeRequestLine } from "../src/server/protocol.js";
import { buildNativeMacro, lexSource, NATIVE_SPANS } from "../test/oracle/native.js";
import { bareNodeMs, coldStart, stats, type ColdStart } from "./servers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: opts } = parseArgs({ options: { runs: { type: "string" }, bin: { type: "string" } } });
const runs = Number(opts.runs ?? 10);
const bin = opts.bin ?? "cli";

const crate = { name: "serde_derive", version: "1.0.152" };
const dylib = buildNativeMacro(crate);
const wasm = (await build({ crate: `${crate.name}@${crate.version}`, output: join(mkdtempSync(join(tmpdir(), "macrobox-cold-")), "serde_derive.wasm") }))
  .output;
const stem = dylib
  .replace(/^.*\//, "")
  .replace(/\.(so|dylib|dll)$/, "")
  .replace(/-[0-9a-f]{8,}$/, "");
const line = encodeRequestLine({
  type: "ExpandMacro",
  lib: dylib,
  env: [],
  currentDir: null,
  macroBody: encodeFlatTree(lexSource("struct Point { x: i32, y: i32 }"), { rootSpan: NATIVE_SPANS.callSite }),
  macroName: "Serialize",
  attributes: null,
  globals: { ...NATIVE_SPANS },
  spanDataTable: [],
});

const spawnOurs = () =>
  new ProcMacroServerClient({
    command: process.execPath,
    args: bin === "srv" ? [join(ROOT, "bin", "macrobox-proc-macro-srv.js")] : [join(ROOT, "bin", "macrobox.js"), "proc-macro-server"],
    env: { MACROBOX_MODULES: `${stem}=${wasm}` },
  });

const median = (xs: number[]) => stats(xs).median;
const ours: ColdStart[] = [];
const native: ColdStart[] = [];
await coldStart(spawnOurs, dylib, line); // the module cache filled, the files in the page cache
for (let i = 0; i < runs; i++) {
  native.push(await coldStart(spawnRustAnalyzerServer, dylib, line));
  ours.push(await coldStart(spawnOurs, dylib, line));
}
const bare = bareNodeMs();
const m = (xs: ColdStart[], k: keyof ColdStart) => median(xs.map((x) => x[k])).toFixed(1);
console.log(`cold start, ${runs} runs (${bin === "srv" ? "bin/macrobox-proc-macro-srv.js" : "bin/macrobox.js proc-macro-server"}), medians in ms:`);
console.log(`  native   total ${m(native, "total")} (version ${m(native, "version")}, list ${m(native, "list")}, expand ${m(native, "expand")})`);
console.log(`  macrobox total ${m(ours, "total")} (version ${m(ours, "version")}, list ${m(ours, "list")}, expand ${m(ours, "expand")})`);
console.log(`  ratio ${(median(ours.map((x) => x.total)) / median(native.map((x) => x.total))).toFixed(2)}×; bare node -e '' ${bare.toFixed(1)}`);
