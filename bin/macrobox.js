#!/usr/bin/env node
// The `macrobox` command. The TypeScript sources are compiled to dist/ by `npm run build`
// (scripts/setup does it); during development `node --import tsx src/cli/main.ts` runs them directly.
import { main } from "../dist/src/cli/main.js";
process.exitCode = await main(process.argv.slice(2));
