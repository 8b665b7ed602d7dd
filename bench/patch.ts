// `macrobox patch` benchmark: the clean-build time (`cargo build`, dev profile, an empty target
// directory) of examples/sample-app with its native proc macros and with every one sandboxed, and
// the ratio. Prints numbers; asserts nothing.
//
//   node --import tsx bench/patch.ts [--rounds N] [--cold] [--incremental] [--suite] [--all]
//
// What users run all day, each printing native, patched and the ratio (native and patched
// alternate within a round, so machine noise falls on both; compare the ratios):
// - `--incremental`: a one-line change (a line inserted at the top) in a module full of derives (the sample with 120 generated
//   items deriving serde's Serialize and Deserialize with attributes and thiserror's Error), then
//   `cargo build`: rustc compiles the crate again and expands every macro in it again. Each patched
//   rebuild also prints how many expansions the host served and how many of them the expansion
//   cache answered (from the host's log, `served N expansions (M from the expansion cache)`); the
//   shims answer the rest from their index (src/patch/answers.ts), and a third copy, patched with
//   the index off (MACROBOX_SHIM_ANSWERS=off), shows what it saves. Then the expansion phase alone: rustc's `expand_crate` time (`-Z time-passes`, RUSTC_BOOTSTRAP=1)
//   of the library after the same edit, native against patched.
// - `--suite`: `cargo test` of a large real crate's own suite from the registry
//   (/usr/share/cargo/registry: thiserror 1.0.38, whose tests derive Error some 200 times), from an
//   empty target directory.
// - `--cold`: first use from an empty macrobox cache, split into its parts: std for the target,
//   each macro crate's module (bench/patch-parts.ts), then the clean build.
//
// The patched builds use modules already built and cached (`macrobox patch` ran once before): a
// "cold host" build starts its own host (a fresh socket), a "warm host" build finds the previous
// build's host still running. `--cold` also times the first use from an empty macrobox cache:
// `macrobox patch` building std for the target and every macro crate's module, then the build.
// Native and patched builds alternate, each on its own copy of the sample; crates-io comes from
// the builder's local directory source (offline). macrobox and its host run from the sources
// under tsx, whose start-up an installed package does not pay.

import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findToolchain } from "../src/builder/index.js";
import { patchUserEnv } from "../test/support/cargo-home.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    cold: { type: "boolean", default: false },
    incremental: { type: "boolean", default: false },
    suite: { type: "boolean", default: false },
    all: { type: "boolean", default: false },
  },
});
if (values.all) values.cold = values.incremental = values.suite = true;
const rounds = Number(values.rounds);
const repo = fileURLToPath(new URL("..", import.meta.url));
const toolchain = findToolchain();

const scratch = mkdtempSync(join(tmpdir(), "macrobox-bench-patch-"));
// The user's macrobox directories, empty: the sample's grants count once `macrobox trust` runs in it.
// A runtime directory of its own: the socket the shims bake in (and the host's log and answer index) is in it.
const runtime = join(scratch, "run");
mkdirSync(runtime, { mode: 0o700 });
const baseEnv: NodeJS.ProcessEnv = { ...patchUserEnv(scratch, toolchain), RUSTC: toolchain.rustc, MACROBOX_HOST_IDLE_MS: "5000", XDG_RUNTIME_DIR: runtime };
delete baseEnv.SAMPLE_BUILD_LABEL;

