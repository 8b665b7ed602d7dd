// The staged copy of a proc-macro crate.
//
// cargo always builds `proc-macro = true` packages for the host, never for `--target`. So we copy
// the crate into the cache and turn it into a plain library there; `cargo rustc --crate-type
// proc-macro` then makes rustc produce the proc-macro for our wasm target. The user's files are
// never written to. The copy's directory is named after the crate and a hash of its contents, so
// the same sources always build in the same place, which keeps the output byte-identical wherever
// the user's copy lives.

import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { MacroboxError } from "../errors.js";
import { BuildError } from "./build-error.js";

type Table = Record<string, unknown>;

export class ManifestError extends MacroboxError {
  override name = "ManifestError";
  constructor(message: string) {
    super("manifest", message);
  }
}

export interface Capabilities {
  env: string[];
  read: string[];
}

export interface CrateInfo {
  name: string;
  version: string;
  /** The library target's crate name (`[lib] name`, else the package name with `-` → `_`). */
  libName: string;
  /** The crate's Rust edition: it decides how `TokenStream::from_str` lexes inside the macro. */
  edition: string;
  capabilities: Capabilities;
}

export interface StagedCrate extends CrateInfo {
  dir: string;
  /** sha256 over the crate's files (relative path and bytes), as copied. */
  sourceHash: string;
}

/** Bumped whenever the staged layout or manifest rewrite changes, so old stages are redone. */
const STAGE_FORMAT = 3;

/** Directories and files that are not part of a crate's sources. */
const SKIP = new Set([
  "target",
  ".git",
  ".hg",
  ".svn",
  ".cargo",
  "Cargo.lock",
  "node_modules",
  ".macrobox-path-deps",
  ".macrobox-stage",
  ".macrobox-patches.toml",
  ".macrobox-compat",
]);

export function readManifest(crateDir: string): Table {
  const path = join(crateDir, "Cargo.toml");
  if (!existsSync(path)) throw new ManifestError(`${crateDir} is not a Rust crate: it has no Cargo.toml`);
  try {
    return parseToml(readFileSync(path, "utf8")) as Table;
  } catch (e) {
    throw new ManifestError(`${path}: invalid TOML: ${(e as Error).message}`);
  }
}

function table(value: unknown): Table | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Table) : undefined;
}

/** `[package]` with `key.workspace = true` fields taken from the workspace's `[workspace.package]`. */
function inheritPackageFields(pkg: Table, wsPackage: Table, crateDir: string): Table {
  const out: Table = { ...pkg };
  for (const [key, value] of Object.entries(pkg)) {
    if (table(value)?.workspace === true) {
      if (!(key in wsPackage)) throw new ManifestError(`${crateDir}: \`${key}.workspace = true\` but the workspace does not define package.${key}`);
      out[key] = wsPackage[key];
    }
  }
  return out;
}

function workspacePackage(ws: { manifest: Table } | null): Table {
  return table(table(ws?.manifest.workspace)?.package) ?? {};
}

/** Reads name, version, lib name and declared capabilities; fails unless the crate is a proc-macro crate. */
export function crateInfo(manifest: Table, manifestPath: string): CrateInfo {
  const declared = table(manifest.package);
  const pkg = declared && inheritPackageFields(declared, workspacePackage(findWorkspace(dirname(manifestPath))), dirname(manifestPath));
  if (!pkg || typeof pkg.name !== "string") throw new ManifestError(`${manifestPath}: no [package] name (is this a workspace root? point at a member crate)`);
  const lib = table(manifest.lib) ?? {};
  if (lib["proc-macro"] !== true && lib["proc_macro"] !== true) {
    throw new ManifestError(`${pkg.name} is not a proc-macro crate: ${manifestPath} has no \`[lib] proc-macro = true\``);
  }
  const version = typeof pkg.version === "string" ? pkg.version : "0.0.0";
  const libName = (typeof lib.name === "string" ? lib.name : pkg.name).replace(/-/g, "_");
  const edition = typeof pkg.edition === "string" ? pkg.edition : "2015";
  return { name: pkg.name, version, libName, edition, capabilities: declaredCapabilities(table(pkg.metadata), manifestPath) };
}

