// macrobox's library entry point: the browser-safe core. Load a wasm macro module, list its
// macros, expand with it; lex and print token streams; read module metadata.
// Building modules needs Node and a Rust toolchain: import it from "macrobox/build".

export * from "./bridge/index.js";
export * from "./tokens/index.js";
export type * from "./tokens/model.js";
export { readMetadata, type ModuleMetadata } from "./wasm/metadata.js";
export { listProcMacros, type ProcMacroDecl } from "./wasm/decls.js";
export {
  effectiveGrant, checkDeclaration, envAllowed, readAllowed, denialNote, parseGrantFlags, NO_CAPABILITIES, CapabilityError,
  type DenialReason, type GrantResult,
} from "./sandbox/capabilities.js";
export { MemoryFs, FsError, type ReadOnlyFs, type FsStat, type FsEntry, type FsErrorCode, type FsFileType } from "./sandbox/fs.js";
