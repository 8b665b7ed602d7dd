// The V8 heap of a thread that expands (the proc-macro server's worker, the cargo host's expansion
// threads): one setting for both, passed as the Worker's `resourceLimits`.

/**
 * The young generation in MiB (V8 splits it into two semi-spaces and a large-object part: 24 gives
 * semi-spaces of 8 MiB). Left to V8, the semi-spaces grow to 16 MiB each under the expansions'
 * allocation rate, and the big scavenges promote more into the old generation, which then fills
 * with garbage before a mark-compact. Measured in the proc-macro server beside V8's default: its
 * CPU time ~2.5% higher, within the noise, its resident set ~10–15 MiB smaller; 12 (4 MiB) cost
 * ~5% CPU for a little less memory (DEVELOPERS.md, "Performance, third round").
 */
export const EXPANSION_THREAD_YOUNG_GENERATION_MB = 24;

/** The `resourceLimits` of a Worker that expands. */
export const expansionThreadLimits = { maxYoungGenerationSizeMb: EXPANSION_THREAD_YOUNG_GENERATION_MB } as const;
