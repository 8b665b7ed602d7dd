// "macrobox/build": compile proc-macro crates into wasm macro modules (Node only).
export { build, BuildError, type BuildOptions, type BuildResult, type BuildEvent } from "./build.js";
export { findToolchain, ToolchainError, type Toolchain } from "./toolchain.js";
