// Differential conformance: every case of the expansion corpus, expanded by the crate compiled to
// wasm and run through our bridge host, must give the same token trees (kind, text, delimiter,
// spacing; spans ignored) as the same unmodified crate compiled natively by rustc 1.96 and run by
// rust-analyzer's proc-macro server. A native panic must be a panic with the same message in wasm.
// Where that server differs from rustc, rustc is the reference: a negative number literal of the
// native output is split into `-` and the number first, as rustc keeps it (`splitNegativeLiterals`).

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { buildModule } from "../support/build.js";
import { loadMacroModule, type MacroModule } from "../../src/index.js";
import type { TokenStream } from "../../src/tokens/model.js";
import { crateKey, loadCorpus, type CorpusCase, type CrateRef } from "../corpus/expand/load.js";
import { compareStreams, printTokens, splitNegativeLiterals } from "./compare.js";
import { buildNativeMacro, closeNativeOracle, expandNative, oracleCacheDir } from "./native.js";

const cases = loadCorpus();

/** Blanks string literal contents, for outputs that embed `TokenStream::to_string()` text. */
function maskStrings(stream: TokenStream): TokenStream {
  return stream.map((t) => {
    if (t.type === "group") return { ...t, stream: maskStrings(t.stream) };
    if (t.type === "literal" && (t.kind === "Str" || t.kind === "StrRaw")) return { ...t, kind: "Str", hashes: 0, symbol: "<to_string>" };
    return t;
  });
}

async function wasmModule(crate: CrateRef): Promise<MacroModule> {
  const dir = join(oracleCacheDir(), "conformance-wasm");
  mkdirSync(dir, { recursive: true });
  const spec = "path" in crate ? crate.path : `${crate.name}@${crate.version}`;
  const output = join(dir, `${crateKey(crate).replace(/[^A-Za-z0-9@._-]+/g, "_")}.wasm`);
  const built = await buildModule({ crate: spec, output });
  return loadMacroModule(readFileSync(built.output));
}

const byCrate = new Map<string, CorpusCase[]>();
for (const c of cases) byCrate.set(crateKey(c.crate), [...(byCrate.get(crateKey(c.crate)) ?? []), c]);

describe("wasm expansion conforms to native expansion", () => {
  after(() => closeNativeOracle());

  for (const [key, group] of byCrate) {
    describe(key.replace(/^.*\//, ""), () => {
      let dylib = "";
      let module: MacroModule;
      before(async () => {
        dylib = buildNativeMacro(group[0].crate);
        module = await wasmModule(group[0].crate);
      });

      test("the module lists the same macros as the native dylib", () => {
        const names = new Set(module.macros.map((m) => `${m.kind}:${m.name}`));
        for (const c of group) for (const m of c.macros) assert.ok(names.has(`${c.kind}:${m}`), `${c.kind} ${m} missing from the wasm module`);
      });

      test(`${group.length} cases expand token for token like native`, async () => {
        const failures: string[] = [];
        for (const c of group) {
          for (const name of c.macros) {
            const label = `${c.id} (${name}, ${c.file.replace(/^.*\//, "")}:${c.line})`;
            const native = await expandNative({ dylib, kind: c.kind, name, input: c.input, args: c.args });
            const wasm = await module.expand({ kind: c.kind, name, input: c.input, args: c.args });
            if (!native.ok) {
              if (wasm.error?.kind !== "panic" || !wasm.error.message.includes(native.error)) {
                failures.push(
                  `${label}: native panicked (${native.error}), wasm gave ${wasm.error ? `${wasm.error.kind}: ${wasm.error.message}` : "an expansion"}`,
                );
              }
              continue;
            }
            if (wasm.output === undefined) {
              failures.push(`${label}: wasm failed: ${wasm.error?.kind}: ${wasm.error?.message}`);
              continue;
            }
            // rustc, our reference, splits a negative literal of the output in two; rust-analyzer's server does not.
            const expected = splitNegativeLiterals(native.output);
            const diff = c.usesToString ? compareStreams(maskStrings(wasm.output), maskStrings(expected)) : compareStreams(wasm.output, expected);
            if (diff !== null) {
              failures.push(
                `${label}: wasm vs native differ at ${diff}\n  wasm:   ${printTokens(wasm.output).slice(0, 300)}\n  native: ${printTokens(expected).slice(0, 300)}`,
              );
            }
          }
        }
        assert.equal(failures.length, 0, `${failures.length} mismatches:\n${failures.slice(0, 60).join("\n")}`);
      });
    });
  }
});
