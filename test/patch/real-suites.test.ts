// Real crates' own test suites (issue 18), natively and after `macrobox patch`, with the native run
// as the oracle: each suite is a facade crate's `tests/` (and doc tests), run by `cargo test` offline
// in a copy of the crate's directory from Debian's registry, so the macros are expanded as a user's
// project would have them expanded.
//
// - every test's outcome is the same (the `test <name> ... <outcome>` lines of every test binary, and
//   trybuild's per-file lines for UI tests), and so is cargo's exit status;
// - trybuild's compile-fail diagnostics are compared byte for byte: for a case whose output is not
//   the crate's expected `.stderr`, trybuild prints the actual output (normalized: `$DIR`, `$RUST`),
//   which must be the same; a case that matches had the expected file's bytes, the same in both runs;
//   a case without an expected file has its output written to `wip/` (TRYBUILD=wip), compared too;
// - no proc-macro crate is compiled natively in the patched build: a proc-macro artifact in cargo's
//   JSON messages is a shim, and so is every proc-macro dylib in the target directory (trybuild's
//   own cargo builds there too, under the crate's `.cargo/config.toml`, which carries the patch);
// - rust-analyzer's `analysis-stats` over the crates (one workspace of copies) gives the same statistics with
//   bin/macrobox-proc-macro-srv.js as with the native proc-macro server, and different ones with
//   `--disable-proc-macros` (so the comparison can fail).
//
// Both runs happen in one copy (native first, then patched, each with its own target directory
// inside it), so absolute paths in diagnostics are the same. The compile-fail UI tests are ignored
// off nightly (`#[rustversion::attr(not(nightly), ignore)]`): `--include-ignored` runs them, their
// expected files were written by an older rustc, and what is compared is today's actual output.
// pin-project's compiletest overwrites the expected files unless `CI` is set: the test sets it.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { findToolchain } from "../../src/builder/index.js";
import { PROC_MACRO_SRV } from "../oracle/native.js";
import { macroboxArgs } from "../support/cli.js";
import { localRegistry, offlineCargoHome } from "../support/cargo-home.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const RUST_ANALYZER = "/usr/bin/rust-analyzer";
const OUR_SERVER = join(repo, "bin/macrobox-proc-macro-srv.js");
const REGISTRY = "/usr/share/cargo/registry";

interface Suite {
  /** The facade crate's directory in the registry. */
  crate: string;
  /** What kind of macro its tests exercise (for the test's name). */
  kind: string;
  /** Run the tests marked `#[ignore]` too: the compile-fail UI tests, ignored off nightly. */
  includeIgnored?: boolean;
  /** Extra arguments for the test binaries. */
  testArgs?: string[];
  /** Extra `cargo test` arguments (features). */
  cargoArgs?: string[];
  /** Grants in the user's own file, scoped to the copy's real path: crate → read paths. */
  read?: Record<string, string[]>;
  /** Something the sandbox answers differently by design, made equal before both runs. */
  prepare?: (dir: string) => void;
}

const SUITES_ALL: Suite[] = [
  // #[derive(Error)] (thiserror-impl), with ref-cast-impl's derive and rustversion's attributes in
  // the same graph; 21 trybuild compile-fail cases.
  { crate: "thiserror-1.0.38", kind: "derive, trybuild UI", includeIgnored: true },
  // #[pin_project] and #[pinned_drop] (pin-project-internal): attribute macros; rustversion's attributes.
  { crate: "pin-project-1.0.10", kind: "attribute macros" },
  // stream! and try_stream! (async-stream-impl): function-like macros, with #[tokio::test]
  // (tokio-macros) on every test. Its trybuild test (`test` in tests/stream.rs) builds tokio again
  // inside trybuild's project, two minutes alone: skipped (thiserror's covers trybuild).
  { crate: "async-stream-0.3.4", kind: "function-like macros", testArgs: ["--exact", "--skip", "test"] },
  // #[derive(RustEmbed)] with #[folder] reads the crate's files (granted by the user's file). The
  // facade declares features naming rust-embed-impl's (`rust-embed-impl/debug-embed`), which a shim
  // must carry for the graph to resolve at all. Default features: `cargo test --features
  // interpolate-folder-path,include-exclude` (its two other test files) enables features of the macro
  // crate that `macrobox patch` cannot be told about (it resolves the workspace's default features).
  {
    crate: "rust-embed-6.4.2",
    kind: "derive reading files, a facade with features",
    read: { "rust-embed-impl": ["examples/public"] },
    // The sandbox shows every file's mtime as the epoch (expansions must not depend on when a
    // file was written), and rust-embed embeds it: test `last_modified_is_accurate` compares it
    // with the file's real mtime. Natively the same with the files at the epoch.
    prepare: (dir) => {
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          utimesSync(join(d, e.name), 0, 0);
        }
      };
      walk(join(dir, "examples/public"));
    },
  },
];

