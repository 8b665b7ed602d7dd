// "macrobox": the browser-safe core. Load a wasm macro module, see what it declares, expand with
// it in the sandbox; lex and print token streams like rustc; render diagnostics as the CLI does.
// The whole public surface is this file and the types it names (src/host/types.ts for loading and
// expanding); docs/api.md lists every entry point's runtime exports (test/package/public-api.test.ts checks it).
// Internal users (the CLI, patch, tests, benchmarks) import other pieces by file path. Building modules needs Node and a Rust toolchain: "macrobox/build". Node's file
// system, grants files and the stdio server: "macrobox/node". The rust-analyzer protocol:
// "macrobox/server".

export { version } from "./version.js";
export { MacroboxError, isMacroboxError, type ErrorCode } from "./errors.js";

// Loading and expanding
export { loadMacroModule } from "./host/module.js";
export type {
  LoadOptions,
  MacroModule,
  ModuleInfo,
  MacroInfo,
  ExpandRequest,
  ExpandResult,
  ExpandSuccess,
  ExpandFailure,
  ExpandReport,
  ExpandError,
  ExpandErrorKind,
  Diagnostic,
  DiagnosticSpan,
  RuntimeLimits,
} from "./host/types.js";
export { macroLabel, type MacroKind } from "./wasm/decls.js";
export { expansionFails, formatMessages, renderDiagnostic, type FormatOptions, type MessagesResult } from "./host/render.js";
export { compileErrors, type CompileErrorOptions } from "./host/compile-errors.js";
export { MemoryCacheStore } from "./host/cache.js";
export type { CacheStore } from "./host/cache-store.js";

// Spans and env vars in results
export type { SpanLocation, SourceFile } from "./bridge/spans.js";
export type { EnvPolicy, TrackedEnvVar } from "./bridge/server.js";

// Module metadata and the bridge ABI
export { readMetadata, type ModuleMetadata } from "./wasm/metadata.js";
export { BRIDGE_ABI, KNOWN_BRIDGE_ABIS, detectModuleAbi, type ModuleAbi } from "./bridge/abi.js";

// Limits
export { DEFAULT_LIMITS, LimitExceeded, type Limits, type LimitName } from "./sandbox/limits.js";

// Capabilities and the sandbox's file system
export { effectiveGrant, type Capabilities, type CapabilityDenial, type DenialReason, type GrantResult, type GrantError } from "./sandbox/capabilities.js";
export type { SandboxGrant } from "./sandbox/grant.js";
export { MemoryFs, FsError, type ReadOnlyFs, type FsStat, type FsEntry, type FsErrorCode, type FsFileType } from "./sandbox/fs.js";

// Tokens
export { parseTokenStream, type ParseOptions, type ParseResult, type ParseError } from "./host/parse.js";
export { printTokenStream } from "./tokens/index.js";
export type { PrintOptions, Edition } from "./tokens/index.js";
export type { Span, Delimiter, LitKind, Spacing, TokenStream, TokenTree, Group, Punct, Ident, Literal, DocComment, DelimSpan } from "./tokens/model.js";
