// `macrobox patch` on real dependency graphs (test/fixtures/patch-features), against the native
// build as the oracle: two members enabling different non-default features of derive_more (one
// through a renamed dependency, one target-specific) get one module built with their union, and so
// do featureful's (every form a feature table has: `dep:`, `?/`, implicit features); two
// versions of one macro crate (`twin`, path sources), a dev-dependency-only macro crate outside the
// workspace; no proc-macro compiled natively; a feature enabled later asks for `macrobox patch`
// again, which rebuilds the module (`--all-features` too). And the edge cases patch refuses or handles: a [patch] of the
// user's own (Cargo.toml: patched under the user's key; .cargo/config.toml: refused), a git
// dependency cargo cannot fetch offline; two versions of one macro crate from one registry.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findToolchain } from "../../src/builder/index.js";
import { localRegistry, offlineCargoHome, patchUserEnv } from "../support/cargo-home.js";
import { macroboxArgs } from "../support/cli.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const toolchain = findToolchain();
const vendor = localRegistry(toolchain);

const scratch = mkdtempSync(join(tmpdir(), "macrobox-patch-features-"));
const env = patchUserEnv(scratch, toolchain, vendor);

function cargo(cwd: string, args: string[], targetDir: string) {
  const r = spawnSync(toolchain.cargo, args, { cwd, env: { ...env, CARGO_TARGET_DIR: targetDir, RUSTC: toolchain.rustc }, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function macrobox(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, macroboxArgs(...args), { cwd, env, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What cargo compiled (compiler-artifact messages). */
function compiled(json: string): { name: string; id: string; kind: string[]; fresh: boolean }[] {
  return json
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { reason: string; package_id: string; target: { name: string; kind: string[] }; fresh: boolean })
    .filter((m) => m.reason === "compiler-artifact")
    .map((m) => ({ name: m.target.name, id: m.package_id, kind: m.target.kind, fresh: m.fresh }));
}

const testNames = (out: string) =>
  out
    .split("\n")
    .filter((l) => l.startsWith("test "))
    .map((l) => l.replace(/; finished in [\d.]+s$/, ""))
    .sort();

/** `cargo metadata`'s feature tables and resolved features of the packages named `name`. */
function metadataOf(cwd: string, name: string) {
  const r = spawnSync(toolchain.cargo, ["metadata", "--format-version", "1", "--offline"], { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(r.stdout) as {
    packages: { id: string; name: string; manifest_path: string; features: Record<string, string[]> }[];
    resolve: { nodes: { id: string; features: string[] }[] };
  };
  return meta.packages
    .filter((p) => p.name === name)
    .map((p) => ({
      manifest: p.manifest_path,
      table: p.features,
      features: meta.resolve.nodes
        .find((n) => n.id === p.id)!
        .features.slice()
        .sort(),
    }));
}

/** The module a shim forwards to (the second line of its Cargo.toml, shim.ts). */
const moduleOf = (manifest: string) => readFileSync(manifest, "utf8").split("\n")[1];

test("macrobox patch: features of a macro crate unify as natively, and a feature enabled later rebuilds the module", { timeout: 1_200_000 }, () => {
  cpSync(join(repo, "test/fixtures/patch-features"), join(scratch, "features"), { recursive: true });
  const ws = join(scratch, "features", "ws");
  const nativeTarget = join(scratch, "target-native");
  const patchedTarget = join(scratch, "target-patched");

  const nativeRun = cargo(ws, ["run", "-q"], nativeTarget);
  assert.equal(nativeRun.status, 0, nativeRun.stderr);
  assert.match(nativeRun.stdout, /twins 0\.1\.0 and 0\.2\.0/);
  assert.match(nativeRun.stdout, /featureful built with default,greeting,proc-macro2,spans,weak /);
  const nativeTest = cargo(ws, ["test", "-q"], nativeTarget);
  assert.equal(nativeTest.status, 0, nativeTest.stderr);
  const native = metadataOf(ws, "derive_more");
  assert.deepEqual(native[0].features, ["add", "constructor", "display", "from"], "cargo unifies the two members' features");
  const nativeFeatureful = metadataOf(ws, "featureful");
  const nativeAllRun = cargo(ws, ["run", "-q", "--all-features"], nativeTarget);
  assert.equal(nativeAllRun.status, 0, nativeAllRun.stderr);
  assert.match(nativeAllRun.stdout, /featureful built with default,greeting,proc-macro2,quoting,spans,weak /);
  assert.match(nativeAllRun.stdout, /^fancy: true$/m);

  const report = macrobox(ws, ["patch"]);
  assert.equal(report.status, 0, report.stderr);
  assert.match(
    report.stdout,
    /^note: optional-macros 0\.1\.0 is reached only through a member's non-default feature: .*`macrobox patch --all-features` sandboxes it$/m,
  );
  assert.doesNotMatch(report.stdout, /^optional-macros /m);
  for (const name of ["derive_more 0.99.11", "featureful 0.2.0", "twin 0.1.0", "twin 0.2.0", "counting-macros 0.3.1"])
    assert.match(report.stdout, new RegExp(`^${name.replace(/\./g, "\\.")} `, "m"));

  // The shim declares the original's features (the implicit `rustc_version` of an optional
  // dependency too) and resolves to the same set.
  const shim = metadataOf(ws, "derive_more");
  assert.equal(shim.length, 1);
  assert.match(shim[0].manifest, /\/patch\/shims\//);
  assert.deepEqual(Object.keys(shim[0].table).sort(), Object.keys(native[0].table).sort());
  assert.deepEqual(shim[0].features, native[0].features);
  // Every form of feature table entry (featureful's: `dep:`, `?/`, an implicit feature enabled by `x/y`).
  const featureful = metadataOf(ws, "featureful");
  assert.match(featureful[0].manifest, /\/patch\/shims\//);
  assert.deepEqual(Object.keys(featureful[0].table).sort(), Object.keys(nativeFeatureful[0].table).sort());
  assert.deepEqual(featureful[0].features, nativeFeatureful[0].features);

  const patchedJson = cargo(ws, ["test", "--no-run", "--message-format=json"], patchedTarget);
  assert.equal(patchedJson.status, 0, patchedJson.stderr);
  const built = compiled(patchedJson.stdout);
  for (const c of built) {
    assert.ok(!["syn", "quote", "proc_macro2"].includes(c.name), `patched build compiles ${c.name}`);
    if (c.kind.includes("proc-macro")) assert.match(c.id, /\/patch\/shims\//, `${c.name} is the shim`);
  }
  assert.deepEqual([...new Set(built.filter((c) => c.kind.includes("proc-macro")).map((c) => c.name))].sort(), [
    "counting_macros",
    "derive_more",
    "featureful",
    "twin",
  ]);
  assert.equal(built.filter((c) => c.name === "twin").length, 2, "both versions of twin");
  const patchedRun = cargo(ws, ["run", "-q"], patchedTarget);
  assert.equal(patchedRun.status, 0, patchedRun.stderr);
  assert.equal(patchedRun.stdout, nativeRun.stdout);
  const patchedTest = cargo(ws, ["test", "-q"], patchedTarget);
  assert.equal(patchedTest.status, 0, patchedTest.stderr);
  assert.deepEqual(testNames(patchedTest.stdout), testNames(nativeTest.stdout));

  // One member alone: cargo enables a subset ({display, from}) of what the module was built with
  // (every feature the workspace enables, as cargo metadata unifies them): it runs.
  const alone = cargo(ws, ["build", "-p", "shapes"], patchedTarget);
  assert.equal(alone.status, 0, alone.stderr);

  // `--all-features` enables app's `fancy`, and through it featureful's `quoting`, which the module
  // lacks: an error naming it and `macrobox patch --all-features`, which builds it.
  const allStale = cargo(ws, ["build", "--all-features"], patchedTarget);
  assert.notEqual(allStale.status, 0);
  assert.match(
    allStale.stderr,
    /cargo enables feature\(s\) quoting of `featureful`, which its sandboxed module was built without .*`macrobox patch --all-features`/,
  );
  const allPatched = macrobox(ws, ["patch", "--all-features"]);
  assert.equal(allPatched.status, 0, allPatched.stderr);
  assert.match(allPatched.stdout, /^optional-macros 0\.1\.0 \(edition 2021\): module (built|reused from the cache)$/m);
  assert.doesNotMatch(allPatched.stdout, /^note: optional-macros/m);
  const allBuild = cargo(ws, ["build", "--all-features", "--message-format=json"], patchedTarget);
  assert.equal(allBuild.status, 0, allBuild.stderr);
  for (const c of compiled(allBuild.stdout).filter((c) => c.kind.includes("proc-macro"))) assert.match(c.id, /\/patch\/shims\//, `${c.name} is the shim`);
  assert.ok(compiled(allBuild.stdout).some((c) => c.name === "optional_macros"));
  const allRun = cargo(ws, ["run", "-q", "--all-features"], patchedTarget);
  assert.equal(allRun.status, 0, allRun.stderr);
  assert.equal(allRun.stdout, nativeAllRun.stdout);

  // A member enables one more feature: the shim (declaring it) resolves, and every expansion asks
  // for `macrobox patch` again rather than running a module built without it.
  const unitsManifest = join(ws, "units", "Cargo.toml");
  writeFileSync(unitsManifest, readFileSync(unitsManifest, "utf8").replace('features = ["add", "constructor"]', 'features = ["add", "constructor", "mul"]'));
  const stale = cargo(ws, ["build"], patchedTarget);
  assert.notEqual(stale.status, 0);
  assert.match(
    stale.stderr,
    /cargo enables feature\(s\) mul of `derive_more`, which its sandboxed module was built without \(built with: add, constructor, display, from\): run `macrobox patch` again/,
  );
  const again = macrobox(ws, ["patch"]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /^twin 0\.1\.0 \(edition 2021\): module reused from the cache$/m);
  const reshim = metadataOf(ws, "derive_more")[0];
  assert.deepEqual(reshim.features, ["add", "constructor", "display", "from", "mul"]);
  // Another module (built now, or by an earlier run with these features: the cache is content-addressed).
  assert.notEqual(moduleOf(reshim.manifest), moduleOf(shim[0].manifest));
  const rebuilt = cargo(ws, ["run", "-q"], patchedTarget);
  assert.equal(rebuilt.status, 0, rebuilt.stderr);
  assert.equal(rebuilt.stdout, nativeRun.stdout);

  assert.equal(macrobox(ws, ["patch", "--undo"]).status, 0);
  const undone = cargo(ws, ["build", "--message-format=json"], nativeTarget);
  assert.equal(undone.status, 0, undone.stderr);
  assert.ok(
    compiled(undone.stdout).some((c) => c.name === "derive_more" && c.id.includes("crates.io-index")),
    "native derive_more again",
  );
});

/** A one-package workspace printing `twin_version!()`, with `manifestTail` appended to its Cargo.toml. */
function twinApp(dir: string, dependency: string, manifestTail = ""): string {
  cpSync(join(repo, "test/fixtures/patch-features/twin-0.1"), join(dir, "twin-0.1"), { recursive: true });
  const ws = join(dir, "ws");
  mkdirSync(join(ws, "src"), { recursive: true });
  writeFileSync(join(ws, "Cargo.toml"), `[package]\nname = "twin-app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n${dependency}\n${manifestTail}`);
  writeFileSync(join(ws, "src", "main.rs"), 'fn main() {\n    println!("twin {}", twin::twin_version!());\n}\n');
  return ws;
}

test("macrobox patch: a [patch] of the user's own, and a git dependency", { timeout: 600_000 }, () => {
  // In Cargo.toml: the shim is patched in under the user's key (a config [patch] wins over a manifest's).
  const inManifest = twinApp(join(scratch, "user-patch-manifest"), 'twin = "0.1"', '\n[patch.crates-io]\ntwin = { path = "../twin-0.1" }\n');
  const target = join(scratch, "target-user-patch");
  const nativeRun = cargo(inManifest, ["run", "-q"], target);
  assert.equal(nativeRun.status, 0, nativeRun.stderr);
  assert.equal(nativeRun.stdout, "twin 0.1.0\n");
  const patched = macrobox(inManifest, ["patch"]);
  assert.equal(patched.status, 0, patched.stderr);
  const build = cargo(inManifest, ["build", "--message-format=json"], target);
  assert.equal(build.status, 0, build.stderr);
  assert.match(compiled(build.stdout).find((c) => c.name === "twin")!.id, /\/patch\/shims\//);
  assert.deepEqual(cargo(inManifest, ["run", "-q"], target), nativeRun);

  // In .cargo/config.toml: it would win over macrobox's [patch]: refused, naming the crate and the file.
  const inConfig = twinApp(join(scratch, "user-patch-config"), 'twin = "0.1"');
  mkdirSync(join(inConfig, ".cargo"));
  writeFileSync(join(inConfig, ".cargo", "config.toml"), '[patch.crates-io]\ntwin = { path = "../twin-0.1" }\n');
  assert.equal(cargo(inConfig, ["run", "-q"], target).stdout, "twin 0.1.0\n");
  const configBefore = readFileSync(join(inConfig, ".cargo", "config.toml"), "utf8");
  const refused = macrobox(inConfig, ["patch"]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /twin 0\.1\.0: your own \[patch\.crates-io\] in \S+\/user-patch-config\/ws\/\.cargo\/config\.toml replaces it/);
  assert.equal(readFileSync(join(inConfig, ".cargo", "config.toml"), "utf8"), configBefore, "nothing was changed");

  // A legacy .cargo/config (cargo reads it instead of config.toml): the include goes there, and
  // --undo restores it byte for byte.
  const legacy = twinApp(join(scratch, "legacy-config"), 'twin = { path = "../twin-0.1" }');
  mkdirSync(join(legacy, ".cargo"));
  const legacyConfig = "# the user's own, under the legacy name\n[build]\nincremental = false\n";
  writeFileSync(join(legacy, ".cargo", "config"), legacyConfig);
  const legacyPatched = macrobox(legacy, ["patch"]);
  assert.equal(legacyPatched.status, 0, legacyPatched.stderr);
  const legacyBuild = cargo(legacy, ["build", "--message-format=json"], target);
  assert.equal(legacyBuild.status, 0, legacyBuild.stderr);
  assert.match(compiled(legacyBuild.stdout).find((c) => c.name === "twin")!.id, /\/patch\/shims\//);
  assert.equal(macrobox(legacy, ["patch", "--undo"]).status, 0);
  assert.deepEqual(readdirSync(join(legacy, ".cargo")), ["config"]);
  assert.equal(readFileSync(join(legacy, ".cargo", "config"), "utf8"), legacyConfig);

  // A git dependency: macrobox reads the graph offline, and says a git dependency must be fetched.
  const git = twinApp(join(scratch, "git"), `twin = { git = ${JSON.stringify(`file://${join(scratch, "git", "twin-0.1")}`)} }`);
  const gitRefused = macrobox(git, ["patch"]);
  assert.notEqual(gitRefused.status, 0);
  assert.match(gitRefused.stderr, /a git or registry dependency must be fetched first/);
  assert.match(gitRefused.stderr, /failed to get `twin`/);
});

test("macrobox patch: two versions of one macro crate from one registry", { timeout: 600_000 }, () => {
  // A registry of our own: the builder's vendor directory and twin 0.1.0 and 0.2.0 (the system
  // registry holds one version of each crate). Under another source name than the builder's
  // `macrobox-local` (DEVELOPERS.md), whose staged configs still take crates-io from the vendor directory.
  const registry = join(scratch, "two-versions", "registry");
  mkdirSync(registry, { recursive: true });
  for (const entry of readdirSync(vendor)) symlinkSync(realpathSync(join(vendor, entry)), join(registry, entry));
  for (const version of ["0.1", "0.2"]) {
    cpSync(join(repo, `test/fixtures/patch-features/twin-${version}`), join(registry, `twin-${version}.0`), { recursive: true });
    writeFileSync(join(registry, `twin-${version}.0`, ".cargo-checksum.json"), '{"package":null,"files":{}}');
  }
  const home = join(scratch, "two-versions", "cargo-home");
  offlineCargoHome(home, registry, "macrobox-test");
  const ws = join(scratch, "two-versions", "ws");
  for (const [name, manifest, source] of [
    ["a", 'twin = "0.1"\nb = { path = "../b" }', 'fn main() {\n    println!("{} {}", twin::twin_version!(), b::TWIN);\n}\n'],
    ["b", 'twin = "0.2"', "pub const TWIN: &str = twin::twin_version!();\n"],
  ]) {
    mkdirSync(join(ws, name, "src"), { recursive: true });
    writeFileSync(join(ws, name, "Cargo.toml"), `[package]\nname = "${name}"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n${manifest}\n`);
    writeFileSync(join(ws, name, "src", name === "a" ? "main.rs" : "lib.rs"), source);
  }
  writeFileSync(join(ws, "Cargo.toml"), '[workspace]\nmembers = ["a", "b"]\nresolver = "2"\n');
  const ownEnv = { ...env, CARGO_HOME: home };
  const run = (args: string[]) =>
    spawnSync(toolchain.cargo, args, {
      cwd: ws,
      env: { ...ownEnv, CARGO_TARGET_DIR: join(scratch, "two-versions", "target"), RUSTC: toolchain.rustc },
      encoding: "utf8",
    });
  const nativeRun = run(["run", "-q"]);
  assert.equal(nativeRun.status, 0, nativeRun.stderr);
  assert.equal(nativeRun.stdout, "0.1.0 0.2.0\n");
  const patched = spawnSync(process.execPath, macroboxArgs("patch"), {
    cwd: ws,
    env: ownEnv,
    encoding: "utf8",
  });
  assert.equal(patched.status, 0, patched.stderr);
  const build = run(["build", "--message-format=json"]);
  assert.equal(build.status, 0, build.stderr);
  const twins = compiled(build.stdout).filter((c) => c.name === "twin");
  assert.equal(twins.length, 2);
  for (const t of twins) assert.match(t.id, /\/patch\/shims\//);
  const patchedRun = run(["run", "-q"]);
  assert.equal(patchedRun.status, 0, patchedRun.stderr);
  assert.equal(patchedRun.stdout, nativeRun.stdout);
});

/** The proc-macro packages of the default resolve (`cargo metadata`): `name version`. */
function resolvedMacros(cwd: string): string[] {
  const r = spawnSync(toolchain.cargo, ["metadata", "--format-version", "1", "--offline"], { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(r.stdout) as {
    packages: { id: string; name: string; version: string; targets: { kind: string[] }[] }[];
    resolve: { nodes: { id: string }[] };
  };
  const inResolve = new Set(meta.resolve.nodes.map((n) => n.id));
  return meta.packages
    .filter((p) => inResolve.has(p.id) && p.targets.some((t) => t.kind.includes("proc-macro")))
    .map((p) => `${p.name} ${p.version}`)
    .sort();
}

/** cargo's own warnings (stderr; rustc's are in the JSON messages on stdout). */
const cargoWarnings = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("warning:"));

test(
  "macrobox patch: a macro crate only sandboxed macro crates use leaves the graph with them, and is sandboxed when one stays native",
  { timeout: 900_000 },
  () => {
    // test-case-macros uses proc-macro-error, whose #[proc_macro_error] is the proc-macro crate
    // proc-macro-error-attr: once test-case-macros is a shim (no dependencies), nothing in the graph
    // uses it, and a [patch] entry for it made cargo warn at every build ("patch ... was not used").
    const ws = join(scratch, "macro-deps");
    mkdirSync(join(ws, "src"), { recursive: true });
    mkdirSync(join(ws, "tests"));
    writeFileSync(join(ws, "Cargo.toml"), '[package]\nname = "cases"\nversion = "0.1.0"\nedition = "2021"\n\n[dev-dependencies]\ntest-case = "2.2"\n');
    writeFileSync(join(ws, "src", "lib.rs"), "pub fn double(x: u32) -> u32 {\n    x * 2\n}\n");
    writeFileSync(
      join(ws, "tests", "cases.rs"),
      'use test_case::test_case;\n\n#[test_case(1 => 2)]\n#[test_case(2 => 4 ; "two")]\nfn doubles(x: u32) -> u32 {\n    cases::double(x)\n}\n',
    );
    const nativeMacros = resolvedMacros(ws);
    assert.ok(nativeMacros.includes("proc-macro-error-attr 1.0.3"), nativeMacros.join(", "));
    const native = cargo(ws, ["test", "--message-format=json"], join(scratch, "target-macro-deps-native"));
    assert.equal(native.status, 0, native.stderr);
    assert.ok(testNames(native.stdout).length >= 2, native.stdout);

    const report = macrobox(ws, ["patch"]);
    assert.equal(report.status, 0, report.stderr);
    // A note that a crate is reached only through a non-default feature names none the default graph holds.
    for (const m of report.stdout.matchAll(/^note: (\S+ \S+) is reached only through a member's non-default feature/gm))
      assert.ok(!nativeMacros.includes(m[1]), `the note names ${m[1]}, which the default graph holds:\n${report.stdout}`);
    assert.match(report.stdout, /^test-case-macros 2\.2\.2 \(edition 2018\): module (built|reused from the cache)$/m);
    const patchedTarget = join(scratch, "target-macro-deps-patched");
    const patched = cargo(ws, ["test", "--message-format=json"], patchedTarget);
    assert.equal(patched.status, 0, patched.stderr);
    assert.deepEqual(testNames(patched.stdout), testNames(native.stdout));
    assert.deepEqual(cargoWarnings(patched.stderr), cargoWarnings(native.stderr), "cargo's warnings");
    const macros = compiled(patched.stdout).filter((c) => c.kind.includes("proc-macro"));
    assert.deepEqual(
      macros.map((c) => c.name),
      ["test_case_macros"],
    );
    for (const c of macros) assert.match(c.id, /\/patch\/shims\//, `${c.name} is the shim`);

    // test-case-macros kept native: cargo compiles it, and proc-macro-error-attr with it, sandboxed.
    const keep = macrobox(ws, ["patch", "--keep-native", "test-case-macros"]);
    assert.equal(keep.status, 0, keep.stderr);
    const kept = cargo(ws, ["test", "--message-format=json"], patchedTarget);
    assert.equal(kept.status, 0, kept.stderr);
    assert.deepEqual(testNames(kept.stdout), testNames(native.stdout));
    assert.deepEqual(cargoWarnings(kept.stderr), cargoWarnings(native.stderr), "cargo's warnings");
    const keptMacros = compiled(kept.stdout).filter((c) => c.kind.includes("proc-macro"));
    assert.doesNotMatch(keptMacros.find((c) => c.name === "test_case_macros")!.id, /\/patch\/shims\//);
    assert.match(keptMacros.find((c) => c.name === "proc_macro_error_attr")!.id, /\/patch\/shims\//);
  },
);
