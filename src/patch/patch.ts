// `macrobox patch`: every proc-macro dependency of a cargo workspace replaced by a shim that runs
// its wasm module in the macrobox host, wired in through cargo configuration the command owns:
//
//   .cargo/macrobox-patch.toml   [patch] entries for the shims, [env] MACROBOX_WORKSPACE, and
//                                build.rustc-wrapper: every build script confined (build-scripts.ts)
//   .cargo/config.toml           `include`s it: created when absent, else one line is prepended
//                                (.cargo/config instead when the user has that legacy file)
//   .cargo/macrobox-undo.json    what --undo restores: the user's config.toml and Cargo.lock
//                                byte for byte (cargo rewrites the lock for the patched graph)
//   .cargo/macrobox-build-scripts.log
//                                the wrapper's line per build-script run (`--report`); --undo removes it
//
// Modules are content-addressed in the cache (`<cache>/patch/modules/<sha256>.wasm`) and shims
// are named by a hash of their files, so any project on a machine with the same bridge ABI reuses both.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { build, BuildError, findToolchain, type BuildEvent } from "../builder/index.js";
import { osSandbox } from "../builder/os-sandbox.js";
import { toolchainCache } from "../builder/cache.js";
import { effectiveGrant, readMetadata, type Capabilities, type MacroInfo } from "../index.js";
import { describeGrant } from "../sandbox/capabilities.js";
import { grantFor, loadGrants, userDirs, type UserDirs } from "../node/index.js";
import { loadBuildGrants } from "../node/trust.js";
import { MacroboxError, errorMessage } from "../errors.js";
import { buildScriptPackages, reachedMacros, usedMacroPackages, workspaceMacros, type MacroPackage } from "./metadata.js";
import { writeShim } from "./shim.js";
import { fnv1a64 } from "./protocol.js";
import { answersDir } from "./answers.js";
import { hostSocketPath } from "./host-socket.js";
import { cacheRoot } from "../node/cache-env.js";
import {
  absoluteCommand,
  buildScriptGrants,
  buildScriptWrapper,
  parseGrantBuildFlags,
  repositorySources,
  userRustcWrapper,
  type BuildScriptGrant,
} from "./build-scripts.js";
import { PatchError } from "./patch-error.js";

export const PATCH_FILE = "macrobox-patch.toml";
export const UNDO_FILE = "macrobox-undo.json";
/** Written by the build-script wrapper (build-script-wrapper.rs LOG_FILE). */
export const BUILD_LOG_FILE = "macrobox-build-scripts.log";
const INCLUDE_LINE = `include = ["${PATCH_FILE}"] # added by \`macrobox patch\`; \`macrobox patch --undo\` removes it\n`;

export interface PatchOptions {
  /** A directory inside the workspace; default the current directory. */
  cwd?: string;
  /**
   * Macro crates to keep native, by name: a crate named stays native (a workspace member the user
   * is developing, a dependency they trust); "*" keeps native any crate that cannot be sandboxed.
   */
  keepNative?: readonly string[];
  /**
   * Build natively where no OS sandbox is available (`--allow-native-build`; see `BuildOptions.allowNativeBuild`),
   * and let cargo run build scripts natively where they cannot be confined (no bubblewrap; a rustc
   * wrapper in the workspace's own .cargo/config.toml, which would win over the patch's).
   */
  allowNativeBuild?: boolean;
  onEvent?: (event: BuildEvent & { crate?: string }) => void;
  /** The user's directories, whose grants and trust store count (default: `userDirs()`). */
  dirs?: UserDirs;
  /**
   * Build the modules for every feature of every member enabled (`cargo build --all-features`):
   * a build enabling fewer uses them too (shim-runtime.rs), one enabling a feature the module
   * lacks is an error asking for `macrobox patch` again.
   */
  allFeatures?: boolean;
  /** `--grant-build <package>:<capability>`: what a build script may have beyond the sandbox's defaults (build-scripts.ts parseGrantBuildFlags). */
  grantBuild?: readonly string[];
}