// MACROBOX_SUITES=<crate dir>,... runs only those (while working on one); by default every suite runs.
const SUITES = SUITES_ALL.filter((s) => (process.env.MACROBOX_SUITES ?? s.crate).split(",").includes(s.crate));
const toolchain = findToolchain();

const scratch = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-suites-")));
// crates-io is the builder's directory source, under the name the builder's staged configs use
// (see test/patch/patch.test.ts and DEVELOPERS.md, "The test's crates-io").
const cargoHome = join(scratch, "cargo-home");
offlineCargoHome(cargoHome, localRegistry(toolchain));
// rust-analyzer: the sysroot's crate folders without the library workspace's Cargo.toml (see test/proc-macro-server/ra-e2e.test.ts).
const rustSrc = join(scratch, "rust-src");
mkdirSync(rustSrc);
for (const entry of readdirSync(toolchain.librarySource, { withFileTypes: true }))
  if (entry.isDirectory()) symlinkSync(join(toolchain.librarySource, entry.name), join(rustSrc, entry.name));

const env: NodeJS.ProcessEnv = {
  ...process.env,
  CARGO_HOME: cargoHome,
  // Debian's toolchain first (rust-analyzer runs cargo from PATH), node for the server's shebang.
  PATH: `/usr/bin:/bin:${dirname(process.execPath)}`,
  RUSTC: toolchain.rustc,
  CARGO_TERM_COLOR: "never",
  NO_COLOR: "1",
  TRYBUILD: "wip",
  CI: "1",
  RUST_SRC_PATH: rustSrc,
  // The user's macrobox directories: the user file is written per suite, nothing is trusted.
  XDG_CONFIG_HOME: join(scratch, "config"),
  XDG_DATA_HOME: join(scratch, "data"),
};
delete env.RUST_BACKTRACE;
delete env.RUSTFLAGS;
delete env.CARGO_TARGET_DIR;
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh copy of a suite's crate, as the registry has it (and as `prepare` leaves it). */
function copyCrate(suite: Suite, dir: string): void {
  cpSync(join(REGISTRY, suite.crate), dir, { recursive: true });
  // Debian's checksums of the packaged files, which only a directory source uses.
  rmSync(join(dir, ".cargo-checksum.json"), { force: true });
  suite.prepare?.(dir);
}

// rust-analyzer analyses every suite's crate in one workspace (members: copies of the crates), so
// the sysroot and the dependencies are loaded once per server, not once per crate.
const raWorkspace = join(scratch, "ra");

// The user grants, in their own file, scoped to each copy by its real path (README, "Who grants").
const grantSections = SUITES.flatMap((suite) =>
  Object.entries(suite.read ?? {}).flatMap(([crate, paths]) =>
    [join(scratch, suite.crate), raWorkspace].map((ws) => `[workspace.${JSON.stringify(ws)}.grants.${crate}]\nread = ${JSON.stringify(paths)}\n`),
  ),
);
mkdirSync(join(scratch, "config", "macrobox"), { recursive: true });
writeFileSync(join(scratch, "config", "macrobox", "macrobox.toml"), grantSections.join(""));