/** A copy of the examples; returns the sample's directory. */
function copy(name: string): string {
  const dir = join(scratch, name);
  cpSync(join(repo, "examples"), dir, { recursive: true, filter: (p) => !p.includes("/target") });
  return join(dir, "sample-app");
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): { seconds: number; stdout: string; stderr: string } {
  const start = performance.now();
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} in ${cwd} failed:\n${r.stderr}`);
  return { seconds, stdout: r.stdout, stderr: r.stderr };
}

const macrobox = (args: string[], cwd: string, env: NodeJS.ProcessEnv) =>
  run(process.execPath, ["--import", import.meta.resolve("tsx"), join(repo, "src/cli/run.ts"), ...args], cwd, env);

let builds = 0;
/** A clean `cargo build`: its time and how many units cargo compiled. */
function cleanBuild(app: string, env: NodeJS.ProcessEnv): { seconds: number; units: number } {
  const target = join(scratch, `target-${builds++}`);
  const r = run(toolchain.cargo, ["build", "--message-format=json"], app, { ...env, CARGO_TARGET_DIR: target });
  rmSync(target, { recursive: true, force: true });
  const units = r.stdout.split("\n").filter((l) => l.includes('"reason":"compiler-artifact"')).length;
  return { seconds: r.seconds, units };
}

const REGISTRY = "/usr/share/cargo/registry";
const SUITE_CRATE = "thiserror-1.0.38";
const DERIVE_ITEMS = 120;

/**
 * Adds `src/derives.rs` to a sample copy: `DERIVE_ITEMS` items of the shapes application code
 * derives on (structs with serde attributes, tagged enums, generics, error enums); returns `app`.
 */
function withDerives(app: string): string {
  const items: string[] = ["use serde::{Deserialize, Serialize};", ""];
  for (let i = 0; i < DERIVE_ITEMS; i++) {
    if (i % 4 === 0)
      items.push(
        `#[derive(Debug, Clone, Serialize, Deserialize)]\n#[serde(rename_all = "camelCase")]\npub struct Record${i} {\n    pub id: u64,\n    #[serde(default)]\n    pub display_name: Option<String>,\n    #[serde(skip_serializing_if = "Vec::is_empty", default)]\n    pub tags: Vec<String>,\n    pub score: f64,\n    #[serde(rename = "kind")]\n    pub kind_of: u8,\n}\n`,
      );
    else if (i % 4 === 1)
      items.push(
        `#[derive(Debug, Clone, Serialize, Deserialize)]\n#[serde(tag = "type", rename_all = "snake_case")]\npub enum Event${i} {\n    Created { id: u64, by: String },\n    Updated { id: u64, fields: Vec<String> },\n    Deleted { id: u64 },\n    Ping,\n}\n`,
      );
    else if (i % 4 === 2)
      items.push(
        `#[derive(Debug, Serialize, Deserialize)]\npub struct Page${i}<T>\nwhere\n    T: Clone,\n{\n    pub items: Vec<T>,\n    pub next: Option<String>,\n    #[serde(default)]\n    pub total: u64,\n}\n`,
      );
    else
      items.push(
        `#[derive(Debug, thiserror::Error)]\npub enum Error${i} {\n    #[error("not found: {0}")]\n    NotFound(String),\n    #[error("invalid {field}: {reason}")]\n    Invalid { field: String, reason: String },\n    #[error(transparent)]\n    Io(#[from] std::io::Error),\n}\n`,
      );
  }
  writeFileSync(join(app, "src", "derives.rs"), items.join("\n"));
  const lib = join(app, "src", "lib.rs");
  writeFileSync(lib, readFileSync(lib, "utf8") + "\npub mod derives;\n");
  return app;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const nativeApp = copy("native");
  const patchedApp = copy("patched");
  // Lock files and the patch (modules cached: built now if they were not).
  run(toolchain.cargo, ["generate-lockfile", "--offline"], nativeApp, baseEnv);
  run(toolchain.cargo, ["generate-lockfile", "--offline"], patchedApp, baseEnv);
  macrobox(["trust"], patchedApp, baseEnv);
  const patchRun = macrobox(["patch", "-q"], patchedApp, baseEnv);
  const reused = (patchRun.stdout.match(/module reused from the cache/g) ?? []).length;
  console.log(`macrobox patch: ${patchRun.seconds.toFixed(2)} s (${reused} of the sample's macro crates reused from the cache)`);
  console.log(`toolchain ${toolchain.release}; ${rounds} rounds; times in seconds; each a clean \`cargo build\` (dev profile)`);

  const times = { native: [] as number[], cold: [] as number[], warm: [] as number[] };
  const units = { native: 0, patched: 0 };
  for (let round = 1; round <= rounds; round++) {
    const native = cleanBuild(nativeApp, baseEnv);
    // A socket of its own: this build starts the host; the next one finds it running.
    const socket = join(scratch, `host-${round}.sock`);
    const cold = cleanBuild(patchedApp, { ...baseEnv, MACROBOX_HOST_SOCKET: socket });
    const warm = cleanBuild(patchedApp, { ...baseEnv, MACROBOX_HOST_SOCKET: socket });
    times.native.push(native.seconds);
    times.cold.push(cold.seconds);
    times.warm.push(warm.seconds);
    units.native = native.units;
    units.patched = cold.units;
    console.log(
      `round ${round}: native ${native.seconds.toFixed(2)}   patched, cold host ${cold.seconds.toFixed(2)}   patched, warm host ${warm.seconds.toFixed(2)}`,
    );
  }
  const n = median(times.native);
  const c = median(times.cold);
  const w = median(times.warm);
  console.log(`units compiled: native ${units.native}, patched ${units.patched}`);
  console.log(
    `median clean build: native ${n.toFixed(2)} s, patched ${c.toFixed(2)} s (cold host; ratio ${(c / n).toFixed(2)}×), ${w.toFixed(2)} s (warm host; ratio ${(w / n).toFixed(2)}×)`,
  );

  if (values.incremental) {
    // Copies with the generated module, built once (so cargo has everything but the crate): native,
    // patched, and patched with the shims' answer index off (every expansion asks the host), the
    // last two one patch's shims and one host (the socket the shims have baked in, whose index
    // they read: src/patch/answers.ts).
    const apps = { native: withDerives(copy("incr-native")), patched: withDerives(copy("incr-patched")), hostOnly: withDerives(copy("incr-host-only")) };
    for (const app of Object.values(apps)) run(toolchain.cargo, ["generate-lockfile", "--offline"], app, baseEnv);
    for (const app of [apps.patched, apps.hostOnly]) {
      macrobox(["trust"], app, baseEnv);
      macrobox(["patch", "-q"], app, baseEnv);
    }
    const env = { ...baseEnv, MACROBOX_HOST_IDLE_MS: "600000" };
    type Side = keyof typeof apps;
    const sideEnv = (side: Side) => (side === "hostOnly" ? { ...env, MACROBOX_SHIM_ANSWERS: "off" } : env);
    const targets = { native: join(scratch, "target-incr-native"), patched: join(scratch, "target-incr-patched"), hostOnly: join(scratch, "target-incr-host") };
    const build = (side: Side) => run(toolchain.cargo, ["build"], apps[side], { ...sideEnv(side), CARGO_TARGET_DIR: targets[side] }).seconds;
    const hostDir = join(runtime, "macrobox");
    let logRead = 0;
    /** The host's summary lines since the last call (it writes one a moment after its last expansion). */
    const served = async () => {
      await new Promise((done) => setTimeout(done, 1000));
      const logs = existsSync(hostDir) ? readdirSync(hostDir).filter((n) => n.endsWith(".sock.log")) : [];
      const text = logs.length === 1 ? readFileSync(join(hostDir, logs[0]), "utf8") : "";
      const fresh = text.slice(logRead);
      logRead = text.length;
      const counts = { expansions: 0, fromCache: 0 };
      for (const m of fresh.matchAll(/served (\d+) expansions \((\d+) from the expansion cache\)/g)) {
        counts.expansions += Number(m[1]);
        counts.fromCache += Number(m[2]);
      }
      return counts;
    };
    build("native");
    build("patched");
    build("hostOnly");
    await served();
    const orders: Side[][] = [
      ["native", "patched", "hostOnly"],
      ["patched", "hostOnly", "native"],
      ["hostOnly", "native", "patched"],
    ];
    const t = { native: [] as number[], patched: [] as number[], hostOnly: [] as number[] };
    for (let round = 1; round <= Math.max(rounds, 3); round++) {
      const counts = { patched: { expansions: 0, fromCache: 0 }, hostOnly: { expansions: 0, fromCache: 0 } };
      for (const side of orders[round % 3]) {
        // A line inserted above the items: every one of them moves down a line (an edit at the end would move none).
        const derives = join(apps[side], "src", "derives.rs");
        writeFileSync(derives, `// edit ${round} above\n` + readFileSync(derives, "utf8"));
        t[side].push(build(side));
        if (side !== "native") counts[side] = await served();
      }
      console.log(
        `incremental round ${round}: native ${t.native.at(-1)!.toFixed(2)}   patched ${t.patched.at(-1)!.toFixed(2)} (the host served ${counts.patched.expansions}, ${counts.patched.fromCache} from its cache)   patched, index off ${t.hostOnly.at(-1)!.toFixed(2)} (the host served ${counts.hostOnly.expansions}, ${counts.hostOnly.fromCache} from its cache)`,
      );
    }
    // The expansion phase alone (rustc's `-Z time-passes`, `expand_crate`, of the library after the same kind of
    // edit): a whole rebuild moves by ±0.3 s between rounds, as much as the macros' share of it.
    const expandPhase = (side: Side, round: number) => {
      const derives = join(apps[side], "src", "derives.rs");
      writeFileSync(derives, `// phase edit ${round} above\n` + readFileSync(derives, "utf8"));
      const r = run(toolchain.cargo, ["rustc", "--lib", "--", "-Z", "time-passes"], apps[side], {
        ...sideEnv(side),
        RUSTC_BOOTSTRAP: "1",
        CARGO_TARGET_DIR: targets[side],
      });
      const seconds = /time:\s+([\d.]+);[^\n]*\texpand_crate\n/.exec(r.stderr)?.[1];
      if (seconds === undefined) throw new Error(`no expand_crate time in rustc's -Z time-passes output:\n${r.stderr.slice(0, 2000)}`);
      return Number(seconds);
    };
    for (const side of orders[0]) expandPhase(side, 0);
    const phase = { native: [] as number[], patched: [] as number[], hostOnly: [] as number[] };
    for (let round = 1; round <= Math.max(rounds, 3); round++) for (const side of orders[round % 3]) phase[side].push(expandPhase(side, round));
    const ratio = (xs: number[], base: number[]) => (median(xs) / median(base)).toFixed(2);
    console.log(
      `expansion phase of the library's rebuild (expand_crate, median of ${phase.native.length}): native ${median(phase.native).toFixed(3)} s, patched ${median(phase.patched).toFixed(3)} s (ratio ${ratio(phase.patched, phase.native)}×), patched with the index off ${median(phase.hostOnly).toFixed(3)} s (ratio ${ratio(phase.hostOnly, phase.native)}×)`,
    );
    console.log(
      `median incremental build after a one-line change (${DERIVE_ITEMS} items with derives): native ${median(t.native).toFixed(2)} s, patched ${median(t.patched).toFixed(2)} s (ratio ${ratio(t.patched, t.native)}×), patched with the index off ${median(t.hostOnly).toFixed(2)} s (ratio ${ratio(t.hostOnly, t.native)}×)`,
    );
  }

  if (values.suite) {
    // A real crate's own test suite: the same copy, native then patched, each from an empty target directory.
    const suite = join(scratch, "suite", SUITE_CRATE);
    cpSync(join(REGISTRY, SUITE_CRATE), suite, { recursive: true });
    rmSync(join(suite, ".cargo-checksum.json"), { force: true });
    run(toolchain.cargo, ["generate-lockfile", "--offline"], suite, baseEnv);
    const nativeCopy = join(scratch, "suite-native");
    cpSync(suite, nativeCopy, { recursive: true });
    macrobox(["trust"], suite, baseEnv);
    macrobox(["patch", "-q"], suite, baseEnv);
    const env = { ...baseEnv, MACROBOX_HOST_SOCKET: join(scratch, "host-suite.sock"), MACROBOX_HOST_IDLE_MS: "600000" };
    const cargoTest = (dir: string, tag: string) => {
      const target = join(scratch, `target-suite-${tag}`);
      const r = run(toolchain.cargo, ["test", "--offline"], dir, { ...env, CARGO_TARGET_DIR: target });
      rmSync(target, { recursive: true, force: true });
      const passed = [...r.stdout.matchAll(/test result: ok\. (\d+) passed/g)].reduce((n, m) => n + Number(m[1]), 0);
      return { seconds: r.seconds, passed };
    };
    const t = { native: [] as number[], patched: [] as number[] };
    let passed = { native: 0, patched: 0 };
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 0 ? (["patched", "native"] as const) : (["native", "patched"] as const);
      for (const side of order) {
        const r = cargoTest(side === "native" ? nativeCopy : suite, `${side}-${round}`);
        t[side].push(r.seconds);
        passed = { ...passed, [side]: r.passed };
      }
      console.log(`cargo test round ${round}: native ${t.native.at(-1)!.toFixed(2)}   patched ${t.patched.at(-1)!.toFixed(2)}`);
    }
    const nm = median(t.native);
    const pm = median(t.patched);
    console.log(
      `median clean \`cargo test\` of ${SUITE_CRATE}'s own suite (${passed.native} tests passed natively, ${passed.patched} patched): native ${nm.toFixed(2)} s, patched ${pm.toFixed(2)} s (ratio ${(pm / nm).toFixed(2)}×)`,
    );
  }

  if (values.cold) {
    // First use: an empty macrobox cache, so std for the target and every module are built.
    const coldApp = copy("cold");
    run(toolchain.cargo, ["generate-lockfile", "--offline"], coldApp, baseEnv);
    const env = { ...baseEnv, MACROBOX_CACHE: join(scratch, "empty-cache"), MACROBOX_HOST_SOCKET: join(scratch, "host-cold.sock") };
    macrobox(["trust"], coldApp, env);
    const first = run(process.execPath, ["--import", import.meta.resolve("tsx"), join(repo, "bench/patch-parts.ts")], coldApp, env);
    const parts = JSON.parse(first.stdout.trim().split("\n").at(-1)!) as { std: number; modules: Array<{ crate: string; seconds: number }>; total: number };
    const build = cleanBuild(coldApp, env);
    const total = first.seconds + build.seconds;
    console.log(`from an empty macrobox cache (first use), in parts:`);
    console.log(`  std for the target (within the first module's build; at least) ${parts.std.toFixed(2)} s`);
    for (const m of parts.modules) console.log(`  module ${m.crate.padEnd(46)} ${m.seconds.toFixed(2)} s${m === parts.modules[0] ? " (std included)" : ""}`);
    console.log(`  macrobox patch in all (with node's start)              ${first.seconds.toFixed(2)} s`);
    console.log(`  the clean build                                         ${build.seconds.toFixed(2)} s`);
    console.log(`  total ${total.toFixed(2)} s; native clean build ${n.toFixed(2)} s (ratio ${(total / n).toFixed(2)}×)`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
