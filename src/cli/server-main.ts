// The proc-macro server's entry point (bin/macrobox-proc-macro-srv.js, and bin/macrobox.js for
// `macrobox proc-macro-server`). The server starts on rust-analyzer's critical path, so its first
// act is to start the expansion worker: the worker's own start (a fresh V8 isolate, node's
// bootstrap, the host's code) then overlaps this thread loading the rest and reading the first
// requests. Only then is the command line read.

import { errorMessage, isMacroboxError } from "../errors.js";
import { prestartWorker } from "../node/expansion-worker.js";

/** Runs the server command; `name` prefixes what a failure prints. Returns an exit code. */
export async function serverMain(argv: string[], name: string): Promise<number> {
  if (!argv.includes("--version")) prestartWorker();
  try {
    return await (await import("./proc-macro-server.js")).procMacroServerCommand(argv);
  } catch (e) {
    process.stderr.write(`${name}: ${isMacroboxError(e) ? e.message : errorMessage(e)}\n`);
    return 1;
  }
}