function declaredCapabilities(metadata: Table | undefined, manifestPath: string): Capabilities {
  const decl = table(metadata?.macrobox) ?? {};
  const list = (key: string): string[] => {
    const v = decl[key] ?? [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      throw new ManifestError(`${manifestPath}: [package.metadata.macrobox] ${key} must be an array of strings`);
    }
    return v as string[];
  };
  for (const key of Object.keys(decl)) {
    if (key !== "env" && key !== "read")
      throw new ManifestError(`${manifestPath}: unknown capability \`${key}\` in [package.metadata.macrobox] (known: env, read)`);
  }
  return { env: list("env"), read: list("read") };
}

/**
 * Files of a crate, relative paths sorted, skipping build output and VCS data. A symlink is staged
 * as a copy of what it points to when that lies inside the crate; one that leaves the crate (a
 * committed `key -> ~/.ssh/id_rsa`) is refused: the stage is what the sandboxed build may read.
 */
function crateFiles(dir: string, base = dir, realBase = realpathSync(base), chain: ReadonlySet<string> = new Set([realBase])): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (SKIP.has(entry)) continue;
    const full = join(dir, entry);
    if (lstatSync(full).isSymbolicLink()) {
      let target: string;
      try {
        target = realpathSync(full);
      } catch {
        throw new BuildError(`${full} is a symlink to ${readlinkSync(full)}, which does not exist: a crate's symlinks must point at files inside the crate`);
      }
      const rel = relative(realBase, target);
      if (rel.startsWith("..") || isAbsolute(rel)) {
        throw new BuildError(
          `${full} is a symlink to ${target}, outside the crate ${base}: macrobox does not stage files from outside a crate (its build would read them); replace the link with a copy of the file`,
        );
      }
      if (chain.has(target)) continue; // a link to a directory it is in: a loop
    }
    const st = statSync(full);
    if (st.isDirectory()) out.push(...crateFiles(full, base, realBase, new Set([...chain, realpathSync(full)])));
    else if (st.isFile()) out.push(relative(base, full).split(sep).join("/"));
  }
  return out;
}

function hashFiles(dir: string, files: string[]): string {
  const hash = createHash("sha256");
  for (const f of files)
    hash
      .update(f)
      .update("\0")
      .update(readFileSync(join(dir, f)))
      .update("\0");
  return hash.digest("hex");
}

function copyFiles(from: string, to: string, files: string[]): void {
  for (const f of files) {
    mkdirSync(dirname(join(to, f)), { recursive: true });
    copyFileSync(join(from, f), join(to, f));
  }
}

