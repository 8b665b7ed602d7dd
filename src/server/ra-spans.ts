// rust-analyzer's `RustAnalyzer` span mode: spans are rust-analyzer's own `span::Span` values
// (anchor = file id with edition + AST id, a text range relative to the anchor, a syntax context),
// and every span question is answered exactly as rustc 1.96's rust-analyzer-proc-macro-srv answers
// it (proc-macro-srv/src/server_impl/rust_analyzer_span.rs): join, subspan, start/end and
// resolved_at compute on the span values; file, local file, source text, line/column, byte range,
// parent and source go to the client when it can be asked (the bidirectional postcard format's
// sub-requests), and otherwise get the native server's answers without a client ("", None, 1, the
// span's own range, None, the span itself).
//
// The bridge only knows the SpanTable interface, so this is a SpanTable whose span data holds an
// anchor index in `file`, the range in `lo`/`hi` and rust-analyzer's context number in `ctxt`:
// interning, checkpoints and cache deltas keep working unchanged.
//
// Browser-safe: no Node APIs here.

import { IntKeyIndex, type Bound, type SpanData as TableSpanData, type SpanLocation } from "../bridge/spans.js";
import { SrvSpanTable } from "./srv-spans.js";
import type { Span, TokenStream, TokenTree } from "../tokens/model.js";
import type { SpanData } from "./protocol.js";
import { MacroboxError } from "../errors.js";

/** What the client can be asked about spans (the postcard format's sub-requests). Synchronous: the macro waits. */
export interface RaSpanClient {
  /** `FilePath { file_id }` (the file id without its edition bits). */
  filePath(fileId: number): string;
  localFilePath(fileId: number): string | null;
  sourceText(span: SpanData): string | null;
  /** 1-based line and column of `offset` in the anchor. */
  lineColumn(fileId: number, astId: number, offset: number): { line: number; column: number };
  byteRange(span: SpanData): { start: number; end: number };
  spanSource(span: SpanData): SpanData;
  spanParent(span: SpanData): SpanData | null;
}

/** `FIXUP_ERASED_FILE_AST_ID_MARKER`: kind Fixup (0), index 0, hash 0. */
const FIXUP_AST_ID = 0;
/** `SyntaxContext::MAX_ID` (salsa's `Id::MAX_U32 - 1`). */
const MAX_CTX_ID = 0xffff_ff00 - 1;
const EDITIONS = ["Edition2015", "Edition2018", "Edition2021", "Edition2024"];
/** `SyntaxContext::is_root`: the root contexts are MAX_ID - edition. */
export function isRootContext(ctx: number): boolean {
  return MAX_CTX_ID - (EDITIONS.length - 1) <= ctx && ctx <= MAX_CTX_ID;
}

const AST_ID_KINDS = [
  "Fixup",
  "Enum",
  "Struct",
  "Union",
  "ExternCrate",
  "MacroDef",
  "MacroRules",
  "Module",
  "Static",
  "Trait",
  "Variant",
  "Const",
  "Fn",
  "MacroCall",
  "TypeAlias",
  "ExternBlock",
  "Use",
  "Impl",
  "BlockExpr",
  "AsmExpr",
  "NoDownmap",
  "Root",
];

/** `format!("{:?}", span)` of rust-analyzer's `Span`. */
export function debugRaSpan(s: SpanData): string {
  const edition = EDITIONS[(s.fileId & 0x7f80_0000) >>> 23] ?? "Unknown";
  const kind = AST_ID_KINDS[s.astId >>> 27] ?? "Unknown";
  const index = (s.astId >>> 16) & 0x7ff;
  const hash = (s.astId & 0xffff).toString(16).toUpperCase().padStart(4, "0");
  return (
    `SpanData { range: ${s.start}..${s.end}, anchor: SpanAnchor(EditionedFileId(${s.fileId & 0x7f_ffff}, ${edition}), ` +
    `ErasedFileAstId { kind: ${kind}, index: ${index}, hash: ${hash} }), ctx: SyntaxContext(${s.ctx}) }`
  );
}