function run(cmd: string, args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extra }, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function macrobox(args: string[], cwd: string): string {
  const r = run(process.execPath, macroboxArgs(...args), cwd);
  assert.equal(r.status, 0, `macrobox ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** trybuild's report of one UI case: its outcome, and for a mismatch the actual compiler output. */
const TRYBUILD_CASE = /^test (tests\/\S+\.rs) \.\.\. (\w+)\n(?:\nEXPECTED:\n┈+\n[\s\S]*?┈+\n\nACTUAL OUTPUT:\n(┈+\n[\s\S]*?┈+\n))?/gm;

/**
 * The outcome of every test, sorted: libtest's lines (stdout) and trybuild's per-case lines
 * (stderr); and trybuild's actual output for each case whose output is not the expected file's.
 */
function outcomes(stdout: string, stderr: string): { outcomes: string[]; actual: Map<string, string> } {
  const libtest = stdout
    .split("\n")
    .filter((l) => /^test .* \.\.\. /.test(l))
    // The time a slow test took.
    .map((l) => l.replace(/ <\d+\.\d+s>$/, ""));
  const trybuild: string[] = [];
  const actual = new Map<string, string>();
  // eslint-disable-next-line no-control-regex
  for (const m of stderr.replace(/\x1b\[[0-9;]*m/g, "").matchAll(TRYBUILD_CASE)) {
    trybuild.push(`trybuild: ${m[1]} ... ${m[2]}`);
    if (m[3] !== undefined) actual.set(m[1], m[3]);
  }
  return { outcomes: [...libtest, ...trybuild].sort(), actual };
}

/** What trybuild wrote into `wip/` (actual outputs that differ from the expected files), then removed. */
function takeWip(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const wip = join(dir, "wip");
  if (!existsSync(wip)) return out;
  for (const f of readdirSync(wip)) out.set(f, readFileSync(join(wip, f), "utf8"));
  rmSync(wip, { recursive: true });
  return out;
}

interface Artifact {
  id: string;
  name: string;
  kinds: string[];
}
function artifacts(json: string): Artifact[] {
  return json
    .split("\n")
    .filter((l) => l.startsWith('{"reason":"compiler-artifact"'))
    .map((l) => JSON.parse(l) as { package_id: string; target: { name: string; kind: string[] } })
    .map((m) => ({ id: m.package_id, name: m.target.name, kinds: m.target.kind }));
}

/**
 * Every proc-macro dylib under a target directory (cargo's and trybuild's builds) with its crate
 * root, from the dep-info file cargo writes beside it (`deps/lib<name>-<hash>.so` and `.d`).
 */
function macroDylibs(target: string): { dylib: string; root: string }[] {
  const out: { dylib: string; root: string }[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".so") && basenameOf(d) === "deps") {
        const depInfo = p.replace(/\.so$/, ".d").replace(/\/lib([^/]+)$/, "/$1");
        const rule = readFileSync(depInfo, "utf8").split("\n")[0];
        out.push({ dylib: relative(target, p), root: rule.slice(rule.indexOf(": ") + 2).split(" ")[0] });
      }
    }
  };
  walk(target);
  return out;
}
const basenameOf = (p: string) => p.slice(p.lastIndexOf("/") + 1);

function cargoTest(dir: string, suite: Suite, target: string) {
  const r = run(
    toolchain.cargo,
    [
      "test",
      "--no-fail-fast",
      "--message-format=json",
      ...(suite.cargoArgs ?? []),
      "--",
      ...(suite.includeIgnored ? ["--include-ignored"] : []),
      ...(suite.testArgs ?? []),
    ],
    dir,
    {
      CARGO_TARGET_DIR: target,
    },
  );
  // With --message-format=json rustc's diagnostics are in stdout: the errors, for a failure's message.
  const errors = r.stdout
    .split("\n")
    .filter((l) => l.startsWith('{"reason":"compiler-message"'))
    .map((l) => (JSON.parse(l) as { message: { level: string; rendered: string } }).message)
    .filter((m) => m.level === "error")
    .map((m) => m.rendered)
    .join("");
  return { status: r.status, ...outcomes(r.stdout, r.stderr), wip: takeWip(dir), artifacts: artifacts(r.stdout), stderr: errors + r.stderr };
}

/**
 * analysis-stats' statistics, without times, memory and progress: the item counts (`crates: 7,
 * mods: 7, decls: 57, ...`), the workspace's and dependencies' declarations, and what inference,
 * MIR lowering, layouts and const evaluation failed on (`pats: 160, ??ty: 2 (1%), ...`), which
 * counts what an expansion that went wrong leaves unresolved.
 */
function analysisStats(dir: string, args: string[]): string[] {
  const r = run(RUST_ANALYZER, ["analysis-stats", ".", ...args], dir);
  assert.equal(r.status, 0, `rust-analyzer analysis-stats ${args.join(" ")}:\n${r.stderr.slice(-4000)}`);
  const lines = (r.stdout + r.stderr)
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter((l) =>
      /^(crates|traits|lines of code|usages|declarations|dependency lines of code|item trees|pats|exprs|panics|Mir failed bodies|Failed data layouts|Failed const evals):/.test(
        l,
      ),
    );
  assert.ok(
    lines.some((l) => /^crates: \d+, mods: \d+, decls: \d+/.test(l)),
    `no statistics in:\n${(r.stdout + r.stderr).slice(-3000)}`,
  );
  return lines;
}

for (const suite of SUITES) {
  test(`${suite.crate} (${suite.kind}): its own suite natively and after macrobox patch`, { timeout: 900_000 }, () => {
    const dir = join(scratch, suite.crate);
    copyCrate(suite, dir);
    const started = Date.now();
    const lap = (what: string) => console.log(`# ${suite.crate}: ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const nativeTarget = join(dir, "target-native");
    const native = cargoTest(dir, suite, nativeTarget);
    lap("native suite");
    assert.ok(native.outcomes.length > 0, `native: no test ran\n${native.stderr.slice(-4000)}`);
    // The check below can fail: natively the crate's macros are compiled as dylibs from their sources.
    assert.ok(
      macroDylibs(nativeTarget).some((d) => !d.root.includes("/patch/shims/")),
      "natively a proc-macro crate is compiled",
    );

    macrobox(["patch"], dir);
    lap("macrobox patch");
    const patchedTarget = join(dir, "target-patched");
    const patched = cargoTest(dir, suite, patchedTarget);
    lap("patched suite");

    assert.deepEqual(patched.outcomes, native.outcomes, `test outcomes; patched errors and stderr:\n${patched.stderr.slice(0, 6000)}`);
    assert.equal(patched.status, native.status);
    assert.deepEqual(patched.actual, native.actual, "trybuild's actual compile-fail output, byte for byte");
    assert.deepEqual(patched.wip, native.wip, "trybuild's output for cases without an expected file");
    for (const a of patched.artifacts.filter((a) => a.kinds.includes("proc-macro")))
      assert.match(a.id, /\/patch\/shims\//, `the patched build compiled ${a.name} natively (${a.id})`);
    for (const d of macroDylibs(patchedTarget)) assert.match(d.root, /\/patch\/shims\//, `${d.dylib} is a native proc-macro dylib from ${d.root}`);

    console.log(
      `# ${suite.crate}: ${native.outcomes.length} outcomes (${native.outcomes.filter((o) => / ok$/.test(o)).length} ok), ${native.actual.size} trybuild cases whose output is not the crate's expected file, status ${native.status}`,
    );
  });
}

test("rust-analyzer analysis-stats over the suites' crates: the native server's statistics with macrobox-proc-macro-srv", { timeout: 900_000 }, () => {
  mkdirSync(raWorkspace);
  for (const suite of SUITES) copyCrate(suite, join(raWorkspace, suite.crate));
  writeFileSync(join(raWorkspace, "Cargo.toml"), `[workspace]\nmembers = ${JSON.stringify(SUITES.map((s) => s.crate))}\n`);
  const started = Date.now();
  const native = analysisStats(raWorkspace, ["--proc-macro-srv", PROC_MACRO_SRV]);
  const ours = analysisStats(raWorkspace, ["--proc-macro-srv", OUR_SERVER]);
  const disabled = analysisStats(raWorkspace, ["--disable-proc-macros"]);
  console.log(`# rust-analyzer: ${((Date.now() - started) / 1000).toFixed(1)} s; ${native.join("; ")}`);
  assert.deepEqual(ours, native, "analysis-stats with macrobox-proc-macro-srv");
  assert.notDeepEqual(disabled, native, "analysis-stats without proc macros differs (the comparison measures expansion)");
});
