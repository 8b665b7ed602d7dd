// A repository squatting a crates.io name for the user's build-script grant, attacked (issue 21's
// grants): the user grants crates.io's typenum (by name: `--grant-build typenum`, items, and their
// file's build-grants with "*"); the repository ships its own package named typenum that asks for
// the network and the victim's secret, three ways: a path member (test/fixtures/build-grant-squat,
// built for real through the wrapper: its build script's read of the secret and its connection are
// denied), a "registry" crate vendored in its own tree behind its own `.cargo/config.toml` source
// replacement (cargo metadata calls it crates.io's), and the same replacement pointing outside the
// workspace through an included config file. Each gets nothing of the grant, and a note names it,
// its directory and the grant by directory; crates.io's typenum keeps its grant, and a grant by
// directory reaches the path package, and is taken back by patching again without it, also for a
// build script compiled under the earlier patch. (A git dependency is covered with cargo's source string in
// build-script-grant-flags.test.ts: this toolchain's cargo cannot fetch even a file:// git
// repository, its libgit2 refusing the proxy options, as test/patch/patch-features.test.ts shows.)

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";

import { findToolchain } from "../../src/builder/index.js";
import { buildScriptGrants, parseGrantBuildFlags, repositorySources } from "../../src/patch/build-scripts.js";
import { buildScriptPackages } from "../../src/patch/metadata.js";
import { localRegistry, offlineCargoHome } from "../support/cargo-home.js";
import { macroboxArgs } from "../support/cli.js";
import { FIXTURES } from "../support/paths.js";
import { listenTripwire, victimEnv as sharedVictimEnv, type Tripwire } from "../support/victim.js";

const toolchain = findToolchain();
const fileSecret = `FILE-${randomBytes(16).toString("hex")}`;
const CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index";
/** What the user grants crates.io's typenum: by name, all it asks and the network and the secret. */
const NAME_GRANTS = () => ["typenum", "typenum:network", `typenum:read=${secretPath}`];

let scratch = "";
let home = "";
let secretPath = "";
let wire: Tripwire;

const env = () => sharedVictimEnv(home, scratch, {});

