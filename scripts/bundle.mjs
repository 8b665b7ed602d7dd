// Bundles the `macrobox` command (src/cli/main.ts and what it imports) into dist/cli/ with esbuild,
// for start-up time: node loads a few files instead of the ~100 modules of dist/src, and a
// proc-macro server answers its first request sooner (see DEVELOPERS.md, Performance). The command's
// lazily imported parts (build, expand, the server, the playground) stay lazy: separate chunks.
// dist/src (tsc's output) is still what the library entry points are; bin/macrobox.js falls back
// to it when no bundle was built. Run by `npm run build`, `prepack` and scripts/setup, never at run
// time (esbuild is a devDependency).

import { build } from "esbuild";
import { copyFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist", "cli");
rmSync(outdir, { recursive: true, force: true });
const common = {
  outdir,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
};
await build({
  ...common,
  // The command, and the script it starts as a process by a path next to its own code
  // (`new URL("./…", import.meta.url)`): the cargo host.
  entryPoints: {
    main: join(root, "src", "cli", "main.ts"),
    "host-main": join(root, "src", "patch", "host-main.ts"),
    // The host's worker threads, started by a path next to the host's code.
    "host-worker": join(root, "src", "patch", "host-worker.ts"),
  },
  splitting: true,
  chunkNames: "chunk-[hash]",
});
// The proc-macro server's entry and its expansion worker (started by a path next to the entry's
// code), each one file: the server starts on rust-analyzer's critical path, and one file loads
// faster than the same code in shared chunks (measured: bench/cold-start.ts). The builder, which
// the server loads only to build a crate no module stands for, is in the entry's file but not
// run at start-up.
await build({
  ...common,
  entryPoints: {
    "proc-macro-srv": join(root, "src", "proc-macro-server", "main.ts"),
    // The worker's entry runs its code (next) through V8's code cache (src/node/code-cache.ts).
    "expansion-worker-main": join(root, "src", "proc-macro-server", "expansion-worker-boot.ts"),
  },
  splitting: false,
});
await build({
  ...common,
  entryPoints: { "expansion-worker-code": join(root, "src", "proc-macro-server", "expansion-worker-main.ts") },
  outExtension: { ".js": ".cjs" },
  format: "cjs",
  // What the loader passes in: CommonJS has no import.meta.
  define: { "import.meta.url": "__importMetaUrl" },
  splitting: false,
});
// Read at run time next to the code that reads them (src/patch/shim.ts, src/patch/build-scripts.ts).
for (const file of ["shim-runtime.rs", "build-script-wrapper.rs", "nofollow.rs"]) copyFileSync(join(root, "src", "patch", file), join(outdir, file));

// The playground's page and worker, for the browser: `macrobox playground` serves these files
// (src/cli/playground.ts), so an installed package needs neither esbuild nor the page's sources.
const pageSources = join(root, "src", "playground");
const pageOut = join(root, "dist", "playground");
rmSync(pageOut, { recursive: true, force: true });
await build({
  entryPoints: { main: join(pageSources, "main.ts"), worker: join(pageSources, "worker.ts") },
  outdir: pageOut,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "linked",
  logLevel: "warning",
});
for (const file of ["index.html", "playground.css"]) copyFileSync(join(pageSources, file), join(pageOut, file));
