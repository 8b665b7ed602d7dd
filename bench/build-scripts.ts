// Confined build scripts' cost: clean `cargo build`s (dev profile, an empty target directory) of
// test/fixtures/build-script-crates (typenum, indexmap with autocfg, ahash with version_check,
// sha2-asm compiling assembly through cc: four build scripts, and their build-dependencies) with
// `macrobox patch`'s rustc wrapper confining every build script, against the same workspace
// unpatched. The fixture has no proc macros, so the only difference is the wrapper: a native exec
// per rustc call, bubblewrap for each build-script compile and run. Prints numbers; asserts nothing.
//
//   node --import tsx bench/build-scripts.ts [--rounds N]
//
// The two builds alternate, each on its own copy; crates-io comes from the builder's local
// directory source (offline). Goal (issue 21): at most 5% more.

import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findToolchain } from "../src/builder/index.js";
import { localRegistry, offlineCargoHome } from "../test/support/cargo-home.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const rounds = Number(values.rounds);
const repo = fileURLToPath(new URL("..", import.meta.url));
const toolchain = findToolchain();

const scratch = mkdtempSync(join(tmpdir(), "macrobox-bench-build-scripts-"));
const cargoHome = offlineCargoHome(join(scratch, "cargo-home"), localRegistry(toolchain));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  CARGO_HOME: cargoHome,
  CARGO_TERM_COLOR: "never",
  // The toolchain macrobox found, first on PATH: a rustup `rustc` earlier on PATH would compile the
  // unconfined crates, while inside the sandbox (home hidden) `rustc` is the system's.
  RUSTC: toolchain.rustc,
  PATH: `${join(toolchain.cargo, "..")}:${process.env.PATH}`,
  XDG_CONFIG_HOME: join(scratch, "config"),
  XDG_DATA_HOME: join(scratch, "data"),
};
delete env.RUSTC_WRAPPER;
delete env.CARGO_BUILD_RUSTC_WRAPPER;

function run(cmd: string, args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}): number {
  const start = performance.now();
  const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extra }, encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} in ${cwd} failed:\n${r.stderr}`);
  return (performance.now() - start) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const plain = join(scratch, "plain");
  const confined = join(scratch, "confined");
  for (const dir of [plain, confined]) {
    cpSync(join(repo, "test/fixtures/build-script-crates"), dir, { recursive: true });
    run(toolchain.cargo, ["generate-lockfile", "--offline"], dir);
  }
  const patchSeconds = run(process.execPath, ["--import", import.meta.resolve("tsx"), join(repo, "src/cli/run.ts"), "patch", "-q"], confined);
  console.log(`macrobox patch: ${patchSeconds.toFixed(2)} s (the wrapper compiled, or reused from the cache)`);
  console.log(`toolchain ${toolchain.release}; ${rounds} rounds; each a clean \`cargo build\` (dev profile) of test/fixtures/build-script-crates`);
  const times = { plain: [] as number[], confined: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    const target = (name: string) => ({ CARGO_TARGET_DIR: join(scratch, `target-${name}-${round}`) });
    // Alternate which goes first: the machine's other load drifts.
    const order = round % 2 === 1 ? (["plain", "confined"] as const) : (["confined", "plain"] as const);
    for (const which of order) {
      times[which].push(run(toolchain.cargo, ["build", "--offline"], which === "plain" ? plain : confined, target(which)));
      rmSync(target(which).CARGO_TARGET_DIR, { recursive: true, force: true });
    }
    console.log(`round ${round}: without the sandbox ${times.plain.at(-1)!.toFixed(2)} s   build scripts confined ${times.confined.at(-1)!.toFixed(2)} s`);
  }
  const p = median(times.plain);
  const c = median(times.confined);
  console.log(`median clean build: without ${p.toFixed(2)} s, confined ${c.toFixed(2)} s: ${((c / p - 1) * 100).toFixed(1)}% more (goal: at most 5%)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
