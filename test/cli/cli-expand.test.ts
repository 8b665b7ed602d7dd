// `macrobox expand` end to end: build the example crate, expand its three macros from the
// command line, and check items found, generated code and diagnostics (positions computed from
// the input text, not written down).

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { cli } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "macrobox-expand-cli-"));
const wasm = join(dir, "demo_macros.wasm");

/** `macrobox <args>`, without rustfmt (outputs compared as the macro printed them). */
function run(args: string[]) {
  return cli(args, { env: { MACROBOX_RUSTFMT: "/nonexistent" } });
}

/** 1-based line and char column of the first occurrence of `needle`. */
function position(text: string, needle: string): string {
  const at = text.indexOf(needle);
  const before = text.slice(0, at).split("\n");
  return `${before.length}:${[...before.at(-1)!].length + 1}`;
}

describe("macrobox expand", { timeout: 15 * 60_000 }, () => {
  before(() => {
    const r = run(["build", join(root, "examples/demo-macros"), "-o", wasm, "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
  });

  it("expands every item of a file that derives the macro", () => {
    const r = run(["expand", wasm, "--derive", "Describe", join(root, "examples/demo-input.rs")]);
    assert.equal(r.code, 0, r.stderr);
    const headers = r.stdout.split("\n").filter((l) => l.startsWith("// #[derive"));
    assert.deepEqual(headers, ["// #[derive(Describe)] on User", "// #[derive(Describe)] on Role", "// #[derive(Describe)] on Point"]);
    assert.match(r.stdout, /impl < 'a, T : Clone > User < 'a, T >/);
    assert.match(r.stdout, /"struct User \(named\) \{ id, display_name \}"/, "rename applied, skipped field left out");
  });

  it("expands an attribute macro with arguments and a function-like macro", () => {
    const route = run(["expand", wasm, "--attr", "route", "--args", 'GET, "/users"', join(root, "examples/demo-route.rs")]);
    assert.equal(route.code, 0, route.stderr);
    // rustc's printer breaks long lines; compare with whitespace collapsed.
    assert.match(route.stdout.replace(/\s+/g, " "), /pub const LIST_USERS_ROUTE : \(& str, & str\) = \("GET", "\/users"\);/);
    const sql = run(["expand", wasm, "--bang", "sql", "select id from users"]);
    assert.equal(sql.code, 0, sql.stderr);
    assert.equal(sql.stdout.trim(), '"select id from users"');
  });

  it("renders the macro's errors like rustc, at the offending tokens", () => {
    const text = "#[derive(Describe)]\nstruct S {\n    #[describe(bogus)] a: u8,\n}\n";
    const file = join(dir, "bad.rs");
    writeFileSync(file, text);
    const r = run(["expand", wasm, "--derive", "Describe", file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: unknown describe attribute$/m);
    assert.ok(r.stderr.includes(`--> ${file}:${position(text, "bogus")}`), r.stderr);
    assert.match(r.stderr, /\| {16}\^{5}/, "caret under `bogus`");
    const attr = run(["expand", wasm, "--attr", "route", "--args", 'FETCH, "/x"', join(root, "examples/demo-route.rs")]);
    assert.equal(attr.code, 1);
    assert.match(attr.stderr, /error: unknown HTTP method `FETCH`, expected one of GET, POST, PUT, PATCH, DELETE/);
  });

  it("explains bad input and keeps going", () => {
    const missing = run(["expand", wasm, "--derive", "Describe", join(dir, "nope.rs")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*nope\.rs: ENOENT/);
    const none = run(["expand", wasm, "--derive", "Nothing", join(root, "examples/demo-input.rs")]);
    assert.match(none.stderr, /no item in .* derives `Nothing`/);
    const unknown = run(["expand", wasm, "--bang", "nosuch", "x"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout + unknown.stderr, /no bang macro named `nosuch` in this module \(it has: derive Describe, attr route, bang sql\)/);
    const notWasm = run(["expand", join(root, "README.md"), "--bang", "sql", "x"]);
    assert.match(notWasm.stderr, /is not a WebAssembly module/);
  });
});
