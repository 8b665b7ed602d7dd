// The core (tokens, bridge, sandbox, wasm, server protocol) must run in browsers: bundling the
// library entry point for the browser platform must succeed with no Node built-in anywhere in it.

import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;

for (const entry of ["src/index.ts", "src/server/index.ts"]) {
  it(`${entry} bundles for the browser without Node APIs`, async () => {
    const result = await build({
      entryPoints: [join(root, entry)],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    assert.deepEqual(result.errors, []);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((i) => i.includes("src/bridge/")), "the bundle holds the bridge");
    const nodeOnly = inputs.filter((i) => /^node:|src\/(build|cli|node)\/|-node\.ts$/.test(i));
    assert.deepEqual(nodeOnly, [], `Node-only code reached the browser bundle`);
    const text = result.outputFiles[0].text;
    assert.ok(!/from\s+["']node:/.test(text) && !/require\(["']node:/.test(text), "no node: imports in the bundle");
  });
}
