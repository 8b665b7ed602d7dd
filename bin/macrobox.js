#!/usr/bin/env node
// The `macrobox` command. `npm run build` (scripts/setup and prepack run it) compiles the sources to
// dist/src with tsc and bundles the command into dist/cli with esbuild (scripts/bundle.mjs): the
// bundle starts faster. Without a bundle, tsc's output runs. During development
// `node --import tsx src/cli/main.ts` runs the sources directly.
let cli;
try {
  cli = await import("../dist/cli/main.js");
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND" || !String(e.message).includes("dist/cli/main.js")) throw e;
  cli = await import("../dist/src/cli/main.js");
}
process.exitCode = await cli.main(process.argv.slice(2));
