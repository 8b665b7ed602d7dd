// `macrobox patch` in this process, timed by its parts (bench/patch.ts --cold runs it from an
// empty macrobox cache): std for the target (cargo's compiles of the standard library's crates, at
// the start of the first module's build), each macro crate's module, and the whole. Prints one
// JSON line: { std, modules: [{ crate, seconds }], total } (seconds). Run in the workspace:
//
//   node --import tsx bench/patch-parts.ts

import { patch } from "../src/patch/patch.js";

const t0 = performance.now();
const at = () => (performance.now() - t0) / 1000;
const starts: Array<{ crate: string; at: number }> = [];
let stdStart: number | null = null;
let stdEnd: number | null = null;
await patch({
  onEvent: (e) => {
    const crate = e.crate ?? "(workspace)";
    if (starts.at(-1)?.crate !== crate) starts.push({ crate, at: at() });
    if (e.type === "step" && /^building std\b/.test(e.message)) stdStart = at();
    // cargo's compiles of the standard library name their sources (…/rustlib/src/rust/library/…);
    // the first compile of anything else ends the part std takes (the two overlap a little).
    if (stdStart !== null && stdEnd === null && e.type === "cargo" && /^\s*Compiling\b/.test(e.line) && !/\/library\//.test(e.line)) stdEnd = at();
  },
});
const total = at();
const modules = starts.map((s, i) => ({ crate: s.crate, seconds: (starts[i + 1]?.at ?? total) - s.at }));
const std = stdStart === null ? 0 : (stdEnd ?? total) - stdStart;
process.stdout.write(JSON.stringify({ std, modules, total }) + "\n");
