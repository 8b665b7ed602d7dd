// ESLint (flat config): typescript-eslint's recommended rules, a few tuned down where this code
// base has a reason, and the browser-safety rules for the core. `npm run lint` runs it.
import { builtinModules } from "node:module";
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import macrobox from "./scripts/may-import.js";

// The browser-safe code: what "macrobox" and "macrobox/server" reach (tsconfig.core.json compiles
// the same code with no Node types; test/package/browser-safe.test.ts bundles it for the browser).
const browserSafe = [
  "src/tokens/**",
  "src/wasm/**",
  "src/bridge/**",
  "src/sandbox/**",
  "src/host/**",
  "src/server/**",
  // The playground page and worker run in the browser: they import only the core ("../index.js").
  "src/playground/**",
  "src/index.ts",
  "src/errors.ts",
  "src/version.ts",
];

const nodeOnly = "browser-safe code (see eslint.config.js) must not use Node APIs; Node-only code belongs in src/node, src/builder or src/cli";

export default defineConfig(
  // What .gitignore lists (build output, caches); flat config does not read .gitignore.
  { ignores: ["dist/", "**/target/", ".macrobox-cache/", "scratch/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // `_name` marks a parameter or binding kept for its position (WASI signatures, destructuring).
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // `cond ? a() : b()` as a statement is used on purpose in tree walks.
      "@typescript-eslint/no-unused-expressions": ["error", { allowTernary: true, allowShortCircuit: true }],
      // `interface DiagnosticSpan extends SpanLocation {}` names a public type on purpose.
      "@typescript-eslint/no-empty-object-type": ["error", { allowInterfaces: "with-single-extends" }],
      // WebAssembly exports are untyped functions; `Function` says exactly that.
      "@typescript-eslint/no-unsafe-function-type": "off",
      // A caught error's message is folded into the new, user-facing one.
      "preserve-caught-error": "off",
    },
  },
  {
    // What each src/ folder (and top-level file) may import: the `**May import:**` line of its
    // README.md, read by scripts/may-import.js. And no import cycles anywhere in src/.
    files: ["src/**/*.ts"],
    plugins: { macrobox, "import-x": importX },
    settings: {
      // import-x's own TypeScript settings (which files it parses), with the TypeScript resolver
      // ("./x.js" in a source is ./x.ts).
      ...importX.flatConfigs.typescript.settings,
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "tsconfig.json" })],
    },
    rules: {
      "macrobox/may-import": "error",
      "import-x/no-cycle": "error",
    },
  },
  {
    files: ["test/**", "bench/**"],
    rules: {
      // Tests read JSON whose shape is asserted right there.
      "@typescript-eslint/no-explicit-any": "off",
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
  {
    files: browserSafe,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: builtinModules.map((name) => ({ name, message: nodeOnly })),
          patterns: [{ regex: "^node:", message: nodeOnly }],
        },
      ],
      "no-restricted-syntax": ["error", { selector: "ImportExpression[source.value=/^node:/]", message: nodeOnly }],
      "no-restricted-globals": [
        "error",
        ...["process", "Buffer", "require", "__dirname", "__filename", "global", "module", "setImmediate"].map((name) => ({ name, message: nodeOnly })),
      ],
    },
  },
);
