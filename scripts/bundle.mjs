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
    // The proc-macro server's own entry: it starts without loading the other commands.
    "proc-macro-srv": join(root, "src", "cli", "server-main.ts"),
    "host-main": join(root, "src", "cargo", "host-main.ts"),
    "expansion-worker-main": join(root, "src", "node", "expansion-worker-main.ts"),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // The playground imports esbuild itself (a devDependency) when it runs.
  external: ["esbuild"],
  chunkNames: "chunk-[hash]",
  sourcemap: true,
  logLevel: "warning",
});
// Read at run time next to the code that reads it (src/cargo/shim.ts).
copyFileSync(join(root, "src", "cargo", "shim-runtime.rs"), join(outdir, "shim-runtime.rs"));
