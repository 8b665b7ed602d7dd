// The trust boundary, attacked end to end (issue 17): a hostile repository (test/fixtures/hostile-repo)
// whose macro crate has a build script that steals and phones home, a macro that emits whatever it
// can reach (env, files, a committed symlink into the victim's home, what rustc baked in), and
// grants to itself in both of its files, globs included. The victim has a private key under a
// temporary HOME, secrets in the environment and a cargo credentials file. The repository is built
// (`macrobox build`), expanded (`macrobox expand`), patched and built with cargo (`macrobox patch`,
// then `cargo run`) and served to the proc-macro server, as a user would. None of the secrets may
// appear in any output, log, module, cache entry or program; no build script may leave a mark
// outside its sandbox or reach the network. A native `cargo run` of the same repository is the
// control: there, every one of these attacks gets through, so the checks below can fail.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  lstatSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { cacheRoot } from "../../src/node/cache-env.js";
import { ProcMacroServerClient } from "../support/server-client.js";
import { decodeResponseLine, encodeRequestLine } from "../../src/server/protocol.js";
import { lexSource } from "../oracle/native.js";
import { idRequest } from "../oracle/server-requests.js";
import { listenTripwire, victimEnv as sharedVictimEnv, type Tripwire } from "../support/victim.js";
import { macroboxArgs } from "../support/cli.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = join(REPO, "test/fixtures/hostile-repo");
const started = Date.now();

const keySecret = `KEY-${randomBytes(16).toString("hex")}`;
const envSecret = `ENV-${randomBytes(16).toString("hex")}`;
const awsSecret = `AWS-${randomBytes(16).toString("hex")}`;
const tokenSecret = `TOKEN-${randomBytes(16).toString("hex")}`;
const SECRETS = [keySecret, envSecret, awsSecret, tokenSecret];

let scratch = "";
let home = "";
let repo = "";
let wire: Tripwire;
/** Everything the commands printed, for the final sweep. */
const outputs: string[] = [];

/** The victim's environment: their home, secrets, their own dirs; the Debian toolchain first. */
function victimEnv(): NodeJS.ProcessEnv {
  return sharedVictimEnv(home, scratch, { MACROBOX_VICTIM_SECRET: envSecret, AWS_SECRET_ACCESS_KEY: awsSecret });
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = victimEnv()) {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
  outputs.push(r.stdout ?? "", r.stderr ?? "");
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function macrobox(args: string[], cwd = repo, env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, macroboxArgs(...args), cwd, { ...victimEnv(), ...env });
}

function assertNoSecret(what: string, text: string | Buffer): void {
  const s = typeof text === "string" ? text : text.toString("latin1");
  for (const secret of SECRETS) assert.ok(!s.includes(secret), `${what} holds the secret ${secret.slice(0, 4)}…`);
}

/** Every regular file under `dir` (not following symlinks) modified since the test started, up to 64 MiB each. */
function recentFiles(dir: string, out: string[] = []): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st || st.isSymbolicLink()) continue;
    if (st.isDirectory()) recentFiles(p, out);
    else if (st.isFile() && st.mtimeMs >= started - 1000 && st.size < 64 << 20) out.push(p);
  }
  return out;
}

