#!/usr/bin/env node
// rust-analyzer's proc-macro server, sandboxed: set `"rust-analyzer.procMacro.server"` to this file.
// Every dylib rust-analyzer names is replaced by a wasm module built from the same crate (cached);
// no native macro code runs. Same as `macrobox proc-macro-server`. Runs the esbuild bundle
// (dist/cli/proc-macro-srv.js, see bin/macrobox.js), or tsc's output when none was built.
let srv;
try {
  srv = await import("../dist/cli/proc-macro-srv.js");
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND" || !String(e.message).includes("dist/cli/proc-macro-srv.js")) throw e;
  srv = await import("../dist/src/proc-macro-server/main.js");
}
process.exitCode = await srv.serverMain(process.argv.slice(2), "macrobox-proc-macro-srv");
