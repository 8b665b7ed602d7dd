// "macrobox/node": the Node edge of expanding. A crate directory as the sandbox's read-only file
// system, grants from macrobox.toml / Cargo.toml and flags. The whole public surface is this file.
// (rust-analyzer's proc-macro server is the `macrobox-proc-macro-srv` executable: src/proc-macro-server.)
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
export { readModuleFile, MAX_MODULE_BYTES } from "./module-file.js";
