// Module builds in the OS sandbox (src/builder/os-sandbox.ts), attacked: test/fixtures/hostile-build
// is a proc-macro crate whose build script reads the user's key and environment (directly, by
// searching /tmp, /home and /root, and through other processes' /proc/<pid>/environ), writes
// markers into HOME and /tmp and connects to a listener on the host's loopback; its lib.rs bakes a
// secret env var and (feature include-home) `$HOME/.ssh/id_rsa` into the module. Built with
// `macrobox build` as a user would, under a temporary HOME holding a random key and with a random
// secret in the environment, nothing of either may appear in the module, the output or the cache.
// A native `cargo build` of the same crate is the control: there the attacks succeed.
// Also: staging refuses a symlink leaving the crate; without a sandbox (MACROBOX_BWRAP naming no
// binary) a path crate needs --allow-native-build; the proc-macro server builds only for dylibs in
// a cargo target directory.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findToolchain } from "../../src/builder/toolchain.js";
import { cacheRoot } from "../../src/builder/cache.js";
import { sandboxedCommand } from "../../src/builder/os-sandbox.js";
import { macroboxArgs } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const fixture = join(root, "test/fixtures/hostile-build");
const scratch = mkdtempSync(join(tmpdir(), "macrobox-build-sandbox-"));
/** The port the fixture's build script connects to (LISTENER_PORT in its build.rs). */
const LISTENER_PORT = 47613;
const TMP_MARKER = "/tmp/macrobox-hostile-marker";

/** A temporary HOME holding a random private key, and a random secret env var. */
function secrets(label: string) {
  const home = join(scratch, `home-${label}`);
  mkdirSync(join(home, ".ssh"), { recursive: true });
  const key = `KEY-${randomBytes(16).toString("hex")}`;
  writeFileSync(join(home, ".ssh/id_rsa"), key);
  const variable = `VAR-${randomBytes(16).toString("hex")}`;
  return { home, key, variable, env: { HOME: home, MACROBOX_TEST_SECRET: variable } };
}

/** Runs a command without blocking the event loop (the loopback listener must accept meanwhile). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd = root): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** `macrobox build`, the CLI from sources. */
function macrobox(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, macroboxArgs(...args), env);
}

