// Where the caches live and whether the expansion cache is on: a file of its own so that code
// that only needs to know (the proc-macro server's main thread deciding on its memo, the worker's
// code-cache loader) does not load the caches.

import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** `$MACROBOX_CACHE`, else `~/.cache/macrobox`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.MACROBOX_CACHE ? resolve(env.MACROBOX_CACHE) : join(homedir(), ".cache", "macrobox");
}

/** `MACROBOX_EXPANSION_CACHE=off` turns the expansion cache (and the server's memo) off. */
export function expansionCacheOff(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.MACROBOX_EXPANSION_CACHE ?? "").toLowerCase() === "off";
}