export interface PatchedCrate {
  name: string;
  version: string;
  edition: string;
  status: "built" | "reused" | "native";
  /** A member of the workspace (the repository's own macro). */
  member: boolean;
  /** Why it stays native (status "native"). */
  reason?: string;
  macros: MacroInfo[];
  declared: Capabilities;
  granted: Capabilities;
  /** A note on grants beyond the declaration. */
  note: string | null;
  module?: string;
  shim?: string;
}

export interface PatchReport {
  workspace: string;
  config: string;
  crates: PatchedCrate[];
  /** What the workspace's settings file asks that is not in effect (untrusted, unsafe, env globs). */
  notes: string[];
  buildScripts: BuildScriptsReport;
}

/** Whether cargo's build scripts run confined in the patched workspace. */
export interface BuildScriptsReport {
  /** Every build script of the graph runs in bubblewrap (build-scripts.ts). */
  confined: boolean;
  /** The rustc wrapper the configuration sets, when confined. */
  wrapper: string | null;
  /** The user's own rustc wrapper it chains, and where that was found. */
  chained: string | null;
  /** Why not confined (with --allow-native-build), or what can still defeat it. */
  notes: string[];
  /** The build scripts that ask for or were granted more than the defaults. */
  grants: BuildScriptGrant[];
}

interface UndoRecord {
  format: 1;
  createdCargoDir: boolean;
  /** The config file holding the include line: "config" (the legacy name), or "config.toml" (also when absent: older records). */
  configFile?: "config" | "config.toml";
  /** The user's .cargo/config.toml (or config) (base64), or null when there was none. */
  config: string | null;
  lock: string | null;
}

/**
 * The command that starts the host: this Node, with the loader this process runs under (tsx from
 * sources), and the user's directories and cache root as this command sees them (host-main.ts: the
 * host must not take them from rustc's environment, which the repository's cargo config can set).
 */
function hostCommand(dirs: UserDirs): string[] {
  const main = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./host-main.ts" : "./host-main.js", import.meta.url));
  // A loader named by package (`--import tsx`) is resolved from here: the host runs in rustc's directory.
  const argv = process.execArgv.map((arg, i, all) =>
    (all[i - 1] === "--import" || all[i - 1] === "--loader") && !/^[./]/.test(arg) && !arg.includes(":") ? import.meta.resolve(arg) : arg,
  );
  return [process.execPath, ...argv, main, "--config-home", dirs.config, "--data-home", dirs.data, "--cache-root", cacheRoot()];
}

/**
 * The host's socket, one per host command and bridge ABI, in a directory of the user's own
 * (host-socket.ts: created and verified here, and again by the host and every shim).
 */
function socketPath(command: readonly string[], abi: string): string {
  const key = createHash("sha256")
    .update(JSON.stringify([command, abi]))
    .digest("hex")
    .slice(0, 16);
  return hostSocketPath(`host-${key}.sock`);
}

