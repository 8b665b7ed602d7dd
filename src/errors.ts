// The one base class of every error macrobox raises on purpose, with a stable code.
//
// An error a user can cause (bad input, a bad module, a limit, a missing toolchain, a crate that
// does not build, a file that cannot be read, bad protocol traffic) is a `MacroboxError`: front ends print its message alone, as one clear line or
// block, and may switch on `code`. Anything else that escapes is a bug in macrobox, and front ends
// say so (with the stack trace) instead of presenting it as the user's fault.
//
// Browser-safe; imports nothing.

/** Stable, machine-readable error codes. Adding one is fine; renaming one breaks users. */
export type ErrorCode =
  | "usage" // the command line or an API call is malformed
  | "input" // source text or tokens that cannot be used (lexing, span tables, ...)
  | "limit" // a resource limit was exceeded
  | "invalid-limit" // a limit value that cannot be honoured
  | "wasm-format" // bytes that are not a well-formed WebAssembly module
  | "module" // a WebAssembly module that is not a usable macro module
  | "bridge-abi" // a module built for a proc_macro bridge this host does not serve
  | "bridge" // malformed bridge traffic from a module
  | "exit" // the module called WASI proc_exit (the host ends the run with it)
  | "capability" // a capability declaration or grant that cannot be honoured
  | "fs" // the sandbox's file system view refused or failed an access
  | "protocol" // malformed proc-macro server protocol traffic
  | "toolchain" // the Rust toolchain is missing or incomplete
  | "build" // a macro crate could not be built into a module
  | "manifest" // a crate's Cargo.toml (or its macrobox metadata) cannot be used
  | "registry" // a crate named as name@version is not in the offline registry
  | "patch" // a cargo workspace cannot be patched (`macrobox patch`)
  | "host-socket" // the cargo host's socket directory is not the user's own (or its path is too long)
  | "io"; // a file the user named cannot be read or written

export class MacroboxError extends Error {
  override name = "MacroboxError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Whether `e` is an error macrobox raised on purpose (as opposed to a bug). */
export function isMacroboxError(e: unknown): e is MacroboxError {
  return e instanceof MacroboxError;
}

/** What front ends put before an error that is not a `MacroboxError`: it is macrobox's fault. */
export const INTERNAL_ERROR = "internal error (a bug in macrobox; please report it)";

/** One line for any error: a `MacroboxError`'s message, or the internal-error line naming what was thrown. */
export function errorMessage(e: unknown): string {
  if (isMacroboxError(e)) return e.message;
  return `${INTERNAL_ERROR}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
}

/**
 * The error for a file that cannot be read, the one way it is worded: `cannot read <what>: <the
 * system's error code (ENOENT, EACCES, ...), else the message>`.
 */
export function cannotRead(what: string, cause: unknown): MacroboxError {
  return new MacroboxError("io", `cannot read ${what}: ${systemErrorReason(cause)}`, { cause });
}

/** Why a file system call failed, as messages put it: the system's error code (ENOENT, EACCES, ...), else the message. */
export function systemErrorReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : e instanceof Error ? e.message : String(e);
}

/**
 * A span of a diagnostic, resolved to file positions as rustc reports them: `lo..hi` are UTF-8
 * byte offsets into the file, lines and columns are 1-based, columns count chars. (The span
 * table's `SpanLocation`, src/bridge/spans.ts, is this type.)
 */
export interface DiagnosticSpan {
  file: string;
  lo: number;
  hi: number;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** The source text under the span, when it is real source. */
  text: string | null;
}

/**
 * The one message type of every public result (expanding, parsing, grants): rustc's diagnostic,
 * printed by `formatMessages`. It lives here, at the bottom, so that every layer can return it.
 */
export interface Diagnostic {
  level: "error" | "warning" | "note" | "help";
  message: string;
  spans: DiagnosticSpan[];
  children: Diagnostic[];
}
