// Development entry point of the `macrobox-proc-macro-srv` bin: `node --import tsx src/cli/srv-run.ts`.
import { serverMain } from "../proc-macro-server/main.js";
process.exitCode = await serverMain(process.argv.slice(2), "macrobox-proc-macro-srv");
