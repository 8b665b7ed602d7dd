// Build scripts confined under `macrobox patch` (issue 21's first slice, for issue 17), attacked:
// test/fixtures/build-scripts has a workspace-member macro crate and a normal library whose build
// scripts steal (a secret file under a temporary HOME named by absolute path, secret env vars, a
// CARGO_* token), write outside OUT_DIR (a directory of the victim's, HOME, the package), phone a
// local listener, and have bash do the same; and a legitimate build script (OUT_DIR, a cfg, a rustc
// probe, C through the cc crate) plus memoffset's autocfg probes. A native build of the same
// workspace is the control (every attack gets through, so the checks can fail) and the oracle (the
// legitimate scripts' output and the program's `good:` lines must be identical when confined).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { findToolchain } from "../../src/builder/index.js";
import { macroboxArgs } from "../support/cli.js";
import { listenTripwire, victimEnv as sharedVictimEnv, type Tripwire } from "../support/victim.js";
import { localRegistry, offlineCargoHome } from "../support/cargo-home.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = join(REPO, "test/fixtures/build-scripts");
const toolchain = findToolchain();

const fileSecret = `FILE-${randomBytes(16).toString("hex")}`;
const envSecret = `ENV-${randomBytes(16).toString("hex")}`;
const tokenSecret = `TOKEN-${randomBytes(16).toString("hex")}`;
const SECRETS = [fileSecret, envSecret, tokenSecret];
const HOSTILE = ["evil-macros", "evil-dep"];
const MARK = "macrobox-build-script-mark-";

let scratch = "";
let home = "";
let repo = "";
let outside = "";
let wire: Tripwire;
/** The native build's results, the oracle for the confined one. */
let native: { good: string[]; outputs: Map<string, string> } = { good: [], outputs: new Map() };
let beforePatch = new Map<string, string>();

function victimEnv(): NodeJS.ProcessEnv {
  return sharedVictimEnv(home, scratch, { MACROBOX_BS_SECRET: envSecret, CARGO_REGISTRY_TOKEN: tokenSecret });
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = victimEnv()) {
  const r = spawnSync(command, args, { cwd: repo, env, encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function cargo(args: string[], targetDir: string) {
  return run(toolchain.cargo, [...args, "--offline"], { ...victimEnv(), CARGO_TARGET_DIR: targetDir });
}

function macrobox(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, macroboxArgs(...args), { ...victimEnv(), ...env });
}

function assertNoSecret(what: string, text: string | Buffer): void {
  const s = typeof text === "string" ? text : text.toString("latin1");
  for (const secret of SECRETS) assert.ok(!s.includes(secret), `${what} holds the secret ${secret.slice(0, 5)}…`);
}

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const st = lstatSync(p);
    if (st.isDirectory()) files(p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** Every file of the workspace with its bytes (build output goes to target dirs outside it). */
function snapshot(): Map<string, string> {
  return new Map(files(repo).map((f) => [relative(repo, f), readFileSync(f).toString("base64")]));
}

/** Where a hostile script could leave a mark: the victim's directory, HOME, each package, /tmp. */
function marks(): string[] {
  const dirs = [outside, home, "/tmp", "/var/tmp", ...HOSTILE.map((c) => join(repo, c))];
  return dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.startsWith(MARK)) : []).map((f) => join(d, f)));
}

/** The `cargo:` output of the legitimate build scripts (good-dep, memoffset), the target dir written as `<target>`. */
function scriptOutputs(targetDir: string): Map<string, string> {
  const build = join(targetDir, "debug/build");
  const out = new Map<string, string>();
  for (const dir of readdirSync(build)) {
    const name = dir.replace(/-[0-9a-f]{16}$/, "");
    if (!["good-dep", "memoffset"].includes(name) || !existsSync(join(build, dir, "output"))) continue;
    out.set(name, readFileSync(join(build, dir, "output"), "utf8").replaceAll(realpathSync(targetDir), "<target>"));
  }
  return out;
}

const goodLines = (stdout: string) => stdout.split("\n").filter((l) => l.startsWith("good: "));

