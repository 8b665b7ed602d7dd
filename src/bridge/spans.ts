// The span table: what the opaque `Span` numbers of the token model mean.
//
// A span is a byte range in a source file plus a syntax context (hygiene), interned: the same
// (file, lo, hi, ctxt) always gets the same number, just as rustc's bridge interns span handles —
// so span numbers can be used as the bridge's span handles directly (they are non-zero u32s).
//
// Positions follow rustc's SourceMap (rustc_span): source text is normalised first (BOM removed,
// CRLF -> LF), lines are 1-based, columns are 1-based and count chars (not bytes, not UTF-16 units),
// every file has a start position in one global byte space (files are laid out one after the
// other, one byte apart), which is what `span_debug` prints: `#<ctxt> bytes(<lo>..<hi>)`.
//
// Syntax contexts: 0 is the root context of code as written. Each expansion gets three more —
// call-site, def-site and mixed-site — whose parent call site is the macro invocation.
//
// Browser-safe: no Node APIs here.

import type { Span, TokenStream } from "../tokens/model.js";
import { normalizeSource } from "../tokens/index.js";
import { MacroboxError, type DiagnosticSpan } from "../errors.js";

export interface SourceFile {
  /** Index in the table. */
  readonly index: number;
  /** Display name (what `Span::file` returns). */
  readonly name: string;
  /** A real path on the local file system, when there is one (`Span::local_file`); null for virtual input. */
  readonly localPath: string | null;
  /** Normalised text. */
  readonly text: string;
  readonly bytes: Uint8Array;
  /** Byte offset of every line start. */
  readonly lineStarts: readonly number[];
  /** Position of byte 0 in the table's global byte space. */
  readonly startPos: number;
}

export interface SpanData {
  /** Source file index, or -1 for the dummy span (no source). */
  file: number;
  /** File-relative byte offsets. */
  lo: number;
  hi: number;
  ctxt: number;
}

export interface SyntaxContextInfo {
  kind: "root" | "call_site" | "def_site" | "mixed_site";
  /** The macro invocation this context was created for (root context), or null for the root. */
  parentCallSite: Span | null;
}

export interface Expansion {
  callSite: Span;
  defSite: Span;
  mixedSite: Span;
}

/** A span resolved to file positions: the one shape diagnostics carry (src/errors.ts). */
export type SpanLocation = DiagnosticSpan;

export interface SpanTableCheckpoint {
  files: number;
  spans: number;
  contexts: number;
}

export interface SpanTableDelta {
  spans: SpanData[];
  contexts: SyntaxContextInfo[];
}

export class SpanError extends MacroboxError {
  override name = "SpanError";
  constructor(message: string) {
    super("input", message);
  }
}

