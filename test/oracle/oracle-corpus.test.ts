// The expansion corpus against the native oracle: every case of test/corpus/expand lexes, and
// its native expansion (rustc 1.96 dylib, rust-analyzer's proc-macro server) meets the case's
// expectation: `expect:ok` cases expand without `compile_error!`, `expect:error` cases produce
// one (or panic). This keeps the corpus honest before it is used for wasm-vs-native conformance.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { CorpusError, crateKey, loadCorpus, parseCorpusFile, type CorpusCase } from "../corpus/expand/load.js";
import { containsCompileError, printTokens } from "./compare.js";
import { buildNativeMacro, closeNativeOracle, expandNative, listNativeMacros } from "./native.js";

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

/** scripts/setup's Debian packages (its `debs=(...)` list). */
function setupPackages(): string[] {
  const text = readFileSync(new URL("../../scripts/setup", import.meta.url), "utf8");
  const list = /^debs=\(([^)]*)\)/m.exec(text);
  assert.ok(list, "scripts/setup has no debs=(...) list");
  return list[1].split(/\s+/).filter(Boolean);
}

describe("corpus crates on a fresh machine", () => {
  // A crate installed here by hand but missing from scripts/setup fails CI on a fresh machine only,
  // in a native build deep inside an oracle test: say which package is missing here instead.
  test("every registry crate of the corpus comes from a package scripts/setup installs, or one they depend on", () => {
    const listed = setupPackages();
    const deps = spawnSync(
      "apt-cache",
      ["depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", ...listed],
      { encoding: "utf8", maxBuffer: 64 << 20 },
    );
    assert.equal(deps.status, 0, `apt-cache depends failed: ${deps.stderr}`);
    const closure = new Set(deps.stdout.split("\n").filter((l) => l !== "" && !l.startsWith(" ")));
    const dirs = [...new Set(cases.flatMap((c) => ("name" in c.crate ? [join("/usr/share/cargo/registry", `${c.crate.name}-${c.crate.version}`)] : [])))];
    const owners = spawnSync("dpkg", ["-S", ...dirs], { encoding: "utf8" });
    const ownedBy = new Map<string, string[]>();
    for (const line of owners.stdout.split("\n")) {
      const at = line.lastIndexOf(": /");
      if (at < 0) continue;
      ownedBy.set(
        line.slice(at + 2),
        line
          .slice(0, at)
          .split(", ")
          .map((p) => p.replace(/:[a-z0-9]+$/, "")),
      );
    }
    const problems: string[] = [];
    for (const dir of dirs) {
      const packages = ownedBy.get(dir);
      if (packages === undefined) problems.push(`${dir}: no installed package holds it (add the crate's librust-*-dev package to scripts/setup)`);
      else if (!packages.some((p) => closure.has(p))) problems.push(`${dir}: from ${packages.join(", ")}, which scripts/setup neither lists nor pulls in`);
    }
    assert.deepEqual(problems, []);
  });
});

describe("corpus format", () => {
  test("parses crates, cases, args and flags", () => {
    const parsed = parseCorpusFile(
      [
        "// header comment",
        "// @crate foo@1.2.3",
        "// @case a derive:X,Y expect:ok",
        "struct S;",
        "",
        "// ---- section",
        "// @case b attr:at expect:error uses:to_string",
        "// @args k = 1",
        "fn f() {}",
        "// @case c bang:m expect:ok",
      ].join("\n"),
      "/x/t.rs",
    );
    assert.deepEqual(
      parsed.map((c) => [c.id, c.kind, c.macros, c.expect, c.input, c.args, c.usesToString, c.line]),
      [
        ["t/a", "derive", ["X", "Y"], "ok", "struct S;", undefined, false, 3],
        ["t/b", "attr", ["at"], "error", "fn f() {}", "k = 1", true, 7],
        ["t/c", "bang", ["m"], "ok", "", undefined, false, 10],
      ],
    );
    assert.deepEqual(parsed[0].crate, { name: "foo", version: "1.2.3" });
  });

  test("rejects malformed files with the line", () => {
    assert.throws(() => parseCorpusFile("// @case a derive:X expect:ok\nstruct S;", "f.rs"), /f.rs:1: @case before @crate/);
    assert.throws(() => parseCorpusFile("// @crate a@1\n// @case a derive:X expect:maybe\nx", "f.rs"), CorpusError);
    assert.throws(() => parseCorpusFile("// @crate a@1\n// @case a derive:X expect:ok\n", "f.rs"), /no input/);
    assert.throws(() => parseCorpusFile("// @crate a@1\n// @case a bang:X expect:ok\nx\n// @case a bang:X expect:ok\ny", "f.rs"), /duplicate case id/);
    assert.throws(() => parseCorpusFile("// @crate nope", "f.rs"), /name@version/);
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
