// Build scripts confined under `macrobox patch` (issue 21's first slice, for issue 17): the patch's
// configuration sets `build.rustc-wrapper` to a native wrapper (build-script-wrapper.rs, std-only,
// compiled here once and cached by content hash). For a build-script compile it puts a launcher in
// place of the binary, which runs the real build script in bubblewrap with os-sandbox.ts's policy;
// every other rustc call is exec'd as is, through the user's own wrapper (sccache) when one was
// configured at patch time.

import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { SANDBOX_HOME, SYSTEM_READ_ONLY, realHome, registryRoots, sandboxBaseArgs, type Toolchain } from "../builder/index.js";
import { PatchError } from "./patch-error.js";

const RUNTIME = readFileSync(new URL("./build-script-wrapper.rs", import.meta.url), "utf8");
export const WRAPPER_NAME = "macrobox-rustc-wrapper";

/** The rustc wrapper the user had configured when patching: chained by ours, or in the way of ours. */
export interface UserWrapper {
  /** The command line to chain (argv before rustc), or null for none. */
  chained: string[] | null;
  /** Where it came from (for the report). */
  origin: string | null;
  /** The workspace's own `.cargo/config.toml` sets one: its keys win over the patch's included file. */
  conflict: string | null;
  /** `RUSTC_WRAPPER` / `CARGO_BUILD_RUSTC_WRAPPER` are set: while they are when cargo runs, cargo uses them, not ours. */
  notes: string[];
}

function cargoHome(env: NodeJS.ProcessEnv): string {
  return env.CARGO_HOME || join(env.HOME ?? "", ".cargo");
}

/** `build.rustc-wrapper` of one cargo config file, resolved as cargo does (a path with a slash is relative to the directory holding `.cargo`). */
function configWrapper(file: string): string | null | undefined {
  if (!existsSync(file)) return undefined;
  let parsed: { build?: { "rustc-wrapper"?: unknown } };
  try {
    parsed = parseToml(readFileSync(file, "utf8")) as typeof parsed;
  } catch (e) {
    throw new PatchError(`${file} is not valid TOML: ${(e as Error).message}`);
  }
  const value = parsed.build?.["rustc-wrapper"];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new PatchError(`${file}: build.rustc-wrapper must be a string`);
  if (value === "") return null; // cargo: an empty string means no wrapper
  return value.includes("/") && !isAbsolute(value) ? resolve(dirname(dirname(file)), value) : value;
}

/**
 * Finds the user's rustc wrapper as cargo would for a build in `root`: the environment
 * (`RUSTC_WRAPPER`, `CARGO_BUILD_RUSTC_WRAPPER`), then the config files from `root` up to `/`, then
 * `$CARGO_HOME/config.toml`. Not detected: `--config` on cargo's command line and
 * `RUSTC_WORKSPACE_WRAPPER` (cargo passes the latter to ours as the "rustc", which we run as is).
 */
export function userRustcWrapper(root: string, env: NodeJS.ProcessEnv = process.env): UserWrapper {
  const notes: string[] = [];
  let conflict: string | null = null;
  let found: { value: string | null; origin: string } | null = null;
  for (const name of ["RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER"]) {
    const value = env[name];
    if (value === undefined) continue;
    notes.push(
      `${name} is set (macrobox's wrapper chains it): cargo prefers the variable to the patch's configuration, so while it is set where cargo runs, build scripts run natively; unset it there`,
    );
    found ??= { value: value === "" ? null : value, origin: `$${name}` };
  }
  const files: string[] = [];
  for (let dir = root; ; dir = dirname(dir)) {
    files.push(join(dir, ".cargo", "config.toml"), join(dir, ".cargo", "config"));
    if (dirname(dir) === dir) break;
  }
  const home = cargoHome(env);
  files.push(join(home, "config.toml"), join(home, "config"));
  for (const file of files) {
    const value = configWrapper(file);
    if (value === undefined) continue;
    if (dirname(dirname(file)) === root && !file.startsWith(home + "/")) conflict = file;
    found ??= { value, origin: file };
  }
  return { chained: found?.value ? [found.value] : null, origin: found?.origin ?? null, conflict, notes };
}

/**
 * The wrapper binary for this toolchain and policy, compiled with the toolchain's rustc on first
 * use and cached under `<cacheDir>/<hash>/`, the hash covering the runtime and what it bakes in.
 */
export function buildScriptWrapper(
  toolchain: Toolchain,
  cacheDir: string,
  bwrap: string,
  chained: readonly string[] | null,
  /** The manifest directories of the workspace members macrobox sandboxes: their compiles run confined too. */
  members: readonly string[],
): string {
  const home = realHome();
  const cargoRegistry = join(cargoHome(process.env), "registry", "src");
  const readOnly = [
    ...SYSTEM_READ_ONLY,
    toolchain.rustc,
    toolchain.cargo,
    toolchain.sysroot,
    ...registryRoots(toolchain),
    ...(existsSync(cargoRegistry) ? [cargoRegistry] : []),
    ...(chained !== null && isAbsolute(chained[0]) ? [chained[0]] : []),
  ];
  const q = (s: string) => JSON.stringify(s); // a JSON string is a Rust string literal for these (no control characters)
  const list = (xs: readonly string[]) => `&[${xs.map(q).join(", ")}]`;
  const constants = (self: string) =>
    [
      "// Baked in by `macrobox patch` (src/cargo/build-scripts.ts).",
      `const BWRAP: &str = ${q(bwrap)};`,
      `const BASE_ARGS: &[&str] = ${list(sandboxBaseArgs())};`,
      `const READ_ONLY: &[&str] = ${list([...readOnly, self])};`,
      `const HIDDEN_HOME: &str = ${q(home ?? "")};`,
      `const SANDBOX_HOME: &str = ${q(SANDBOX_HOME)};`,
      `const CHAINED: &[&str] = ${list(chained ?? [])};`,
      `const SELF_PATH: &str = ${q(self)};`,
      `const MEMBERS: &[&str] = ${list(members)};`,
      "",
    ].join("\n");
  const key = createHash("sha256")
    .update(constants("") + RUNTIME + toolchain.rustc + toolchain.version)
    .digest("hex")
    .slice(0, 16);
  const dir = join(cacheDir, key);
  const binary = join(dir, WRAPPER_NAME);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const source = join(dir, `${WRAPPER_NAME}.rs`);
  // A random token, made once per binary (not part of the cache key): see INSIDE in the runtime.
  writeFileSync(source, `${constants(binary)}const INSIDE_TOKEN: &str = ${q(randomBytes(16).toString("hex"))};\n${RUNTIME}`);
  const tmp = `${binary}.tmp-${process.pid}`;
  const r = spawnSync(toolchain.rustc, ["--edition", "2021", "-C", "opt-level=2", "--crate-name", "macrobox_rustc_wrapper", "-o", tmp, source], {
    encoding: "utf8",
    env: { ...process.env, PATH: [dirname(toolchain.rustc), process.env.PATH ?? ""].join(delimiter) },
  });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new PatchError(`cannot compile macrobox's rustc wrapper (${source}) with ${toolchain.rustc}:\n${r.stderr ?? r.error?.message ?? ""}`);
  }
  renameSync(tmp, binary);
  return binary;
}

/** The bwrap binary as an absolute path (cargo runs the launcher with the build's PATH, not ours). */
export function absoluteCommand(command: string, env: NodeJS.ProcessEnv = process.env): string {
  if (command.includes("/")) return resolve(command);
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    const candidate = join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return command;
}