export class RaSpanTable extends SrvSpanTable {
  private readonly anchors: { fileId: number; astId: number }[] = [];
  private readonly anchorIndex = new IntKeyIndex(2);
  /** The first error a client question ended with (the native server then answers with an empty message). */
  clientFailure: unknown = null;

  /** `client` answers the questions only the client can (postcard sub-requests); without one, the native server's defaults. */
  constructor(private readonly client: RaSpanClient | null = null) {
    super();
  }

  /** Whether span questions go to a client (then answers depend on more than this table). */
  get asksClient(): boolean {
    return this.client !== null;
  }

  /** The handle for a rust-analyzer span. */
  internRa(s: SpanData): Span {
    let anchor = this.anchorIndex.get(s.fileId, s.astId);
    if (anchor < 0) {
      anchor = this.anchors.length;
      this.anchors.push({ fileId: s.fileId, astId: s.astId });
      this.anchorIndex.set(anchor, s.fileId, s.astId);
    }
    return this.intern({ file: anchor, lo: s.start, hi: s.end, ctxt: s.ctx });
  }

  /** The rust-analyzer span a handle stands for. */
  ra(span: Span): SpanData {
    // The table's dummy span (tokens without a source, the host's fallback invocation) is the call site here.
    if (span === this.dummy && this.globals !== null) span = this.globals.callSite;
    const d = this.data(span);
    const a = this.anchors[d.file];
    if (a === undefined) throw new MacroboxError("input", `span ${span} is not a rust-analyzer span`);
    return { fileId: a.fileId, astId: a.astId, start: d.lo, end: d.hi, ctx: d.ctxt };
  }

  override fingerprint(): string {
    // The anchors decide answers as much as the spans do.
    return JSON.stringify(["ra", super.fingerprint(), this.anchors]);
  }

  /** A question to the client; a failure (a Cancel, a broken connection) is remembered. */
  private ask<T>(question: (client: RaSpanClient) => T): T {
    try {
      return question(this.client!);
    } catch (e) {
      this.clientFailure ??= e;
      throw e;
    }
  }

  // `TokenStream::from_str` in rust-analyzer's server (proc-macro-srv/src/token_stream.rs): each
  // token gets the call site's anchor and context with its range in the parsed string
  // (`derive_ranged`), adjusted per token kind below.

  override parsedSpan(callSite: Span, lo: number, hi: number): Span {
    return this.with(callSite, { lo, hi });
  }

  override adjustParsed(stream: TokenStream, src: string, callSite: Span): TokenStream {
    const fix = (t: TokenTree): TokenTree => {
      if (t.type === "group") {
        const open = this.fixRange(t.span.open, src, callSite, "group");
        const close = this.fixRange(t.span.close, src, callSite, "group");
        const entire = this.fixRange(t.span.entire, src, callSite, "group");
        return { ...t, span: { open, close, entire }, stream: t.stream.map(fix) };
      }
      return { ...t, span: this.fixRange(t.span, src, callSite, t.type === "ident" && t.isRaw ? "raw-ident" : t.type) };
    };
    return stream.map(fix);
  }

  private fixRange(span: Span, src: string, callSite: Span, kind: "group" | "raw-ident" | TokenTree["type"]): Span {
    const { lo, hi } = this.data(span);
    const text = src.slice(lo, lo + 3);
    // A doc comment's desugared tokens: all the call site, but for the doc string literal.
    if (text.startsWith("//") || text.startsWith("/*")) return kind === "literal" ? span : callSite;
    if (text.startsWith("'") && kind !== "literal") {
      // Lifetimes: `'` at start+1..start+2 and the name from start+1 (raw: r# skipped too).
      const from = lo + (text.startsWith("'r#") ? 3 : 1);
      return this.with(span, kind === "punct" ? { lo: from, hi: from + 1 } : { lo: from, hi });
    }
    if (kind === "raw-ident" && text.startsWith("r#")) return this.with(span, { lo: lo + 2 });
    return span;
  }

