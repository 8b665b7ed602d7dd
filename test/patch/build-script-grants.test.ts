// Build scripts' capabilities under `macrobox patch` (issue 21), attacked: the hostile build script
// of test/fixtures/build-scripts (evil-dep) tries, one attack at a time and failing loudly as a real
// script's unwrap would, to read a secret under a temporary HOME, read a secret env var, write
// outside OUT_DIR, connect to a loopback listener this test opens, and have a shell read the
// secret. Each is contained, with one message naming what was denied and the grant that would
// allow it; evil-dep's own `[package.metadata.macrobox.build]` request (network, the env var)
// grants nothing; the user's grant (their macrobox.toml's build-grants, `--grant-build`, by evil-dep's
// directory: it is the repository's own package) makes each allowed attack work, for evil-dep only. `--report` lists what ran confined, `--check-determinism`
// finds the build script that is not reproducible (test/fixtures/build-determinism), and rust-analyzer's
// `cargo check` (analysis-stats) runs the build scripts confined too. The control (every attack
// gets through natively) is test/patch/build-scripts.test.ts's.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { findToolchain } from "../../src/builder/index.js";
import { listenTripwire, victimEnv as sharedVictimEnv, type Tripwire } from "../support/victim.js";
import { localRegistry, offlineCargoHome } from "../support/cargo-home.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(REPO, "src/cli/run.ts");
const RUST_ANALYZER = "/usr/bin/rust-analyzer";
const toolchain = findToolchain();

const fileSecret = `FILE-${randomBytes(16).toString("hex")}`;
const envSecret = `ENV-${randomBytes(16).toString("hex")}`;
const MARK = "macrobox-build-script-mark-";

let scratch = "";
let home = "";
let repo = "";
let outside = "";
let secretPath = "";
let wire: Tripwire;

function victimEnv(): NodeJS.ProcessEnv {
  return sharedVictimEnv(home, scratch, { MACROBOX_BS_SECRET: envSecret });
}

