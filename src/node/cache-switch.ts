// Whether the expansion cache is on: its own file so that a thread that only needs to know (the
// proc-macro server's main thread, deciding on its memo) does not load the caches.

/** `MACROBOX_EXPANSION_CACHE=off` turns the expansion cache (and the server's memo) off. */
export function expansionCacheOff(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.MACROBOX_EXPANSION_CACHE ?? "").toLowerCase() === "off";
}