  private with(span: Span, change: Partial<TableSpanData>): Span {
    return this.intern({ ...this.data(span), ...change });
  }

  private isFixup(span: Span): boolean {
    return this.ra(span).astId === FIXUP_AST_ID;
  }

  override start(span: Span): Span {
    if (this.isFixup(span)) return span;
    const d = this.data(span);
    return this.with(span, { hi: d.lo });
  }

  override end(span: Span): Span {
    if (this.isFixup(span)) return span;
    const d = this.data(span);
    return this.with(span, { lo: d.hi });
  }

  override line(span: Span): number {
    if (this.client === null) return 1;
    const s = this.ra(span);
    return this.ask((c) => c.lineColumn(s.fileId, s.astId, s.start)).line;
  }

  override column(span: Span): number {
    if (this.client === null) return 1;
    const s = this.ra(span);
    return this.ask((c) => c.lineColumn(s.fileId, s.astId, s.start)).column;
  }

  override byteRange(span: Span): { start: number; end: number } {
    if (this.client !== null) return this.ask((c) => c.byteRange(this.ra(span)));
    const d = this.data(span);
    return { start: d.lo, end: d.hi };
  }

  override fileName(span: Span): string {
    return this.client === null ? "" : this.ask((c) => c.filePath(this.ra(span).fileId & 0x7f_ffff));
  }

  override localFile(span: Span): string | null {
    return this.client === null ? null : this.ask((c) => c.localFilePath(this.ra(span).fileId & 0x7f_ffff));
  }

  override join(first: Span, second: Span): Span | null {
    const a = this.ra(first);
    const b = this.ra(second);
    if (a.astId === FIXUP_AST_ID) return second;
    if (b.astId === FIXUP_AST_ID) return first;
    if (a.fileId !== b.fileId || a.astId !== b.astId) return null;
    if (a.ctx !== b.ctx) {
      if (isRootContext(a.ctx)) return second;
      if (isRootContext(b.ctx)) return first;
    }
    return this.internRa({ ...b, start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) });
  }

  override subspan(span: Span, start: Bound, end: Bound): Span | null {
    if (this.isFixup(span)) return span;
    const d = this.data(span);
    const length = d.hi - d.lo;
    const U32 = 0xffff_ffff;
    let s: number;
    if (start.kind === "included") s = start.value;
    else if (start.kind === "excluded") {
      if (start.value >= Number.MAX_SAFE_INTEGER) return null;
      s = start.value + 1;
    } else s = 0;
    let e: number;
    if (end.kind === "included") {
      if (end.value >= Number.MAX_SAFE_INTEGER) return null;
      e = end.value + 1;
    } else if (end.kind === "excluded") e = end.value;
    else e = length;
    if (s > U32 || e > U32) return null;
    if (U32 - s < d.lo || U32 - e < d.lo || s >= e || e > length) return null;
    return this.with(span, { lo: d.lo + s, hi: d.lo + e });
  }

  override resolvedAt(span: Span, at: Span): Span {
    return this.with(span, { ctxt: this.data(at).ctxt });
  }

  override sourceText(span: Span): string | null {
    return this.client === null ? null : this.ask((c) => c.sourceText(this.ra(span)));
  }

  override parent(span: Span): Span | null {
    if (this.client === null) return null;
    const p = this.ask((c) => c.spanParent(this.ra(span)));
    return p === null ? null : this.internRa(p);
  }

  override source(span: Span): Span {
    return this.client === null ? span : this.internRa(this.ask((c) => c.spanSource(this.ra(span))));
  }

  override debug(span: Span): string {
    return debugRaSpan(this.ra(span));
  }

  override location(span: Span): SpanLocation {
    // For macrobox's own diagnostics about the request (it has no source text to point into).
    const s = this.ra(span);
    return { file: `file ${s.fileId & 0x7f_ffff}`, lo: s.start, hi: s.end, line: 1, column: 1, endLine: 1, endColumn: 1, text: null };
  }
}
