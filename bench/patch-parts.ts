// `macrobox patch` in this process, timed by its parts (bench/patch.ts --cold runs it from an
// empty macrobox cache): std for the target (cargo's compiles of the standard library's crates, at
// the start of the first module's build: from the step that announces them to the start of the
// last of them, a lower bound, since cargo compiles the module's build scripts and host crates
// alongside), each macro crate's module, and the whole. Prints one JSON line:
// { std, modules: [{ crate, seconds }], total } (seconds). Run in the workspace:
//
//   node --import tsx bench/patch-parts.ts

import { patch } from "../src/patch/patch.js";

const t0 = performance.now();
const at = () => (performance.now() - t0) / 1000;
const starts: Array<{ crate: string; at: number }> = [];
let stdStart: number | null = null;
let lastStdCompile: number | null = null;
await patch({
  onEvent: (e) => {
    const crate = e.crate ?? "(workspace)";
    if (starts.at(-1)?.crate !== crate) starts.push({ crate, at: at() });
    if (e.type === "step" && /^building std\b/.test(e.message)) stdStart = at();
    // cargo's compiles of the standard library name their sources (…/rustlib/src/rust/library/…).
    if (stdStart !== null && e.type === "cargo" && /^\s*Compiling\b.*\/library\//.test(e.line)) lastStdCompile = at();
  },
});
const total = at();
const modules = starts.map((s, i) => ({ crate: s.crate, seconds: (starts[i + 1]?.at ?? total) - s.at }));
const std = stdStart === null ? 0 : (lastStdCompile ?? stdStart) - stdStart;
process.stdout.write(JSON.stringify({ std, modules, total }) + "\n");
