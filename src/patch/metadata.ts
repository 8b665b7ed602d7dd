// The workspace's proc-macro dependencies, as cargo resolved them (`cargo metadata`).

import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { MacroboxError } from "../errors.js";

export interface MacroPackage {
  /** cargo's package ID. */
  id: string;
  name: string;
  version: string;
  edition: string;
  /** The lib target's name (`serde_derive`, `demo_macros`). */
  libName: string;
  manifestDir: string;
  /** cargo's source string; null for a path package. */
  source: string | null;
  /** Features as resolved for the build (cargo metadata's resolve: the union over every dependent, target and platform). */
  features: string[];
  /**
   * The package's feature table as `cargo metadata` shows it (implicit features of optional
   * dependencies included, `dep:` forms as written): the shim declares the same names (shim.ts).
   */
  featureTable: Record<string, string[]>;
  /** The names (as in the manifest: a rename's) of its optional dependencies. */
  optionalDependencies: string[];
  /** A member of the workspace (the repository's own macro: sandboxed too, `--keep-native` names it to keep it native). */
  member: boolean;
  /**
   * For a package from a path source (a workspace member, a path dependency): the directories of
   * it and of its path dependencies, transitively, whose sources the module is built from. The
   * shim watches them (shim.ts): an edit there makes the module stale.
   */
  localDirs: string[];
}

export interface WorkspaceMacros {
  root: string;
  macros: MacroPackage[];
  /** The workspace members' package IDs. */
  members: string[];
  /** Each package's dependencies in the resolve (package IDs; every kind, every platform). */
  dependencies: Map<string, string[]>;
}

interface CargoMetadata {
  workspace_root: string;
  workspace_members: string[];
  packages: Array<{
    id: string;
    name: string;
    version: string;
    edition: string;
    source: string | null;
    manifest_path: string;
    targets: Array<{ name: string; kind: string[] }>;
    features: Record<string, string[]>;
    dependencies: Array<{ name: string; rename?: string | null; optional: boolean }>;
    metadata?: Record<string, unknown> | null;
  }>;
  resolve: { nodes: Array<{ id: string; features: string[]; dependencies?: string[] }> } | null;
}

/**
 * `cargo metadata`, offline; with `allFeatures`, every feature of every member enabled (the
 * features a `cargo build --all-features` would give the macro crates, and the macro crates only
 * optional features reach).
 */
