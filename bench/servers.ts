// What the side-by-side benchmarks (compare.ts, cold-start.ts) measure a proc-macro server with:
// a timed expansion, a cold start split into its parts, node's bare start, order statistics.

import { spawnSync } from "node:child_process";

import type { ProcMacroServerClient } from "../test/support/server-client.js";

/** One expansion request line, timed from the client (ms); throws unless it expanded. */
export async function timed(client: ProcMacroServerClient, line: string): Promise<number> {
  const start = performance.now();
  const res = await client.requestLine(line);
  const ms = performance.now() - start;
  if (!res.startsWith('{"ExpandMacro":{"Ok"')) throw new Error(`expansion failed: ${res.slice(0, 300)}`);
  return ms;
}

export function stats(xs: number[]): { median: number; p90: number; mean: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p90: at(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length, n: s.length };
}

export interface ColdStart {
  total: number;
  version: number;
  list: number;
  expand: number;
}

/** Spawn → version → list `dylib` → the expansion `first`, each part timed (ms). */
export async function coldStart(spawn: () => ProcMacroServerClient, dylib: string, first: string): Promise<ColdStart> {
  const t0 = performance.now();
  const client = spawn();
  await client.request({ type: "ApiVersionCheck" });
  const t1 = performance.now();
  await client.request({ type: "ListMacros", dylibPath: dylib });
  const t2 = performance.now();
  await timed(client, first);
  const t3 = performance.now();
  await client.close();
  return { total: t3 - t0, version: t1 - t0, list: t2 - t1, expand: t3 - t2 };
}

/** The median of five `node -e ''` runs (ms): what any node server pays before its first line. */
export function bareNodeMs(): number {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    spawnSync(process.execPath, ["-e", ""]);
    times.push(performance.now() - t);
  }
  return stats(times).median;
}