/** Files under `dir` containing any of the needles (grep: the cache holds hundreds of megabytes). */
function filesContaining(dir: string, needles: string[]): string[] {
  assert.ok(existsSync(dir), dir);
  // -s and status 2 allowed: another build sharing the cache may remove its temporary files mid-walk.
  const r = spawnSync("grep", ["-rlsF", ...needles.flatMap((n) => ["-e", n]), dir], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.ok(r.status === 0 || r.status === 1 || r.status === 2, `grep: ${r.status} ${r.error?.message ?? ""}`);
  return r.stdout.split("\n").filter(Boolean);
}

/** The build script's record as baked into a module (or a native dylib). */
function observed(bytes: Buffer): string {
  const text = bytes.toString("latin1");
  const m = /home=[^]*?network=[^\n]*\n/.exec(text);
  assert.ok(m, "the module holds the build script's record");
  return m[0];
}

describe("module builds in the OS sandbox", { timeout: 20 * 60_000 }, () => {
  const connections: string[] = [];
  const server = createServer((socket: Socket) => {
    let text = "";
    socket.on("data", (d) => (text += d.toString()));
    socket.on("end", () => connections.push(text));
    socket.on("close", () => connections.push(text));
  });
  before(() => new Promise<void>((resolve) => server.listen(LISTENER_PORT, "127.0.0.1", resolve)));
  after(() => {
    server.close();
    rmSync(TMP_MARKER, { force: true });
  });

  it("a hostile crate's build script and macro get nothing of the user's: key, environment, home, /tmp, network", async () => {
    rmSync(TMP_MARKER, { force: true });
    const s = secrets("sandboxed");
    const crate = join(scratch, "crate-sandboxed");
    cpSync(fixture, crate, { recursive: true });
    // New sources, so that neither the module cache nor cargo reuses an earlier run's build.
    writeFileSync(join(crate, "nonce.txt"), randomBytes(8).toString("hex"));
    const wasm = join(scratch, "hostile.wasm");
    const r = await macrobox(["build", crate, "-o", wasm], s.env);
    assert.equal(r.code, 0, r.stderr);
    const bytes = readFileSync(wasm);
    const record = observed(bytes);
    // What the build saw: an empty home, none of the user's variables, no network.
    assert.match(record, /^home=\/home\/macrobox-build\n/);
    assert.match(record, /\nsecret_var=None\n/);
    assert.match(record, /\nhome_key=None\n/);
    assert.doesNotMatch(record, /\nfound /, "no id_rsa found under /tmp, /home or /root");
    assert.match(record, /\nnetwork=refused/);
    // Of macrobox's cache, no other crate's staged sources (this cache has built others).
    assert.match(record, /\nstages=hostile-build-0\.1\.0-[0-9a-f]{12}\n/);
    assert.deepEqual(connections, [], "nothing reached the host's loopback");
    // Nothing of the secrets anywhere: the module, the output, the whole cache.
    for (const secret of [s.key, s.variable]) {
      assert.ok(!bytes.includes(secret), "secret in the module");
      assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), "secret in the build's output");
    }
    assert.deepEqual(filesContaining(cacheRoot(), [s.key, s.variable]), [], "secrets in the cache");
    // No marker outside OUT_DIR, and the user's crate untouched.
    assert.deepEqual(readdirSync(s.home).sort(), [".ssh"]);
    assert.equal(existsSync(TMP_MARKER), false, `${TMP_MARKER} was written`);
    assert.equal(spawnSync("diff", ["-r", "-x", "nonce.txt", fixture, crate]).status, 0, "the user's copy of the crate changed");
  });

  it("include_str! of the key (by HOME, by its absolute path) does not compile in the sandbox (rustc cannot read it), and the key is not shown", async () => {
    const s = secrets("include");
    const crate = join(scratch, "crate-include");
    cpSync(fixture, crate, { recursive: true });
    writeFileSync(join(crate, "key-path.rs"), `include_str!(${JSON.stringify(join(s.home, ".ssh/id_rsa"))})\n`);
    for (const [feature, path] of [
      ["include-home", "/home/macrobox-build/.ssh/id_rsa"],
      ["include-path", join(s.home, ".ssh/id_rsa")],
    ]) {
      const wasm = join(scratch, `${feature}.wasm`);
      const r = await macrobox(["build", crate, "--features", feature, "-o", wasm], s.env);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`couldn't read \`${path}\``), r.stderr);
      assert.ok(!r.stderr.includes(s.key) && !r.stderr.includes(s.variable));
      assert.equal(existsSync(wasm), false);
    }
    assert.deepEqual(filesContaining(cacheRoot(), [s.key, s.variable]), [], "secrets in the cache");
  });

  it("control: natively (cargo build), the same crate gets the key, the variable, a marker in HOME and /tmp, and the network", async () => {
    rmSync(TMP_MARKER, { force: true });
    const s = secrets("native");
    const toolchain = findToolchain();
    const target = join(scratch, "native-target");
    const crate = join(scratch, "crate-native-control"); // cargo writes Cargo.lock next to the manifest
    cpSync(fixture, crate, { recursive: true });
    const r = await run(toolchain.cargo, ["build", "--offline", "--features", "include-home", "--manifest-path", join(crate, "Cargo.toml")], {
      ...s.env,
      CARGO_TARGET_DIR: target,
      RUSTC: toolchain.rustc,
      CARGO_HOME: join(scratch, "cargo-home"),
    });
    assert.equal(r.code, 0, r.stderr);
    const dylib = readdirSync(join(target, "debug")).find((f) => /^libhostile_build\.(so|dylib)$/.test(f));
    assert.ok(dylib, "the native dylib");
    const bytes = readFileSync(join(target, "debug", dylib));
    assert.ok(bytes.includes(s.key) && bytes.includes(s.variable), "the native build bakes both secrets");
    assert.match(observed(bytes), /\nnetwork=connected\n/);
    assert.ok(connections.some((c) => c.includes(s.variable)));
    assert.ok(existsSync(join(s.home, "macrobox-hostile-marker")) && existsSync(TMP_MARKER));
  });

  it("staging refuses a symlink that leaves the crate, naming it and its target", async () => {
    const s = secrets("symlink");
    const crate = join(scratch, "crate-symlink");
    cpSync(fixture, crate, { recursive: true });
    symlinkSync(join(s.home, ".ssh/id_rsa"), join(crate, "src/key"));
    const r = await macrobox(["build", crate, "-o", join(scratch, "symlink.wasm")], s.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${crate}/src/key is a symlink to ${s.home}/\\.ssh/id_rsa, outside the crate`));
    assert.ok(!r.stderr.includes(s.key));
    assert.deepEqual(filesContaining(cacheRoot(), [s.key]), []);
    // A link inside the crate is staged as a copy of its target.
    rmSync(join(crate, "src/key"));
    symlinkSync("lib.rs", join(crate, "src/copy.rs"));
    const ok = await macrobox(["build", crate, "-o", join(scratch, "symlink.wasm"), "--quiet"], s.env);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it("staging refuses a path dependency outside the crate's workspace (a manifest naming the user's other project)", async () => {
    const s = secrets("pathdep");
    const other = join(s.home, "other-project");
    mkdirSync(join(other, "src"), { recursive: true });
    writeFileSync(join(other, "Cargo.toml"), '[package]\nname = "other"\nversion = "0.1.0"\nedition = "2021"\n');
    writeFileSync(join(other, "src/lib.rs"), `pub const PRIVATE: &str = "${s.variable}";\n`);
    const crate = join(scratch, "crate-pathdep");
    cpSync(fixture, crate, { recursive: true });
    writeFileSync(
      join(crate, "Cargo.toml"),
      readFileSync(join(crate, "Cargo.toml"), "utf8") + `\n[dependencies]\nother = { path = ${JSON.stringify(other)} }\n`,
    );
    const r = await macrobox(["build", crate, "-o", join(scratch, "pathdep.wasm")], s.env);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`path dependency ${other} lies outside the crate (which is in no workspace)`), r.stderr);
    assert.deepEqual(filesContaining(cacheRoot(), [s.variable]), []);
    // A sibling inside the workspace is staged and builds.
    const ws = join(scratch, "ws-pathdep");
    mkdirSync(join(ws, "helper/src"), { recursive: true });
    mkdirSync(join(ws, "m/src"), { recursive: true });
    writeFileSync(join(ws, "Cargo.toml"), '[workspace]\nmembers = ["m", "helper"]\n');
    writeFileSync(join(ws, "helper/Cargo.toml"), '[package]\nname = "helper"\nversion = "0.1.0"\nedition = "2021"\n');
    writeFileSync(join(ws, "helper/src/lib.rs"), 'pub const NAME: &str = "from_helper";\n');
    writeFileSync(
      join(ws, "m/Cargo.toml"),
      '[package]\nname = "ws-pathdep-m"\nversion = "0.1.0"\nedition = "2021"\n[lib]\nproc-macro = true\n[dependencies]\nhelper = { path = "../helper" }\n',
    );
    writeFileSync(
      join(ws, "m/src/lib.rs"),
      '#[proc_macro]\npub fn named(_: proc_macro::TokenStream) -> proc_macro::TokenStream { format!("{:?}", helper::NAME).parse().unwrap() }\n',
    );
    const ok = await macrobox(["build", join(ws, "m"), "-o", join(scratch, "ws-pathdep.wasm"), "--quiet"], s.env);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it("without an OS sandbox, a path crate is refused naming --allow-native-build; with it, it builds natively", async () => {
    const crate = join(scratch, "crate-native");
    mkdirSync(join(crate, "src"), { recursive: true });
    const name = `native_${randomBytes(4).toString("hex")}`; // a crate no cache has seen: cargo really runs
    writeFileSync(join(crate, "Cargo.toml"), `[package]\nname = "${name}"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\nproc-macro = true\n`);
    writeFileSync(join(crate, "src/lib.rs"), `#[proc_macro]\npub fn ${name}(_: proc_macro::TokenStream) -> proc_macro::TokenStream { Default::default() }\n`);
    const noSandbox = { MACROBOX_BWRAP: join(scratch, "no-such-bwrap") };
    const wasm = join(scratch, "native.wasm");
    const refused = await macrobox(["build", crate, "-o", wasm], noSandbox);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /no OS sandbox is available to build crate-native .*no-such-bwrap not found/);
    assert.match(refused.stderr, /pass --allow-native-build/);
    assert.equal(existsSync(wasm), false);
    const allowed = await macrobox(["build", crate, "-o", wasm, "--allow-native-build"], noSandbox);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /building crate-native .* natively \(--allow-native-build\)/);
    assert.match(allowed.stderr, new RegExp(`Compiling ${name} v0\\.1\\.0`));
    assert.ok(existsSync(wasm));
    // A registry crate still builds, with a note.
    const registry = await macrobox(["build", "serde_derive@1.0.152", "-o", join(scratch, "serde_derive.wasm")], noSandbox);
    assert.equal(registry.code, 0, registry.stderr);
    assert.match(registry.stderr, /note: no OS sandbox for builds .*; building serde_derive-1\.0\.152 .*, a registry crate, natively/);
    // The proc-macro server, for a dylib of this crate in a target directory as cargo lays it out,
    // names its own switch, and builds with it.
    const target = join(scratch, "native-ws/target");
    const lib = join(target, "debug/deps", `lib${name}-0123456789abcdef.so`);
    mkdirSync(join(target, "debug/deps"), { recursive: true });
    mkdirSync(join(target, "debug/.fingerprint", `${name}-0123456789abcdef`), { recursive: true });
    writeFileSync(join(target, "CACHEDIR.TAG"), "Signature: 8a477f597d28d172789f06886806bc55\n");
    writeFileSync(lib, "");
    writeFileSync(join(target, "debug/deps", `${name}-0123456789abcdef.d`), `${lib}: ${join(crate, "src/lib.rs")}\n`);
    const store = { MACROBOX_MODULE_STORE: join(scratch, "server-store") };
    const served = await serveListMacros(lib, { ...noSandbox, ...store });
    assert.match(served, /no OS sandbox is available to build crate-native .*MACROBOX_ALLOW_NATIVE_BUILD=1/);
    const servedNatively = await serveListMacros(lib, { ...noSandbox, ...store, MACROBOX_ALLOW_NATIVE_BUILD: "1" });
    assert.deepEqual(JSON.parse(servedNatively), { ListMacros: { Ok: [[name, "FuncLike"]] } });
  });

  it("--online, which needs the network and the user's cargo configuration, is refused unless --allow-native-build", async () => {
    const r = await macrobox(["build", join(root, "examples/demo-macros"), "--online", "-o", join(scratch, "online.wasm")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--online resolves and downloads through your cargo configuration and the network, .*Pass --allow-native-build with --online/);
  });

  it("the sandbox hides the user's home even where a bound directory contains it, and shows what is bound under it", () => {
    const s = secrets("parent");
    writeFileSync(join(scratch, "bound-file"), "visible");
    mkdirSync(join(s.home, "bound-back"), { recursive: true });
    writeFileSync(join(s.home, "bound-back/file"), "visible too");
    const saved = process.env.HOME;
    process.env.HOME = s.home;
    let argv: string[];
    try {
      argv = sandboxedCommand(
        ["/bin/sh", "-c", 'cat "$1"/bound-file; cat "$2"/bound-back/file; cat "$2"/.ssh/id_rsa; echo " env:$MACROBOX_TEST_SECRET"', "sh", scratch, s.home],
        {
          readOnly: [scratch, join(s.home, "bound-back")],
          writable: [],
          env: { PATH: "/usr/bin:/bin" },
          cwd: "/",
        },
      );
    } finally {
      process.env.HOME = saved;
    }
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", env: { ...process.env, ...s.env } });
    assert.equal(r.stdout, "visiblevisible too env:\n", r.stderr);
    assert.match(r.stderr, /\.ssh\/id_rsa: No such file or directory/);
  });

  it("the proc-macro server builds only for dylibs in a cargo target directory's <profile>/deps", async () => {
    // A planted dylib name and dep-info naming the hostile crate, outside any target directory.
    const planted = join(scratch, "planted");
    mkdirSync(planted, { recursive: true });
    const lib = join(planted, "libhostile_build-0123456789abcdef.so");
    writeFileSync(lib, "");
    writeFileSync(join(planted, "hostile_build-0123456789abcdef.d"), `${lib}: ${join(fixture, "src/lib.rs")}\n`);
    const reply = await serveListMacros(lib, {});
    assert.match(reply, /is not a dylib cargo built in a workspace's target directory.*it is not in a `deps` directory/);
    // In `<dir>/debug/deps/` but not of a directory cargo made.
    const deps = join(scratch, "fake-target/debug/deps");
    mkdirSync(deps, { recursive: true });
    const lib2 = join(deps, "libhostile_build-0123456789abcdef.so");
    writeFileSync(lib2, "");
    writeFileSync(join(deps, "hostile_build-0123456789abcdef.d"), `${lib2}: ${join(fixture, "src/lib.rs")}\n`);
    assert.match(await serveListMacros(lib2, {}), /fake-target has no CACHEDIR\.TAG/);
    // A target directory without cargo's fingerprint of the unit.
    writeFileSync(join(scratch, "fake-target/CACHEDIR.TAG"), "Signature: 8a477f597d28d172789f06886806bc55\n");
    assert.match(await serveListMacros(lib2, {}), /has no fingerprint of it \(\*-0123456789abcdef\)/);
  });
});

/** One ListMacros request to `macrobox proc-macro-server`; its reply line. */
async function serveListMacros(dylib: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, macroboxArgs("proc-macro-server"), {
      cwd: root,
      env: { ...process.env, ...env },
    });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.on("close", () => resolve(stdout));
    child.stdin.end(JSON.stringify({ ListMacros: { dylib_path: dylib } }) + "\n");
  });
}
