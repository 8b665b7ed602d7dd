// Where macrobox keeps what it builds once and reuses: per toolchain, the target spec, the linker
// wrapper, the standard library build (inside cargo's target dir), staged crates and the local
// registry view.

import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Toolchain } from "./toolchain.js";

export function cacheRoot(): string {
  if (process.env.MACROBOX_CACHE) return resolve(process.env.MACROBOX_CACHE);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), ".cache"), "macrobox");
}

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