/** Lets the listener accept what connected while a synchronous command held the event loop. */
async function acceptPending(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

function markerName(): string {
  return `macrobox-build-rs-ran-${wire.port}`;
}

before(async () => {
  scratch = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-trust-boundary-")));
  home = join(scratch, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  writeFileSync(join(home, ".ssh/id_rsa"), `-----BEGIN OPENSSH PRIVATE KEY-----\n${keySecret}\n`, { mode: 0o600 });
  mkdirSync(join(home, ".cargo"), { recursive: true });
  writeFileSync(join(home, ".cargo/credentials.toml"), `[registry]\ntoken = "${tokenSecret}"\n`, { mode: 0o600 });
  mkdirSync(join(scratch, "run"), { mode: 0o700 });
  chmodSync(join(scratch, "run"), 0o700);

  wire = await listenTripwire();

  // The repository as the victim clones it: a committed symlink into their home, the port to phone.
  repo = join(scratch, "hostile-repo");
  cpSync(FIXTURE, repo, { recursive: true });
  // Committed symlinks into the victim's home: in the crate that uses the macro (whose directory
  // the macro sees), and as a whole crate directory.
  symlinkSync(join(home, ".ssh"), join(repo, "app/loot"));
  symlinkSync(join(home, ".ssh"), join(repo, "linked"));
  writeFileSync(join(repo, "evil-macros/port.txt"), `${wire.port}\n`);
});

after(async () => {
  await wire?.close();
  for (const dir of ["/tmp", "/var/tmp"]) rmSync(join(dir, markerName()), { force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("a hostile repository gets nothing from the user's machine", { timeout: 1_800_000 }, () => {
  test("control: natively, the same repository steals every secret", async () => {
    const control = join(scratch, "control");
    cpSync(repo, control, { recursive: true, verbatimSymlinks: true });
    const before = wire.connections;
    const r = run("/usr/bin/cargo", ["run", "-q", "--offline"], control, { ...victimEnv(), CARGO_TARGET_DIR: join(scratch, "target-control") });
    assert.equal(r.status, 0, r.stderr);
    for (const secret of [keySecret, envSecret, awsSecret]) assert.ok(r.stdout.includes(secret), `native run leaks ${secret.slice(0, 4)}`);
    await acceptPending();
    assert.ok(wire.connections > before, "native build script reached the network");
    assert.ok(existsSync(join(home, markerName())), "native build script wrote into HOME");
    // Clean up the control's traces so the checks below see only what macrobox let through.
    outputs.length = 0;
    rmSync(join(home, markerName()), { force: true });
    for (const dir of ["/tmp", "/var/tmp"]) rmSync(join(dir, markerName()), { force: true });
    rmSync(join(scratch, "target-control"), { recursive: true, force: true });
    rmSync(control, { recursive: true, force: true });
    wire.connections = 0;
  });

  test("macrobox build: the build script runs confined; rustc bakes nothing of the user's in", () => {
    const r = macrobox(["build", join(repo, "evil-macros"), "-o", join(scratch, "evil.wasm")]);
    assert.equal(r.status, 0, r.stderr);
    assertNoSecret("the module", readFileSync(join(scratch, "evil.wasm")));
  });

  test("a symlink in the macro crate that leaves it is not staged", () => {
    const linked = join(scratch, "linked-macros");
    cpSync(join(repo, "evil-macros"), linked, { recursive: true });
    symlinkSync(join(home, ".ssh"), join(linked, "loot"));
    const r = macrobox(["build", linked, "-o", join(scratch, "linked.wasm")]);
    assert.notEqual(r.status, 0, "the build refuses the link");
    assert.match(r.stderr, /loot is a symlink/);
    assert.ok(!existsSync(join(scratch, "linked.wasm")));
  });

  test("a macro crate that include_str!s a file of the user's does not get it into its module", () => {
    const baker = join(scratch, "baker");
    cpSync(join(repo, "evil-macros"), baker, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(baker, "Cargo.toml"), readFileSync(join(baker, "Cargo.toml"), "utf8").replace('name = "evil-macros"', 'name = "baker-macros"'));
    writeFileSync(
      join(baker, "src/lib.rs"),
      `${readFileSync(join(baker, "src/lib.rs"), "utf8")}\n#[proc_macro]\npub fn baked(_: TokenStream) -> TokenStream {\n    format!("const BAKED: &str = {:?};", include_str!(${JSON.stringify(join(home, ".ssh/id_rsa"))})).parse().unwrap()\n}\n`,
    );
    const r = macrobox(["build", baker, "-o", join(scratch, "baker.wasm")]);
    // rustc inside the sandbox cannot read the key: the build fails naming it, or (were it
    // somehow to build) the module must not hold it.
    if (r.status === 0) assertNoSecret("the baker module", readFileSync(join(scratch, "baker.wasm")));
    else assert.match(r.stderr, /couldn't read|No such file|cannot read/);
  });

  test("macrobox expand: the repository's own grants are a request, not a grant", () => {
    const r = macrobox(["expand", join(scratch, "evil.wasm"), "--bang", "leak", `"${join(home, ".ssh/id_rsa")}"`, "--crate-dir", join(repo, "app")]);
    assert.equal(r.status, 0, r.stderr);
    assertNoSecret("expand's output", r.stdout + r.stderr);
    assert.match(r.stderr, /macrobox trust/, "the note names the command that would grant the request");
  });

  test("after `macrobox trust`, the request takes effect, but never past the sandbox: no globs, no symlink out", () => {
    const t = macrobox(["trust"]);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout + t.stderr, /MACROBOX_VICTIM_SECRET/, "trust shows what is asked");
    // The granted secret the user trusted will be in this output: keep it out of the expansion cache.
    const r = macrobox(["expand", join(scratch, "evil.wasm"), "--bang", "leak", `"${join(home, ".ssh/id_rsa")}"`, "--crate-dir", join(repo, "app")], repo, {
      MACROBOX_EXPANSION_CACHE: "off",
    });
    assert.equal(r.status, 0, r.stderr);
    // What the user trusted by name reaches the macro; a glob from a file and a path out of the
    // crate through a committed symlink do not.
    assert.ok(r.stdout.includes(envSecret), "the trusted env grant works");
    for (const secret of [keySecret, awsSecret, tokenSecret]) assert.ok(!(r.stdout + r.stderr).includes(secret), `${secret.slice(0, 4)} stayed out`);
    // A changed grants file asks again.
    writeFileSync(join(repo, "macrobox.toml"), `${readFileSync(join(repo, "macrobox.toml"), "utf8")}\n# changed\n`);
    const again = macrobox(["expand", join(scratch, "evil.wasm"), "--bang", "leak", "", "--crate-dir", join(repo, "app")]);
    assert.equal(again.status, 0, again.stderr);
    assertNoSecret("expand after the grants file changed", again.stdout + again.stderr);
    assert.match(again.stderr, /macrobox trust/);
    // Trusted again, a committed symlink as the crate directory does not carry the grants out of the repository.
    assert.equal(macrobox(["trust"]).status, 0);
    const out = macrobox(["expand", join(scratch, "evil.wasm"), "--bang", "leak", '"id_rsa"', "--crate-dir", join(repo, "linked")], repo, {
      MACROBOX_EXPANSION_CACHE: "off",
    });
    assert.equal(out.status, 0, out.stderr);
    assert.ok(!(out.stdout + out.stderr).includes(keySecret), "the key stayed out");
    const revoke = macrobox(["trust", "--revoke"]);
    assert.equal(revoke.status, 0, revoke.stderr);
    outputs.length = 0; // the trusted run printed the secret the user granted; the sweep is for the rest
  });

  test("macrobox patch, then cargo run: the repository's own macro crate runs sandboxed", () => {
    const p = macrobox(["patch"]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /evil-macros/, "patch reports the workspace member's macro crate as sandboxed");
    const r = run("/usr/bin/cargo", ["run", "-q", "--offline"], repo, { ...victimEnv(), CARGO_TARGET_DIR: join(scratch, "target-patched") });
    assert.equal(r.status, 0, r.stderr);
    assertNoSecret("the program's output", r.stdout + r.stderr);
    for (const f of recentFiles(join(scratch, "target-patched"))) assertNoSecret(f, readFileSync(f));
    const undo = macrobox(["patch", "--undo"]);
    assert.equal(undo.status, 0, undo.stderr);
  });

  test("the proc-macro server builds and expands the repository's macro without leaking", async () => {
    // rust-analyzer's own `cargo check` built the dylib (outside macrobox's threat model: done
    // here with a clean environment and another port, so it cannot disturb the sweep).
    const checked = join(scratch, "checked");
    cpSync(repo, checked, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(checked, "evil-macros/port.txt"), "setup\n");
    const cleanHome = join(scratch, "clean-home");
    mkdirSync(cleanHome, { recursive: true });
    const c = run("/usr/bin/cargo", ["build", "-q", "--offline", "-p", "evil-macros"], checked, {
      PATH: `/usr/bin:${process.env.PATH}`,
      HOME: cleanHome,
      CARGO_HOME: join(cleanHome, ".cargo"),
    });
    assert.equal(c.status, 0, c.stderr);
    const deps = join(checked, "target/debug/deps");
    const dylib = join(deps, readdirSync(deps).find((f) => /^libevil_macros-.*\.so$/.test(f)) ?? "missing");
    assert.ok(existsSync(dylib), "the native dylib exists");
    for (const dir of ["/tmp", "/var/tmp", cleanHome]) rmSync(join(dir, "macrobox-build-rs-ran-setup"), { force: true });

    const server = new ProcMacroServerClient({
      command: process.execPath,
      args: macroboxArgs("proc-macro-server"),
      env: victimEnv(),
    });
    try {
      const app = join(checked, "app");
      const req = idRequest(dylib, "leak", lexSource(`"${join(home, ".ssh/id_rsa")}"`), null, {
        // rust-analyzer passes cargo's env for the crate; here the victim's secrets too, the worst case.
        env: [
          ["CARGO_MANIFEST_DIR", app],
          ["CARGO_PKG_NAME", "app"],
          ["MACROBOX_VICTIM_SECRET", envSecret],
          ["AWS_SECRET_ACCESS_KEY", awsSecret],
        ],
        currentDir: app,
      });
      const line = await server.requestLine(encodeRequestLine(req));
      outputs.push(line);
      assertNoSecret("the server's answer", line);
      const response = decodeResponseLine(line);
      assert.equal(response.type, "ExpandMacro", line.slice(0, 300));
      assert.ok("ok" in (response as { result: object }).result || "err" in (response as { result: object }).result);
    } finally {
      await server.close();
      outputs.push(server.noise.join("\n"));
    }
  });

  test("the sweep: no secret anywhere macrobox wrote, no mark outside a sandbox, no network", async () => {
    await acceptPending();
    for (const text of outputs) assertNoSecret("a command's output", text);
    for (const f of [...recentFiles(cacheRoot()), ...recentFiles(join(scratch, "run")), ...recentFiles(repo)]) assertNoSecret(f, readFileSync(f));
    for (const dir of [home, "/tmp", "/var/tmp", process.env.HOME ?? "/root"])
      assert.ok(!existsSync(join(dir, markerName())), `a build script wrote into ${dir}`);
    assert.equal(wire.connections, 0, "a build script reached the network");
  });
});
