// Renders diagnostics the way rustc prints them:
//
//   error: unknown serde container attribute `nope`
//    --> src/model.rs:3:9
//     |
//   3 | #[serde(nope)]
//     |         ^^^^

import { ungrantedEnvNotes } from "../sandbox/capabilities.js";
import type { SandboxGrant } from "../sandbox/grant.js";
import { compileErrors, type CfgTarget } from "./compile-errors.js";
import type { Diagnostic, ExpandResult } from "./types.js";
import type { ParseResult } from "./parse.js";
import type { GrantResult } from "../sandbox/capabilities.js";

/** Every public result: one shape (`ok`, `diagnostics`, and on failure `error: { kind, message }`). */
export type MessagesResult = ExpandResult | ParseResult | GrantResult;

export interface FormatOptions {
  /** Source texts by file name, for the code excerpts under each span (as rustc shows them). */
  sources?: ReadonlyMap<string, string>;
  /** The grant the expansion ran with: a failure then also names env vars left ungranted it may have read. */
  sandbox?: SandboxGrant;
  /** The target of the real compilation, for `#[cfg]`s around `compile_error!`s. Default: DEFAULT_CFG_TARGET. */
  target?: CfgTarget;
}

/**
 * Whether the expansion fails the compilation: the macro failed, or its output holds a
 * `compile_error!` rustc would report. What `macrobox expand` exits with, and its `--json` `ok`.
 */
export function expansionFails(result: ExpandResult, options: Pick<FormatOptions, "target"> = {}): boolean {
  return !result.ok || compileErrors(result.output ?? [], result.spans, { target: options.target }).some((d) => d.level === "error");
}

/**
 * Everything to print about one result, as rustc prints it: its diagnostics, then the error of a
 * failure no diagnostic reports. For an expansion, exactly what `macrobox expand` prints to
 * stderr: also the `compile_error!`s in its output and one note per refused access. Empty when
 * there is nothing to say; otherwise each line ends with a newline.
 */
export function formatMessages(result: MessagesResult, options: FormatOptions = {}): string {
  const sources = options.sources ?? new Map<string, string>();
  const out: string[] = [];
  const expansion = "denials" in result ? result : null;
  const emitted = expansion ? compileErrors(expansion.output ?? [], expansion.spans, { target: options.target }) : [];
  const diagnostics = [...result.diagnostics, ...emitted];
  for (const d of diagnostics) out.push(renderDiagnostic(d, sources));
  if (expansion) {
    for (const d of expansion.denials) out.push(`note: ${d.note}`);
    // A failed expansion may come from a declared variable it could not see through std::env.
    const sandbox = options.sandbox;
    if (sandbox && (!expansion.ok || emitted.some((d) => d.level === "error"))) {
      for (const d of ungrantedEnvNotes(sandbox.crate, sandbox.declared, sandbox.granted, expansion.denials, sandbox.hint)) out.push(`note: ${d.note}`);
    }
  }
  // Failures the macro never saw (unknown macro, unlexable input) come without diagnostics.
  if (!result.ok && !diagnostics.some((d) => d.level === "error")) out.push(`error: ${result.error.message}`);
  return out.map((line) => line + "\n").join("");
}

/** One diagnostic as rustc prints it (no trailing newline). */
export function renderDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, string>, indent = ""): string {
  const out: string[] = [];
  const head = indent ? `${indent}= ${d.level}: ${d.message}` : `${d.level}: ${d.message}`;
  out.push(head);
  for (const span of d.spans) {
    if (span.line <= 0) continue;
    const text = sources.get(span.file);
    const gutter = String(span.endLine).length;
    const pad = " ".repeat(gutter);
    out.push(`${pad}--> ${span.file}:${span.line}:${span.column}`);
    if (text === undefined) continue;
    const lines = text.split("\n");
    out.push(`${pad} |`);
    const line = lines[span.line - 1] ?? "";
    out.push(`${String(span.line).padStart(gutter)} | ${line}`);
    const startCol = span.column - 1;
    const endCol = span.endLine === span.line ? Math.max(span.endColumn - 1, startCol + 1) : [...line].length;
    out.push(`${pad} | ${" ".repeat(startCol)}${"^".repeat(Math.max(1, endCol - startCol))}`);
  }
  for (const child of d.children) {
    if (child.spans.length === 0) out.push(`${" ".repeat(2)}= ${child.level}: ${child.message}`);
    else out.push(renderDiagnostic(child, sources, "  "));
  }
  return out.join("\n");
}
