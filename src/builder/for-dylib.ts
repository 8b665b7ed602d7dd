// The wasm module standing for a native proc-macro dylib that cargo built (what rust-analyzer names
// in its proc-macro requests): find the crate behind the dylib from what cargo left next to it, then
// build the crate for the sandbox, once per crate version, features, sources and toolchain.
//
// cargo writes, for `target/<profile>/deps/lib<name>-<hash>.so`:
//   - `deps/<name>-<hash>.d`, the dep-info file listing every source file of the crate, the crate
//     root first (so the crate's directory is the nearest ancestor of it with a Cargo.toml);
//   - `.fingerprint/<package>-<hash>/lib-<name>.json`, whose `features` field is the JSON list of the
//     features the crate was compiled with.
// Only a dylib in `<target>/<profile>/deps/` of a target directory cargo made (its CACHEDIR.TAG),
// with cargo's fingerprint of the unit, is built for: a request naming a path anywhere else (next
// to a planted `.d` file) builds nothing. Nothing native is ever loaded: the dylib itself is not even read.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { build, BuildError, type BuildEvent } from "./build.js";
import { toolchainCache } from "./cache.js";
import { crateInfo, readManifest } from "./stage.js";
import { findToolchain } from "./toolchain.js";
import { MacroboxError } from "../errors.js";

export class DylibCrateError extends MacroboxError {
  override name = "DylibCrateError";
  constructor(message: string) {
    super("build", message);
  }
}

export interface DylibCrate {
  name: string;
  version: string;
  /** The crate's directory (its Cargo.toml). */
  dir: string;
  /** The workspace the dylib's target directory belongs to (the target directory's parent, else the crate's workspace). */
  workspace: string;
  /** Enabled features, `default` included when it was on (so the build uses no default features). */
  features: string[];
  /** Every source file of the crate, from the dep-info file. */
  sources: string[];
}

/** `libserde_derive-0123abcd.so` -> { lib: "serde_derive", hash: "0123abcd" }, or null. */
function dylibName(lib: string): { lib: string; hash: string } | null {
  const m = basename(lib).match(/^(?:lib)?(.+)-([0-9a-f]{8,})\.(?:so|dylib|dll)$/);
  return m ? { lib: m[1], hash: m[2] } : null;
}

/** Paths of a Makefile-style dep-info rule (`target: a b\ c ...`; spaces escaped with a backslash). */
function depInfoSources(text: string): string[] {
  const line = text.split("\n")[0];
  const colon = line.search(/: /);
  if (colon < 0) return [];
  const paths: string[] = [];
  let current = "";
  const rest = line.slice(colon + 2);
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (c === "\\" && i + 1 < rest.length) current += rest[++i];
    else if (c === " ") {
      if (current) paths.push(current);
      current = "";
    } else current += c;
  }
  if (current) paths.push(current);
  return paths;
}

/** The crate cargo built into `lib`, from its dep-info and fingerprint files. */
export function crateForDylib(lib: string): DylibCrate {
  const parsed = dylibName(lib);
  if (parsed === null) {
    throw new DylibCrateError(`${lib} is not named like a proc-macro dylib cargo builds (lib<crate>-<hash>.so)`);
  }
  const deps = dirname(resolve(lib));
  const profileDir = dirname(deps);
  const targetDir = dirname(profileDir);
  // Only what cargo built for a workspace: `<target>/<profile>/deps/`, in a target directory cargo
  // made (its CACHEDIR.TAG), with cargo's fingerprint of this very unit. A dylib path anywhere else
  // (a request naming a planted `.d` file) builds nothing.
  const notCargos = (why: string) =>
    new DylibCrateError(
      `${lib} is not a dylib cargo built in a workspace's target directory (<target>/<profile>/deps/lib<crate>-<hash>.so): ${why}; macrobox builds only for those`,
    );
  if (basename(deps) !== "deps") throw notCargos(`it is not in a \`deps\` directory`);
  if (!isFile(join(targetDir, "CACHEDIR.TAG"))) throw notCargos(`${targetDir} has no CACHEDIR.TAG, which cargo writes into every target directory`);
  if (!fingerprintDirs(profileDir, parsed).length) throw notCargos(`${join(profileDir, ".fingerprint")} has no fingerprint of it (*-${parsed.hash})`);
  const depInfo = join(deps, `${parsed.lib}-${parsed.hash}.d`);
  let sources: string[];
  try {
    sources = depInfoSources(readFileSync(depInfo, "utf8"));
  } catch {
    throw new DylibCrateError(`cannot tell which crate ${lib} was built from: cargo's dep-info file ${depInfo} is missing (rebuild the workspace with cargo)`);
  }
  if (sources.length === 0) throw new DylibCrateError(`${depInfo} lists no source files`);
  // cargo runs rustc for the workspace's own packages in the workspace root and passes their sources
  // relative to it, so dep-info names them relative to that directory, never to the server's.
  const base = workspaceOfTarget(targetDir);
  sources = sources.map((s) => (isAbsolute(s) || base === null ? s : join(base, s)));
  const root = sources[0];
  if (!isAbsolute(root) || !isFile(root)) throw new DylibCrateError(`${depInfo} names ${root} as the crate root of ${lib}, which is not a file`);
  let dir = dirname(root);
  while (!existsSync(join(dir, "Cargo.toml"))) {
    const up = dirname(dir);
    if (up === dir) throw new DylibCrateError(`no Cargo.toml above ${root}, the crate root of ${lib}: no workspace to tie ${targetDir} to`);
    dir = up;
  }
  const info = crateInfo(readManifest(dir), join(dir, "Cargo.toml"));
  // The workspace the target directory belongs to: the nearest above it with a Cargo.toml (the default
  // `<workspace>/target`, or rust-analyzer's `<workspace>/target/rust-analyzer`), else the crate's own
  // (a target directory moved elsewhere by CARGO_TARGET_DIR or build.target-dir).
  const workspace = workspaceOfTarget(targetDir) ?? crateWorkspace(dir) ?? dir;
  return { name: info.name, version: info.version, dir, workspace, features: dylibFeatures(profileDir, parsed), sources };
}

