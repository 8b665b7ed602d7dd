// What a macro sees through macrobox-proc-macro-srv, against rust-analyzer's native server given
// the same request stream (json-legacy, in `Id` and `RustAnalyzer` span mode):
//
//   - the package env rust-analyzer passes (CARGO_PKG_*, CARGO_MANIFEST_DIR) reaches every macro:
//     clap_derive 4.0.21's `#[command(author, version, about)]` reads it at expansion time;
//   - grants come from the workspace of the crate being compiled (macrobox.toml, or a Cargo.toml's
//     [workspace.metadata.macrobox.grants]) once the user trusts it (`macrobox trust`; the server
//     runs with a temporary HOME and XDG dirs), found from the request's CARGO_MANIFEST_DIR: with a
//     grant, examples/config-macros reads its env var and file as natively; without one it sees
//     the variable unset (as native does when it is unset) and the file refused, with a note on
//     stderr naming the grant (native has no sandbox: it reads both);
//   - expansions that read files are not answered from the server's line memo: an edited file is
//     read again;
//   - a macrobox.toml that does not parse is the error reply, naming the file, and the server keeps
//     serving (and sees the fixed file at the next request).

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { ProcMacroServerClient, spawnRustAnalyzerServer } from "../support/server-client.js";
import { trust, userDirs, type UserDirs } from "../../src/node/trust.js";
import { encodeRequestLine, type Request, type SpanMode } from "../../src/server/protocol.js";
import { buildNativeMacro, lexSource, oracleCacheDir, PROC_MACRO_SRV, type NativeCrate } from "../oracle/native.js";
import { idRequest, raRequest } from "../oracle/server-requests.js";
import { buildModule } from "../support/build.js";

const HERE = fileURLToPath(new URL("..", import.meta.url));
const LAUNCHER = join(HERE, "oracle/native/macrobox-server.ts");
const CLAP: NativeCrate = { name: "clap_derive", version: "4.0.21" };
const CONFIG: NativeCrate = { path: join(HERE, "../examples/config-macros") };
const MODES: readonly SpanMode[] = ["Id", "RustAnalyzer"];

async function wasmFor(crate: NativeCrate, file: string): Promise<string> {
  const output = join(oracleCacheDir(), "conformance-wasm", file);
  mkdirSync(dirname(output), { recursive: true });
  return (await buildModule({ crate: "path" in crate ? crate.path : `${crate.name}@${crate.version}`, output })).output;
}

let native: ProcMacroServerClient;
let ours: ProcMacroServerClient;
let clapDylib = "";
let configDylib = "";
let root = "";
/** The user's directories the server runs with (its HOME, XDG_CONFIG_HOME, XDG_DATA_HOME). */
let dirs: UserDirs;

before(async () => {
  clapDylib = buildNativeMacro(CLAP);
  configDylib = buildNativeMacro(CONFIG);
  const modules = { clap_derive: await wasmFor(CLAP, "clap_derive@4.0.21-server.wasm"), config_macros: await wasmFor(CONFIG, "config-macros-server.wasm") };
  native = spawnRustAnalyzerServer(PROC_MACRO_SRV);
  root = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-server-caps-")));
  const home = join(root, "home");
  const userEnv = { HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };
  dirs = userDirs(userEnv);
  ours = new ProcMacroServerClient({
    command: process.execPath,
    args: ["--import", "tsx", LAUNCHER, "--format", "json-legacy"],
    env: { ...userEnv, MACROBOX_TEST_MODULES: JSON.stringify(modules) },
  });
});

after(async () => {
  await native?.close();
  await ours?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** A request in `mode` for both servers: lexed as each span mode lexes. */
function request(mode: SpanMode, lib: string, macro: string, input: string, args: string | null, env: [string, string][], currentDir: string): Request {
  if (mode === "RustAnalyzer") return raRequest(lib, macro, input, args, { env, currentDir } as Partial<Request>);
  return idRequest(lib, macro, lexSource(input), args === null ? null : lexSource(args), { env, currentDir } as Partial<Request>);
}

async function setMode(mode: SpanMode): Promise<void> {
  const line = encodeRequestLine({ type: "SetConfig", spanMode: mode });
  assert.equal(await native.requestLine(line), await ours.requestLine(line));
}

/** Sends `req` to both servers; returns both response lines. */
async function both(req: Request, nativeReq: Request = req): Promise<{ native: string; ours: string }> {
  const [a, b] = await Promise.all([native.requestLine(encodeRequestLine(nativeReq)), ours.requestLine(encodeRequestLine(req))]);
  return { native: a, ours: b };
}

/** Waits for our server's stderr to match (the note is written before the response, on another pipe). */
async function stderrMatching(re: RegExp): Promise<string> {
  for (let i = 0; i < 100 && !re.test(ours.stderrTail); i++) await new Promise((r) => setTimeout(r, 50));
  return ours.stderrTail;
}

/** The crate being compiled, as cargo describes it to rustc (and rust-analyzer to its server). */
function cargoEnv(dir: string, extra: [string, string][] = []): [string, string][] {
  return [
    ["CARGO_MANIFEST_DIR", dir],
    ["CARGO_PKG_NAME", "app"],
    ["CARGO_CRATE_NAME", "app"],
    ["CARGO_PKG_VERSION", "2.5.1-rc.1"],
    ["CARGO_PKG_VERSION_MAJOR", "2"],
    ["CARGO_PKG_VERSION_MINOR", "5"],
    ["CARGO_PKG_VERSION_PATCH", "1"],
    ["CARGO_PKG_VERSION_PRE", "rc.1"],
    ["CARGO_PKG_AUTHORS", "Ann Example <ann@example.com>:Bob"],
    ["CARGO_PKG_DESCRIPTION", "Does app things"],
    ["CARGO_PKG_HOMEPAGE", ""],
    ["CARGO_PKG_REPOSITORY", ""],
    ["CARGO_PKG_LICENSE", "MIT"],
    ["CARGO_PKG_LICENSE_FILE", ""],
    ["CARGO_PKG_README", ""],
    ["CARGO_PKG_RUST_VERSION", ""],
    ...extra,
  ];
}

function crateIn(workspace: string): string {
  const app = join(workspace, "app");
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, "Cargo.toml"), '[package]\nname = "app"\nversion = "2.5.1-rc.1"\nedition = "2021"\n');
  writeFileSync(join(app, "app.conf"), "name = demo\nlevel = 3\n");
  writeFileSync(join(app, "other.conf"), "token = hunter2\n");
  return app;
}