/** The `[workspace]` a member crate inherits from, if any (searching parent directories). */
function findWorkspace(crateDir: string): { root: string; manifest: Table } | null {
  let dir = dirname(resolve(crateDir));
  for (;;) {
    const path = join(dir, "Cargo.toml");
    if (existsSync(path)) {
      try {
        const manifest = parseToml(readFileSync(path, "utf8")) as Table;
        if (table(manifest.workspace)) return { root: dir, manifest };
      } catch {
        /* an unrelated broken manifest above us is not our problem */
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

const DEP_TABLES = ["dependencies", "build-dependencies", "build_dependencies"];

/** Every dependency table of a manifest, including `[target.'cfg(..)'.dependencies]`. */
function dependencyTables(manifest: Table): Table[] {
  const tables: Table[] = [];
  for (const key of DEP_TABLES) if (table(manifest[key])) tables.push(manifest[key] as Table);
  for (const t of Object.values(table(manifest.target) ?? {})) {
    for (const key of DEP_TABLES) if (table(table(t)?.[key])) tables.push(table(t)![key] as Table);
  }
  return tables;
}

interface RewriteContext {
  crateDir: string;
  stageDir: string;
  /** Where path dependencies from outside the crate are copied. */
  pathDepsDir: string;
  /**
   * The real path a path dependency must lie in: the workspace's root, or the crate itself when it
   * is in no workspace. The stage is what the build may read, so a manifest naming a directory
   * elsewhere (`path = "/home/u/other-project"`) must not copy it in.
   */
  allowedRoot: string;
}

/**
 * Rewrites a manifest for building in the stage: inherits workspace fields, drops what a
 * library build for wasm must not see (dev-dependencies, binaries, tests, benches, profiles,
 * patches) and copies path dependencies that live outside the crate into the stage.
 */
function rewriteManifest(manifest: Table, ctx: RewriteContext, isRoot: boolean): Table {
  const out = structuredClone(manifest) as Table;
  const ws = findWorkspace(ctx.crateDir);
  const wsPackage = workspacePackage(ws);
  const wsDeps = table(table(ws?.manifest.workspace)?.dependencies) ?? {};
  const pkg = inheritPackageFields(table(out.package) ?? {}, wsPackage, ctx.crateDir);
  for (const key of ["workspace", "autobins", "autoexamples", "autotests", "autobenches", "default-run", "publish"]) delete pkg[key];
  Object.assign(pkg, { autobins: false, autoexamples: false, autotests: false, autobenches: false });
  out.package = pkg;

  for (const key of ["dev-dependencies", "dev_dependencies", "bin", "test", "bench", "example", "profile", "patch", "replace", "workspace"]) delete out[key];
  for (const t of Object.values(table(out.target) ?? {})) {
    delete table(t)?.["dev-dependencies"];
    delete table(t)?.["dev_dependencies"];
  }

  for (const deps of dependencyTables(out)) {
    for (const [name, spec] of Object.entries(deps)) {
      let dep = table(spec);
      if (dep?.workspace === true) {
        const inherited = wsDeps[name];
        if (inherited === undefined)
          throw new ManifestError(`${ctx.crateDir}: dependency \`${name}\` uses workspace = true but the workspace does not declare it`);
        const base: Table = typeof inherited === "string" ? { version: inherited } : { ...(table(inherited) ?? {}) };
        if (typeof base.path === "string") base.path = resolve(ws!.root, base.path);
        const { workspace: _ws, features, ...rest } = dep;
        const mergedFeatures = [...((base.features as string[]) ?? []), ...((features as string[]) ?? [])];
        dep = { ...base, ...rest, ...(mergedFeatures.length ? { features: mergedFeatures } : {}) };
        deps[name] = dep;
      }
      if (dep && typeof dep.path === "string") dep.path = stagePathDependency(resolve(ctx.crateDir, dep.path), ctx);
    }
  }

  if (isRoot) {
    const lib = table(out.lib) ?? {};
    delete lib["proc-macro"];
    delete lib["proc_macro"];
    delete lib["crate-type"];
    delete lib["crate_type"];
    out.lib = lib;
    // A workspace of its own, so a parent directory's workspace is never picked up; the copies of
    // path and compat dependencies are excluded so that cargo does not make them members (members
    // would have their dev-dependencies resolved).
    out.workspace = { exclude: [".macrobox-path-deps", ".macrobox-compat"] };
    out.profile = {
      release: { "opt-level": 3, "codegen-units": 1, debug: false, incremental: false, lto: false, "debug-assertions": false, "overflow-checks": false },
    };
  }
  return out;
}

/** Copies a path dependency into the stage (unless it is inside the crate) and returns its new relative path. */
function stagePathDependency(depDir: string, ctx: RewriteContext): string {
  const inside = relative(ctx.crateDir, depDir);
  if (!inside.startsWith("..") && !isAbsolute(inside)) return inside.split(sep).join("/") || ".";
  let real: string;
  try {
    real = realpathSync(depDir);
  } catch {
    throw new BuildError(`${ctx.crateDir}: path dependency ${depDir} does not exist`);
  }
  const rel = relative(ctx.allowedRoot, real);
  if (rel.startsWith("..") || isAbsolute(rel)) {
    throw new BuildError(
      `${ctx.crateDir}: path dependency ${depDir} lies outside ${ctx.allowedRoot === ctx.crateDir ? "the crate (which is in no workspace)" : `its workspace ${ctx.allowedRoot}`}: ` +
        "macrobox stages only a workspace's own crates (its build would read them); make both members of one workspace",
    );
  }
  const files = crateFiles(depDir);
  const manifest = readManifest(depDir);
  const name = String(table(manifest.package)?.name ?? "dep");
  const dest = join(ctx.pathDepsDir, `${name}-${hashFiles(depDir, files).slice(0, 12)}`);
  if (!existsSync(dest)) {
    copyFiles(depDir, dest, files);
    const rewritten = rewriteManifest(manifest, { ...ctx, crateDir: depDir }, false);
    writeFileSync(join(dest, "Cargo.toml"), stringifyToml(rewritten));
  }
  return relative(ctx.stageDir, dest).split(sep).join("/");
}

/** Copies the crate into `<stageRoot>/<name>-<version>-<hash>` and rewrites its manifest there. */
export function stageCrate(crateDir: string, stageRoot: string, cargoConfig: string): StagedCrate {
  crateDir = resolve(crateDir);
  if (!existsSync(join(crateDir, "Cargo.toml"))) readManifest(crateDir); // "not a Rust crate", before walking whatever the directory is
  const files = crateFiles(crateDir); // before reading the manifest: it refuses symlinks leaving the crate (Cargo.toml's too)
  const manifest = readManifest(crateDir);
  const info = crateInfo(manifest, join(crateDir, "Cargo.toml"));
  const sourceHash = hashFiles(crateDir, files);
  const stageDir = join(stageRoot, `${info.name}-${info.version}-${sourceHash.slice(0, 12)}`);
  // A stage made earlier from the same sources by this stage format is reused untouched, so that
  // cargo sees unchanged files and a warm build recompiles nothing.
  const marker = join(stageDir, ".macrobox-stage");
  const stamp = JSON.stringify({ format: STAGE_FORMAT, sourceHash, cargoConfig });
  if (existsSync(marker) && readFileSync(marker, "utf8") === stamp) return { ...info, dir: stageDir, sourceHash };
  rmSync(stageDir, { recursive: true, force: true });
  copyFiles(crateDir, stageDir, files);
  const ctx = { crateDir, stageDir, pathDepsDir: join(stageDir, ".macrobox-path-deps"), allowedRoot: realpathSync(findWorkspace(crateDir)?.root ?? crateDir) };
  writeFileSync(join(stageDir, "Cargo.toml"), stringifyToml(rewriteManifest(manifest, ctx, true)));
  mkdirSync(join(stageDir, ".cargo"), { recursive: true });
  writeFileSync(join(stageDir, ".cargo/config.toml"), cargoConfig);
  writeFileSync(marker, stamp);
  return { ...info, dir: stageDir, sourceHash };
}

/**
 * Writes the `[patch.crates-io]` entries and the profile's per-package settings as a cargo config
 * file in the stage, passed with `--config` to the build only. The staged manifest itself stays
 * unpatched, so dependency resolution always sees the registry packages (and the compat report is
 * the same on every build), and one stage serves both profiles.
 */
export function writeBuildConfig(
  stageDir: string,
  patches: Array<{ key: string; name: string; path: string }>,
  packageProfiles: Record<string, Record<string, unknown>>,
): string {
  const cratesIo: Table = {};
  for (const p of patches) cratesIo[p.key] = { path: p.path, package: p.name };
  const path = join(stageDir, ".macrobox-patches.toml");
  const config: Table = { patch: { "crates-io": cratesIo } };
  if (Object.keys(packageProfiles).length > 0) config.profile = { release: { package: packageProfiles } };
  const text = stringifyToml(config);
  if (!existsSync(path) || readFileSync(path, "utf8") !== text) writeFileSync(path, text);
  return path;
}
