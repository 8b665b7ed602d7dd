// Renders diagnostics the way rustc prints them:
//
//   error: unknown serde container attribute `nope`
//    --> src/model.rs:3:9
//     |
//   3 | #[serde(nope)]
//     |         ^^^^

import type { Diagnostic } from "../bridge/index.js";

export function renderDiagnostic(d: Diagnostic, sources: Map<string, string>, indent = ""): string {
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