/** The nearest directory above a target directory that holds a Cargo.toml, or null. */
function workspaceOfTarget(targetDir: string): string | null {
  for (let d = dirname(targetDir); ; d = dirname(d)) {
    if (isFile(join(d, "Cargo.toml"))) return d;
    if (dirname(d) === d) return null;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The nearest directory at or above `dir` whose Cargo.toml has a `[workspace]`, if any. */
function crateWorkspace(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    const manifest = join(d, "Cargo.toml");
    if (isFile(manifest) && /^\s*\[workspace\]/m.test(readFileSync(manifest, "utf8"))) return d;
    if (dirname(d) === d) return null;
  }
}

/** cargo's fingerprint directories of the unit with this hash: `<profile>/.fingerprint/<package>-<hash>`. */
function fingerprintDirs(profileDir: string, parsed: { hash: string }): string[] {
  try {
    return readdirSync(join(profileDir, ".fingerprint")).filter((e) => e.endsWith(`-${parsed.hash}`));
  } catch {
    return [];
  }
}

/** The features of the build, from `.fingerprint/<package>-<hash>/lib-<lib>.json`; default only when it is not there. */
function dylibFeatures(profileDir: string, parsed: { lib: string; hash: string }): string[] {
  const fingerprints = join(profileDir, ".fingerprint");
  for (const entry of fingerprintDirs(profileDir, parsed)) {
    try {
      const json = JSON.parse(readFileSync(join(fingerprints, entry, `lib-${parsed.lib}.json`), "utf8")) as { features?: string };
      const features = JSON.parse(json.features ?? "[]") as unknown;
      if (Array.isArray(features) && features.every((f) => typeof f === "string")) return [...(features as string[])].sort();
    } catch {
      // Not this one.
    }
  }
  return ["default"];
}

export interface ModuleForDylibOptions {
  /** Told when a build starts and how it goes (the server prints it on stderr). */
  onEvent?: (event: BuildEvent) => void;
  /** Build natively where no OS sandbox is available (see `BuildOptions.allowNativeBuild`). */
  allowNativeBuild?: boolean;
}

/**
 * The built module's path for the dylib: from the store `<toolchain cache>/modules-built/<key>.wasm`
 * (or $MACROBOX_MODULE_STORE), keyed
 * by crate name, version, features, the bytes of every source file and the toolchain, or built now.
 */
export async function moduleForDylib(lib: string, options: ModuleForDylibOptions = {}): Promise<string> {
  const crate = crateForDylib(lib);
  let toolchain;
  try {
    toolchain = findToolchain();
  } catch (e) {
    throw new DylibCrateError(`cannot build ${crate.name} ${crate.version} for the macrobox sandbox: ${(e as Error).message}`);
  }
  const hash = createHash("sha256");
  hash.update(JSON.stringify([crate.name, crate.version, crate.features, toolchain.release, toolchain.key]));
  for (const source of crate.sources) {
    hash.update(`\0${source}\0`);
    try {
      hash.update(readFileSync(source));
    } catch {
      hash.update("<missing>");
    }
  }
  // MACROBOX_MODULE_STORE moves the store (tests start from an empty one without rebuilding std).
  const store = process.env.MACROBOX_MODULE_STORE ? resolve(process.env.MACROBOX_MODULE_STORE) : join(toolchainCache(toolchain), "modules-built");
  const path = join(store, `${crate.name}-${crate.version}-${hash.digest("hex").slice(0, 32)}.wasm`);
  if (existsSync(path)) return path;
  mkdirSync(store, { recursive: true });
  options.onEvent?.({ type: "step", message: `building ${crate.name} ${crate.version} for the sandbox (once; this takes a while)` });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await build({
      crate: crate.dir,
      output: tmp,
      features: crate.features.filter((f) => f !== "default"),
      noDefaultFeatures: !crate.features.includes("default"),
      onEvent: options.onEvent,
      allowNativeBuild: options.allowNativeBuild,
    });
  } catch (e) {
    const why = e instanceof BuildError ? e.message : (e as Error).message;
    throw new DylibCrateError(`${crate.name} ${crate.version} (${crate.dir}) does not build for the macrobox sandbox: ${why}`);
  }
  renameSync(tmp, path);
  return path;
}
