// Error cases of the expansion corpus, with rustc itself as the oracle: every error case of a
// derive crate is put in one source file, compiled natively by rustc 1.96 against the native
// dylib, and the errors rustc reports from the macros (message, byte range and the text under
// it) must be exactly the errors our wasm expansions of the same file report. rust-analyzer's
// server cannot be the oracle here: it answers span locations with placeholders.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

import { loadMacroModule } from "../../src/index.js";
import { compileErrors } from "../../src/host/compile-errors.js";
import { crateKey, loadCorpus, type CorpusCase } from "../corpus/expand/load.js";
import { buildNativeMacro, closeNativeOracle, oracleCacheDir, rustcMacroErrors } from "./native.js";
import { buildModule } from "../support/build.js";

const out = mkdtempSync(join(tmpdir(), "macrobox-diagnostics-"));
const utf8 = new TextEncoder();

interface Site {
  /** Byte offset of the item in the file. */
  inputOffset: number;
  /** Byte range of each derive's name in the generated `#[derive(...)]`: rustc's call site. */
  callSites: Map<string, { lo: number; hi: number }>;
  c: CorpusCase;
}

/** One file holding every case in a module of its own, each under its own `#[derive(...)]`. */
function caseFile(crateName: string, cases: CorpusCase[]): { text: string; sites: Site[] } {
  let text = `#![allow(unused, dead_code)]\nuse ${crateName}::*;\n`;
  const sites: Site[] = [];
  cases.forEach((c, i) => {
    text += `\nmod case_${i} {\n    use super::*;\n    #[derive(`;
    const callSites = new Map<string, { lo: number; hi: number }>();
    c.macros.forEach((name, j) => {
      if (j > 0) text += ", ";
      const lo = utf8.encode(text).length;
      text += name;
      callSites.set(name, { lo, hi: lo + utf8.encode(name).length });
    });
    text += ")]\n";
    sites.push({ inputOffset: utf8.encode(text).length, callSites, c });
    text += `${c.input}\n}\n`;
  });
  return { text, sites };
}

type Reported = string;
const describeError = (message: string, lo: number, hi: number, text: string): Reported => `${JSON.stringify(message)} at ${lo}..${hi} ${JSON.stringify(text)}`;

/** The errors rustc reports from the macros: those without an error code (compile_error!). */
function rustcErrors(file: string, crateName: string, dylib: string): Reported[] {
  const { errors } = rustcMacroErrors(file, { [crateName]: dylib });
  return [...new Set(errors.map((e) => describeError(e.message, e.byteStart, e.byteEnd, e.text)))].sort();
}

const registryCrates = [
  { name: "serde_derive", version: "1.0.152" },
  { name: "thiserror-impl", version: "1.0.38" },
];

describe("error diagnostics conform to rustc's", { timeout: 20 * 60_000 }, () => {
  after(() => closeNativeOracle());

  for (const crate of registryCrates) {
    const cases = loadCorpus().filter((c) => c.expect === "error" && c.kind === "derive" && crateKey(c.crate) === crateKey(crate));
    it(`${crate.name}: ${cases.length} error cases report the same messages at the same spans`, async () => {
      assert.ok(cases.length >= 10, `expected error cases for ${crate.name} in the corpus`);
      const crateName = crate.name.replace(/-/g, "_");
      const { text, sites } = caseFile(crateName, cases);
      const file = join(out, `${crateName}_errors.rs`);
      writeFileSync(file, text);

      const expected = rustcErrors(file, crateName, buildNativeMacro(crate));
      assert.ok(expected.length >= cases.length / 2, `rustc reported only ${expected.length} macro errors:\n${expected.join("\n")}`);

      mkdirSync(join(oracleCacheDir(), "conformance-wasm"), { recursive: true });
      const built = await buildModule({ crate: `${crate.name}@${crate.version}`, output: join(out, `${crateName}.wasm`) });
      const module = await loadMacroModule(readFileSync(built.output));
      const actual = new Set<Reported>();
      for (const site of sites) {
        for (const name of site.c.macros) {
          const r = await module.expand({
            kind: "derive",
            name,
            input: site.c.input,
            fileName: file,
            source: { text, inputOffset: site.inputOffset, callSite: site.callSites.get(name) },
          });
          assert.ok(r.output, `${site.c.id} (${name}): ${r.error?.kind}: ${r.error?.message}`);
          const errors = [...r.diagnostics, ...compileErrors(r.output, r.spans)].filter((d) => d.level === "error");
          for (const e of errors) {
            const at = e.spans[0];
            actual.add(describeError(e.message, at.lo, at.hi, at.text ?? ""));
          }
        }
      }
      assert.deepEqual([...actual].sort(), expected);
    });
  }
});