export async function patch(options: PatchOptions = {}): Promise<PatchReport> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const toolchain = findToolchain();
  // Re-patching starts from the user's own configuration.
  if (findPatchedRoot(cwd) !== null) undo({ cwd });
  const graph = workspaceMacros(toolchain.cargo, cwd, process.env, options.allFeatures ?? false);
  const { root, macros } = graph;
  const cache = join(toolchainCache(toolchain), "patch");
  const modulesDir = join(cache, "modules");
  mkdirSync(modulesDir, { recursive: true });
  const dirs = options.dirs ?? userDirs();
  const command = hostCommand(dirs);
  const decision = loadGrants({ dirs, cwd: root });
  const grants = decision.grants;

  const crates: PatchedCrate[] = [];
  const failures: string[] = [];
  const userPatches = readUserPatches(root);
  const stayNative = (m: MacroPackage) => crates.some((c) => c.status === "native" && c.name === m.name && c.version === m.version);
  // Only the macro crates the patched graph still holds: one that only sandboxed macro crates use
  // leaves it with them (reachedMacros), so one staying native brings its own back in.
  const decided = new Set<string>();
  for (;;) {
    const pkg = reachedMacros(graph, stayNative).find((m) => !decided.has(m.id));
    if (pkg === undefined) break;
    decided.add(pkg.id);
    const named = options.keepNative?.includes(pkg.name) ?? false;
    const keep = named || (options.keepNative?.includes("*") ?? false);
    const base = {
      name: pkg.name,
      version: pkg.version,
      edition: pkg.edition,
      member: pkg.member,
      macros: [],
      declared: { env: [], read: [] },
      granted: { env: [], read: [] },
      note: null,
    };
    if (named) {
      crates.push({ ...base, status: "native", reason: "named by --keep-native" });
      continue;
    }
    // The including file's keys win over macrobox's (wire): a [patch] of the user's config
    // replaces the shim's, and the macro would run natively.
    const configured = userPatches.find((u) => u.file !== join(root, "Cargo.toml") && u.name === pkg.name);
    if (configured !== undefined) {
      const reason = `your own [patch.${configured.source}] in ${configured.file} replaces it, and cargo gives a [patch] there precedence over macrobox's: move it to the workspace's Cargo.toml, or remove it`;
      if (keep) crates.push({ ...base, status: "native", reason });
      else failures.push(`${pkg.name} ${pkg.version}: ${reason}`);
      continue;
    }
    let built: { module: string; fresh: boolean; metadata: NonNullable<ReturnType<typeof readMetadata>> };
    // Hashed before the build reads them: an edit during the build shows as a stale module, never a fresh one.
    const watched = watchedSources(pkg.localDirs);
    try {
      built = await buildModule(pkg, modulesDir, options.allowNativeBuild ?? false, (e) => options.onEvent?.({ ...e, crate: pkg.name }));
    } catch (e) {
      const reason = e instanceof BuildError ? e.message.split("\n")[0] : errorMessage(e);
      if (keep) crates.push({ ...base, status: "native", reason });
      else failures.push(`${pkg.name} ${pkg.version}: ${e instanceof MacroboxError ? e.message : errorMessage(e)}`);
      continue;
    }
    const declared = built.metadata.capabilities;
    const effective = effectiveGrant(pkg.name, declared, grantFor(grants, pkg.name));
    if (!effective.ok) {
      if (keep) crates.push({ ...base, status: "native", reason: effective.error.message });
      else failures.push(`${pkg.name} ${pkg.version}: ${effective.error.message}`);
      continue;
    }
    const socket = socketPath(command, built.metadata.bridgeAbi);
    const shim = writeShim(join(cache, "shims"), {
      name: pkg.name,
      // A workspace member stays in the graph beside its shim: cargo takes two packages of one
      // name from one source only when their versions are semver-incompatible.
      version: pkg.member ? incompatibleVersion(pkg.version) : pkg.version,
      watched,
      features: { table: pkg.featureTable, optionalDependencies: pkg.optionalDependencies, built: pkg.features },
      edition: pkg.edition,
      libName: pkg.libName,
      macros: built.metadata.macros,
      module: built.module,
      crate: built.metadata.crate.name,
      socket,
      answers: answersDir(socket),
      hostCommand: command,
    });
    crates.push({
      ...base,
      status: built.fresh ? "reused" : "built",
      macros: built.metadata.macros,
      declared,
      granted: effective.grant,
      note: describeGrant(pkg.name, declared, effective.grant).note,
      module: built.module,
      shim,
    });
  }
  crates.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  const insideModules = macros
    .filter((m) => !decided.has(m.id))
    .map((m) => `${m.name} ${m.version} is used only by sandboxed macro crates (it runs while their modules are built): the patched graph does not hold it`);
  if (failures.length > 0)
    throw new PatchError(
      `cannot sandbox ${failures.length === 1 ? "a macro crate" : `${failures.length} macro crates`} (nothing was changed; \`--keep-native <crate>\` leaves one native):\n${failures.map((f) => `  ${f}`).join("\n")}`,
    );

  const members = crates
    .filter((c) => c.member && c.status !== "native")
    .map((c) => macros.find((m) => m.name === c.name && m.version === c.version)!.manifestDir);
  // A build script's grants: the user's file and --grant-build only (its package's request asks).
  const userBuildGrants = loadBuildGrants(dirs, root);
  // A bare name reaches crates.io's package only; the repository's own (path, in-repo, git) by directory.
  const scriptGrants = buildScriptGrants(
    buildScriptPackages(toolchain.cargo, root),
    repositorySources(root),
    userBuildGrants.grants,
    parseGrantBuildFlags(options.grantBuild ?? [], cwd),
  );
  const buildScripts = confineBuildScripts(toolchain, root, join(cache, "wrappers"), members, options.allowNativeBuild ?? false, {
    workspace: root,
    userConfig: userBuildGrants.file,
    scripts: scriptGrants.scripts,
  });
  buildScripts.notes.push(...scriptGrants.notes, ...userBuildGrants.notes);
  // Read from the graph as it is before wiring: in the patched one, the sandboxed crates are shims.
  const optional = optionalOnly(toolchain.cargo, root, macros, stayNative, options.allFeatures ?? false);
  const config = wire(root, crates, macros, userPatches, buildScripts.wrapper);
  unlockMembers(root, crates);
  // cargo ignores a [patch] entry it cannot use (a version requirement the shim does not meet)
  // with a warning, and the macro would run natively: the patched graph must use every shim.
  const shimsDir = join(cache, "shims");
  let used: ReturnType<typeof usedMacroPackages>;
  try {
    used = usedMacroPackages(toolchain.cargo, root, process.env, options.allFeatures ?? false);
  } catch (e) {
    undo({ cwd: root });
    throw e;
  }
  const left = used
    .filter((p) => !p.manifestDir.startsWith(shimsDir + "/"))
    .filter((p) => crates.some((c) => c.status !== "native" && c.name === p.name && c.version === p.version))
    .map((p) => `${p.name} ${p.version} (${p.manifestDir})`);
  if (left.length > 0) {
    undo({ cwd: root });
    throw new PatchError(
      `cargo does not use the sandboxed shim of ${left.join(", ")} (a dependent's version requirement excludes it; nothing was changed). \`--keep-native <crate>\` leaves it native`,
    );
  }
  // The shims resolve to the features their modules were built with (shim.ts shimFeatureTable
  // mirrors the crate's table): a difference would make every build answer "run macrobox patch again".
  const differing = used
    .filter((p) => p.manifestDir.startsWith(shimsDir + "/"))
    .flatMap((p) => {
      const c = crates.find((c) => c.shim === p.manifestDir);
      const built = c === undefined ? undefined : macros.find((m) => m.name === c.name && m.version === c.version)?.features;
      return built === undefined || sameSet(built, p.features)
        ? []
        : [`${p.name} ${p.version} (built with [${built.join(", ")}], the shim resolves to [${p.features.join(", ")}])`];
    });
  if (differing.length > 0) {
    undo({ cwd: root });
    throw new PatchError(`cargo resolves the shim of ${differing.join(", ")} to other features than its original (nothing was changed)`);
  }
  return {
    workspace: root,
    config,
    crates,
    notes: [...decision.notes, ...insideModules, ...optional],
    buildScripts,
  };
}

