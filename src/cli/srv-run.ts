// Development entry point of the `macrobox-proc-macro-srv` bin: `node --import tsx src/cli/srv-run.ts`.
import { procMacroSrvMain } from "./main.js";
process.exitCode = await procMacroSrvMain(process.argv.slice(2));
