#!/usr/bin/env node
// The `macrobox` command. `npm run build` (scripts/setup and prepack run it) compiles the sources to
// dist/src with tsc and bundles the command into dist/cli with esbuild (scripts/bundle.mjs): the
// bundle starts faster. Without a bundle, tsc's output runs. During development
// `node --import tsx src/cli/run.ts` runs the sources directly. `proc-macro-server` has an entry
// of its own (src/proc-macro-server/main.ts): it starts its worker before loading anything else.
const server = process.argv[2] === "proc-macro-server";
const [bundled, compiled] = server
  ? ["../dist/cli/proc-macro-srv.js", "../dist/src/proc-macro-server/main.js"]
  : ["../dist/cli/main.js", "../dist/src/cli/main.js"];
let cli;
try {
  cli = await import(bundled);
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND" || !String(e.message).includes(bundled.slice(3))) throw e;
  cli = await import(compiled);
}
process.exitCode = server ? await cli.serverMain(process.argv.slice(3), "macrobox") : await cli.main(process.argv.slice(2));
