// Development entry point: `node --import tsx src/cli/run.ts <args>` runs the CLI from sources.
import { main } from "./main.js";
process.exitCode = await main(process.argv.slice(2));