async function acceptPending(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

before(async () => {
  scratch = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-build-scripts-")));
  home = join(scratch, "home");
  outside = join(scratch, "outside");
  mkdirSync(outside, { recursive: true });
  mkdirSync(join(scratch, "run"), { mode: 0o700 });
  mkdirSync(join(home, ".cargo"), { recursive: true });
  writeFileSync(join(home, ".secret"), `${fileSecret}\n`, { mode: 0o600 });
  // crates-io from the builder's directory source, offline (test/support/cargo-home.ts).
  offlineCargoHome(join(home, ".cargo"), localRegistry(toolchain));
  wire = await listenTripwire();
  repo = join(scratch, "repo");
  cpSync(FIXTURE, repo, { recursive: true });
  for (const c of HOSTILE) writeFileSync(join(repo, c, "victim.txt"), `${wire.port}\n${join(home, ".secret")}\n${outside}\n`);
});

after(async () => {
  await wire?.close();
  for (const dir of ["/tmp", "/var/tmp"])
    for (const f of existsSync(dir) ? readdirSync(dir) : []) if (f.startsWith(MARK)) rmSync(join(dir, f), { force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("build scripts run confined after macrobox patch", { timeout: 1_800_000 }, () => {
  test("control: natively, the hostile build scripts take every secret, leave marks and reach the network", async () => {
    const r = cargo(["run", "-q"], join(scratch, "target-native"));
    assert.equal(r.status, 0, r.stderr);
    for (const c of HOSTILE) {
      const line = r.stdout.split("\n").find((l) => l.startsWith(`loot: ${c} `)) ?? "";
      for (const secret of SECRETS) assert.ok(line.includes(secret), `natively, ${c}'s build script takes ${secret.slice(0, 5)}`);
      for (const dir of [outside, home, join(repo, c)]) assert.ok(existsSync(join(dir, MARK + c)), `natively, ${c}'s build script writes into ${dir}`);
      assert.ok(existsSync(join(outside, `${MARK}${c}-sh`)), `natively, ${c}'s shell writes outside`);
    }
    assert.equal(r.stdout.split("probe=ok;").length - 1, HOSTILE.length, "natively, each hostile script's rustc probe works");
    await acceptPending();
    assert.ok(wire.connections >= 2, "natively, the build scripts reach the listener");
    native = { good: goodLines(r.stdout), outputs: scriptOutputs(join(scratch, "target-native")) };
    assert.equal(native.good.length, 5, r.stdout);
    assert.deepEqual([...native.outputs.keys()].sort(), ["good-dep", "memoffset"]);
    assert.match(native.outputs.get("memoffset")!, /cargo:rustc-cfg=raw_ref_macros/, "autocfg's probes pass natively");
    // Clean up the control's traces so the checks below see only what the confined run did.
    for (const m of marks()) rmSync(m, { force: true });
    wire.connections = 0;
    beforePatch = snapshot();
  });

  test("patched: nothing leaks, no mark, no connection; the legitimate scripts give what they give natively", async () => {
    const p = macrobox(["patch"]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /evil-macros 0\.1\.0 \(edition 2021, workspace member\)/);
    assert.match(p.stdout, /build scripts: every one in the graph is compiled and runs confined/);
    const targetDir = join(scratch, "target-patched");
    const r = cargo(["run", "-q"], targetDir);
    assert.equal(r.status, 0, r.stderr);
    assertNoSecret("the program's output", r.stdout + r.stderr);
    for (const f of files(targetDir)) assertNoSecret(f, readFileSync(f));
    await acceptPending();
    assert.equal(wire.connections, 0, "a build script reached the listener");
    assert.deepEqual(marks(), [], "a build script left a mark outside OUT_DIR");
    // The hostile scripts did run (they wrote OUT_DIR), in the sandbox's home, with cargo's env only.
    const confined = readFileSync(
      files(join(targetDir, "debug/build")).find((f) => /evil-dep-[0-9a-f]+\/out\/loot\.txt$/.test(f))!,
      "utf8",
    );
    assert.match(confined, /HOME=\/home\/macrobox-build;/);
    assert.doesNotMatch(confined, /network=yes/);
    assert.doesNotMatch(confined, /(^|;)(USER|XDG_CONFIG_HOME|CARGO_HOME|MACROBOX_CACHE)=/);
    // The legitimate scripts: the same cargo: lines and the same program output as natively.
    assert.deepEqual(goodLines(r.stdout), native.good);
    assert.deepEqual(scriptOutputs(targetDir), native.outputs);
    // The member's build script, compiled natively by cargo as a workspace member, ran confined too,
    // its rustc probe through RUSTC_WRAPPER worked inside (the repository's `[env]` in
    // .cargo/config.toml setting the wrapper's inside-the-sandbox variable changed nothing).
    const memberLoot = files(join(targetDir, "debug/build")).find((f) => /evil-macros-[0-9a-f]+\/out\/loot\.txt$/.test(f));
    assert.ok(memberLoot !== undefined, "the member's build script ran");
    assert.match(readFileSync(memberLoot, "utf8"), /HOME=\/home\/macrobox-build;/);
    assert.match(readFileSync(memberLoot, "utf8"), /probe=ok;/);
    assert.match(confined, /probe=ok;/);
  });

  test("a denied write fails the build script with a message naming macrobox's sandbox and what was denied", () => {
    writeFileSync(join(repo, "evil-dep/strict.txt"), "package\n");
    try {
      const r = cargo(["build"], join(scratch, "target-patched"));
      assert.notEqual(r.status, 0, "the write outside OUT_DIR fails the build");
      assert.match(r.stderr, /failed to run custom build command for `evil-dep/);
      assert.match(r.stderr, /the build script of evil-dep failed inside macrobox's build-script sandbox/);
      assert.match(r.stderr, /denied: a write outside OUT_DIR \(read-only file system\)/);
      assertNoSecret("the failure", r.stderr);
      assert.ok(!existsSync(join(repo, "evil-dep/escaped.txt")));
    } finally {
      rmSync(join(repo, "evil-dep/strict.txt"));
    }
  });

  test("--undo restores the workspace byte for byte, and cargo's configuration no longer names the wrapper", () => {
    const wrapperSetting = () =>
      run(toolchain.cargo, ["config", "get", "-Zunstable-options", "build.rustc-wrapper"], { ...victimEnv(), RUSTC_BOOTSTRAP: "1" }).stdout;
    assert.match(wrapperSetting(), /macrobox-rustc-wrapper/, "while patched, cargo's configuration names the wrapper");
    const u = macrobox(["patch", "--undo"]);
    assert.equal(u.status, 0, u.stderr);
    assert.deepEqual(snapshot(), beforePatch);
    assert.doesNotMatch(wrapperSetting(), /macrobox-rustc-wrapper/);
  });

  test("no OS sandbox: patch refuses, naming the flag; --allow-native-build patches without confining", () => {
    // --keep-native: the macro's module build would need the sandbox too; this is about build scripts.
    const noBwrap = { MACROBOX_BWRAP: join(scratch, "no-bwrap") };
    const refused = macrobox(["patch", "--keep-native", "evil-macros"], noBwrap);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /no OS sandbox is available for build scripts .*--allow-native-build/s);
    assert.ok(!existsSync(join(repo, ".cargo/macrobox-patch.toml")), "nothing was changed");
    const allowed = macrobox(["patch", "--keep-native", "evil-macros", "--allow-native-build"], noBwrap);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.match(allowed.stdout, /build scripts: run natively \(not confined\)/);
    assert.doesNotMatch(readFileSync(join(repo, ".cargo/macrobox-patch.toml"), "utf8"), /rustc-wrapper/);
    assert.equal(macrobox(["patch", "--undo"]).status, 0);
    assert.deepEqual(snapshot(), beforePatch);
  });

  test("the user's own rustc wrapper: chained from $CARGO_HOME, refused from the workspace's config.toml", () => {
    const log = join(scratch, "user-wrapper.log");
    const userWrapper = join(scratch, "user-wrapper.sh");
    writeFileSync(userWrapper, `#!/bin/sh\necho "$*" >> ${JSON.stringify(log)}\nexec "$@"\n`, { mode: 0o755 });
    const userConfig = join(home, ".cargo/config.toml");
    const original = readFileSync(userConfig, "utf8");
    const workspaceConfig = join(repo, ".cargo/config.toml");
    const repoConfig = readFileSync(workspaceConfig, "utf8");
    writeFileSync(userConfig, `${original}[build]\nrustc-wrapper = ${JSON.stringify(userWrapper)}\n`);
    try {
      const p = macrobox(["patch"]);
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, /other rustc calls chain .*user-wrapper\.sh \(from .*config\.toml\)/);
      const r = cargo(["build"], join(scratch, "target-chained"));
      assert.equal(r.status, 0, r.stderr);
      const calls = readFileSync(log, "utf8");
      assert.match(calls, /--crate-name good_dep /, "other compiles go through the user's wrapper");
      assert.doesNotMatch(calls, /--crate-name build_script_build /, "confined compiles do not");
      assert.equal(macrobox(["patch", "--undo"]).status, 0);
      // A wrapper in the workspace's own config.toml would win over the patch's include.
      writeFileSync(workspaceConfig, `${repoConfig}[build]\nrustc-wrapper = ${JSON.stringify(userWrapper)}\n`);
      const refused = macrobox(["patch"]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /\.cargo\/config\.toml sets build\.rustc-wrapper, which would win over macrobox's.*--allow-native-build/s);
    } finally {
      writeFileSync(userConfig, original);
      writeFileSync(workspaceConfig, repoConfig);
    }
    assert.deepEqual(snapshot(), beforePatch);
  });
});
