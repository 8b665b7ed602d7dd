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
await build({
  // The command, and the two scripts it starts as processes or threads by a path next to its own
  // code (`new URL("./…", import.meta.url)`): the cargo host and the server's expansion worker.
  entryPoints: {
    main: join(root, "src", "cli", "main.ts"),
    "host-main": join(root, "src", "cargo", "host-main.ts"),
    "expansion-worker-main": join(root, "src", "node", "expansion-worker-main.ts"),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "chunk-[hash]",
  sourcemap: true,
  logLevel: "warning",
});
// Read at run time next to the code that reads it (src/cargo/shim.ts).
copyFileSync(join(root, "src", "cargo", "shim-runtime.rs"), join(outdir, "shim-runtime.rs"));

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
