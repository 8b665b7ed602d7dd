// The proc-macro server's entry point: bin/macrobox-proc-macro-srv.js, `macrobox proc-macro-server`
// (bin/macrobox.js and src/cli/main.ts) and src/cli/srv-run.ts all run `serverMain`. The server
// starts on rust-analyzer's critical path, so once the command line says it is to serve, its first
// act is to start the expansion worker: the worker's own start (a fresh V8 isolate, node's
// bootstrap, the host's code) then overlaps this thread loading the rest and reading the first
// requests.

import { errorMessage, isMacroboxError } from "../errors.js";
import { parseServerArguments, SERVER_VERSION_LINE, serverHelp, ServerUsageError, type ServerCommand } from "./arguments.js";
import { prestartWorker } from "./expansion-worker.js";

/** Runs the server command; `name` prefixes what a failure prints. Returns an exit code. */
export async function serverMain(argv: string[], name: string): Promise<number> {
  let command: ServerCommand;
  try {
    command = parseServerArguments(argv);
  } catch (e) {
    if (!(e instanceof ServerUsageError)) throw e;
    process.stderr.write(`${name}: ${e.message}\n`);
    return 2;
  }
  if (command.type === "version") {
    process.stdout.write(`${SERVER_VERSION_LINE}\n`);
    return 0;
  }
  if (command.type === "help") {
    process.stdout.write(serverHelp());
    return 0;
  }
  prestartWorker();
  try {
    const { runProcMacroServer } = await import("./proc-macro-server.js");
    await runProcMacroServer(command.format, {
      modules: command.modules,
      limits: command.limits,
      maxMessageBytes: command.maxMessageBytes,
      // A dylib without a mapping: build the crate behind it, saying so on stderr (rust-analyzer logs
      // it). The builder is loaded then, not at start-up.
      resolveModule: async (lib) =>
        (await import("../builder/for-dylib.js")).moduleForDylib(lib, {
          allowNativeBuild: command.allowNativeBuild,
          onEvent: (event) => {
            if (event.type === "step") process.stderr.write(`macrobox: ${event.message}\n`);
            else if (event.type === "compiled" && !event.fresh) process.stderr.write(`macrobox: compiled ${event.crate} ${event.version}\n`);
          },
        }),
    });
    return 0;
  } catch (e) {
    process.stderr.write(`${name}: ${isMacroboxError(e) ? e.message : errorMessage(e)}\n`);
    return 1;
  }
}
