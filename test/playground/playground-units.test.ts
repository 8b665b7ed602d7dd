// The playground's pure parts, in Node: the URL fragment (src/playground/state.ts) and the token
// layout of expansions (src/playground/layout.ts), which must keep every token of the core's text.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadMacroModule, parseTokenStream } from "../../src/index.js";
import { decodeText, encodeText, readFragment, writeFragment, EMPTY_STATE, type PageState } from "../../src/playground/state.js";
import { layoutTokens } from "../../src/playground/layout.js";
import { compareStreams } from "../oracle/compare.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

test("a fragment holds the whole state and reads back the same", () => {
  const state: PageState = {
    module: "capable_macros",
    kind: "attr",
    macro: "route",
    input: 'fn héllo() { "ünïcødé 🦀" }\n',
    args: 'GET, "/users"',
    grantEnv: ["CAPABLE_GREETING"],
    grantRead: ["templates", "*.sql"],
    env: { CAPABLE_GREETING: "Howdy, & = #" },
    files: { "templates/hello.txt": "Hello\n" },
    fuel: 5_000_000,
  };
  const fragment = writeFragment(state);
  assert.match(
    fragment,
    /^#module=capable_macros&kind=attr&macro=route&input=[A-Za-z0-9_-]+&args=[A-Za-z0-9_-]+&grant-env=CAPABLE_GREETING&grant-read=templates,\*\.sql&env=/,
  );
  assert.deepEqual(readFragment(fragment), { state, problems: [] });
  // The documented encoding: base64url of the UTF-8 bytes, without padding.
  assert.equal(encodeText("struct S;"), Buffer.from("struct S;").toString("base64url"));
  assert.equal(decodeText(Buffer.from("🦀 ok").toString("base64url")), "🦀 ok");
});

test("a bad key is named and the rest of the link still applies", () => {
  const { state, problems } = readFragment("#module=serde_derive&kind=macro&macro=Serialize&input=%%%&fuel=-1", EMPTY_STATE);
  assert.equal(state.module, "serde_derive");
  assert.equal(state.macro, "Serialize");
  assert.equal(state.kind, "derive");
  assert.equal(problems.length, 3, problems.join("\n"));
  assert.match(problems[0], /`kind` is not valid: expected one of derive, attr, bang/);
});

test("the layout keeps every token of serde_derive's and thiserror's expansions", async () => {
  const dir = mkdtempSync(join(tmpdir(), "macrobox-layout-"));
  const cases = [
    { crate: "serde_derive@1.0.152", name: "Deserialize", input: '#[serde(rename_all = "kebab-case")]\nenum E { A { x: u8 }, B(String), #[serde(other)] C }' },
    {
      crate: "serde_derive@1.0.152",
      name: "Serialize",
      input: "struct P<'a, T: Clone> where T: Default { a: &'a T, #[serde(skip_serializing_if = \"Vec::is_empty\")] v: Vec<T> }",
    },
    {
      crate: "thiserror-impl@1.0.38",
      name: "Error",
      input: 'enum Failure { #[error("io: {0}")] Io(#[from] std::io::Error), #[error("bad {x}")] Bad { x: u32 } }',
    },
  ];
  for (const c of cases) {
    const out = join(dir, `${c.name}.wasm`);
    execFileSync(process.execPath, ["--import", "tsx", join(ROOT, "src", "cli", "run.ts"), "build", c.crate, "-o", out, "--quiet"], {
      cwd: ROOT,
      stdio: "inherit",
    });
    const module = await loadMacroModule(new Uint8Array(readFileSync(out)));
    const r = await module.expand({ kind: "derive", name: c.name, input: c.input });
    assert.ok(r.ok, r.error?.message);
    const laid = layoutTokens(r.output);
    assert.ok(laid.split("\n").length > 10, laid);
    const back = parseTokenStream(laid, () => 0);
    assert.ok(back.ok);
    assert.equal(compareStreams(back.stream, r.output), null, laid);
  }
});

test("--out writes the playground as static files, with the bundled modules and --module's", () => {
  const dir = mkdtempSync(join(tmpdir(), "macrobox-playground-out-"));
  const extra = join(dir, "mine.wasm");
  execFileSync(
    process.execPath,
    ["--import", "tsx", join(ROOT, "src", "cli", "run.ts"), "build", join(ROOT, "examples", "demo-macros"), "-o", extra, "--quiet"],
    {
      cwd: ROOT,
      stdio: "inherit",
    },
  );
  const site = join(dir, "site");
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", join(ROOT, "src", "cli", "run.ts"), "playground", "--out", site, "--module", extra, "--quiet"],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  assert.match(out, /wrote the playground to .*site/);
  const index = JSON.parse(readFileSync(join(site, "modules", "index.json"), "utf8"));
  assert.deepEqual(index, [
    { file: "serde_derive.wasm", origin: "bundled" },
    { file: "thiserror_impl.wasm", origin: "bundled" },
    { file: "demo_macros.wasm", origin: "bundled" },
    { file: "mine.wasm", origin: "command line" },
  ]);
  for (const f of index) assert.ok(WebAssembly.validate(readFileSync(join(site, "modules", f.file))));
  const html = readFileSync(join(site, "index.html"), "utf8");
  assert.match(html, /<script type="module" src="main.js">/);
  assert.match(html, /default-src 'self'/);
  for (const f of ["main.js", "worker.js", "playground.css"]) assert.ok(readFileSync(join(site, f)).length > 1000, f);
  // Nothing in the bundles names another origin to fetch from.
  for (const f of ["main.js", "worker.js"]) assert.doesNotMatch(readFileSync(join(site, f), "utf8"), /fetch\(\s*["'`]https?:/);
});