/**
 * The rustc wrapper that confines every build script, or why there is none: no OS sandbox here,
 * or a wrapper in the workspace's own config.toml (whose keys win over the included file's), each
 * refused unless `--allow-native-build`.
 */
function confineBuildScripts(
  toolchain: ReturnType<typeof findToolchain>,
  root: string,
  cacheDir: string,
  members: readonly string[],
  allowNative: boolean,
  policy: Parameters<typeof buildScriptWrapper>[5],
): BuildScriptsReport {
  const grants = policy.scripts.filter(
    (g) => g.granted.network || g.ungranted.length > 0 || g.granted.read.length + g.granted.write.length + g.granted.env.length > 0,
  );
  const sandbox = osSandbox();
  const user = userRustcWrapper(root);
  const chained = user.chained === null ? null : `${user.chained.join(" ")} (from ${user.origin})`;
  let problem: string | null = null;
  if (!sandbox.available) problem = `no OS sandbox is available for build scripts (${sandbox.reason})`;
  else if (user.conflict !== null)
    problem = `${user.conflict} sets build.rustc-wrapper, which would win over macrobox's (the including file's keys win): move it to $CARGO_HOME/config.toml, where macrobox chains it`;
  if (problem !== null) {
    if (!allowNative)
      throw new PatchError(
        `${problem}; cargo would run every build script natively, with your files, environment and network (nothing was changed). Pass --allow-native-build to patch anyway`,
      );
    return { confined: false, wrapper: null, chained: null, notes: [`${problem}: build scripts run natively (--allow-native-build)`], grants };
  }
  const wrapper = buildScriptWrapper(toolchain, cacheDir, absoluteCommand(sandbox.bwrap), user.chained, members, policy);
  return { confined: true, wrapper, chained, notes: [...user.notes], grants };
}

