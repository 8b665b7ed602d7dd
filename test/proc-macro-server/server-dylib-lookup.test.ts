// The proc-macro server traces a dylib to its crate whatever directory it was started in (issue 18):
// cargo writes the dep-info of the workspace's own packages with paths relative to the workspace
// root, where it ran rustc. A server started in `/` (as an editor may start it) serves a local
// proc-macro crate of a workspace, listing and expanding exactly as rust-analyzer's native server
// does for the same dylib; a second workspace is served by the same server.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ProcMacroServerClient, spawnRustAnalyzerServer } from "../support/server-client.js";
import { encodeRequestLine } from "../../src/server/protocol.js";
import { lexSource } from "../oracle/native.js";
import { idRequest } from "../oracle/server-requests.js";
import { macroboxArgs } from "../support/cli.js";

let scratch = "";

/** A workspace with one local proc-macro crate, built natively; returns the dylib cargo made. */
function workspace(name: string, body: string): string {
  const ws = join(scratch, name);
  mkdirSync(join(ws, "local-macros/src"), { recursive: true });
  writeFileSync(join(ws, "Cargo.toml"), '[workspace]\nmembers = ["local-macros"]\nresolver = "2"\n');
  writeFileSync(join(ws, "local-macros/Cargo.toml"), '[package]\nname = "local-macros"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\nproc-macro = true\n');
  writeFileSync(
    join(ws, "local-macros/src/lib.rs"),
    `use proc_macro::TokenStream;\n\n#[proc_macro]\npub fn answer(input: TokenStream) -> TokenStream {\n    ${body}\n}\n`,
  );
  const r = spawnSync("/usr/bin/cargo", ["build", "-q", "--offline"], {
    cwd: ws,
    env: { ...process.env, PATH: `/usr/bin:${process.env.PATH}` },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const deps = join(ws, "target/debug/deps");
  const lib = readdirSync(deps).find((f) => /^liblocal_macros-[0-9a-f]+\.so$/.test(f));
  assert.ok(lib, "cargo built the dylib");
  const depInfo = readdirSync(deps).find((f) => /^local_macros-[0-9a-f]+\.d$/.test(f)) ?? "";
  // What this test is about: the dep-info names the crate's sources relative to the workspace.
  assert.match(readFileSync(join(deps, depInfo), "utf8"), /: local-macros\/src\/lib\.rs/);
  return join(deps, lib);
}

before(() => {
  scratch = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-dylib-lookup-")));
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test("a server started in / serves workspaces' local proc-macro crates as the native server does", { timeout: 900_000 }, async () => {
  const first = workspace("first", 'format!("({} + 42)", input).parse().unwrap()');
  const second = workspace("second", 'format!("[{}; 2]", input).parse().unwrap()');
  const ours = new ProcMacroServerClient({ command: process.execPath, args: macroboxArgs("proc-macro-server"), cwd: "/" });
  const native = spawnRustAnalyzerServer();
  try {
    for (const dylib of [first, second]) {
      const listed = await ours.listMacros(dylib);
      assert.deepEqual(listed, await native.listMacros(dylib), `ListMacros of ${dylib}`);
      assert.ok(listed.ok, JSON.stringify(listed));
      const req = idRequest(dylib, "answer", lexSource("1 * 2"), null, { currentDir: join(dylib, "../../../.."), env: [["CARGO_PKG_NAME", "local-macros"]] });
      const [a, b] = await Promise.all([ours.requestLine(encodeRequestLine(req)), native.requestLine(encodeRequestLine(req))]);
      assert.equal(a, b, `the expansion of ${dylib}`);
      assert.doesNotMatch(a, /error|Err/, a);
    }
  } finally {
    await ours.close();
    await native.close();
  }
});
