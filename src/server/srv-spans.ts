// Span tables of the proc-macro server: what rustc 1.96's rust-analyzer-proc-macro-srv answers
// where it differs from rustc, for both span modes.
//
// Both modes (proc-macro-srv/src/server_impl/{token_id,rust_analyzer_span}.rs): the def, call and
// mixed sites are the request's spans, not new contexts; `save_span` answers 0 and
// `recover_proc_macro_span` the call site (rustc recovers the spans proc_macro::quote! saved in
// the macro crate's metadata, which the server cannot read); `TokenStream::expand_expr` hands the
// stream back unchanged (rustc expands literals and built-in macros).
//
// `Id` mode (IdSpanTable): spans are the client's opaque numbers and every question about them gets
// a constant: file "", no local file or source text, line and column 1, byte range 0..0, no parent,
// a span is its own source, join gives the first span, subspan the span itself, and start, end and
// resolved_at the call site. Debug prints the number.
//
// Browser-safe: no Node APIs here.

import { SpanTable, type Bound, type Expansion, type SpanLocation, type SpanTableView } from "../bridge/spans.js";
import type { Span } from "../tokens/model.js";
import { MacroboxError } from "../errors.js";

/** What both span modes of the server share. */
export abstract class SrvSpanTable extends SpanTable {
  protected globals: Expansion | null = null;

  /** The expansion's def/call/mixed-site spans: the request's, not new contexts. */
  setGlobals(globals: Expansion): void {
    this.globals = globals;
  }

  override newExpansion(invocation: Span): Expansion {
    return this.globals ?? { callSite: invocation, defSite: invocation, mixedSite: invocation };
  }

  protected get callSite(): Span {
    if (this.globals === null) throw new MacroboxError("input", "the proc-macro server's span table has no call site yet");
    return this.globals.callSite;
  }

  override saveSpan(_span: Span): number {
    return 0;
  }

  override recoverSpan(_id: number): Span {
    return this.callSite;
  }

  override get expandsExpressions(): boolean {
    return false;
  }

  override fingerprint(): string {
    // The globals decide answers as much as the spans do.
    return JSON.stringify([super.fingerprint(), this.globals]);
  }

  override cacheView(): SpanTableView {
    // Positions here are the client's (an anchor's, or none), and so are the answers about them: keyed as they are.
    return { fingerprint: this.fingerprint(), bases: null };
  }
}

/** Where Id-mode spans live in the table's span data: no file, the client's number as `lo`. */
const ID_FILE = -2;

export class IdSpanTable extends SrvSpanTable {
  /** The handle for the client's span number. */
  internId(id: number): Span {
    return this.intern({ file: ID_FILE, lo: id, hi: id, ctxt: 0 });
  }

  /** The client's span number a handle stands for (anything else is the call site, as natively). */
  id(span: Span): number {
    if (this.has(span)) {
      const d = this.data(span);
      if (d.file === ID_FILE) return d.lo;
    }
    const call = this.callSite;
    return this.data(call).lo;
  }

  override start(_span: Span): Span {
    return this.callSite;
  }
  override end(_span: Span): Span {
    return this.callSite;
  }
  override line(_span: Span): number {
    return 1;
  }
  override column(_span: Span): number {
    return 1;
  }
  override byteRange(_span: Span): { start: number; end: number } {
    return { start: 0, end: 0 };
  }
  override fileName(_span: Span): string {
    return "";
  }
  override localFile(_span: Span): string | null {
    return null;
  }
  override join(first: Span, _second: Span): Span {
    // "Just return the first span again, because some macros will unwrap the result."
    return first;
  }
  override subspan(span: Span, _start: Bound, _end: Bound): Span {
    return span;
  }
  override resolvedAt(_span: Span, _at: Span): Span {
    return this.callSite;
  }
  override sourceText(_span: Span): string | null {
    return null;
  }
  override parent(_span: Span): Span | null {
    return null;
  }
  override source(span: Span): Span {
    return span;
  }
  override debug(span: Span): string {
    return String(this.id(span));
  }
  override location(span: Span): SpanLocation {
    // For macrobox's own diagnostics about the request (it has no source text to point into).
    return { file: `span ${this.id(span)}`, lo: 0, hi: 0, line: 1, column: 1, endLine: 1, endColumn: 1, text: null };
  }
}
