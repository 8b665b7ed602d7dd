// Where the caches live and whether the expansion cache is on: a file of its own so that code
// that only needs to know (the proc-macro server's main thread deciding on its memo, the worker's
// code-cache loader, the builder) does not load the caches. Imports only Node built-ins.

import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * `$MACROBOX_CACHE`, else `$XDG_CACHE_HOME/macrobox`, else `~/.cache/macrobox`: the one root of
 * every cache (the builder's toolchain caches and modules, the module and expansion caches, the
 * worker's code cache).
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MACROBOX_CACHE) return resolve(env.MACROBOX_CACHE);
  return join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), ".cache"), "macrobox");
}

/** `MACROBOX_EXPANSION_CACHE=off` turns the expansion cache (and the server's memo) off. */
export function expansionCacheOff(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.MACROBOX_EXPANSION_CACHE ?? "").toLowerCase() === "off";
}
