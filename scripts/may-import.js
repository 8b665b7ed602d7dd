// The import rules of src/: each folder's README.md has one line starting `**May import:**` that
// lists, as backticked items, what the folder's files may import; src/README.md does the same for
// each top-level file (under a heading naming it). That line is the one home of the rule: this
// ESLint rule reads it and reports every other import. Folders are found by globbing, so a new
// folder is checked as soon as it exists (and is an error until its README says what it may use).
//
// Items: `src/x` (anything under the folder src/x), `src/x/file.ts` (that file), `src/*` (any of
// src), `node:*` (Node built-ins, with or without the `node:` prefix), and npm package names
// (`smol-toml`, `@codemirror/*` for a whole scope; a package's subpaths come with it). A folder
// may always import its own files.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const MAY_IMPORT = /^\*\*May import:\*\*(.*)$/m;

/** The backticked items of a `**May import:**` line's text. */
function items(text) {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
}

/**
 * The rules: owner ("src/x" for a folder, "src/x.ts" for a top-level file) to its allowed items,
 * read from the READMEs under `srcDir` (the repository's src/ unless a test passes another).
 * An owner whose README lacks the line maps to null.
 */
export function readRules(srcDir = path.join(root, "src")) {
  const rules = new Map();
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const readme = path.join(srcDir, entry.name, "README.md");
    const line = existsSync(readme) ? readFileSync(readme, "utf8").match(MAY_IMPORT) : null;
    rules.set(`src/${entry.name}`, line ? items(line[1]) : null);
  }
  // Top-level files: src/README.md has a heading naming each (`## \`src/index.ts\``) followed by
  // its `**May import:**` line.
  const topReadme = path.join(srcDir, "README.md");
  const top = existsSync(topReadme) ? readFileSync(topReadme, "utf8") : "";
  let heading = null;
  for (const line of top.split("\n")) {
    const named = line.match(/^#+\s+`(src\/[^`/]+\.ts)`/);
    if (named) heading = named[1];
    const may = line.match(MAY_IMPORT);
    if (may && heading) rules.set(heading, items(may[1]));
  }
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    if (entry.isFile() && /\.(ts|js|mjs)$/.test(entry.name) && !rules.has(`src/${entry.name}`)) rules.set(`src/${entry.name}`, null);
  }
  return rules;
}

const builtins = new Set(builtinModules);

/** Whether `item` (one backticked README item) allows the import `spec` resolving to `target`. */
function allows(item, spec, target) {
  if (item === "node:*") return spec.startsWith("node:") || builtins.has(spec.split("/")[0]);
  if (item === "src/*") return target !== null && target.startsWith("src/");
  if (item.startsWith("src/")) {
    if (target === null) return false;
    return /\.[a-z]+$/.test(item) ? target === item : target.startsWith(item + "/");
  }
  if (target !== null) return false;
  if (item.endsWith("/*")) return spec.startsWith(item.slice(0, -1));
  return spec === item || spec.startsWith(item + "/");
}

/** A relative specifier as a repository path ("src/tokens/model.ts"); null for a bare one. */
function resolve(file, spec) {
  if (!spec.startsWith(".")) return null;
  const abs = path.resolve(path.dirname(file), spec).replace(/\.js$/, ".ts");
  return path.relative(root, abs).split(path.sep).join("/");
}

/** The owner of a linted file ("src/x" or "src/x.ts"), or null outside src/. */
function ownerOf(file) {
  const rel = path.relative(root, file).split(path.sep);
  if (rel[0] !== "src" || rel.length < 2) return null;
  return `src/${rel[1]}`;
}

let cached = null;

export const mayImport = {
  meta: {
    type: "problem",
    docs: { description: "Imports from a src/ folder follow the `**May import:**` line of its README.md" },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const owner = ownerOf(file);
    if (owner === null) return {};
    cached ??= readRules();
    const rules = cached.has(owner) ? cached.get(owner) : readRules().get(owner);
    const where = owner.endsWith(".ts") ? "src/README.md (a heading naming the file)" : `${owner}/README.md`;
    function check(node, source) {
      if (!source || source.type !== "Literal" || typeof source.value !== "string") return;
      const spec = source.value;
      const target = resolve(file, spec);
      if (target !== null && !owner.endsWith(".ts") && target.startsWith(owner + "/")) return;
      if (rules === null || rules === undefined) {
        context.report({ node: source, message: `${where} has no \`**May import:**\` line, so ${owner} may import nothing (it tried "${spec}")` });
        return;
      }
      if (rules.some((item) => allows(item, spec, target))) return;
      const what = target ?? spec;
      context.report({ node: source, message: `${owner} may not import ${what}: the \`**May import:**\` line of ${where} does not list it` });
    }
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
      TSImportType: (node) => check(node, node.argument?.type === "TSLiteralType" ? node.argument.literal : node.argument),
    };
  },
};

export default { rules: { "may-import": mayImport } };
