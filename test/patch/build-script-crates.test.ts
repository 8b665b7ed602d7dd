// Real registry crates' build scripts confined under `macrobox patch` (issue 21): typenum (a pure
// code generator), indexmap (autocfg), ahash (version_check) and sha2-asm (assembly through the cc
// crate), from the local registry, offline. test/fixtures/build-script-crates' tests use what each
// produced; `cargo test` natively is the oracle: the same tests pass with the same output, the
// build scripts print the same `cargo:` lines and write the same OUT_DIR files when confined, and
// `macrobox patch --report` shows that every one of them ran confined (typenum's is build/main.rs:
// cargo names its crate build_script_main, which the wrapper once let run natively).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { findToolchain } from "../../src/builder/index.js";
import { cacheRoot } from "../../src/node/cache-env.js";
import { localRegistry, offlineCargoHome } from "../support/cargo-home.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(REPO, "src/cli/run.ts");
const toolchain = findToolchain();
const CRATES = ["typenum", "indexmap", "ahash", "sha2-asm"];

let scratch = "";
let home = "";
let repo = "";

function env(): NodeJS.ProcessEnv {
  return {
    PATH: `/usr/bin:${process.env.PATH}`,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    XDG_RUNTIME_DIR: join(scratch, "run"),
    CARGO_HOME: join(home, ".cargo"),
    MACROBOX_CACHE: cacheRoot(),
    CARGO_TERM_COLOR: "never",
  };
}

function run(command: string, args: string[], extra: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(command, args, { cwd: repo, env: { ...env(), ...extra }, encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const macrobox = (args: string[]) => run(process.execPath, ["--import", import.meta.resolve("tsx"), CLI, ...args]);

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const st = lstatSync(p);
    if (st.isDirectory()) files(p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** `cargo test`'s results: each test's line and what the tests printed (one thread, so in order). */
function testResults(target: string): string[] {
  const r = run(toolchain.cargo, ["test", "--offline", "--", "--nocapture", "--test-threads=1"], { CARGO_TARGET_DIR: target });
  assert.equal(r.status, 0, r.stderr.slice(-4000));
  return r.stdout
    .split("\n")
    .map((l) => l.replace(/finished in [0-9.]+s/, "finished"))
    .filter((l) => l.trim() !== "");
}

/** What the crates' build scripts produced: their `output` (cargo: lines) and OUT_DIR files, by crate, the target dir written `<target>`. */
function buildScriptResults(target: string): Map<string, string> {
  const build = join(target, "debug/build");
  const out = new Map<string, string>();
  for (const dir of readdirSync(build).sort()) {
    const name = dir.replace(/-[0-9a-f]{16}$/, "");
    if (!CRATES.includes(name) || !existsSync(join(build, dir, "output"))) continue;
    const outDir = join(build, dir, "out");
    const paths = (s: string) => s.replaceAll(realpathSync(target), "<target>").replaceAll(target, "<target>");
    // Objects and archives carry the target dir in their debug info: named, not compared byte for byte (the tests run them).
    const outFiles = files(outDir)
      .map(
        (f) =>
          `${relative(outDir, f)}${
            /\.(o|a)$/.test(f)
              ? ""
              : `=${createHash("sha256")
                  .update(paths(readFileSync(f, "latin1")))
                  .digest("hex")}`
          }`,
      )
      .sort();
    const text = paths(readFileSync(join(build, dir, "output"), "utf8"));
    out.set(name, `${text}\nfiles: ${outFiles.join(" ")}`);
  }
  return out;
}

before(() => {
  scratch = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-build-script-crates-")));
  home = join(scratch, "home");
  mkdirSync(join(home, ".cargo"), { recursive: true });
  mkdirSync(join(scratch, "run"), { mode: 0o700 });
  // crates-io from the builder's directory source, offline (test/support/cargo-home.ts).
  offlineCargoHome(join(home, ".cargo"), localRegistry(toolchain));
  repo = join(scratch, "repo");
  cpSync(join(REPO, "test/fixtures/build-script-crates"), repo, { recursive: true });
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test(
  "registry crates' build scripts (code generator, autocfg, version_check, cc) confined: the dependents' tests pass identically",
  { timeout: 1_800_000 },
  () => {
    const nativeTarget = join(scratch, "target-native");
    const native = testResults(nativeTarget);
    assert.ok(
      native.some((l) => /test result: ok\. 4 passed/.test(l)),
      native.join("\n"),
    );
    const nativeScripts = buildScriptResults(nativeTarget);
    assert.deepEqual([...nativeScripts.keys()].sort(), [...CRATES].sort(), "each crate's build script ran natively");
    assert.match(nativeScripts.get("indexmap")!, /cargo:rustc-cfg=has_std/, "autocfg's probe passes natively");

    const p = macrobox(["patch"]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /build scripts: every one in the graph is compiled and runs confined/);
    const confinedTarget = join(scratch, "target-confined");
    assert.deepEqual(testResults(confinedTarget), native, "the same tests pass with the same output");
    assert.deepEqual(buildScriptResults(confinedTarget), nativeScripts, "the build scripts produce the same when confined");
    // Each ran through the wrapper's sandbox: the launcher is in place of the binary, and the log names it.
    const report = macrobox(["patch", "--report"]);
    assert.equal(report.status, 0, report.stderr);
    for (const crate of CRATES)
      assert.match(report.stdout, new RegExp(`^  ${crate} [0-9.]+ \\(.*\\): 1 run, last succeeded`, "m"), `${crate} ran confined:\n${report.stdout}`);
    const launchers = files(join(confinedTarget, "debug/build")).filter((f) => /\/build-script-[a-z_]+$/.test(f));
    assert.ok(launchers.length >= CRATES.length);
    for (const l of launchers) assert.match(readFileSync(l, "utf8"), /^#!\/bin\/sh\nexec .*--macrobox-build-script /, `${l} is the launcher`);
    assert.equal(macrobox(["patch", "--undo"]).status, 0);
  },
);
