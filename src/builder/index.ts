// "macrobox/build": compile unmodified proc-macro crates into wasm macro modules (Node only, and a
// Rust toolchain). The whole public surface is this file.
export { build, BuildError, type BuildOptions, type BuildResult, type BuildEvent, type BuildProfile } from "./build.js";
export { findToolchain, ToolchainError, type Toolchain } from "./toolchain.js";
