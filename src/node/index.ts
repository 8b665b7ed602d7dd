// "macrobox/node": the Node edge of expanding. A crate directory as the sandbox's read-only file
// system, grants from macrobox.toml / Cargo.toml and flags, rust-analyzer's proc-macro server on
// stdio, the wall-clock watchdog. The whole public surface is this file.
export { NodeReadOnlyFs } from "./fs.js";
export { expansionSandbox, workspaceSettingsFile, type ExpansionSandboxOptions } from "./expansion-sandbox.js";
export {
  readGrantsFile,
  readSettingsFile,
  parseGrants,
  parseSettings,
  parseBuildCapabilities,
  grantFor,
  type Grants,
  type SettingsFile,
  type BuildCapabilities,
  type BuildGrants,
} from "./grants.js";
export {
  decideGrants,
  loadGrants,
  loadBuildGrants,
  pendingHint,
  userDirs,
  trust,
  revokeTrust,
  listTrust,
  showRequest,
  type UserDirs,
  type GrantDecision,
  type GrantQuery,
} from "./trust.js";
export { serveStdio, servePostcardStdio, type StdioOptions } from "./stdio-server.js";
export { ProcMacroServerClient, spawnRustAnalyzerServer, RUST_ANALYZER_PROC_MACRO_SRV, type SpawnOptions } from "./server-client.js";
export { runProcMacroServer, procMacroServerMain, wasmModuleFor, type ProcMacroServerOptions, type ProtocolFormat } from "./proc-macro-server.js";
export { Watchdog } from "./watchdog.js";
export { readModuleFile, MAX_MODULE_BYTES } from "./module-file.js";
