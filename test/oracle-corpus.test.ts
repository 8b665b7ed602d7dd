// The expansion corpus against the native oracle: every case of test/corpus/expand lexes, and
// its native expansion (rustc 1.96 dylib, rust-analyzer's proc-macro server) meets the case's
// expectation: `expect:ok` cases expand without `compile_error!`, `expect:error` cases produce
// one (or panic). This keeps the corpus honest before it is used for wasm-vs-native conformance.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { crateKey, loadCorpus, type CorpusCase } from "./corpus/expand/load.js";
import { containsCompileError, printTokens } from "./oracle/compare.js";
import { buildNativeMacro, closeNativeOracle, expandNative, listNativeMacros } from "./oracle/native.js";

const cases = loadCorpus();

describe("expansion corpus", () => {
  test("has at least 150 cases, covering every corpus crate and macro kind", () => {
    assert.ok(cases.length >= 150, `only ${cases.length} cases`);
    const crates = new Set(cases.map((c) => crateKey(c.crate)));
    assert.ok([...crates].some((k) => k.startsWith("serde_derive@")));
    assert.ok([...crates].some((k) => k.startsWith("thiserror-impl@")));
    assert.ok([...crates].some((k) => k.endsWith("demo-macros")));
    assert.deepEqual(new Set(cases.map((c) => c.kind)), new Set(["derive", "attr", "bang"]));
    assert.ok(cases.filter((c) => c.expect === "error").length >= 30);
  });
});

describe("corpus against the native oracle", () => {
  const dylibs = new Map<string, string>();
  before(() => {
    for (const c of cases) {
      const key = crateKey(c.crate);
      if (!dylibs.has(key)) dylibs.set(key, buildNativeMacro(c.crate));
    }
  });
  after(() => closeNativeOracle());

  test("every macro a case names exists in its crate with that kind", async () => {
    for (const [key, dylib] of dylibs) {
      const listed = new Set((await listNativeMacros(dylib)).map((m) => `${m.kind}:${m.name}`));
      for (const c of cases.filter((x) => crateKey(x.crate) === key)) {
        for (const m of c.macros) assert.ok(listed.has(`${c.kind}:${m}`), `${c.id}: ${c.kind} ${m} not in ${key}`);
      }
    }
  });

  const byCrate = new Map<string, CorpusCase[]>();
  for (const c of cases) byCrate.set(crateKey(c.crate), [...(byCrate.get(crateKey(c.crate)) ?? []), c]);
  for (const [key, group] of byCrate) {
    test(`${key.replace(/^.*\//, "")}: ${group.length} cases expand as expected`, async () => {
      const failures: string[] = [];
      for (const c of group) {
        for (const name of c.macros) {
          const res = await expandNative({ dylib: dylibs.get(key)!, kind: c.kind, name, input: c.input, args: c.args });
          const label = `${c.id} (${name}, ${c.file.replace(/^.*\//, "")}:${c.line})`;
          if (!res.ok) {
            if (c.expect === "ok" || /does not lex/.test(res.error)) failures.push(`${label}: failed: ${res.error}`);
            continue;
          }
          const hasError = containsCompileError(res.output);
          if (c.expect === "ok" && hasError) failures.push(`${label}: unexpected compile_error!: ${printTokens(res.output).slice(0, 400)}`);
          if (c.expect === "error" && !hasError) failures.push(`${label}: expected compile_error!, got: ${printTokens(res.output).slice(0, 200)}`);
          if (c.expect === "ok" && res.output.length === 0 && c.kind !== "attr") failures.push(`${label}: empty expansion`);
        }
      }
      assert.deepEqual(failures, []);
    });
  }
});
