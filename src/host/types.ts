// The public types of the core (`macrobox`): loading a module, expanding with it, what comes back.
// This file and src/index.ts are the core's whole public surface.
//
// Browser-safe: types only.

import type { TokenStream } from "../tokens/model.js";
import type { Edition } from "../tokens/index.js";
import type { MacroInfo, MacroKind } from "../wasm/decls.js";
import type { ModuleMetadata } from "../wasm/metadata.js";
import type { ModuleAbi } from "../bridge/abi.js";
import type { SpanTable } from "../bridge/spans.js";
import type { Diagnostic } from "../errors.js";
import type { EnvPolicy, TrackedEnvVar } from "../bridge/server.js";
import type { WasiOptions } from "../sandbox/wasi.js";
import type { LimitName, Limits } from "../sandbox/limits.js";
import type { SandboxGrant } from "../sandbox/grant.js";
import type { Capabilities, CapabilityDenial } from "../sandbox/capabilities.js";
import type { CacheStore } from "./cache-store.js";

export interface LoadOptions {
  /** Bridge ABI to assume for a module that says nothing about how it was built. */
  assumeBridgeAbi?: string;
  /** Resource limits (src/sandbox/limits.ts); unspecified ones take their defaults. */
  limits?: Partial<Limits>;
  /**
   * Meter the module with fuel and cap its memory (src/sandbox/fuel.ts). Default true when the
   * module is given as bytes; a precompiled `WebAssembly.Module` is run as it is (instrument the
   * bytes yourself with `instrumentFuel` to meter it).
   */
  meter?: boolean;
  /**
   * Where instrumented modules are kept (src/host/cache.ts): loading the same bytes again then
   * skips instrumentation. Default: none.
   */
  moduleCache?: CacheStore;
  /**
   * Where expansion results are kept, keyed by everything that decides them (src/host/cache.ts):
   * an unchanged expansion is then answered without running the macro. Default: none.
   */
  expansionCache?: CacheStore;
  /** sha256 (hex) of the module's bytes, when the caller already knows it (saves hashing them). */
  moduleHash?: string;
  /**
   * Start each expansion's fresh instance from a snapshot of memory and globals taken after the
   * constructors and the host's warm-up (src/bridge/snapshot.ts, `warmStart`), instead of running
   * them again. Only metered modules whose state allows it. Default true; false for comparisons.
   */
  warmSnapshots?: boolean;
}

/** The limits an expansion can tighten or relax for itself. */
export type RuntimeLimits = Pick<Limits, "fuel" | "outputBytes" | "tokenHandles" | "capturedOutputBytes" | "nestingDepth">;

export type { MacroInfo, SandboxGrant };

export interface ExpandRequest {
  kind: MacroKind;
  name: string;
  /** The macro input: source text (lexed with real spans) or tokens whose spans belong to `spans`. */
  input: string | TokenStream;
  /** Attribute macros: the attribute's arguments (`#[name(<args>)]`). */
  args?: string | TokenStream;
  /** Display name of the source file text input comes from. Default "<macro input>". */
  fileName?: string;
  /**
   * The whole file `input` (and `args`) were cut from, with their byte offsets in it, so that
   * spans carry the file's real lines and columns. Without it, the input text is the file.
   */
  source?: {
    text: string;
    inputOffset: number;
    argsOffset?: number;
    /** A real path for `Span::local_file`; default none (virtual file). */
    localPath?: string;
    /** Byte range of the whole invocation (`name!(...)`, `#[name(...)]`); default: input and args. */
    callSite?: { lo: number; hi: number };
  };
  /** The span table for token inputs, and where output spans are resolved. Default: a new one. */
  spans?: SpanTable;
  /** What `proc_macro::tracked::env_var` may see. Default: what `sandbox` grants. */
  env?: EnvPolicy;
  /**
   * Granted capabilities (src/sandbox/grant.ts): files of the crate directory and env vars,
   * through WASI and the bridge. Default: nothing granted (the declaration from the module's metadata).
   */
  sandbox?: SandboxGrant;
  wasi?: WasiOptions;
  /** Let the module print panics to stderr (rustc's `-Z proc-macro-backtrace`). */
  forceShowPanics?: boolean;
  /** Overrides of the module's limits for this expansion. */
  limits?: Partial<RuntimeLimits>;
  /**
   * false: neither read nor write the expansion cache, for spans whose answers come from outside
   * the table (rust-analyzer's client answering span questions). Default true.
   */
  cache?: boolean;
}

export type ExpandErrorKind = "panic" | "diagnostics" | "trap" | "exit" | "unknown-macro" | "bridge" | "input" | "limit";

export type { Diagnostic, DiagnosticSpan } from "../errors.js";

/** What every expansion reports, whether it succeeded or not. */
export interface ExpandReport {
  /** Diagnostics the macro emitted, then (on failure) the error as rustc would report it. */
  diagnostics: Diagnostic[];
  trackedEnv: TrackedEnvVar[];
  trackedPaths: string[];
  /** Paths the macro read through its grant (files, directories listed, metadata), relative to the crate root. */
  reads: string[];
  /** Accesses refused, each with the note telling the user what to grant. */
  denials: CapabilityDenial[];
  stdout: string;
  stderr: string;
  /** The table the output's and diagnostics' spans belong to. */
  spans: SpanTable;
  /** Set on a result replayed from the expansion cache (the macro did not run). */
  fromCache?: true;
  /**
   * Set when the expansion was observed for the expansion cache: true when it asked nothing but its
   * tokens, the span table's layout relative to each file's first spanned byte, and the env it
   * can see: no position question (line, column, byte range, global position, a diagnostic's
   * location), no source text, no question to the file system and no refused access. Its result is
   * then the same wherever its input sits, whatever the files hold, and under any read grant.
   */
  selfContained?: boolean;
}

export interface ExpandError {
  kind: ExpandErrorKind;
  message: string;
  /** For "limit": which limit. */
  limit?: LimitName;
  /** For "panic": the panic's own message (null: its payload was not a string). */
  payload?: string | null;
}

/** The macro returned its output and reported no error. */
export interface ExpandSuccess extends ExpandReport {
  ok: true;
  output: TokenStream;
  /** The output printed as Rust source. */
  text: string;
  /** Never set on success; declared so that `result.error?.kind` reads without narrowing first. */
  error?: undefined;
}

/**
 * The expansion failed. `output` and `text` are present when the macro returned output but also
 * emitted errors (kind "diagnostics"): rustc keeps such output, and the compilation fails.
 */
export interface ExpandFailure extends ExpandReport {
  ok: false;
  error: ExpandError;
  output?: TokenStream;
  text?: string;
}

export type ExpandResult = ExpandSuccess | ExpandFailure;

/** What a loaded module says about itself: its crate, what it declares, how it was built. */
export interface ModuleInfo {
  /** The macro crate (from the module's metadata; null for a module built without `macrobox build`). */
  readonly crate: { name: string; version: string } | null;
  /** The macro crate's edition, which `TokenStream::from_str` inside the macro lexes by. */
  readonly edition: Edition;
  /** Capabilities the crate declares in its Cargo.toml (`[package.metadata.macrobox]`). */
  readonly declared: Readonly<Capabilities>;
  /** The whole metadata section, when the module has one. */
  readonly metadata: ModuleMetadata | null;
}

export interface MacroModule extends ModuleInfo {
  readonly macros: readonly MacroInfo[];
  readonly abi: ModuleAbi;
  readonly limits: Readonly<Limits>;
  /** Whether expansions are metered with fuel. */
  readonly metered: boolean;
  expand(request: ExpandRequest): Promise<ExpandResult>;
}
