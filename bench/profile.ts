// An in-process loop for CPU profiles of warm expansions (no process boundary, no native side):
// the serde_derive corpus through createServerSession(createWasmBackend(...)).handleLine, then
// Serialize over structs of 1, 10, 100 and 1,000 fields (time against input size).
//
//   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.ts [--rounds N] [--no-curve] [--no-corpus]
//
// Prints the median time per expansion; the profile says where it goes. To compare two versions
// of the host, run this file from each, alternating (ratios from one sitting, never across).

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { build } from "../src/builder/build.js";
import { loadMacroModule } from "../src/index.js";
import { createServerSession } from "../src/server/serve.js";
import { createWasmBackend } from "../src/server/wasm-backend.js";
import { encodeFlatTree } from "../src/server/flat.js";
import { encodeRequestLine } from "../src/server/protocol.js";
import { lexSource, NATIVE_SPANS } from "../test/oracle/native.js";
import { loadCorpus } from "../test/corpus/expand/load.js";

const { values: opts } = parseArgs({
  options: { rounds: { type: "string" }, "no-curve": { type: "boolean" }, "no-corpus": { type: "boolean" } },
});
const rounds = Number(opts.rounds ?? 20);

const built = await build({ crate: "serde_derive@1.0.152", output: join(mkdtempSync(join(tmpdir(), "macrobox-profile-")), "serde_derive.wasm") });
const module = await loadMacroModule(readFileSync(built.output));
const session = createServerSession(createWasmBackend({ loadModule: async () => module }));

const requestLine = (input: string, name: string) =>
  encodeRequestLine({
    type: "ExpandMacro",
    lib: "serde_derive",
    env: [],
    currentDir: null,
    macroBody: encodeFlatTree(lexSource(input), { rootSpan: NATIVE_SPANS.callSite }),
    macroName: name,
    attributes: null,
    globals: { ...NATIVE_SPANS },
    spanDataTable: [],
  });

async function timeLines(lines: string[], rounds: number): Promise<{ median: number; p90: number; mean: number }> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const line of lines) {
      const start = performance.now();
      const res = await session.handleLine(line);
      times.push(performance.now() - start);
      if (!res.startsWith('{"ExpandMacro":{"Ok"')) throw new Error(`expansion failed: ${res.slice(0, 300)}`);
    }
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { median: at(0.5), p90: at(0.9), mean: times.reduce((a, b) => a + b, 0) / times.length };
}

if (!opts["no-corpus"]) {
  const lines = loadCorpus()
    .filter((c) => "name" in c.crate && c.crate.name === "serde_derive" && c.kind === "derive" && c.expect === "ok")
    .flatMap((c) => c.macros.map((name) => requestLine(c.input, name)));
  await timeLines(lines, 1); // warm-up round (V8 tier-up)
  const t = await timeLines(lines, rounds);
  console.log(`${lines.length} expansions × ${rounds} rounds: median ${t.median.toFixed(3)} ms, p90 ${t.p90.toFixed(3)} ms, mean ${t.mean.toFixed(3)} ms`);
}

if (!opts["no-curve"]) {
  const curve: string[] = [];
  for (const fields of [1, 10, 100, 1000]) {
    const input = `struct S { ${Array.from({ length: fields }, (_, i) => `f${i}: u32,`).join(" ")} }`;
    const line = requestLine(input, "Serialize");
    const reps = Math.max(3, Math.round((rounds * 20) / Math.max(1, Math.sqrt(fields))));
    await timeLines([line], 2);
    const t = await timeLines([line], reps);
    curve.push(`${fields}: ${t.median.toFixed(3)} ms (${(t.median / fields).toFixed(4)} ms/field)`);
  }
  console.log(`Serialize, N fields (median): ${curve.join(", ")}`);
}
