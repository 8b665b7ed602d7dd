// Build benchmark: cold (empty cache: std, dependencies and the crate all compile) and warm
// (everything cached) build times of serde_derive 1.0.152. Prints numbers; asserts nothing.
//
//   node --import tsx bench/build.ts [crate]      (default serde_derive@1.0.152)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../src/builder/build.js";

const crate = process.argv[2] ?? "serde_derive@1.0.152";
const cache = mkdtempSync(join(tmpdir(), "macrobox-bench-cache-"));
process.env.MACROBOX_CACHE = cache;
const output = join(cache, "out.wasm");

async function timed(label: string): Promise<number> {
  const start = performance.now();
  const result = await build({ crate, output });
  const seconds = (performance.now() - start) / 1000;
  console.log(`${label.padEnd(6)} ${seconds.toFixed(2)} s   (${(result.size / 1024).toFixed(0)} KiB)`);
  return seconds;
}

console.log(`macrobox build ${crate}, cache ${cache}`);
try {
  await timed("cold");
  await timed("warm");
  await timed("warm");
} finally {
  rmSync(cache, { recursive: true, force: true });
}
