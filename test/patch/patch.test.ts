// `macrobox patch` on examples/sample-app, against the native build as the oracle: same program
// output and test results, no native code of any macro crate compiled, the same error for a bad
// serde attribute, nothing rebuilt when nothing changed, a rebuild when a granted file or env var a
// macro read changed (config-macros), and `--undo` leaves the workspace
// byte-identical. crates-io comes from the builder's directory source (a CARGO_HOME config).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { findToolchain } from "../../src/builder/index.js";
import { macroboxArgs } from "../support/cli.js";
import { patchUserEnv } from "../support/cargo-home.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const toolchain = findToolchain();

const scratch = mkdtempSync(join(tmpdir(), "macrobox-patch-"));
cpSync(join(repo, "examples"), join(scratch, "examples"), { recursive: true, filter: (p) => !p.includes("/target") });
const app = join(scratch, "examples", "sample-app");
// The user's macrobox directories (their own grants file, the trust store): empty to start with.
const env = patchUserEnv(scratch, toolchain);

// The env var config-macros' `#[env_or]` reads: unset unless a step sets it.
delete env.SAMPLE_BUILD_LABEL;

function cargo(args: string[], targetDir: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(toolchain.cargo, args, { cwd: app, env: { ...env, ...extraEnv, CARGO_TARGET_DIR: targetDir, RUSTC: toolchain.rustc }, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function macrobox(args: string[]) {
  const r = spawnSync(process.execPath, macroboxArgs(...args), { cwd: app, env, encoding: "utf8" });
  assert.equal(r.status, 0, `macrobox ${args.join(" ")}:\n${r.stderr}`);
  return r.stdout;
}

/** Every file of the workspace but build output, with its bytes. */
function snapshot(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (e === "target") continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(app, p), readFileSync(p).toString("base64"));
    }
  };
  walk(app);
  return out;
}

/** Packages cargo compiled (compiler-artifact messages), as `name source-kind`. */
function compiled(json: string): { name: string; id: string; fresh: boolean }[] {
  return json
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { reason: string; package_id: string; target: { name: string }; fresh: boolean })
    .filter((m) => m.reason === "compiler-artifact")
    .map((m) => ({ name: m.target.name, id: m.package_id, fresh: m.fresh }));
}

/** rustc's rendered errors without cargo's own progress lines. */
function errors(stderr: string): string {
  return (
    stderr
      .split("\n")
      .filter((l) => !/^\s*(Compiling|Locking|Adding|Finished|Running|Blocking)\b/.test(l))
      .join("\n")
      // rustc names a file in the target directory (long type names), which differs per build.
      .replace(/\/[^\s']*\/target-(native|patched)\/[^\s']*/g, "<target file>")
  );
}

// The test lines and results, without the time each run took.
const testNames = (out: string) =>
  out
    .split("\n")
    .filter((l) => l.startsWith("test "))
    .map((l) => l.replace(/; finished in [\d.]+s$/, ""))
    .sort();