describe("package env: clap_derive reads CARGO_PKG_* at expansion time", () => {
  for (const mode of MODES) {
    test(`#[command(author, version, about)] expands like native (${mode} span mode)`, async () => {
      await setMode(mode);
      const app = crateIn(join(root, `clap-${mode}`));
      const cases: [string, string][] = [
        ["Parser", "#[command(author, version, about)]\nstruct Cli { #[arg(short, long)] count: u8, name: Option<String> }"],
        ["Parser", '#[command(name = "tool", version, long_about = None)]\nstruct Tool { #[arg(long, default_value_t = 3)] n: u8 }'],
        ["Args", "#[command(author, about)]\nstruct A { #[arg(short)] v: bool }"],
      ];
      for (const [macro, input] of cases) {
        const r = await both(request(mode, clapDylib, macro, input, null, cargoEnv(app, [["HOME", "/root"]]), app));
        assert.equal(r.ours, r.native);
        assert.match(r.ours, /"Ok"/, r.ours.slice(0, 300));
      }
      // The values really came from the request: the version and the authors are in the output.
      const first = await both(request(mode, clapDylib, "Parser", cases[0][1], null, cargoEnv(app), app));
      assert.ok(first.ours.includes("2.5.1-rc.1") && first.ours.includes("Ann Example"), first.ours.slice(0, 400));
    });

    // rust-analyzer 1.96 passes cargo's CARGO_MANIFEST_PATH with every request (as cargo sets it for
    // rustc): it says no more than CARGO_MANIFEST_DIR, so an ungranted macro reads it as natively.
    test(`CARGO_MANIFEST_PATH is package env: read without a grant as natively (${mode} span mode)`, async () => {
      await setMode(mode);
      const app = crateIn(join(root, `manifest-path-${mode}`));
      const manifest = join(app, "Cargo.toml");
      const env = cargoEnv(app, [["CARGO_MANIFEST_PATH", manifest]]);
      const r = await both(request(mode, configDylib, "env_or", 'fn m() -> &\'static str { "unset" }', '"CARGO_MANIFEST_PATH"', env, app));
      assert.equal(r.ours, r.native);
      assert.ok(r.ours.includes(manifest), r.ours.slice(0, 400));
    });
  }
});

