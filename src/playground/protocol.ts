// The messages between the page (main.ts) and the expansion worker (worker.ts). Plain data only:
// everything crosses `postMessage` by structured clone.
//
// Browser-safe.

import type { Capabilities, Diagnostic, MacroInfo, MacroKind, TrackedEnvVar } from "../index.js";

/** The file name the input's spans and excerpts carry. */
export const INPUT_FILE = "input.rs";

/** What a module says about itself, as the page shows it. */
export interface ModuleSummary {
  /** The page's name for the module: its crate name (or the file name for a module without metadata). */
  name: string;
  crate: { name: string; version: string } | null;
  macros: MacroInfo[];
  declared: Capabilities;
  /** How it was built (rustc, bridge, profile), one line; null without macrobox metadata. */
  built: string | null;
}

export interface ExpandJob {
  module: string;
  kind: MacroKind;
  name: string;
  input: string;
  args?: string;
  /** Granted capabilities (within or beyond what the module declares). */
  granted: Capabilities;
  /** The in-page file system: paths relative to the crate directory, and their text. */
  files: Record<string, string>;
  /** The environment the host offers; only granted names reach the macro. */
  env: Record<string, string>;
  /** The fuel limit; 0: the core's default. */
  fuel: number;
}

export interface ExpandOutcome {
  ok: boolean;
  /** The expansion laid out (layout.ts); absent when the macro returned nothing. */
  code?: string;
  /** The expansion exactly as the core prints it (rustc's `to_string`). */
  text?: string;
  error?: { kind: string; message: string; limit?: string };
  diagnostics: Diagnostic[];
  /** What `macrobox expand` prints for this expansion (formatMessages), with the input's excerpts. */
  messages: string;
  stdout: string;
  stderr: string;
  trackedEnv: TrackedEnvVar[];
  trackedPaths: string[];
  reads: string[];
  denials: { kind: string; name: string; note: string }[];
  /** Whether the output's `compile_error!`s fail the compilation, or the macro failed. */
  fails: boolean;
  /** Milliseconds the expansion took in the worker. */
  ms: number;
}

export type ToWorker =
  | { type: "load"; id: number; name: string; bytes: Uint8Array }
  | { type: "expand"; id: number; job: ExpandJob }
  /** Two expansions, each in a fresh instance, compared. */
  | { type: "determinism"; id: number; job: ExpandJob };

/** A request before the page numbers it. */
export type Request = ToWorker extends infer T ? (T extends { id: number } ? Omit<T, "id"> : never) : never;

export type FromWorker =
  | { type: "loaded"; id: number; module: ModuleSummary }
  | { type: "expanded"; id: number; outcome: ExpandOutcome }
  | { type: "determinism"; id: number; identical: boolean; difference: string | null; outcome: ExpandOutcome }
  | { type: "failed"; id: number; message: string };
