// `macrobox patch` benchmark: the clean-build time (`cargo build`, dev profile, an empty target
// directory) of examples/sample-app with its native proc macros and with every one sandboxed, and
// the ratio. Prints numbers; asserts nothing.
//
//   node --import tsx bench/patch.ts [--rounds N] [--cold]
//
// The patched builds use modules already built and cached (`macrobox patch` ran once before): a
// "cold host" build starts its own host (a fresh socket), a "warm host" build finds the previous
// build's host still running. `--cold` also times the first use from an empty macrobox cache:
// `macrobox patch` building std for the target and every macro crate's module, then the build.
// Native and patched builds alternate, each on its own copy of the sample; crates-io comes from
// the builder's local directory source (offline). macrobox and its host run from the sources
// under tsx, whose start-up an installed package does not pay.

import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findToolchain } from "../src/builder/index.js";
import { patchUserEnv } from "../test/support/cargo-home.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" }, cold: { type: "boolean", default: false } } });
const rounds = Number(values.rounds);
const repo = fileURLToPath(new URL("..", import.meta.url));
const toolchain = findToolchain();

const scratch = mkdtempSync(join(tmpdir(), "macrobox-bench-patch-"));
// The user's macrobox directories, empty: the sample's grants count once `macrobox trust` runs in it.
const baseEnv: NodeJS.ProcessEnv = { ...patchUserEnv(scratch, toolchain), RUSTC: toolchain.rustc, MACROBOX_HOST_IDLE_MS: "5000" };
delete baseEnv.SAMPLE_BUILD_LABEL;

/** A copy of the examples; returns the sample's directory. */
function copy(name: string): string {
  const dir = join(scratch, name);
  cpSync(join(repo, "examples"), dir, { recursive: true, filter: (p) => !p.includes("/target") });
  return join(dir, "sample-app");
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): { seconds: number; stdout: string } {
  const start = performance.now();
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} in ${cwd} failed:\n${r.stderr}`);
  return { seconds, stdout: r.stdout };
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

  if (values.cold) {
    // First use: an empty macrobox cache, so std for the target and every module are built.
    const coldApp = copy("cold");
    run(toolchain.cargo, ["generate-lockfile", "--offline"], coldApp, baseEnv);
    const env = { ...baseEnv, MACROBOX_CACHE: join(scratch, "empty-cache"), MACROBOX_HOST_SOCKET: join(scratch, "host-cold.sock") };
    macrobox(["trust"], coldApp, env);
    const first = macrobox(["patch", "-q"], coldApp, env);
    const build = cleanBuild(coldApp, env);
    const total = first.seconds + build.seconds;
    console.log(
      `from an empty macrobox cache: macrobox patch ${first.seconds.toFixed(2)} s (std and every module built) + clean build ${build.seconds.toFixed(2)} s = ${total.toFixed(2)} s (ratio to native ${(total / n).toFixed(2)}×)`,
    );
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
