// An in-process loop for CPU profiles of warm expansions (no process boundary, no native side):
// the serde_derive corpus through createServerSession(createWasmBackend(...)).handleLine.
//
//   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.ts [--rounds N]
//
// Prints the median time per expansion; the profile says where it goes.

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

const { values: opts } = parseArgs({ options: { rounds: { type: "string" } } });
const rounds = Number(opts.rounds ?? 20);

const built = await build({ crate: "serde_derive@1.0.152", output: join(mkdtempSync(join(tmpdir(), "macrobox-profile-")), "serde_derive.wasm") });
const module = await loadMacroModule(readFileSync(built.output));
const session = createServerSession(createWasmBackend({ loadModule: async () => module }));

const lines = loadCorpus()
  .filter((c) => "name" in c.crate && c.crate.name === "serde_derive" && c.kind === "derive" && c.expect === "ok")
  .flatMap((c) =>
    c.macros.map((name) =>
      encodeRequestLine({
        type: "ExpandMacro",
        lib: "serde_derive",
        env: [],
        currentDir: null,
        macroBody: encodeFlatTree(lexSource(c.input), { rootSpan: NATIVE_SPANS.callSite }),
        macroName: name,
        attributes: null,
        globals: { ...NATIVE_SPANS },
        spanDataTable: [],
      }),
    ),
  );

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
console.log(
  `${lines.length} expansions × ${rounds} rounds: median ${at(0.5).toFixed(3)} ms, p90 ${at(0.9).toFixed(3)} ms, mean ${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(3)} ms`,
);