/**
 * Cargo.lock without the sandboxed workspace members and the edges to them: a locked member wins
 * over its [patch] shim, an unlocked edge resolves to the shim (the higher version). The rest of
 * the lock stays as it was (`--undo` restores the file byte for byte).
 */
function unlockMembers(root: string, crates: readonly PatchedCrate[]): void {
  const members = crates.filter((c) => c.member && c.status !== "native");
  const lockPath = join(root, "Cargo.lock");
  if (members.length === 0 || !existsSync(lockPath)) return;
  let lock: { package?: Array<{ name: string; version: string; source?: string; dependencies?: string[] }> };
  try {
    lock = parseToml(readFileSync(lockPath, "utf8")) as typeof lock;
  } catch (e) {
    throw new PatchError(`${lockPath} is not valid TOML: ${(e as Error).message}`);
  }
  const isMember = (p: { name: string; version: string; source?: string }) =>
    p.source === undefined && members.some((m) => m.name === p.name && m.version === p.version);
  const packages = (lock.package ?? []).filter((p) => !isMember(p));
  for (const p of packages) {
    p.dependencies = p.dependencies?.filter((d) => {
      const [name, version, source] = d.split(" ");
      const member = members.find((m) => m.name === name);
      if (member === undefined || source !== undefined) return true;
      // "name" alone names the only package of that name; "name version" one of several.
      return version === undefined ? packages.some((q) => q.name === name) : version !== member.version;
    });
  }
  writeFileSync(lockPath, stringifyToml({ ...lock, package: packages }) + "\n");
}

/**
 * Macro crates only members' non-default features reach: no shim patches them, so a build with
 * `--features`/`--all-features` would compile and run them natively. Named in a note (when the
 * graph with every feature resolves at all), never a failure: the default build does not use them.
 */
function optionalOnly(cargo: string, root: string, macros: readonly MacroPackage[], stayNative: (m: MacroPackage) => boolean, allFeatures: boolean): string[] {
  if (allFeatures) return [];
  let all: MacroPackage[];
  try {
    all = reachedMacros(workspaceMacros(cargo, root, process.env, true), stayNative);
  } catch {
    return [];
  }
  return all
    .filter((m) => !macros.some((p) => p.name === m.name && p.version === m.version && p.manifestDir === m.manifestDir))
    .map(
      (m) =>
        `${m.name} ${m.version} is reached only through a member's non-default feature: a build with --features/--all-features runs it natively; \`macrobox patch --all-features\` sandboxes it`,
    );
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** A version semver-incompatible with `version` (1.2.3 -> 2.0.0, 0.2.3 -> 0.3.0, 0.0.3 -> 0.0.4). */
export function incompatibleVersion(version: string): string {
  const [major, minor, patchLevel] = version.split(/[.+-]/).map(Number);
  if (major > 0) return `${major + 1}.0.0`;
  if (minor > 0) return `0.${minor + 1}.0`;
  return `0.0.${patchLevel + 1}`;
}

/**
 * The sources a path package's module is built from, with their hashes (shim.ts): Cargo.toml and
 * every .rs file under each directory, but build output, hidden entries, nested packages and the
 * top-level tests/, benches/ and examples/ (which the library does not compile).
 */
function watchedSources(dirs: readonly string[]): { path: string; hash: bigint }[] {
  const out: { path: string; hash: bigint }[] = [];
  const walk = (dir: string, top: boolean) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.name.startsWith(".") || (top && ["target", "tests", "benches", "examples"].includes(entry.name))) continue;
      if (entry.isDirectory()) {
        if (!existsSync(join(path, "Cargo.toml"))) walk(path, false);
      } else if (entry.isFile() && (entry.name.endsWith(".rs") || (top && entry.name === "Cargo.toml"))) {
        out.push({ path, hash: fnv1a64(readFileSync(path)) });
      }
    }
  };
  for (const dir of dirs) walk(dir, true);
  return out;
}

