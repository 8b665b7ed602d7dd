// Launches macrobox's proc-macro server as rust-analyzer would, for tests: the executable's own
// entry (src/proc-macro-server/main.ts), with the dylib -> wasm module map from
// $MACROBOX_TEST_MODULES (JSON) passed as its `--module` arguments.
import { serverMain } from "../../../src/proc-macro-server/main.js";

const modules = JSON.parse(process.env.MACROBOX_TEST_MODULES ?? "{}") as Record<string, string>;
const moduleArgs = Object.entries(modules).flatMap(([name, path]) => ["--module", `${name}=${path}`]);
process.exitCode = await serverMain([...moduleArgs, ...process.argv.slice(2)], "macrobox-proc-macro-srv");