test("macrobox patch: the sample builds, runs and tests the same with every macro sandboxed, and --undo restores it", { timeout: 900_000 }, () => {
  const nativeTarget = join(scratch, "target-native");
  const patchedTarget = join(scratch, "target-patched");

  const nativeRun = cargo(["run", "-q"], nativeTarget);
  assert.equal(nativeRun.status, 0, nativeRun.stderr);
  const nativeTest = cargo(["test", "-q"], nativeTarget);
  assert.equal(nativeTest.status, 0, nativeTest.stderr);
  const nativeBuilt = compiled(cargo(["build", "--message-format=json"], join(scratch, "target-native-json")).stdout);
  for (const name of ["syn", "serde_derive", "thiserror_impl", "demo_macros"])
    assert.ok(
      nativeBuilt.some((c) => c.name === name),
      `native builds ${name}`,
    );

  // The workspace as the user has it (the native builds wrote its Cargo.lock).
  const before = snapshot();
  // The sample's macrobox.toml grants config-macros what it reads, once the user trusts it.
  assert.match(macrobox(["trust"]), /grants\.config_macros: env = \["SAMPLE_BUILD_LABEL"\], read = \["config"\]/);
  const report = macrobox(["patch"]);
  for (const name of [
    "serde_derive 1.0.152 (edition 2015)",
    "thiserror-impl 1.0.38 (edition 2018)",
    "demo-macros 0.1.0 (edition 2021)",
    "config-macros 0.1.0 (edition 2021)",
  ])
    assert.match(report, new RegExp(name.replace(/[().]/g, "\\$&")));
  assert.match(report, /#\[derive\(Serialize\)\]\s+helper attributes: serde/);
  assert.match(report, /granted: {2}env SAMPLE_BUILD_LABEL; read config/);

  const patchedJson = cargo(["build", "--message-format=json"], patchedTarget);
  assert.equal(patchedJson.status, 0, patchedJson.stderr);
  const patchedBuilt = compiled(patchedJson.stdout);
  for (const c of patchedBuilt) {
    // The macro crates are the shims (path packages in the cache), and nothing they needed natively is compiled.
    assert.ok(!["syn", "quote", "proc_macro2"].includes(c.name), `patched build compiles ${c.name}`);
    if (["serde_derive", "thiserror_impl", "demo_macros", "config_macros"].includes(c.name)) assert.match(c.id, /\/patch\/shims\//, `${c.name} is the shim`);
  }
  const patchedRun = cargo(["run", "-q"], patchedTarget);
  assert.equal(patchedRun.status, 0, patchedRun.stderr);
  assert.equal(patchedRun.stdout, nativeRun.stdout);
  const patchedTest = cargo(["test", "-q"], patchedTarget);
  assert.equal(patchedTest.status, 0, patchedTest.stderr);
  assert.deepEqual(testNames(patchedTest.stdout), testNames(nativeTest.stdout));
  assert.match(patchedTest.stdout, /test result: ok\. 3 passed/);

  // Changing nothing rebuilds nothing.
  const again = compiled(cargo(["build", "--message-format=json"], patchedTarget).stdout);
  assert.ok(again.length > 0 && again.every((c) => c.fresh), `rebuilt: ${again.filter((c) => !c.fresh).map((c) => c.name)}`);

  // Tracked inputs: changing a granted file a macro read, or a granted env var, rebuilds the crate
  // that uses the macro (and nothing else), with the new content; the same again rebuilds nothing.
  // Each input is read by one kind of macro, and so tracked from a different place in its output
  // (src/patch/tracking.ts): after a derive's impl, after a function-like macro's items, first in
  // the body of the method an attribute rewrote.
  const program = join(patchedTarget, "debug", "sample-app");
  const rebuiltBy = (change: () => void, extraEnv: NodeJS.ProcessEnv = {}) => {
    change();
    const r = cargo(["build", "--message-format=json"], patchedTarget, extraEnv);
    assert.equal(r.status, 0, r.stderr);
    const lines = spawnSync(program, { encoding: "utf8", env: { ...env, ...extraEnv } }).stdout.split("\n");
    return {
      rebuilt: compiled(r.stdout)
        .filter((c) => !c.fresh)
        .map((c) => c.name)
        .sort(),
      printed: lines[lines.length - 2],
    };
  };
  const configFile = (name: string) => join(app, "config", name);
  const greeting = readFileSync(configFile("greeting.txt"), "utf8");
  const limits = readFileSync(configFile("limits.conf"), "utf8");
  const byFile = rebuiltBy(() => writeFileSync(configFile("limits.conf"), limits.replace("max_users = 100", "max_users = 250")));
  assert.deepEqual(byFile.rebuilt, ["sample-app", "sample_app"], "config_consts! tracked config/limits.conf");
  assert.equal(byFile.printed, "Hello from config/greeting.txt | max_users=250 region=eu-west | build unlabelled");
  const byDeriveFile = rebuiltBy(() => writeFileSync(configFile("greeting.txt"), "Hi again\n"));
  assert.deepEqual(byDeriveFile.rebuilt, ["sample-app", "sample_app"], "#[derive(Greeting)] tracked config/greeting.txt");
  assert.match(byDeriveFile.printed, /^Hi again \| /);
  const label = { SAMPLE_BUILD_LABEL: "ci-42" };
  const byEnv = rebuiltBy(() => {}, label);
  assert.deepEqual(byEnv.rebuilt, ["sample-app", "sample_app"], "#[env_or] tracked SAMPLE_BUILD_LABEL");
  assert.match(byEnv.printed, /\| build ci-42$/);
  assert.deepEqual(rebuiltBy(() => {}, label).rebuilt, [], "the same file and env again rebuild nothing");
  writeFileSync(configFile("greeting.txt"), greeting);
  writeFileSync(configFile("limits.conf"), limits);

  // A bad serde attribute: the same file:line:col and message as natively.
  const lib = join(app, "src", "lib.rs");
  const source = readFileSync(lib, "utf8");
  writeFileSync(lib, source.replace('#[serde(rename_all = "camelCase")]', '#[serde(rename_all = "camelCase", colour = "red")]'));
  const patchedError = cargo(["build"], patchedTarget);
  macrobox(["patch", "--undo"]);
  const nativeError = cargo(["build"], nativeTarget);
  writeFileSync(lib, source);
  assert.notEqual(nativeError.status, 0);
  assert.notEqual(patchedError.status, 0);
  assert.match(nativeError.stderr, /unknown serde container attribute `colour`/);
  assert.match(nativeError.stderr, /src\/lib\.rs:\d+:\d+/);
  assert.equal(errors(patchedError.stderr), errors(nativeError.stderr));

  // --undo (run above) left the workspace byte-identical.
  assert.deepEqual(snapshot(), before);
});