/** Builds (or reuses) the module and stores it content-addressed. */
async function buildModule(pkg: MacroPackage, modulesDir: string, allowNativeBuild: boolean, onEvent: (e: BuildEvent) => void) {
  let fresh = true;
  const tmp = join(modulesDir, `.${pkg.name}-${process.pid}.wasm`);
  const result = await build({
    crate: pkg.manifestDir,
    output: tmp,
    features: pkg.features,
    noDefaultFeatures: true,
    allowNativeBuild,
    onEvent: (e) => {
      if (e.type === "compiled" && !e.fresh) fresh = false;
      onEvent(e);
    },
  });
  const bytes = readFileSync(result.output);
  const module = join(modulesDir, `${createHash("sha256").update(bytes).digest("hex")}.wasm`);
  if (existsSync(module)) rmSync(result.output);
  else renameSync(result.output, module);
  return { module, fresh, metadata: result.metadata };
}

interface UserPatch {
  /** The file holding it, the `[patch]` table's key, the package it replaces, its `path` (absolute) if any. */
  file: string;
  source: string;
  name: string;
  path: string | null;
}

/**
 * The workspace's own `[patch]` entries: its Cargo.toml's, and its .cargo/config.toml's (or legacy config's; paths
 * there are relative to the directory holding .cargo, as cargo reads them).
 */
function readUserPatches(root: string): UserPatch[] {
  const out: UserPatch[] = [];
  for (const [file, base] of [
    [join(root, "Cargo.toml"), root],
    [join(root, ".cargo", configFileName(join(root, ".cargo"))), root],
  ]) {
    if (!existsSync(file)) continue;
    let table: { patch?: Record<string, Record<string, { path?: string; package?: string }>> };
    try {
      table = parseToml(readFileSync(file, "utf8")) as typeof table;
    } catch (e) {
      throw new PatchError(`${file} is not valid TOML: ${(e as Error).message}`);
    }
    for (const [source, entries] of Object.entries(table.patch ?? {}))
      for (const [key, entry] of Object.entries(entries))
        out.push({ file, source, name: entry.package ?? key, path: typeof entry.path === "string" ? resolve(base, entry.path) : null });
  }
  return out;
}

/**
 * The `[patch]` table key for a package's source. A package the workspace's Cargo.toml already
 * patches in from a path is patched again under the user's key (a [patch] in cargo config takes
 * precedence over one in a manifest); the path source itself is no source anyone depends on.
 */
