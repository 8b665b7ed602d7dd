// The core (tokens, wasm, bridge, sandbox, host, server protocol) must run in browsers. Three
// guards, each shown here to work: bundling the browser-safe entry points for the browser platform
// pulls in no Node built-in; they compile with no Node types (tsconfig.core.json), where `process`,
// `Buffer` or a `node:` import is a compile error; and eslint's browser-safety rules
// (eslint.config.js) refuse Node imports and globals in the core's folders.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { build } from "esbuild";
import { ESLint } from "eslint";

const root = new URL("../..", import.meta.url).pathname;
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

function runTsc(project: string): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, [tsc, "-p", project], { cwd: root, encoding: "utf8" });
  return { code: r.status, output: r.stdout + r.stderr };
}

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
    assert.ok(
      inputs.some((i) => i.includes("src/bridge/")),
      "the bundle holds the bridge",
    );
    const nodeOnly = inputs.filter((i) => /^node:|src\/(builder|cli|node)\//.test(i));
    assert.deepEqual(nodeOnly, [], `Node-only code reached the browser bundle`);
    const text = result.outputFiles[0].text;
    assert.ok(!/from\s+["']node:/.test(text) && !/require\(["']node:/.test(text), "no node: imports in the bundle");
  });
}

it("the browser-safe entry points compile with no Node types (tsconfig.core.json)", () => {
  const r = runTsc("tsconfig.core.json");
  assert.equal(r.code, 0, r.output);
});

it("the no-Node-types compile refuses process, Buffer and node: imports next to the core", () => {
  // Same settings as tsconfig.core.json, one more file: it imports the core and uses Node.
  const dir = mkdtempSync(join(tmpdir(), "macrobox-core-types-"));
  try {
    writeFileSync(
      join(dir, "uses-node.ts"),
      `import { loadMacroModule } from ${JSON.stringify(join(root, "src", "index.js"))};\n` +
        `import { readFileSync } from "node:fs";\n` +
        `export const loaded = loadMacroModule(new Uint8Array(Buffer.from(readFileSync(process.env.WASM ?? ""))));\n`,
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ extends: join(root, "tsconfig.core.json"), compilerOptions: { rootDir: "/" }, files: ["uses-node.ts"] }),
    );
    const r = runTsc(join(dir, "tsconfig.json"));
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /uses-node\.ts\(3,\d+\): error TS\d+: Cannot find name 'process'/);
    assert.match(r.output, /Cannot find name 'Buffer'/);
    assert.match(r.output, /uses-node\.ts\(2,\d+\): error TS2307: Cannot find module 'node:fs'/);
    // The core itself is not what failed.
    assert.doesNotMatch(r.output, /src\//, r.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("eslint refuses Node imports and globals in browser-safe folders, and allows them in src/node", async () => {
  const eslint = new ESLint({ cwd: root });
  const code =
    `import { readFileSync } from "node:fs";\nimport { join } from "path";\n` +
    `export const x = join(String(readFileSync), process.env.HOME ?? "", String(Buffer.alloc(0)));\n`;
  for (const file of ["src/host/probe.ts", "src/tokens/probe.ts", "src/server/probe.ts", "src/index.ts", "src/errors.ts"]) {
    const [result] = await eslint.lintText(code, { filePath: join(root, file) });
    // The browser-safety rules only (the folders' import rules have their own test, test/lint/import-rules.test.ts).
    const found = result.messages
      .filter((m) => m.ruleId?.startsWith("no-restricted-"))
      .map((m) => `${m.ruleId}@${m.line}`)
      .sort();
    assert.deepEqual(
      found,
      ["no-restricted-globals@3", "no-restricted-globals@3", "no-restricted-imports@1", "no-restricted-imports@2"],
      `${file}: ${JSON.stringify(result.messages)}`,
    );
  }
  const [nodeSide] = await eslint.lintText(code, { filePath: join(root, "src/node/probe.ts") });
  assert.deepEqual(
    nodeSide.messages.filter((m) => m.ruleId?.startsWith("no-restricted-")),
    [],
  );
});
