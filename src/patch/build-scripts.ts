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
import { type Toolchain } from "../builder/index.js";
import { SANDBOX_HOME, SYSTEM_READ_ONLY, realHome, sandboxBaseArgs } from "../builder/os-sandbox.js";
import { registryRoots } from "../builder/registry.js";
import { PatchError } from "./patch-error.js";
import { parseBuildCapabilities, parseBuildPackageSpec, type BuildCapabilities, type BuildGrants } from "../node/grants.js";
import { realPathOr } from "../node/trust.js";
import { pathInside } from "../sandbox/capabilities.js";
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
      // Every build script of the graph: its hints name it as a grant would (a repository's by its directory).
      `const POLICIES: &[Policy] = &[${policy.scripts
        .map(
          (g) =>
            `Policy { dir: ${q(g.dir)}, package: ${q(g.name)}, grant_as: ${q(g.grantAs)}, file_key: ${q(g.fileKey)}, network: ${g.granted.network}, read: ${list(g.granted.read)}, write: ${list(g.granted.write)}, env: ${list(g.granted.env)}, ungranted: ${list(g.ungranted)} }`,
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
  /** Why only a grant by its directory reaches it (the repository chose where it comes from); null for a crates.io package. */
  repository: string | null;
  /** How `--grant-build` names it: its name (`name@version` when several of crates.io's share it) or, for a repository's, its directory. */
  grantAs: string;
  /** How the user's file names it: `[workspace."<root>".build-grants.<key>]` (a directory inside the workspace relative to it, quoted). */
  fileKey: string;
  requested: BuildCapabilities;
  granted: BuildCapabilities;
  /** Requested but not granted, as `--grant-build` items (`network`, `read=/x`, `write=/y`, `env=NAME`). */
  ungranted: string[];
}

const none = (): BuildCapabilities => ({ network: false, read: [], write: [], env: [] });

/**
 * `--grant-build <package>:<capability>` flags: `network`, `read=<path>`, `write=<path>`, `env=<VAR>`;
 * `<package>` alone grants what its `[package.metadata.macrobox.build]` asks. `<package>` is a
 * crates.io package's name (`name@version` when several versions are in the graph) or a package's
 * directory (`./crates/gen`, `/abs/dir`, relative to `cwd`): the only way to name a repository's
 * own package. `"*"` in a list stands for the request's items of that kind.
 */
export function parseGrantBuildFlags(values: readonly string[], cwd: string = process.cwd()): BuildGrants {
  const out: BuildGrants = [];
  for (const v of values) {
    // The first `:` followed by an item separates them (a directory may hold a `:`, an item's value too).
    const m = /^(.*?):(network|(?:read|write|env)=.*)$/.exec(v.trim());
    const pkg = (m === null ? v : m[1]).trim();
    const item = m === null ? "*" : m[2];
    const eq = item.indexOf("=");
    const kind = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? "" : item.slice(eq + 1);
    const spec = pkg === "" ? null : parseBuildPackageSpec(pkg, cwd);
    if (spec === null || (eq >= 0 && value === ""))
      throw new PatchError(
        `--grant-build expects <package>:network, <package>:read=<path>, <package>:write=<path>, <package>:env=<VAR> (or <package> for all it asks), ` +
          `<package> being a crates.io package's name (name@version) or a package's directory (./crates/gen), got ${JSON.stringify(v)}`,
      );
    const g = none();
    if (item === "*") {
      // "*" in all three lists: what the package asks, the network included if it asks for it (buildScriptGrants).
      g.read.push("*");
      g.write.push("*");
      g.env.push("*");
    } else if (item === "network") g.network = true;
    else g[kind as "read" | "write" | "env"].push(value);
    out.push({ spec, caps: g, where: `--grant-build ${v}` });
  }
  return out;
}

/** crates.io as `cargo metadata` names it, whichever directory the user's configuration replaces it with. */
const CRATES_IO = ["registry+https://github.com/rust-lang/crates.io-index", "sparse+https://index.crates.io/"];

/**
 * What the repository decides about where its packages come from: a bare-name build grant reaches
 * only a crates.io package outside all of it.
 */
export interface RepositorySources {
  /** The workspace root (real path): a package whose directory lies inside it is the repository's. */
  workspace: string;
  /** Directories the cargo config files below point a source at (`directory`, `local-registry`, `paths`), real paths. */
  dirs: string[];
  /**
   * The cargo config files cargo reads for the workspace, other than $CARGO_HOME's, that say where
   * packages come from (`[source]`, `paths`, `[registry]`): the workspace's and its ancestors' (a
   * repository may hold its workspace in a subdirectory, so any of them may be the repository's).
   */
  files: string[];
}

/** The workspace's `RepositorySources`, from the cargo config files cargo would read for it. */
export function repositorySources(root: string, env: NodeJS.ProcessEnv = process.env): RepositorySources {
  const home = cargoHome(env);
  const homeFiles = new Set([join(home, "config.toml"), join(home, "config")].map(realPathOr));
  const out: RepositorySources = { workspace: realPathOr(root), dirs: [], files: [] };
  const seen = new Set<string>();
  // cargo resolves a config file's relative paths against the parent of the directory holding it (its `.cargo`'s parent).
  const visit = (file: string, depth: number) => {
    const base = dirname(dirname(file));
    const real = realPathOr(file);
    if (seen.has(real) || homeFiles.has(real) || !existsSync(real) || depth > 8) return;
    seen.add(real);
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(readFileSync(real, "utf8")) as Record<string, unknown>;
    } catch {
      out.files.push(file); // cargo refuses it too; counted as saying where packages come from
      return;
    }
    const dirsOf = (v: unknown): string[] => (typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
    let says = false;
    const source = doc.source;
    if (source !== null && typeof source === "object") {
      says = true;
      for (const entry of Object.values(source as Record<string, unknown>))
        if (entry !== null && typeof entry === "object")
          for (const key of ["directory", "local-registry"])
            out.dirs.push(...dirsOf((entry as Record<string, unknown>)[key]).map((d) => realPathOr(resolve(base, d))));
    }
    if (doc.paths !== undefined) {
      says = true;
      out.dirs.push(...dirsOf(doc.paths).map((d) => realPathOr(resolve(base, d))));
    }
    if (doc.registry !== undefined) says = true;
    if (says) out.files.push(file);
    const include = doc.include;
    const includes = Array.isArray(include) ? include : include === undefined ? [] : [include];
    for (const inc of includes) {
      const path = typeof inc === "string" ? inc : inc !== null && typeof inc === "object" ? (inc as { path?: unknown }).path : undefined;
      if (typeof path === "string") visit(resolve(dirname(file), path), depth + 1);
    }
  };
  for (let dir = root; ; dir = dirname(dir)) {
    for (const name of ["config.toml", "config"]) visit(join(dir, ".cargo", name), 0);
    if (dirname(dir) === dir) break;
  }
  return out;
}

/** Why a package is the repository's (only a grant by its directory reaches it); null for a crates.io package outside the repository. */
function repositoryReason(p: BuildScriptPackage, dir: string, sources: RepositorySources): string | null {
  if (p.source === null) return "it is a path package (a workspace member or path dependency: the repository's)";
  if (p.source.startsWith("git+")) return `it comes from git (${p.source.replace(/#.*$/, "")}), a source the repository chose`;
  if (!CRATES_IO.includes(p.source)) return `it comes from ${p.source.replace(/^[a-z]+\+/, "")}, not crates.io`;
  if (pathInside(sources.workspace, dir) !== null) return `its directory lies inside the workspace ${sources.workspace}, whose files the repository provides`;
  const at = sources.dirs.find((d) => pathInside(d, dir) !== null);
  if (at !== undefined) return `its directory lies in ${at}, a source directory a cargo config file of the workspace names`;
  if (sources.files.length > 0)
    return `${sources.files.join(" and ")} ${sources.files.length === 1 ? "says" : "say"} where packages come from ([source], paths or [registry]), and a repository may ship such a file`;
  return null;
}

const versionMatches = (spec: string | undefined, version: string) => spec === undefined || version === spec || version.startsWith(`${spec}.`);

/**
 * Each build script's grant: the user's (their file's build-grants, then the flags), paths made
 * absolute (relative to the package's directory), `"*"` replaced by what the package asks. A
 * package's request alone grants nothing; a request that does not parse is a note.
 *
 * Which package a grant reaches: a bare name (`name`, `name@version`) only crates.io's package of
 * that name whose directory lies outside what the repository provides (`RepositorySources`); a
 * repository's own package of that name is named in a note with the grant by directory that would
 * reach it. A name that reaches several packages is refused (PatchError), as cargo's `-p` is. A
 * directory reaches the package there, whatever its source, item by item only: its `"*"` would
 * follow the repository's edits of what it asks (PatchError naming the items).
 */
export function buildScriptGrants(
  packages: readonly BuildScriptPackage[],
  sources: RepositorySources,
  ...lists: BuildGrants[]
): { scripts: BuildScriptGrant[]; notes: string[] } {
  const notes: string[] = [];
  const key = (name: string) => name.replace(/-/g, "_");
  const found = packages.map((p) => {
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
    // A package directory that is gone keeps its path: its build script will not run.
    const dir = realPathOr(p.manifestDir);
    return { p, abs, requested, dir, repository: repositoryReason(p, dir, sources), granted: none() };
  });
  const items = (c: BuildCapabilities) => [
    ...(c.network ? ["network"] : []),
    ...(["read", "write", "env"] as const).flatMap((kind) => c[kind].map((x) => `${kind}=${x}`)),
  ];
  for (const grant of lists.flat()) {
    const spec = grant.spec;
    let reached: (typeof found)[number] | undefined;
    if ("dir" in spec) {
      const dir = realPathOr(spec.dir);
      reached = found.find((f) => f.dir === dir);
      if (reached === undefined) {
        notes.push(`${grant.where} grants nothing: no package with a build script in the graph lies at ${dir}`);
        continue;
      }
      if (grant.caps.read.includes("*") || grant.caps.write.includes("*") || grant.caps.env.includes("*")) {
        const asks = items(reached.requested);
        throw new PatchError(
          `${grant.where} would grant whatever ${reached.p.name} ${reached.p.version} at ${dir} asks, and a package named by its directory asks what its repository writes, which it may change: ` +
            (asks.length === 0 ? "it asks nothing now; " : `it asks ${asks.join(", ")} now; `) +
            `name what you grant, ${asks.length === 0 ? `\`--grant-build ${dir}:<item>\`` : asks.map((a) => `\`--grant-build ${dir}:${a}\``).join(" ")}`,
        );
      }
    } else {
      const named = found.filter((f) => key(f.p.name) === spec.name && versionMatches(spec.version, f.p.version));
      const registry = named.filter((f) => f.repository === null);
      if (registry.length > 1)
        throw new PatchError(
          `${grant.where}: the name is ambiguous, it matches ${registry.map((f) => `${f.p.name}@${f.p.version} (${f.dir})`).join(", ")}; ` +
            `name one by its version (${registry.map((f) => `${f.p.name}@${f.p.version}`).join(", ")})`,
        );
      for (const f of named.filter((f) => f.repository !== null))
        notes.push(
          `${grant.where} does not grant ${f.p.name} ${f.p.version} at ${f.dir}: ${f.repository}. A name grants crates.io's package of that name only; ` +
            `a grant by its directory reaches this one (\`--grant-build ${f.dir}:<item>\`, or [workspace.${JSON.stringify(sources.workspace)}.build-grants.${fileKey(f.dir, sources)}] in your file)`,
        );
      if (named.length === 0) notes.push(`${grant.where} grants nothing: no package of that name with a build script is in the graph`);
      reached = registry[0];
      if (reached === undefined) continue;
    }
    const { requested, granted, abs } = reached;
    const g = grant.caps;
    granted.network ||= g.network || (requested.network && g.read.includes("*") && g.write.includes("*") && g.env.includes("*"));
    for (const kind of ["read", "write", "env"] as const)
      for (const item of g[kind]) granted[kind].push(...(item === "*" ? requested[kind] : [kind === "env" ? item : abs(item)]));
  }
  const scripts = found.map(({ p, requested, granted, dir, repository }): BuildScriptGrant => {
    for (const kind of ["read", "write", "env"] as const) granted[kind] = [...new Set(granted[kind])];
    const ungranted = [
      ...(requested.network && !granted.network ? ["network"] : []),
      ...(["read", "write", "env"] as const).flatMap((kind) => requested[kind].filter((x) => !granted[kind].includes(x)).map((x) => `${kind}=${x}`)),
    ];
    const versions = found.filter((f) => f.repository === null && key(f.p.name) === key(p.name)).length;
    const name = versions > 1 ? `${p.name}@${p.version}` : p.name;
    return {
      name: p.name,
      version: p.version,
      dir,
      repository,
      grantAs: repository === null ? name : dir,
      fileKey: repository === null ? (versions > 1 ? JSON.stringify(name) : p.name) : fileKey(dir, sources),
      requested,
      granted,
      ungranted,
    };
  });
  return { scripts, notes };
}

/** A directory as the user's file names it under `[workspace."<root>"]`: relative to the workspace when inside it, quoted. */
function fileKey(dir: string, sources: RepositorySources): string {
  const rel = pathInside(sources.workspace, dir);
  return JSON.stringify(rel === null ? dir : rel === "" ? "." : `./${rel}`);
}