function readCargoMetadata(cargo: string, cwd: string, env: NodeJS.ProcessEnv, allFeatures: boolean): CargoMetadata {
  const args = ["metadata", "--format-version", "1", "--offline", ...(allFeatures ? ["--all-features"] : [])];
  const r = spawnSync(cargo, args, { cwd, env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw new MacroboxError("io", `cannot run ${cargo}: ${r.error.message}`);
  if (r.status !== 0)
    throw new MacroboxError(
      "build",
      `cargo ${["metadata", ...args.slice(3)].join(" ")} failed in ${cwd} (macrobox reads the dependency graph offline: a git or registry dependency must be fetched first, \`cargo fetch\`):\n${r.stderr.trim()}`,
    );
  return JSON.parse(r.stdout) as CargoMetadata;
}

export function workspaceMacros(cargo: string, cwd: string, env: NodeJS.ProcessEnv = process.env, allFeatures = false): WorkspaceMacros {
  const meta = readCargoMetadata(cargo, cwd, env, allFeatures);
  const nodes = meta.resolve?.nodes ?? [];
  const features = new Map(nodes.map((n) => [n.id, n.features]));
  const dependencies = new Map(nodes.map((n) => [n.id, n.dependencies ?? []]));
  const used = new Set(nodes.flatMap((n) => n.dependencies ?? []));
  const byId = new Map(meta.packages.map((p) => [p.id, p]));
  /** The directories of `id` and its path dependencies, transitively. */
  const localDirs = (id: string): string[] => {
    const dirs = new Set<string>();
    const todo = [id];
    const seen = new Set<string>();
    while (todo.length > 0) {
      const at = todo.pop()!;
      const p = byId.get(at);
      if (seen.has(at) || p === undefined || p.source !== null) continue;
      seen.add(at);
      dirs.add(dirname(p.manifest_path));
      todo.push(...(dependencies.get(at) ?? []));
    }
    return [...dirs].sort();
  };
  const macros: MacroPackage[] = [];
  for (const p of meta.packages) {
    const lib = p.targets.find((t) => t.kind.includes("proc-macro"));
    // Only what the resolve uses (all targets, all platforms, as cargo resolved them). A workspace
    // member is a repository's own macro, the likeliest to be hostile: sandboxed like any other
    // when another package uses it (one nobody uses expands nothing).
    const member = meta.workspace_members.includes(p.id);
    if (lib === undefined || !features.has(p.id) || (member && !used.has(p.id))) continue;
    macros.push({
      id: p.id,
      name: p.name,
      version: p.version,
      edition: p.edition,
      libName: lib.name.replace(/-/g, "_"),
      manifestDir: dirname(p.manifest_path),
      source: p.source,
      features: features.get(p.id) ?? [],
      featureTable: p.features,
      optionalDependencies: p.dependencies.filter((d) => d.optional).map((d) => d.rename ?? d.name),
      member,
      localDirs: p.source === null ? localDirs(p.id) : [],
    });
  }
  macros.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  return { root: meta.workspace_root, macros, members: meta.workspace_members, dependencies };
}

/**
 * The macro crates cargo still compiles once every other one is a shim, which has no dependencies:
 * what the members reach through their dependencies, going on through a macro crate's only when
 * `native` says it stays native (a member's always: cargo compiles a sandboxed member too). A macro
 * crate only sandboxed ones use (proc-macro-error-attr under test-case-macros) leaves the graph
 * with them: it runs when their modules are built, and a [patch] entry for it would be unused
 * (cargo warns at every build).
 */
export function reachedMacros(ws: WorkspaceMacros, native: (m: MacroPackage) => boolean): MacroPackage[] {
  const macroById = new Map(ws.macros.map((m) => [m.id, m]));
  const seen = new Set<string>();
  const todo = [...ws.members];
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const m = macroById.get(id);
    if (m === undefined || m.member || native(m)) todo.push(...(ws.dependencies.get(id) ?? []));
  }
  return ws.macros.filter((m) => seen.has(m.id));
}

/** The proc-macro packages some package of the resolve depends on (after patching: the shims, and what stayed native). */
export function usedMacroPackages(
  cargo: string,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
  allFeatures = false,
): { name: string; version: string; manifestDir: string; features: string[] }[] {
  const meta = readCargoMetadata(cargo, cwd, env, allFeatures);
  const nodes = meta.resolve?.nodes ?? [];
  const features = new Map(nodes.map((n) => [n.id, n.features]));
  const used = new Set(nodes.flatMap((n) => n.dependencies ?? []));
  return meta.packages
    .filter((p) => used.has(p.id) && p.targets.some((t) => t.kind.includes("proc-macro")))
    .map((p) => ({ name: p.name, version: p.version, manifestDir: dirname(p.manifest_path), features: features.get(p.id) ?? [] }));
}

/** A package of the resolve with a build script, and what its `[package.metadata.macrobox.build]` holds (a request; unparsed). */
export interface BuildScriptPackage {
  name: string;
  version: string;
  manifestDir: string;
  /** cargo's source string (`registry+https://...`, `git+...`); null for a path package. */
  source: string | null;
  request: unknown;
}

/**
 * The packages of the resolve that have a build script: with every feature of every member when that
 * graph resolves (offline, some optional features may not), else with the default features.
 */
export function buildScriptPackages(cargo: string, cwd: string, env: NodeJS.ProcessEnv = process.env): BuildScriptPackage[] {
  let meta: CargoMetadata;
  try {
    meta = readCargoMetadata(cargo, cwd, env, true);
  } catch {
    meta = readCargoMetadata(cargo, cwd, env, false);
  }
  const inResolve = new Set((meta.resolve?.nodes ?? []).map((n) => n.id));
  return meta.packages
    .filter((p) => inResolve.has(p.id) && p.targets.some((t) => t.kind.includes("custom-build")))
    .map((p) => {
      const macrobox = p.metadata?.macrobox;
      const request = macrobox !== null && typeof macrobox === "object" ? (macrobox as Record<string, unknown>).build : undefined;
      return { name: p.name, version: p.version, manifestDir: dirname(p.manifest_path), source: p.source, request };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}