function patchSource(pkg: MacroPackage, userPatches: readonly UserPatch[]): string {
  const patched = userPatches.find((u) => u.name === pkg.name && u.path !== null && u.path === pkg.manifestDir);
  if (pkg.source === null && patched !== undefined) return patched.source;
  if (pkg.source === null) return pathToFileURL(pkg.manifestDir).href;
  if (pkg.source === "registry+https://github.com/rust-lang/crates.io-index") return "crates-io";
  // A git source is `git+<url>?branch=..#<rev>`: cargo keys [patch] by the URL alone.
  if (pkg.source.startsWith("git+")) return pkg.source.slice(4).replace(/[?#].*$/, "");
  return pkg.source.replace(/^(registry|sparse)\+/, "").replace(/#.*$/, "");
}

function wire(root: string, crates: PatchedCrate[], macros: MacroPackage[], userPatches: readonly UserPatch[], rustcWrapper: string | null): string {
  const cargoDir = join(root, ".cargo");
  // cargo reads .cargo/config, the legacy name, instead of config.toml when both exist: the
  // include must go where cargo looks.
  const configFile = configFileName(cargoDir);
  const configPath = join(cargoDir, configFile);
  const lockPath = join(root, "Cargo.lock");
  const createdCargoDir = !existsSync(cargoDir);
  const userConfig = existsSync(configPath) ? readFileSync(configPath) : null;
  if (userConfig !== null) {
    let parsed: Record<string, unknown>;
    try {
      parsed = parseToml(userConfig.toString("utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new PatchError(`${configPath} is not valid TOML: ${(e as Error).message}`);
    }
    if ("include" in parsed)
      throw new PatchError(`${configPath} already has an \`include\` key: add "${PATCH_FILE}" to it by hand, or remove it, and run \`macrobox patch\` again`);
  }
  const record: UndoRecord = {
    format: 1,
    configFile,
    createdCargoDir,
    config: userConfig?.toString("base64") ?? null,
    lock: existsSync(lockPath) ? readFileSync(lockPath).toString("base64") : null,
  };

  const bySource = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const c of crates) {
    if (c.status === "native") continue;
    const pkg = macros.find((m) => m.name === c.name && m.version === c.version)!;
    const source = patchSource(pkg, userPatches);
    // Two versions of one crate from one source need two entries: the second under another key.
    const key = seen.has(`${source}\0${c.name}`) ? `${c.name}-macrobox-${c.version}` : c.name;
    seen.add(`${source}\0${c.name}`);
    const entry = `${JSON.stringify(key)} = { path = ${JSON.stringify(c.shim)}${key === c.name ? "" : `, package = ${JSON.stringify(c.name)}`} }`;
    bySource.set(source, [...(bySource.get(source) ?? []), entry]);
  }
  const lines = [
    "# Written by `macrobox patch`: every proc macro below runs sandboxed in macrobox.",
    "# `macrobox patch --undo` removes this file and restores .cargo/config.toml and Cargo.lock.",
    "",
    "[env]",
    `MACROBOX_WORKSPACE = ${JSON.stringify(root)}`,
  ];
  if (rustcWrapper !== null)
    lines.push(
      "",
      "# Every build script runs confined (bubblewrap); every other rustc call passes through.",
      "[build]",
      `rustc-wrapper = ${JSON.stringify(rustcWrapper)}`,
    );
  for (const [source, entries] of bySource) lines.push("", `[patch.${source === "crates-io" ? source : JSON.stringify(source)}]`, ...entries);

  mkdirSync(cargoDir, { recursive: true });
  writeFileSync(join(cargoDir, UNDO_FILE), JSON.stringify(record) + "\n");
  writeFileSync(join(cargoDir, PATCH_FILE), lines.join("\n") + "\n");
  writeFileSync(configPath, userConfig === null ? INCLUDE_LINE : Buffer.concat([Buffer.from(INCLUDE_LINE), userConfig]));
  return join(cargoDir, PATCH_FILE);
}

export interface UndoReport {
  workspace: string;
  /** False when the workspace was not patched. */
  undone: boolean;
}

/** Puts the workspace back as it was before `macrobox patch`, byte for byte. */
export function undo(options: { cwd?: string } = {}): UndoReport {
  const cwd = resolve(options.cwd ?? process.cwd());
  const root = findPatchedRoot(cwd);
  if (root === null) return { workspace: cwd, undone: false };
  const cargoDir = join(root, ".cargo");
  const record = JSON.parse(readFileSync(join(cargoDir, UNDO_FILE), "utf8")) as UndoRecord;
  const configPath = join(cargoDir, record.configFile ?? "config.toml");
  if (record.config === null) rmSync(configPath, { force: true });
  else writeFileSync(configPath, Buffer.from(record.config, "base64"));
  const lockPath = join(root, "Cargo.lock");
  if (record.lock === null) rmSync(lockPath, { force: true });
  else writeFileSync(lockPath, Buffer.from(record.lock, "base64"));
  rmSync(join(cargoDir, PATCH_FILE), { force: true });
  rmSync(join(cargoDir, BUILD_LOG_FILE), { force: true });
  rmSync(join(cargoDir, UNDO_FILE), { force: true });
  if (record.createdCargoDir && readdirSync(cargoDir).length === 0) rmdirSync(cargoDir);
  return { workspace: root, undone: true };
}

/** The config file cargo reads in `cargoDir`: `config` (the legacy name) when it exists, else `config.toml`. */
function configFileName(cargoDir: string): "config" | "config.toml" {
  return existsSync(join(cargoDir, "config")) ? "config" : "config.toml";
}

/** The nearest directory at or above `cwd` holding our undo record. */
function findPatchedRoot(cwd: string): string | null {
  for (let dir = cwd; ; dir = resolve(dir, "..")) {
    if (existsSync(join(dir, ".cargo", UNDO_FILE))) return dir;
    if (resolve(dir, "..") === dir) return null;
  }
}

/** One build-script run, as the wrapper logged it. */
export interface BuildScriptRun {
  package: string;
  version: string;
  dir: string;
  exitCode: number;
  /** What was granted beyond the defaults (`--grant-build` items, comma-separated; "" for none). */
  granted: string;
  /** `--check-determinism`'s verdict ("reproducible", "not reproducible: ..."), "" otherwise. */
  determinism: string;
}

/** The build-script runs logged since the workspace was patched (`macrobox patch --report`). */
export function buildScriptRuns(options: { cwd?: string } = {}): { workspace: string; patched: boolean; runs: BuildScriptRun[] } {
  const cwd = resolve(options.cwd ?? process.cwd());
  const root = findPatchedRoot(cwd);
  if (root === null) return { workspace: cwd, patched: false, runs: [] };
  const log = join(root, ".cargo", BUILD_LOG_FILE);
  const runs = (existsSync(log) ? readFileSync(log, "utf8") : "")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [pkg, version, dir, code, granted, determinism] = line.split("\t");
      return { package: pkg, version, dir, exitCode: Number(code), granted: granted ?? "", determinism: determinism ?? "" };
    });
  return { workspace: root, patched: true, runs };
}

/**
 * `macrobox patch --check-determinism`: a clean `cargo build --workspace --all-targets` of the patched
 * workspace into a fresh target directory, each build script run twice in fresh sandboxes (the
 * wrapper, MACROBOX_CHECK_DETERMINISM=1) and its out dir and output compared, as `nix build --check`.
 */
export function checkDeterminism(options: { cwd?: string; cargoArgs?: readonly string[] } = {}): {
  status: number | null;
  stderr: string;
  runs: BuildScriptRun[];
} {
  const cwd = resolve(options.cwd ?? process.cwd());
  const root = findPatchedRoot(cwd);
  if (root === null) throw new PatchError(`${cwd} is not patched: run \`macrobox patch\` first`);
  const before = buildScriptRuns({ cwd: root }).runs.length;
  const target = mkdtempSync(join(tmpdir(), "macrobox-check-determinism-"));
  try {
    const r = spawnSync(findToolchain().cargo, ["build", "--workspace", "--all-targets", ...(options.cargoArgs ?? [])], {
      cwd: root,
      env: { ...process.env, CARGO_TARGET_DIR: target, MACROBOX_CHECK_DETERMINISM: "1" },
      encoding: "utf8",
      maxBuffer: 256 << 20,
    });
    const runs = buildScriptRuns({ cwd: root })
      .runs.slice(before)
      .filter((r) => r.determinism !== "");
    return { status: r.status, stderr: r.stderr ?? r.error?.message ?? "", runs };
  } finally {
    rmSync(target, { recursive: true, force: true });
  }
}