function run(command: string, args: string[], cwd = repo, env: NodeJS.ProcessEnv = victimEnv()) {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const macrobox = (args: string[], cwd = repo) => run(process.execPath, ["--import", import.meta.resolve("tsx"), CLI, ...args], cwd);
const cargo = (args: string[], target: string, cwd = repo) => run(toolchain.cargo, [...args, "--offline"], cwd, { ...victimEnv(), CARGO_TARGET_DIR: target });

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const st = lstatSync(p);
    if (st.isDirectory()) files(p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

const snapshot = (dir: string) => new Map(files(dir).map((f) => [relative(dir, f), readFileSync(f).toString("base64")]));

function marks(): string[] {
  return [outside, home, join(repo, "evil-dep")].flatMap((d) =>
    readdirSync(d)
      .filter((f) => f.startsWith(MARK))
      .map((f) => join(d, f)),
  );
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** evil-dep's OUT_DIR file `name` in a target directory, or null. */
function outFile(target: string, crate: string, name: string): string | null {
  const f = files(join(target, "debug/build")).find((p) => new RegExp(`${crate}-[0-9a-f]+/out/${name}$`).test(p));
  return f === undefined ? null : readFileSync(f, "utf8");
}

before(async () => {
  scratch = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-build-grants-")));
  home = join(scratch, "home");
  outside = join(scratch, "outside");
  mkdirSync(outside, { recursive: true });
  mkdirSync(join(scratch, "run"), { mode: 0o700 });
  mkdirSync(join(home, ".cargo"), { recursive: true });
  secretPath = join(home, ".secret");
  writeFileSync(secretPath, `${fileSecret}\n`, { mode: 0o600 });
  // crates-io from the builder's directory source, offline (test/support/cargo-home.ts).
  offlineCargoHome(join(home, ".cargo"), localRegistry(toolchain));
  wire = await listenTripwire();
  repo = join(scratch, "repo");
  cpSync(join(REPO, "test/fixtures/build-scripts"), repo, { recursive: true });
  for (const c of ["evil-macros", "evil-dep"]) writeFileSync(join(repo, c, "victim.txt"), `${wire.port}\n${secretPath}\n${outside}\n`);
});

after(async () => {
  await wire?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Each attack, what the message must name as denied, and the grant it must offer. */
const ATTACKS = [
  { attack: "read", denied: () => new RegExp(`denied: ${esc(secretPath)} \\(outside what the sandbox shows`), grant: () => `read=${secretPath}` },
  {
    attack: "env",
    denied: () => /denied: the environment variable MACROBOX_BS_SECRET \(set outside, not passed into the sandbox\)/,
    grant: () => "env=MACROBOX_BS_SECRET",
  },
  {
    attack: "write",
    denied: () => new RegExp(`denied: a write to ${esc(outside)}/${MARK}evil-dep-strict \\(outside OUT_DIR`),
    grant: () => `write=${outside}`,
  },
  { attack: "network", denied: () => /denied: the network \(the sandbox has only its own loopback\): .*Connection refused/, grant: () => "network" },
  {
    attack: "shell",
    denied: () => new RegExp(`denied: ${esc(secretPath)} \\(outside what the sandbox shows.*cat: ${esc(secretPath)}: No such file`),
    grant: () => `read=${secretPath}`,
  },
];

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("build scripts' capabilities: asked by the package, granted by the user", { timeout: 1_800_000 }, () => {
  let beforePatch = new Map<string, string>();

  test("every attack is denied with one message naming it and the grant that would allow it; the package's own request grants nothing", async () => {
    beforePatch = snapshot(repo);
    const p = macrobox(["patch", "--keep-native", "evil-macros"]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /build script of evil-dep 0\.1\.0: asks network, env=MACROBOX_BS_SECRET; granted nothing/);
    const target = join(scratch, "target-denied");
    for (const a of ATTACKS) {
      writeFileSync(join(repo, "evil-dep/strict.txt"), `${a.attack}\n`);
      const r = cargo(["build", "-p", "evil-dep"], target);
      assert.notEqual(r.status, 0, `${a.attack}: the denied attack fails the build script`);
      assert.match(r.stderr, /the build script of evil-dep failed inside macrobox's build-script sandbox/, a.attack);
      assert.match(r.stderr, a.denied(), `${a.attack}: the message names what was denied:\n${r.stderr}`);
      // evil-dep is the repository's (a path package): named by its directory, never by its name.
      assert.ok(r.stderr.includes(`--grant-build ${join(repo, "evil-dep")}:${a.grant()}`), `${a.attack}: the message names the grant:\n${r.stderr}`);
      assert.ok(r.stderr.includes(`[workspace.${JSON.stringify(repo)}.build-grants."./evil-dep"]`), `${a.attack}:\n${r.stderr}`);
      // evil-dep's Cargo.toml asks for the network and the env var: named as not granted, not granted.
      assert.match(
        r.stderr,
        /evil-dep asks in its Cargo\.toml's \[package\.metadata\.macrobox\.build\] for network, env=MACROBOX_BS_SECRET, which you have not granted/,
      );
      assert.ok(!r.stderr.includes(fileSecret) && !r.stderr.includes(envSecret), `${a.attack}: no secret in the message`);
    }
    await settle();
    assert.equal(wire.connections, 0, "no build script reached the listener");
    assert.deepEqual(marks(), [], "no mark outside OUT_DIR");
  });

  test("--report lists the build scripts that ran confined and how they ended", () => {
    const r = macrobox(["patch", "--report"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /build scripts that ran confined \(bubblewrap\) since `macrobox patch`: \d+/);
    assert.match(
      r.stdout,
      new RegExp(`evil-dep 0\\.1\\.0 \\(${esc(realpathSync(join(repo, "evil-dep")))}\\): ${ATTACKS.length} runs, last failed \\(exit \\d+\\)`),
    );
  });

  test("the user's grants (their file's build-grants, --grant-build) make each allowed attack work, for that package only", async () => {
    mkdirSync(join(home, ".config/macrobox"), { recursive: true });
    writeFileSync(
      join(home, ".config/macrobox/macrobox.toml"),
      `[workspace.${JSON.stringify(repo)}.build-grants."./evil-dep"]\nread = [${JSON.stringify(secretPath)}]\nenv = ["MACROBOX_BS_SECRET"]\n`,
      { mode: 0o600 },
    );
    const p = macrobox(["patch", "--keep-native", "evil-macros", "--grant-build", "./evil-dep:network", "--grant-build", `./evil-dep:write=${outside}`]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(
      p.stdout,
      new RegExp(
        `build script of evil-dep 0\\.1\\.0: asks network, env=MACROBOX_BS_SECRET; granted network, read=${esc(secretPath)}, write=${esc(outside)}, env=MACROBOX_BS_SECRET`,
      ),
    );
    writeFileSync(join(repo, "evil-dep/strict.txt"), `${ATTACKS.map((a) => a.attack).join(" ")}\n`);
    const target = join(scratch, "target-granted");
    const r = cargo(["build", "-p", "evil-dep"], target);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(outFile(target, "evil-dep", "read.txt"), `${fileSecret}\n`, "the granted read works");
    assert.equal(outFile(target, "evil-dep", "env.txt"), envSecret, "the granted env var is there");
    assert.ok(existsSync(join(outside, `${MARK}evil-dep-strict`)), "the granted write works");
    await settle();
    assert.ok(wire.connections >= 1, "the granted network reaches the listener");
    // Only what was granted: the home stays hidden, the write grant is one directory.
    assert.ok(!existsSync(join(home, `${MARK}evil-dep`)), "the home is not writable");
    assert.ok(!existsSync(join(repo, `evil-dep/${MARK}evil-dep`)), "the package is not writable");
    const loot = outFile(target, "evil-dep", "loot.txt")!;
    assert.doesNotMatch(loot, /HOME=\/(root|home\/(?!macrobox-build))/);
    // evil-macros (the same script, no grant) is denied all of it.
    writeFileSync(join(repo, "evil-macros/strict.txt"), "network\n");
    try {
      const m = cargo(["build", "-p", "evil-macros"], target);
      assert.notEqual(m.status, 0);
      assert.match(m.stderr, /the build script of evil-macros failed [^]*macrobox: denied: the network/);
    } finally {
      rmSync(join(repo, "evil-macros/strict.txt"));
    }
    for (const mk of marks()) rmSync(mk);
  });

  test("rust-analyzer's cargo check runs the build scripts confined: analysis-stats equals the unpatched one, and no mark appears", async () => {
    rmSync(join(repo, "evil-dep/strict.txt"), { force: true });
    rmSync(join(home, ".config/macrobox/macrobox.toml"));
    assert.equal(macrobox(["patch", "--undo"]).status, 0);
    const stats = () => {
      const r = run(RUST_ANALYZER, ["analysis-stats", "."], repo, {
        ...victimEnv(),
        CARGO_TARGET_DIR: join(scratch, `target-ra-${randomBytes(4).toString("hex")}`),
      });
      assert.equal(r.status, 0, r.stderr.slice(-4000));
      return (r.stdout + r.stderr)
        .split(/[\r\n]+/)
        .map((l) => l.trim())
        .filter((l) => /^(crates|traits|lines of code|declarations|item trees|pats|exprs):/.test(l));
    };
    const unpatched = stats();
    await settle();
    assert.ok(marks().length > 0 && wire.connections > 0, "control: unpatched, rust-analyzer runs the hostile build scripts natively");
    for (const mk of marks()) rmSync(mk);
    wire.connections = 0;
    beforePatch = snapshot(repo); // cargo wrote Cargo.lock meanwhile: --undo restores the workspace as this patch finds it
    const p = macrobox(["patch", "--keep-native", "evil-macros"]);
    assert.equal(p.status, 0, p.stderr);
    const patched = stats();
    await settle();
    assert.ok(
      unpatched.some((l) => /^crates: \d+/.test(l)),
      unpatched.join("\n"),
    );
    assert.deepEqual(patched, unpatched);
    assert.deepEqual(marks(), [], "a build script rust-analyzer ran left a mark");
    assert.equal(wire.connections, 0);
    assert.match(macrobox(["patch", "--report"]).stdout, /evil-dep 0\.1\.0 .*: 1 run, last succeeded/, "rust-analyzer's run is in the log");
  });

  test("the run log is never written through a symbolic link (a repository could plant one at a file of yours)", () => {
    const log = join(repo, ".cargo/macrobox-build-scripts.log");
    assert.ok(existsSync(log));
    const victim = join(home, ".bashrc");
    writeFileSync(victim, "# the victim's file\n");
    rmSync(log);
    symlinkSync(victim, log);
    // A fresh target directory: evil-dep's build script runs (and writes its OUT_DIR) for sure.
    const target = join(scratch, "target-symlink");
    const r = cargo(["build", "-p", "evil-dep"], target);
    assert.equal(r.status, 0, r.stderr);
    assert.notEqual(outFile(target, "evil-dep", "loot.txt"), null, "the build script ran");
    assert.equal(readFileSync(victim, "utf8"), "# the victim's file\n");
    assert.ok(lstatSync(log).isSymbolicLink());
    rmSync(log);
    writeFileSync(log, "");
  });

  test("--undo removes all of it: the configuration, the run log, the workspace byte for byte", () => {
    assert.ok(existsSync(join(repo, ".cargo/macrobox-build-scripts.log")));
    const u = macrobox(["patch", "--undo"]);
    assert.equal(u.status, 0, u.stderr);
    assert.deepEqual(snapshot(repo), beforePatch);
  });

  test("--check-determinism: each build script twice in fresh sandboxes, the one that is not reproducible listed", () => {
    const ws = join(scratch, "determinism");
    cpSync(join(REPO, "test/fixtures/build-determinism"), ws, { recursive: true });
    assert.equal(cargo(["generate-lockfile"], join(scratch, "target-lock"), ws).status, 0);
    const original = snapshot(ws);
    const r = macrobox(["patch", "--check-determinism"], ws);
    assert.equal(r.status, 1, `not reproducible: exit 1\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /build scripts checked: 2, not reproducible: 1/);
    assert.match(r.stdout, /varies 0\.1\.0: not reproducible: OUT_DIR differs at generated\.rs/);
    assert.match(r.stdout, /steady 0\.1\.0: reproducible/);
    assert.equal(macrobox(["patch", "--undo"], ws).status, 0);
    assert.deepEqual(snapshot(ws), original);
  });
});
