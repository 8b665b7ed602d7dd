#!/usr/bin/env node
// rust-analyzer's proc-macro server, sandboxed: set `"rust-analyzer.procMacro.server"` to this file.
// Every dylib rust-analyzer names is replaced by a wasm module built from the same crate (cached);
// no native macro code runs. Same as `macrobox proc-macro-server`.
import { procMacroSrvMain } from "../dist/src/cli/main.js";
process.exitCode = await procMacroSrvMain(process.argv.slice(2));
