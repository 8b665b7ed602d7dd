// "macrobox/node": the Node edge of expanding. A crate directory as the sandbox's read-only file
// system, grants from macrobox.toml / Cargo.toml and flags, rust-analyzer's proc-macro server on
// stdio, the wall-clock watchdog. The whole public surface is this file.
export { NodeReadOnlyFs } from "./fs.js";
export { grantFor, type Grants } from "./grants.js";
export { loadGrants, userDirs, type UserDirs, type GrantDecision, type GrantQuery } from "./trust.js";
export { DiskCacheStore } from "./disk-cache.js";
export { Watchdog } from "./watchdog.js";
// The proc-macro server process (helper "srvpath" moves these files to src/proc-macro-server and test/support).
export { serveStdio, servePostcardStdio, type StdioOptions } from "./stdio-server.js";
export { ProcMacroServerClient, spawnRustAnalyzerServer, RUST_ANALYZER_PROC_MACRO_SRV, type SpawnOptions } from "./server-client.js";
export { runProcMacroServer, procMacroServerMain, wasmModuleFor, type ProcMacroServerOptions, type ProtocolFormat } from "./proc-macro-server.js";
