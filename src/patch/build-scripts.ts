// Build scripts confined under `macrobox patch` (issue 21's first slice, for issue 17): the patch's
// configuration sets `build.rustc-wrapper` to a native wrapper (build-script-wrapper.rs, std-only,
// compiled here once and cached by content hash). For a build-script compile it puts a launcher in
// place of the binary, which runs the real build script in bubblewrap with os-sandbox.ts's policy;
// every other rustc call is exec'd as is, through the user's own wrapper (sccache) when one was
// configured at patch time.

import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { type Toolchain } from "../builder/index.js";
import { SANDBOX_HOME, SYSTEM_READ_ONLY, realHome, sandboxBaseArgs } from "../builder/os-sandbox.js";
import { registryRoots } from "../builder/registry.js";
import { PatchError } from "./patch-error.js";
import { parseBuildCapabilities, type BuildCapabilities, type BuildGrants } from "../node/grants.js";
import type { BuildScriptPackage } from "./metadata.js";

const RUNTIME = readFileSync(new URL("./build-script-wrapper.rs", import.meta.url), "utf8") + readFileSync(new URL("./nofollow.rs", import.meta.url), "utf8");
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
  /** The workspace (its run log), the user's settings file (named in hints), and the packages' grants. */
  policy: { workspace: string; userConfig: string; scripts: readonly BuildScriptGrant[] },
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
      "// Baked in by `macrobox patch` (src/patch/build-scripts.ts).",
      `const BWRAP: &str = ${q(bwrap)};`,
      `const BASE_ARGS: &[&str] = ${list(sandboxBaseArgs())};`,
      `const READ_ONLY: &[&str] = ${list([...readOnly, self])};`,
      `const HIDDEN_HOME: &str = ${q(home ?? "")};`,
      `const SANDBOX_HOME: &str = ${q(SANDBOX_HOME)};`,
      `const CHAINED: &[&str] = ${list(chained ?? [])};`,
      `const SELF_PATH: &str = ${q(self)};`,
      `const MEMBERS: &[&str] = ${list(members)};`,
      `const WORKSPACE: &str = ${q(policy.workspace)};`,
      `const USER_CONFIG: &str = ${q(policy.userConfig)};`,
      `const POLICIES: &[Policy] = &[${policy.scripts
        .filter((g) => g.granted.network || g.granted.read.length + g.granted.write.length + g.granted.env.length + g.ungranted.length > 0)
        .map(
          (g) =>
            `Policy { dir: ${q(g.dir)}, package: ${q(g.name)}, network: ${g.granted.network}, read: ${list(g.granted.read)}, write: ${list(g.granted.write)}, env: ${list(g.granted.env)}, ungranted: ${list(g.ungranted)} }`,
        )
        .join(", ")}];`,
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

/** One package's build script: what it asks for, what the user granted, and what of the request is not granted. */
export interface BuildScriptGrant {
  name: string;
  version: string;
  /** The package's directory (real path: the wrapper finds the package by its build script's source). */
  dir: string;
  requested: BuildCapabilities;
  granted: BuildCapabilities;
  /** Requested but not granted, as `--grant-build` items (`network`, `read=/x`, `write=/y`, `env=NAME`). */
  ungranted: string[];
}

const none = (): BuildCapabilities => ({ network: false, read: [], write: [], env: [] });

/**
 * `--grant-build <package>:<capability>` flags: `network`, `read=<path>`, `write=<path>`, `env=<VAR>`;
 * `<package>` alone grants what its `[package.metadata.macrobox.build]` asks. By package key
 * (`-` and `_` equal); `"*"` in a list stands for the request's items of that kind.
 */
export function parseGrantBuildFlags(values: readonly string[]): BuildGrants {
  const out: BuildGrants = new Map();
  for (const v of values) {
    const colon = v.indexOf(":");
    const pkg = (colon < 0 ? v : v.slice(0, colon)).trim();
    const item = colon < 0 ? "*" : v.slice(colon + 1).trim();
    const eq = item.indexOf("=");
    const kind = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? "" : item.slice(eq + 1);
    const ok = /^[A-Za-z0-9_-]+$/.test(pkg) && (item === "*" || item === "network" || (["read", "write", "env"].includes(kind) && value !== ""));
    if (!ok)
      throw new PatchError(
        `--grant-build expects <package>:network, <package>:read=<path>, <package>:write=<path>, <package>:env=<VAR> (or <package> for all it asks), got ${JSON.stringify(v)}`,
      );
    const key = pkg.replace(/-/g, "_");
    const g = out.get(key) ?? none();
    if (item === "*") {
      // "*" in all three lists: what the package asks, the network included if it asks for it (buildScriptGrants).
      g.read.push("*");
      g.write.push("*");
      g.env.push("*");
    } else if (item === "network") g.network = true;
    else g[kind as "read" | "write" | "env"].push(value);
    out.set(key, g);
  }
  return out;
}

/**
 * Each build script's grant: the user's (their file's build-grants, then the flags), paths made
 * absolute (relative to the package's directory), `"*"` replaced by what the package asks. A
 * package's request alone grants nothing; a request that does not parse is a note.
 */
export function buildScriptGrants(packages: readonly BuildScriptPackage[], ...sources: BuildGrants[]): { scripts: BuildScriptGrant[]; notes: string[] } {
  const notes: string[] = [];
  const scripts = packages.map((p): BuildScriptGrant => {
    let requested = none();
    if (p.request !== undefined) {
      try {
        requested = parseBuildCapabilities(p.request, join(p.manifestDir, "Cargo.toml"), "[package.metadata.macrobox.build]");
      } catch (e) {
        notes.push((e as Error).message);
      }
    }
    const abs = (x: string) => (isAbsolute(x) ? resolve(x) : resolve(p.manifestDir, x));
    requested = { ...requested, read: requested.read.map(abs), write: requested.write.map(abs) };
    const granted = none();
    const key = p.name.replace(/-/g, "_");
    for (const source of sources) {
      const g = source.get(key);
      if (g === undefined) continue;
      granted.network ||= g.network || (requested.network && g.read.includes("*") && g.write.includes("*") && g.env.includes("*"));
      for (const kind of ["read", "write", "env"] as const)
        for (const item of g[kind]) granted[kind].push(...(item === "*" ? requested[kind] : [kind === "env" ? item : abs(item)]));
    }
    for (const kind of ["read", "write", "env"] as const) granted[kind] = [...new Set(granted[kind])];
    const ungranted = [
      ...(requested.network && !granted.network ? ["network"] : []),
      ...(["read", "write", "env"] as const).flatMap((kind) => requested[kind].filter((x) => !granted[kind].includes(x)).map((x) => `${kind}=${x}`)),
    ];
    let dir = p.manifestDir;
    try {
      dir = realpathSync(dir);
    } catch {
      // a package directory that is gone: its build script will not run
    }
    return { name: p.name, version: p.version, dir, requested, granted, ungranted };
  });
  return { scripts, notes };
}