describe("grants from the workspace, in the server", () => {
  let granted = "";
  let cargoGranted = "";
  let ungranted = "";
  before(() => {
    // macrobox.toml above the crate: env and a file.
    const ws = join(root, "granted");
    granted = crateIn(ws);
    writeFileSync(join(ws, "macrobox.toml"), '[grants.config-macros]\nenv = ["APP_LABEL"]\nread = ["app.conf"]\n');
    // A Cargo.toml workspace granting only the env var.
    const cws = join(root, "cargo-granted");
    cargoGranted = crateIn(cws);
    writeFileSync(join(cws, "Cargo.toml"), '[workspace]\nmembers = ["app"]\n\n[workspace.metadata.macrobox.grants.config-macros]\nenv = ["APP_LABEL"]\n');
    // The user agrees to what both ask (test/trust/trust.test.ts shows nothing is granted before).
    trust(dirs, ws);
    trust(dirs, cws);
    // A workspace granting nothing.
    const nws = join(root, "ungranted");
    ungranted = crateIn(nws);
    writeFileSync(join(nws, "Cargo.toml"), '[workspace]\nmembers = ["app"]\n');
  });

  const consts = (mode: SpanMode, dir: string, file = "app.conf", extra: [string, string][] = []) =>
    request(mode, configDylib, "config_consts", `"${file}"`, null, cargoEnv(dir, extra), dir);
  const envOr = (mode: SpanMode, dir: string, extra: [string, string][]) =>
    request(mode, configDylib, "env_or", 'fn label() -> &\'static str { "default" }', '"APP_LABEL"', cargoEnv(dir, extra), dir);

  for (const mode of MODES) {
    test(`granted: the env var and the file are seen as natively (${mode} span mode)`, async () => {
      await setMode(mode);
      const file = await both(consts(mode, granted));
      assert.equal(file.ours, file.native);
      assert.ok(file.ours.includes("demo"), file.ours.slice(0, 300));
      const env = await both(envOr(mode, granted, [["APP_LABEL", "from-rust-analyzer"]]));
      assert.equal(env.ours, env.native);
      assert.ok(env.ours.includes("from-rust-analyzer"));
      // [workspace.metadata.macrobox.grants] in the workspace's Cargo.toml grants the same way.
      const cargo = await both(envOr(mode, cargoGranted, [["APP_LABEL", "from-rust-analyzer"]]));
      assert.equal(cargo.ours, cargo.native);
      assert.ok(cargo.ours.includes("from-rust-analyzer"));
    });

    test(`not granted: the variable rust-analyzer passes is unset for the macro, the file refused with a note (${mode} span mode)`, async () => {
      await setMode(mode);
      // As native answers when the variable is not set at all.
      const hidden = envOr(mode, ungranted, [["APP_LABEL", "from-rust-analyzer"]]);
      const unset = envOr(mode, ungranted, []);
      const env = await both(hidden, unset);
      assert.equal(env.ours, env.native);
      assert.ok(!env.ours.includes("from-rust-analyzer"));
      // A file outside the grant (here: a workspace granting only env): natively read, refused here.
      for (const dir of [ungranted, cargoGranted]) {
        const file = await both(consts(mode, dir));
        assert.ok(file.native.includes("demo"));
        assert.ok(!file.ours.includes("demo") && file.ours.includes("Permission denied"), file.ours.slice(0, 300));
        const note = new RegExp(`macrobox: note: macro crate config-macros tried to read file ${dir}/app\\.conf.*--allow-read config-macros:app\\.conf`);
        assert.match(await stderrMatching(note), note);
      }
      // Granted one file, not its neighbour.
      const other = await both(consts(mode, granted, "other.conf"));
      assert.ok(other.native.includes("hunter2") && !other.ours.includes("hunter2"));
      assert.match(await stderrMatching(/--allow-read config-macros:other\.conf/), /--allow-read config-macros:other\.conf/);
    });
  }

  test("an expansion that read files is not answered from the line memo: an edited file is read again", async () => {
    await setMode("Id");
    const req = consts("Id", granted);
    const before = await both(req);
    assert.equal(before.ours, before.native);
    writeFileSync(join(granted, "app.conf"), "name = edited\n");
    try {
      const after = await both(req);
      assert.equal(after.ours, after.native);
      assert.ok(after.ours.includes("edited") && !before.ours.includes("edited"));
    } finally {
      writeFileSync(join(granted, "app.conf"), "name = demo\nlevel = 3\n");
    }
  });

  test("a memoised answer is not reused once the workspace's grants file changes", async () => {
    await setMode("Id");
    const ws = join(root, "later");
    const app = crateIn(ws);
    const req = envOr("Id", app, [["APP_LABEL", "from-rust-analyzer"]]);
    const unset = envOr("Id", app, []);
    for (let i = 0; i < 2; i++) {
      const r = await both(req, unset);
      assert.equal(r.ours, r.native);
    }
    writeFileSync(join(ws, "macrobox.toml"), '[grants.config-macros]\nenv = ["APP_LABEL"]\n');
    trust(dirs, ws);
    const r = await both(req);
    assert.equal(r.ours, r.native);
    assert.ok(r.ours.includes("from-rust-analyzer"));
  });

  test("a macrobox.toml that does not parse is the error reply, naming the file; the server keeps serving", async () => {
    await setMode("Id");
    const ws = join(root, "broken");
    const app = crateIn(ws);
    const settings = join(ws, "macrobox.toml");
    writeFileSync(settings, "[grants.config-macros]\nenv = 3\n");
    const bad = await ours.requestLine(encodeRequestLine(consts("Id", app)));
    assert.match(bad, /"Err":"macrobox: [^"]*macrobox\.toml: \[grants\]\.config-macros\.env must be an array of non-empty strings/);
    assert.ok(bad.includes(settings));
    writeFileSync(settings, "[grants.config-macros\n");
    assert.match(await ours.requestLine(encodeRequestLine(consts("Id", app))), /macrobox\.toml: not valid TOML/);
    // Still serving, and the fixed file counts at the next request.
    const good = await both(consts("Id", granted));
    assert.equal(good.ours, good.native);
    writeFileSync(settings, '[grants.config-macros]\nread = ["app.conf"]\n');
    trust(dirs, ws);
    const fixed = await both(consts("Id", app));
    assert.equal(fixed.ours, fixed.native);
  });
});