function run(command: string, args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(command, args, { cwd, env: { ...env(), ...extra }, encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const macrobox = (args: string[], cwd: string) => run(process.execPath, macroboxArgs(...args), cwd);

/** A copy of the squatting package: the hostile build script of test/fixtures/build-scripts/evil-dep, named typenum, asking for the secret. */
function squatter(dir: string, version: string): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  for (const f of ["build.rs", "src/lib.rs"]) cpSync(join(FIXTURES, "build-scripts/evil-dep", f), join(dir, f));
  writeFileSync(
    join(dir, "Cargo.toml"),
    readFileSync(join(FIXTURES, "build-grant-squat/squat/Cargo.toml"), "utf8")
      .replace('version = "0.0.1"', `version = "${version}"`)
      .replace(`"SECRET"`, JSON.stringify(secretPath)),
  );
  writeFileSync(join(dir, "victim.txt"), `${wire.port}\n${secretPath}\n${join(scratch, "outside")}\n`);
}

/** What `macrobox patch` would grant each build script of the workspace at `ws`: the real graph (cargo metadata), the user's name grants. */
function computed(ws: string) {
  const packages = buildScriptPackages(toolchain.cargo, ws, env());
  return { packages, ...buildScriptGrants(packages, repositorySources(ws, env()), parseGrantBuildFlags(NAME_GRANTS(), ws)) };
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
};

before(async () => {
  scratch = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-grant-squat-")));
  home = join(scratch, "home");
  mkdirSync(join(scratch, "outside"), { recursive: true });
  mkdirSync(join(scratch, "run"), { mode: 0o700 });
  secretPath = join(home, ".ssh/id_secret");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  writeFileSync(secretPath, `${fileSecret}\n`, { mode: 0o600 });
  offlineCargoHome(join(home, ".cargo"), localRegistry(toolchain));
  wire = await listenTripwire();
});

after(async () => {
  await wire?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("a repository's package named like the crates.io crate the user granted gets nothing of the grant", { timeout: 1_800_000 }, () => {
  test("a path member named typenum: built through the wrapper, its read of the secret and its connection are denied; crates.io's typenum keeps its grant", async () => {
    const repo = join(scratch, "path");
    cpSync(join(FIXTURES, "build-grant-squat"), repo, { recursive: true });
    squatter(join(repo, "squat"), "0.0.1");
    const squatDir = join(repo, "squat");
    // The user's file grants crates.io's typenum too, "*" (what it asks) included.
    mkdirSync(join(home, ".config/macrobox"), { recursive: true });
    const userFile = join(home, ".config/macrobox/macrobox.toml");
    writeFileSync(userFile, `[workspace.${JSON.stringify(repo)}.build-grants.typenum]\nnetwork = true\nread = ["*", ${JSON.stringify(secretPath)}]\n`, {
      mode: 0o600,
    });
    try {
      const p = macrobox(["patch", ...NAME_GRANTS().flatMap((g) => ["--grant-build", g])], repo);
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, new RegExp(`build script of typenum 1\\.[0-9.]+: asks nothing; granted network, read=${esc(secretPath)}\\n`), p.stdout);
      assert.match(
        p.stdout,
        new RegExp(`build script of typenum 0\\.0\\.1: asks network, read=/root/\\.ssh, read=${esc(secretPath)}; granted nothing\\n`),
        p.stdout,
      );
      assert.match(p.stdout, new RegExp(`not granted \\(\`--grant-build ${esc(squatDir)}:<item>\` grants one\\)`));
      for (const where of [...NAME_GRANTS().map((g) => `--grant-build ${g}`), `${userFile} [workspace.${JSON.stringify(repo)}].build-grants.typenum`])
        assert.ok(
          p.stdout.includes(
            `note: ${where} does not grant typenum 0.0.1 at ${squatDir}: it is a path package (a workspace member or path dependency: the repository's). ` +
              `A name grants crates.io's package of that name only; a grant by its directory reaches this one (\`--grant-build ${squatDir}:<item>\`, or [workspace.${JSON.stringify(repo)}.build-grants."./squat"] in your file)`,
          ),
          `${where}:\n${p.stdout}`,
        );

      const target = join(scratch, "target-path");
      for (const attack of ["read", "network"]) {
        writeFileSync(join(squatDir, "strict.txt"), `${attack}\n`);
        const r = run(toolchain.cargo, ["build", "--offline", "-p", "typenum@0.0.1"], repo, { CARGO_TARGET_DIR: target });
        assert.notEqual(r.status, 0, `${attack}: the squatter's build script must not get what the user granted crates.io's typenum:\n${r.stderr}`);
        assert.match(r.stderr, /the build script of typenum failed inside macrobox's build-script sandbox/);
        assert.match(
          r.stderr,
          attack === "read"
            ? new RegExp(`denied: ${esc(secretPath)} \\(outside what the sandbox shows`)
            : /denied: the network \(the sandbox has only its own loopback\)/,
        );
        // The way to grant it names its directory, never the name.
        assert.ok(r.stderr.includes(`--grant-build ${squatDir}:${attack === "read" ? `read=${secretPath}` : "network"}`), r.stderr);
        assert.ok(r.stderr.includes(`[workspace.${JSON.stringify(repo)}.build-grants."./squat"]`), r.stderr);
        assert.ok(!r.stderr.includes(fileSecret));
      }
      // Not strict: the script takes what it can; none of the secret, no connection.
      rmSync(join(squatDir, "strict.txt"));
      const quiet = run(toolchain.cargo, ["build", "--offline", "-p", "typenum@0.0.1", "-p", "app"], repo, { CARGO_TARGET_DIR: target });
      assert.equal(quiet.status, 0, quiet.stderr);
      const loot = readdirSync(join(target, "debug/build"))
        .filter((d) => d.startsWith("typenum-") && existsSync(join(target, "debug/build", d, "out/loot.txt")))
        .map((d) => readFileSync(join(target, "debug/build", d, "out/loot.txt"), "utf8"));
      assert.equal(loot.length, 1, "the squatter's build script ran");
      assert.ok(!loot[0].includes(fileSecret) && !loot[0].includes("network=yes"), loot[0]);
      await settle();
      assert.equal(wire.connections, 0, "the squatter reached the listener");
      // crates.io's typenum ran through the wrapper with its grant (the run log's summary).
      const report = macrobox(["patch", "--report"], repo);
      assert.match(report.stdout, new RegExp(`typenum 1\\.[0-9.]+ \\(.*\\): 1 run, last succeeded; granted network,read=${esc(secretPath)}`), report.stdout);
      assert.match(report.stdout, new RegExp(`typenum 0\\.0\\.1 \\(${esc(squatDir)}\\): 3 runs, last succeeded\\n`), report.stdout);

      // The squatter's launcher (in place of its compiled build script): `exec <wrapper> --macrobox-build-script <dir> <real>`.
      const launcher = () =>
        readdirSync(join(target, "debug/build"))
          .map((d) => join(target, "debug/build", d, "build-script-build"))
          .filter((f) => existsSync(f) && readFileSync(f, "utf8").includes(squatDir))
          .map((f) => readFileSync(f, "utf8"))
          .join("");
      const before = launcher();
      assert.match(before, /^#!\/bin\/sh\nexec '\/.*' --macrobox-build-script /);
      // The user grants the repository's package by its directory: that reaches it.
      const byDir = macrobox(["patch", "--grant-build", `./squat:read=${secretPath}`], repo);
      assert.equal(byDir.status, 0, byDir.stderr);
      assert.match(byDir.stdout, new RegExp(`build script of typenum 0\\.0\\.1: asks .*; granted read=${esc(secretPath)}\\n`));
      writeFileSync(join(squatDir, "strict.txt"), "read\n");
      // The same target directory: the build script compiled under the earlier patch is not compiled
      // again, and its launcher runs under the current patch's grants.
      const granted = run(toolchain.cargo, ["build", "--offline", "-p", "typenum@0.0.1"], repo, { CARGO_TARGET_DIR: target });
      assert.equal(granted.status, 0, granted.stderr);
      assert.equal(launcher(), before, "the build script was not compiled again: its launcher runs the earlier patch's wrapper");
      assert.ok(!readFileSync(join(repo, ".cargo/macrobox-patch.toml"), "utf8").includes(before.split(" ")[1]), "which is not the current one");
      const read = () =>
        readdirSync(join(target, "debug/build"))
          .map((d) => join(target, "debug/build", d, "out/read.txt"))
          .filter(existsSync);
      assert.deepEqual(
        read().map((f) => readFileSync(f, "utf8")),
        [`${fileSecret}\n`],
        "the grant by directory works",
      );
      // Taken back: patched again without it, the same launcher is denied the secret.
      for (const f of read()) rmSync(f);
      assert.equal(macrobox(["patch"], repo).status, 0);
      writeFileSync(join(squatDir, "strict.txt"), "read\n"); // rerun-if-changed: cargo runs the build script again
      const revoked = run(toolchain.cargo, ["build", "--offline", "-p", "typenum@0.0.1"], repo, { CARGO_TARGET_DIR: target });
      assert.notEqual(revoked.status, 0, "a grant taken back holds for a build script compiled under the earlier patch");
      assert.match(revoked.stderr, new RegExp(`denied: ${esc(secretPath)} \\(outside what the sandbox shows`));
      assert.deepEqual(read(), []);
      assert.equal(macrobox(["patch", "--undo"], repo).status, 0);
    } finally {
      rmSync(userFile, { force: true });
    }
  });

  test('a "registry" crate vendored in the repository behind its own .cargo/config.toml source replacement gets nothing', () => {
    const repo = join(scratch, "vendored");
    cpSync(join(FIXTURES, "build-grant-squat/app"), join(repo, "app"), { recursive: true });
    writeFileSync(join(repo, "Cargo.toml"), `[workspace]\nmembers = ["app"]\nresolver = "2"\n`);
    squatter(join(repo, "vendor/typenum"), "1.99.0");
    writeFileSync(join(repo, "vendor/typenum/.cargo-checksum.json"), `{"files":{},"package":null}\n`);
    mkdirSync(join(repo, ".cargo"));
    writeFileSync(join(repo, ".cargo/config.toml"), `[source.crates-io]\nreplace-with = "ours"\n[source.ours]\ndirectory = "vendor"\n`);
    const { packages, scripts, notes } = computed(repo);
    const fake = packages.find((p) => p.name === "typenum");
    assert.equal(fake?.source, CRATES_IO, "the attack's premise: cargo metadata calls the vendored crate crates.io's");
    assert.equal(fake?.manifestDir, join(repo, "vendor/typenum"));
    const s = scripts.find((g) => g.name === "typenum")!;
    assert.deepEqual(s.granted, { network: false, read: [], write: [], env: [] });
    assert.equal(s.grantAs, join(repo, "vendor/typenum"));
    assert.equal(notes.length, NAME_GRANTS().length);
    for (const n of notes)
      assert.match(n, new RegExp(`does not grant typenum 1\\.99\\.0 at ${esc(join(repo, "vendor/typenum"))}: its directory lies inside the workspace`));
  });

  test("the same source replacement pointing outside the workspace: the repository's config file decides, so a name reaches nothing", () => {
    const repo = join(scratch, "replaced");
    cpSync(join(FIXTURES, "build-grant-squat/app"), join(repo, "app"), { recursive: true });
    writeFileSync(join(repo, "Cargo.toml"), `[workspace]\nmembers = ["app"]\nresolver = "2"\n`);
    squatter(join(scratch, "replaced-vendor/typenum"), "1.99.0");
    writeFileSync(join(scratch, "replaced-vendor/typenum/.cargo-checksum.json"), `{"files":{},"package":null}\n`);
    mkdirSync(join(repo, ".cargo"));
    // A registry it chose, elsewhere (a directory here; a remote `registry = "https://..."` lands under $CARGO_HOME).
    writeFileSync(join(repo, ".cargo/config.toml"), `include = ["more.toml"]\n`);
    writeFileSync(join(repo, ".cargo/more.toml"), `[source.crates-io]\nreplace-with = "ours"\n[source.ours]\ndirectory = "../replaced-vendor"\n`);
    const ws = join(repo);
    const sources = repositorySources(ws, env());
    assert.deepEqual(sources.files, [join(repo, ".cargo/more.toml")]);
    const { packages, scripts, notes } = computed(ws);
    const fake = packages.find((p) => p.name === "typenum");
    assert.deepEqual([fake?.source, resolve(fake?.manifestDir ?? "")], [CRATES_IO, join(scratch, "replaced-vendor/typenum")], "the attack's premise");
    assert.deepEqual(scripts.find((g) => g.name === "typenum")!.granted, { network: false, read: [], write: [], env: [] });
    assert.equal(notes.length, NAME_GRANTS().length);
    for (const n of notes)
      assert.match(n, /does not grant typenum 1\.99\.0 .*: its directory lies in .*replaced-vendor, a source directory a cargo config file/);
  });
});
