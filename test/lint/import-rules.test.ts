// The import rules (each src/ folder's `**May import:**` README line, read by scripts/may-import.js,
// and import-x's no-cycle) fail eslint on a wrong import and pass a right one. Sources are linted
// through ESLint's API with a file path inside src/, with the repository's own eslint.config.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
// @ts-expect-error: a plain JavaScript module (the eslint rule), without types.
import { readRules } from "../../scripts/may-import.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const eslint = new ESLint({ cwd: root });

/** The messages of the import rules for `code` linted as the file `file` (relative to the repository). */
async function importProblems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result.messages.filter((m) => m.ruleId === "macrobox/may-import" || m.ruleId === "import-x/no-cycle" || m.fatal).map((m) => m.message);
}

test("a folder importing what its README does not list fails, naming the README", async () => {
  const problems = await importProblems("src/tokens/probe.ts", `import { cacheRoot } from "../node/cache-env.js";\nexport const x = cacheRoot;\n`);
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], /src\/tokens may not import src\/node\/cache-env\.ts/);
  assert.match(problems[0], /src\/tokens\/README\.md/);
});

test("a folder's own files, and what its README lists, pass", async () => {
  assert.deepEqual(
    await importProblems(
      "src/tokens/probe.ts",
      `import type { Span } from "./model.js";\nimport { MacroboxError } from "../errors.js";\nexport type X = [Span, MacroboxError];\n`,
    ),
    [],
  );
  assert.deepEqual(
    await importProblems(
      "src/host/probe.ts",
      `import { sha256 } from "@noble/hashes/sha256";\nimport { runClient } from "../bridge/instance.js";\nexport const x = [sha256, runClient];\n`,
    ),
    [],
  );
  assert.deepEqual(
    await importProblems(
      "src/node/probe.ts",
      `import { readFileSync } from "node:fs";\nimport { join } from "path";\nexport const x = [readFileSync, join];\n`,
    ),
    [],
  );
});

test("a file listed by itself allows that file, not its folder's other files", async () => {
  // src/server lists `src/bridge/spans.ts` only.
  assert.deepEqual(await importProblems("src/server/probe.ts", `import { SpanTable } from "../bridge/spans.js";\nexport const x = SpanTable;\n`), []);
  const problems = await importProblems("src/server/probe.ts", `import { runClient } from "../bridge/instance.js";\nexport const x = runClient;\n`);
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], /src\/server may not import src\/bridge\/instance\.ts/);
  // Other folders reach the token layer through its public files, not its inner ones.
  assert.equal((await importProblems("src/bridge/probe.ts", `import { forEachTree } from "../tokens/walk.js";\nexport const x = forEachTree;\n`)).length, 1);
  assert.deepEqual(await importProblems("src/bridge/probe.ts", `import { forEachTree } from "../tokens/index.js";\nexport const x = forEachTree;\n`), []);
});

test("Node built-ins and npm packages need their own items; re-exports, dynamic and type imports are checked too", async () => {
  const code = [
    `import { readFileSync } from "node:fs";`,
    `import { parse } from "smol-toml";`,
    `export { LineMemo } from "../server/memo.js";`,
    `export * from "../node/fs.js";`,
    `export const later = () => import("../cli/main.js");`,
    `export type T = import("../builder/index.js").BuildOptions;`,
    `export const x = [readFileSync, parse];`,
  ].join("\n");
  const problems = await importProblems("src/wasm/probe.ts", code);
  for (const what of ["node:fs", "smol-toml", "src/server/memo.ts", "src/node/fs.ts", "src/cli/main.ts", "src/builder/index.ts"]) {
    assert.ok(
      problems.some((p) => p.includes(`may not import ${what}:`)),
      `${what} is reported:\n${problems.join("\n")}`,
    );
  }
  // A scope item (`@codemirror/*`) allows the scope's packages, and nothing else.
  assert.deepEqual(await importProblems("src/playground/probe.ts", `import { EditorState } from "@codemirror/state";\nexport const x = EditorState;\n`), []);
  assert.equal((await importProblems("src/playground/probe.ts", `import { sha256 } from "@noble/hashes/sha256";\nexport const x = sha256;\n`)).length, 1);
});

test("top-level files follow src/README.md", async () => {
  const problems = await importProblems("src/errors.ts", `import { version } from "./version.js";\nexport const x = version;\n`);
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], /src\/errors\.ts may not import src\/version\.ts.*src\/README\.md/);
  assert.deepEqual(await importProblems("src/index.ts", `export { version } from "./version.js";\n`), []);
});

test("a new folder is checked from its README as soon as it exists; without the line it may import nothing", async () => {
  const folder = path.join(root, "src", `zz-lint-probe-${process.pid}`);
  mkdirSync(folder);
  try {
    const rel = path.relative(root, folder);
    const problems = await importProblems(`${rel}/a.ts`, `import { forEachTree } from "../tokens/index.js";\nexport const x = forEachTree;\n`);
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0], /has no `\*\*May import:\*\*` line/);
    writeFileSync(path.join(folder, "README.md"), `# probe\n\n**May import:** \`src/tokens/index.ts\`.\n`);
    const fresh = new ESLint({ cwd: root });
    const [result] = await fresh.lintText(`import { forEachTree } from "../tokens/index.js";\nexport const x = forEachTree;\n`, {
      filePath: path.join(folder, "b.ts"),
    });
    assert.deepEqual(
      result.messages.filter((m) => m.ruleId === "macrobox/may-import"),
      [],
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("an import cycle fails eslint", async () => {
  const dir = path.join(root, "src", "wasm");
  const a = path.join(dir, `zz-cycle-a-${process.pid}.ts`);
  const b = path.join(dir, `zz-cycle-b-${process.pid}.ts`);
  writeFileSync(a, `import { b } from "./${path.basename(b, ".ts")}.js";\nexport const a = () => b;\n`);
  writeFileSync(b, `import { a } from "./${path.basename(a, ".ts")}.js";\nexport const b = () => a;\n`);
  try {
    const [result] = await eslint.lintFiles([a]);
    assert.ok(
      result.messages.some((m) => m.ruleId === "import-x/no-cycle"),
      JSON.stringify(result.messages),
    );
    // Without the cycle, the same file passes.
    writeFileSync(b, `export const b = () => 1;\n`);
    const [fixed] = await new ESLint({ cwd: root }).lintFiles([a]);
    assert.deepEqual(
      fixed.messages.map((m) => m.message),
      [],
    );
  } finally {
    rmSync(a, { force: true });
    rmSync(b, { force: true });
  }
});

test("every folder and top-level file has a May import line, and each item it lists exists", () => {
  const rules: Map<string, string[] | null> = readRules();
  assert.ok(rules.size > 10, `the rules were read (${[...rules.keys()].join(", ")})`);
  for (const [owner, items] of rules) {
    assert.ok(items !== null, `${owner} has a **May import:** line`);
    for (const item of items) {
      if (item === "src/*" || item === "node:*") continue;
      if (item.startsWith("src/")) assert.ok(existsSync(path.join(root, item)), `${owner} lists ${item}, which exists`);
      else assert.ok(existsSync(path.join(root, "node_modules", item.replace(/\/\*$/, ""))), `${owner} lists the npm package ${item}, which is installed`);
    }
  }
});
