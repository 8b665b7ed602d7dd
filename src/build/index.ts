// "macrobox/build": compile proc-macro crates into wasm macro modules (Node only).
export { build, BuildError, type BuildOptions, type BuildResult, type BuildEvent } from "./build.js";
export { findToolchain, ToolchainError, type Toolchain } from "./toolchain.js";
// Grants and the crate directory for expansions (Node): see src/node.
export { NodeReadOnlyFs } from "../node/fs.js";
export { loadGrants, readGrantsFile, parseGrants, grantFor, type Grants, type GrantSources } from "../node/grants.js";
