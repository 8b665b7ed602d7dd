// Where macrobox keeps what it builds once and reuses: per toolchain, the target spec, the linker
// wrapper, cargo's target dirs (`target` for registry crates, `local/<dir>-<hash>/` for each other crate:
// build.ts, `trustDomain`), staged crates and the local registry view. Built modules by content (`moduleKey`), when the caller gives a store for them.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Toolchain } from "./toolchain.js";
import { cacheRoot } from "../node/cache-env.js";

// The one cache root (`$MACROBOX_CACHE`, `$XDG_CACHE_HOME/macrobox`, `~/.cache/macrobox`).
export { cacheRoot };

/**
 * Bumped whenever the layout of what a build compiles changes (target spec, linker wrapper, where
 * staged and patched crates live): cargo does not notice all of those, and artifacts from an older
 * layout would make modules that differ from a fresh build's.
 */
const CACHE_FORMAT = 3;

/** The cache directory of one toolchain; everything in it is valid only for that toolchain. */
export function toolchainCache(toolchain: Toolchain): string {
  const dir = join(cacheRoot(), `${toolchain.release}-${toolchain.key}-m${CACHE_FORMAT}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Where built modules are kept by content, shared between machines (a remote cache, with a local
 * copy in front of it). The same shape as the host's `CacheStore`, which this folder may not
 * import; keys are lowercase hex sha256 digests.
 */
export interface ModuleStore {
  get(key: string): Uint8Array | null | Promise<Uint8Array | null>;
  set(key: string, value: Uint8Array): void | Promise<void>;
}

/**
 * Bump when what decides a module's bytes is keyed differently, or when a build of the same key
 * gives other bytes: old entries then simply miss. 2: the working directory of packages compiled
 * in the stage is remapped (issue 18), which changes the crate hash in every module's `.rustc`.
 */
const MODULE_KEY_FORMAT = 2;

/** Everything that decides the bytes of a built module. */
export interface ModuleKeyParts {
  toolchain: Toolchain;
  bridgeAbi: string;
  crate: { name: string; version: string; sourceHash: string };
  features: readonly string[];
  defaultFeatures: boolean;
  profile: string;
  online: boolean;
  /** The resolved packages: name, version, and for path packages the staged directory's name (which carries a hash of their files). */
  dependencies: ReadonlyArray<{ name: string; version: string; registry: boolean; dir: string }>;
  /** The compatibility patches applied (src/builder/compat.ts). */
  compat: readonly unknown[];
}

/**
 * The one definition of a built module's cache key. Machine-specific paths stay out of it (the
 * module's bytes do not depend on them: see "The shared target directory" in DEVELOPERS.md); the
 * toolchain enters by its version, commit and bridge ABI, the linker by name and the wasm C
 * library by a hash of its archive.
 */
export function moduleKey(p: ModuleKeyParts): string {
  const libc = join(p.toolchain.wasiLibDir, "libc.a");
  let libcHash = "absent";
  try {
    libcHash = createHash("sha256").update(readFileSync(libc)).digest("hex");
  } catch {
    // a toolchain without one does not build; keyed anyway
  }
  const material = JSON.stringify([
    "macrobox-module",
    MODULE_KEY_FORMAT,
    CACHE_FORMAT,
    p.toolchain.version,
    p.toolchain.commitHash,
    p.bridgeAbi,
    p.toolchain.linker.map((a) => basename(a)),
    libcHash,
    [p.crate.name, p.crate.version, p.crate.sourceHash],
    [...p.features].sort(),
    p.defaultFeatures,
    p.profile,
    p.online,
    p.dependencies.map((d) => [d.name, d.version, d.registry ? "registry" : `path:${basename(d.dir)}`]).sort(),
    p.compat,
  ]);
  return createHash("sha256").update(material).digest("hex");
}