export const ROOT_CTXT = 0;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export class SpanTable {
  private readonly files: SourceFile[] = [];
  private readonly spans: SpanData[] = [{ file: -1, lo: 0, hi: 0, ctxt: ROOT_CTXT }]; // index 0 unused: handles are non-zero
  private readonly interned = new Map<string, Span>();
  private readonly contexts: SyntaxContextInfo[] = [{ kind: "root", parentCallSite: null }];
  private nextStartPos = 0;

  /** The span that points nowhere (tokens made without a source), in the root context. */
  readonly dummy: Span;

  constructor() {
    this.dummy = this.intern({ file: -1, lo: 0, hi: 0, ctxt: ROOT_CTXT });
  }

  addFile(name: string, text: string, options: { localPath?: string | null } = {}): SourceFile {
    const normalized = normalizeSource(text).text;
    const bytes = utf8.encode(normalized);
    const lineStarts = [0];
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) lineStarts.push(i + 1);
    const file: SourceFile = {
      index: this.files.length,
      name,
      localPath: options.localPath ?? null,
      text: normalized,
      bytes,
      lineStarts,
      startPos: this.nextStartPos,
    };
    this.nextStartPos += bytes.length + 1;
    this.files.push(file);
    return file;
  }

  fileAt(index: number): SourceFile {
    const f = this.files[index];
    if (!f) throw new SpanError(`no source file ${index}`);
    return f;
  }

  /** The span of bytes lo..hi of `file` in context `ctxt`. */
  span(file: SourceFile | number, lo: number, hi: number, ctxt = ROOT_CTXT): Span {
    const index = typeof file === "number" ? file : file.index;
    const f = this.fileAt(index);
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi && hi <= f.bytes.length)) {
      throw new SpanError(`span ${lo}..${hi} is outside ${f.name} (${f.bytes.length} bytes)`);
    }
    return this.intern({ file: index, lo, hi, ctxt });
  }

  /** Interns span data; the result is a valid non-zero u32 handle. */
  intern(data: SpanData): Span {
    const key = `${data.file}:${data.lo}:${data.hi}:${data.ctxt}`;
    const known = this.interned.get(key);
    if (known !== undefined) return known;
    if (this.spans.length >= 0xffffffff) throw new SpanError("span table is full");
    const id = this.spans.length;
    this.spans.push({ ...data });
    this.interned.set(key, id);
    return id;
  }

  has(span: Span): boolean {
    return Number.isInteger(span) && span > 0 && span < this.spans.length;
  }

  data(span: Span): SpanData {
    if (!this.has(span)) throw new SpanError(`unknown span ${span}`);
    return this.spans[span];
  }

  get size(): number {
    return this.spans.length - 1;
  }

  context(ctxt: number): SyntaxContextInfo {
    const c = this.contexts[ctxt];
    if (!c) throw new SpanError(`unknown syntax context ${ctxt}`);
    return c;
  }

  /**
   * Registers a macro expansion invoked at `invocation` (a root-context span covering the
   * invocation): returns its call-site, def-site and mixed-site spans, which all carry the
   * invocation's location, like rustc's (`ExtCtxt::with_*_ctxt(expn_data.call_site)`).
   */
  newExpansion(invocation: Span): Expansion {
    const d = this.data(invocation);
    const make = (kind: SyntaxContextInfo["kind"]): Span => {
      const ctxt = this.contexts.length;
      this.contexts.push({ kind, parentCallSite: invocation });
      return this.intern({ ...d, ctxt });
    };
    return { callSite: make("call_site"), defSite: make("def_site"), mixedSite: make("mixed_site") };
  }

  // ---- state, for the expansion cache (src/host/cache.ts) ----

  /** How many files, spans and contexts the table holds: the table only ever grows. */
  checkpoint(): SpanTableCheckpoint {
    return { files: this.files.length, spans: this.spans.length, contexts: this.contexts.length };
  }

  /**
   * Everything a macro could learn from this table, as one canonical string: every file (name,
   * local path, text), every span and every syntax context, in order. Two tables with the same
   * fingerprint answer every span question alike and hand out the same next numbers.
   */
  fingerprint(): string {
    const files = this.files.map((f) => [f.name, f.localPath, f.text]);
    const spans = this.spans.map((d) => [d.file, d.lo, d.hi, d.ctxt]);
    const contexts = this.contexts.map((c) => [c.kind, c.parentCallSite]);
    return JSON.stringify([files, spans, contexts]);
  }

  /** What was added since `from` (spans and contexts; expansions never add files). */
  deltaSince(from: SpanTableCheckpoint): SpanTableDelta {
    if (this.files.length !== from.files) throw new SpanError("source files were added during an expansion");
    return { spans: this.spans.slice(from.spans).map((d) => ({ ...d })), contexts: this.contexts.slice(from.contexts).map((c) => ({ ...c })) };
  }

  /** Replays a delta recorded at checkpoint `at`, which must be where this table is now. */
  applyDelta(at: SpanTableCheckpoint, delta: SpanTableDelta): void {
    const now = this.checkpoint();
    if (now.files !== at.files || now.spans !== at.spans || now.contexts !== at.contexts)
      throw new SpanError("the span table changed since the cached expansion's checkpoint");
    for (const c of delta.contexts) this.contexts.push({ kind: c.kind, parentCallSite: c.parentCallSite });
    for (const d of delta.spans) {
      const id = this.spans.length;
      this.spans.push({ file: d.file, lo: d.lo, hi: d.hi, ctxt: d.ctxt });
      this.interned.set(`${d.file}:${d.lo}:${d.hi}:${d.ctxt}`, id);
    }
  }

  // ---- spans of tokens parsed from a string (`TokenStream::from_str`) ----

  /** The span of the token at bytes lo..hi of the parsed string: rustc gives every one the call site. */
  parsedSpan(callSite: Span, _lo: number, _hi: number): Span {
    return callSite;
  }

  /** A last pass over a parsed string's tokens (a table whose spans depend on the token kind); rustc: none. */
  adjustParsed(stream: TokenStream, _src: string, _callSite: Span): TokenStream {
    return stream;
  }

  // ---- what a proc-macro server (not rustc) may answer differently ----

  /** `Span::save_span`: the id to hand out, or null to let the bridge keep the span (rustc). */
  saveSpan(_span: Span): number | null {
    return null;
  }

  /** `Span::recover_proc_macro_span(id)`: the span, or null to let the bridge answer (rustc). */
  recoverSpan(_id: number): Span | null {
    return null;
  }

  /** Whether `TokenStream::expand_expr` expands (rustc) or hands the stream back unchanged. */
  get expandsExpressions(): boolean {
    return true;
  }

  // ---- rustc's span operations (rustc_expand/src/proc_macro_server.rs) ----

  /** `span.shrink_to_lo()`. */
  start(span: Span): Span {
    const d = this.data(span);
    return this.intern({ ...d, hi: d.lo });
  }

  /** `span.shrink_to_hi()`. */
  end(span: Span): Span {
    const d = this.data(span);
    return this.intern({ ...d, lo: d.hi });
  }

  /** 1-based line of the span's start. */
  line(span: Span): number {
    const d = this.data(span);
    if (d.file < 0) return 1;
    return lineIndex(this.fileAt(d.file), d.lo) + 1;
  }

  /** 1-based column of the span's start, counting chars. */
  column(span: Span): number {
    const d = this.data(span);
    if (d.file < 0) return 1;
    const f = this.fileAt(d.file);
    const lineStart = f.lineStarts[lineIndex(f, d.lo)];
    return charCount(f.bytes, lineStart, d.lo) + 1;
  }

  /** File-relative byte range. */
  byteRange(span: Span): { start: number; end: number } {
    const d = this.data(span);
    return { start: d.lo, end: d.hi };
  }

  fileName(span: Span): string {
    const d = this.data(span);
    return d.file < 0 ? "<unknown>" : this.fileAt(d.file).name;
  }

  localFile(span: Span): string | null {
    const d = this.data(span);
    return d.file < 0 ? null : this.fileAt(d.file).localPath;
  }

  /** `first.to(second)` if both are in the same file, else null. */
  join(first: Span, second: Span): Span | null {
    const a = this.data(first);
    const b = this.data(second);
    if (a.file !== b.file) return null;
    // Span::to keeps the first span's context unless it is the root one.
    const ctxt = a.ctxt !== ROOT_CTXT ? a.ctxt : b.ctxt;
    return this.intern({ file: a.file, lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi), ctxt });
  }

  /** `Literal::subspan` with rustc's bounds checks; bounds are byte offsets into the span. */
  subspan(span: Span, start: Bound, end: Bound): Span | null {
    const d = this.data(span);
    const length = d.hi - d.lo;
    let s: number;
    if (start.kind === "included") s = start.value;
    else if (start.kind === "excluded") s = start.value + 1;
    else s = 0;
    let e: number;
    if (end.kind === "included") e = end.value + 1;
    else if (end.kind === "excluded") e = end.value;
    else e = length;
    if (s > 0xffffffff || e > 0xffffffff || s >= e || e > length) return null;
    return this.intern({ ...d, lo: d.lo + s, hi: d.lo + e });
  }

  /** `span.with_ctxt(at.ctxt())`. */
  resolvedAt(span: Span, at: Span): Span {
    return this.intern({ ...this.data(span), ctxt: this.data(at).ctxt });
  }

  /** The source text under the span, or null when it is not real source or not on char boundaries. */
  sourceText(span: Span): string | null {
    const d = this.data(span);
    if (d.file < 0) return null;
    const f = this.fileAt(d.file);
    try {
      return utf8Decoder.decode(f.bytes.subarray(d.lo, d.hi));
    } catch {
      return null;
    }
  }

  /** `span.parent_callsite()`: the invocation an expansion-context span came from. */
  parent(span: Span): Span | null {
    return this.context(this.data(span).ctxt).parentCallSite;
  }

  /** `span.source_callsite()`: follows parents to code as written. */
  source(span: Span): Span {
    let s = span;
    for (let guard = 0; guard < 10_000; guard++) {
      const p = this.parent(s);
      if (p === null) return s;
      s = p;
    }
    return s;
  }

  /** rustc's `Span` Debug output without `-Z span-debug`: `#<ctxt> bytes(<lo>..<hi>)` in global positions. */
  debug(span: Span): string {
    const d = this.data(span);
    const base = d.file < 0 ? 0 : this.fileAt(d.file).startPos;
    return `#${d.ctxt} bytes(${base + d.lo}..${base + d.hi})`;
  }

  location(span: Span): SpanLocation {
    const end = this.end(span);
    const d = this.data(span);
    return {
      file: this.fileName(span),
      lo: d.lo,
      hi: d.hi,
      line: this.line(span),
      column: this.column(span),
      endLine: this.line(end),
      endColumn: this.column(end),
      text: this.sourceText(span),
    };
  }
}

export type Bound = { kind: "included"; value: number } | { kind: "excluded"; value: number } | { kind: "unbounded" };

function lineIndex(f: SourceFile, pos: number): number {
  // Last line start <= pos (binary search).
  let lo = 0;
  let hi = f.lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (f.lineStarts[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Chars in bytes[from..to): every byte that is not a UTF-8 continuation byte starts a char. */
function charCount(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if ((bytes[i] & 0xc0) !== 0x80) n++;
  return n;
}
