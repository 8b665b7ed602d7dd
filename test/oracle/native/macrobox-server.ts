// Launches macrobox's proc-macro server as rust-analyzer would, for tests. The dylib -> wasm
// module map comes from $MACROBOX_TEST_MODULES (JSON).
import { procMacroServerMain } from "../../../src/node/proc-macro-server.js";

const modules = JSON.parse(process.env.MACROBOX_TEST_MODULES ?? "{}") as Record<string, string>;
process.exitCode = await procMacroServerMain(process.argv.slice(2), { modules });
