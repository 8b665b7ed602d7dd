// "macrobox/build": compile unmodified proc-macro crates into wasm macro modules (Node only, and a
// Rust toolchain). The whole public surface is this file.
export { build, BuildError, type BuildOptions, type BuildResult, type BuildEvent, type BuildProfile } from "./build.js";
export { crateForDylib, moduleForDylib, DylibCrateError, type DylibCrate } from "./for-dylib.js";
export { findToolchain, ToolchainError, type Toolchain } from "./toolchain.js";
export { osSandbox, sandboxBaseArgs, realHome, SYSTEM_READ_ONLY, SANDBOX_HOME, type OsSandboxStatus } from "./os-sandbox.js";
export { registryRoots } from "./registry.js";
