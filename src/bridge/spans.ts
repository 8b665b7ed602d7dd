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

/**
 * The table as the expansion cache keys it (`cacheView`). `fingerprint`: everything a macro could
 * learn from the table but where its spans sit in their files; `bases`: where that is, per file (the
 * first byte any span of the file covers), so that a cached expansion's spans can be rebased. Null
 * bases: the fingerprint is absolute (nothing to rebase).
 */
export interface SpanTableView {
  fingerprint: string;
  bases: readonly number[] | null;
}

/** A question about where a span sits (its file's lines, byte offsets, global position) and its answer. */
export type PositionQuestion = "line" | "column" | "byteRange" | "debug" | "location";

/** A position question asked during an expansion, the span relative to its file's base, and the answer. */
export interface PositionObservation {
  op: PositionQuestion;
  file: number;
  lo: number;
  hi: number;
  ctxt: number;
  answer: string;
}

export class SpanError extends MacroboxError {
  override name = "SpanError";
  constructor(message: string) {
    super("input", message);
  }
}

export const ROOT_CTXT = 0;

/**
 * Values by a key of `width` integers (a span's fields), compared by value: what a string key per
 * span did (`${file}:${lo}:${hi}:${ctxt}`), without a string per span. A request's tokens bring
 * thousands of spans, each looked up on the way in and again on the way out.
 */
export class IntKeyIndex {
  /** Hash -> the first entry with it; entries with the same hash are chained through `chain`. */
  private readonly heads = new Map<number, number>();
  private readonly chain: number[] = [];
  private readonly keys: number[] = [];
  private readonly values: number[] = [];

  /** `hash`: of the key's fields (a test gives one that collides). */
  constructor(
    private readonly width: 2 | 4 | 5,
    private readonly hash: (a: number, b: number, c: number, d: number, e: number) => number = hashKey,
  ) {}

  /** The value under the key (a, b, c, d, e: the first `width` of them), or -1. */
  get(a: number, b: number, c = 0, d = 0, e = 0): number {
    const at = this.find(a, b, c, d, e, this.hash(a, b, c, d, e));
    return at < 0 ? -1 : this.values[at];
  }

  /** Puts `value` under the key (replacing what was there). */
  set(value: number, a: number, b: number, c = 0, d = 0, e = 0): void {
    const hash = this.hash(a, b, c, d, e);
    const at = this.find(a, b, c, d, e, hash);
    if (at >= 0) {
      this.values[at] = value;
      return;
    }
    const entry = this.values.length;
    this.values.push(value);
    const w = this.width;
    this.keys.push(a, b);
    if (w >= 4) this.keys.push(c, d);
    if (w === 5) this.keys.push(e);
    this.chain.push(this.heads.get(hash) ?? -1);
    this.heads.set(hash, entry);
  }

  private find(a: number, b: number, c: number, d: number, e: number, hash: number): number {
    const w = this.width;
    const k = this.keys;
    for (let at = this.heads.get(hash) ?? -1; at >= 0; at = this.chain[at]) {
      const i = at * w;
      if (k[i] === a && k[i + 1] === b && (w < 4 || (k[i + 2] === c && k[i + 3] === d)) && (w < 5 || k[i + 4] === e)) return at;
    }
    return -1;
  }
}

function hashKey(a: number, b: number, c: number, d: number, e: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ b ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ c ^ (h >>> 13), 0x85ebca6b);
  h = Math.imul(h ^ d ^ (h >>> 16), 0xc2b2ae35);
  h = Math.imul(h ^ e ^ (h >>> 15), 0x85ebca6b);
  return h ^ (h >>> 16);
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export class SpanTable {
  private readonly files: SourceFile[] = [];
  private readonly spans: SpanData[] = [{ file: -1, lo: 0, hi: 0, ctxt: ROOT_CTXT }]; // index 0 unused: handles are non-zero
  private readonly interned = new IntKeyIndex(4);
  private readonly contexts: SyntaxContextInfo[] = [{ kind: "root", parentCallSite: null }];
  private nextStartPos = 0;
  /** While an expansion is observed for the cache: its bases, and the position questions asked so far. */
  private observer: { bases: readonly number[]; seen: Set<string>; observations: PositionObservation[]; sourceTextRead: boolean } | null = null;

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
    const known = this.interned.get(data.file, data.lo, data.hi, data.ctxt);
    if (known >= 0) return known;
    if (this.spans.length >= 0xffffffff) throw new SpanError("span table is full");
    const id = this.spans.length;
    this.spans.push({ file: data.file, lo: data.lo, hi: data.hi, ctxt: data.ctxt });
    this.interned.set(id, data.file, data.lo, data.hi, data.ctxt);
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

  /**
   * The table with every span's position made relative to its file's base (the first byte any span
   * of the file covers), and of each file only the text between its base and the last byte a span
   * covers. No span a macro can reach or make (join, subspan, start, end) leaves that range, so two
   * tables with the same view answer every span question alike, hand out the same next numbers and
   * read the same source text, but for the questions that tell where the range sits in its file or in
   * the table (line, column, byte range, the global position `debug` prints, a diagnostic's
   * location): those are observed during the expansion (`observePositions`) and asked again on a
   * hit. So an item that moved in its file (a line inserted above it) keeps its cache entries.
   *
   * A table that answers position questions otherwise (src/server's) keeps the absolute fingerprint.
   */
  cacheView(): SpanTableView {
    const bases: number[] = this.files.map(() => Infinity);
    const ends: number[] = this.files.map(() => -1);
    for (let i = 1; i < this.spans.length; i++) {
      const d = this.spans[i];
      if (d.file < 0) continue;
      if (d.lo < bases[d.file]) bases[d.file] = d.lo;
      if (d.hi > ends[d.file]) ends[d.file] = d.hi;
    }
    for (let f = 0; f < bases.length; f++) if (bases[f] === Infinity) bases[f] = 0;
    const files = this.files.map((f, i) => [f.name, f.localPath, ends[i] < 0 ? null : exactText(f.bytes.subarray(bases[i], ends[i]))]);
    const spans = this.spans.map((d) => (d.file < 0 ? [d.file, d.lo, d.hi, d.ctxt] : [d.file, d.lo - bases[d.file], d.hi - bases[d.file], d.ctxt]));
    const contexts = this.contexts.map((c) => [c.kind, c.parentCallSite]);
    return { fingerprint: JSON.stringify(["relative", files, spans, contexts]), bases };
  }

  /**
   * Records, until `stopObserving`, every position question asked of the table (see `cacheView`),
   * relative to `bases`, with its answer; returns the list it fills.
   */
  observePositions(bases: readonly number[]): PositionObservation[] {
    this.observer = { bases, seen: new Set(), observations: [], sourceTextRead: false };
    return this.observer.observations;
  }

  /**
   * Ends the observation; says whether source text was read meanwhile (the view holds the text, so
   * the cache needs no record of it, but an answer keyed without the text does: src/patch/answers.ts).
   */
  stopObserving(): { sourceTextRead: boolean } {
    const read = this.observer?.sourceTextRead ?? false;
    this.observer = null;
    return { sourceTextRead: read };
  }

  /** Whether every observed question gets the same answer now, its span rebased onto `bases`. */
  positionsHold(observations: readonly PositionObservation[], bases: readonly number[]): boolean {
    for (const o of observations) {
      const base = o.file < 0 ? 0 : bases[o.file];
      if (base === undefined) return false;
      const d: SpanData = { file: o.file, lo: o.lo + base, hi: o.hi + base, ctxt: o.ctxt };
      if (d.file >= 0 && !(d.hi <= this.fileAt(d.file).bytes.length)) return false;
      if (this.positionAnswer(o.op, d) !== o.answer) return false;
    }
    return true;
  }

  /** A position question's answer, as observed (computed from the span's data: nothing is interned). */
  private positionAnswer(op: PositionQuestion, d: SpanData): string {
    switch (op) {
      case "line":
        return String(this.lineOf(d.file, d.lo));
      case "column":
        return String(this.columnOf(d.file, d.lo));
      case "byteRange":
        return `${d.lo}..${d.hi}`;
      case "debug":
        return this.debugOf(d);
      case "location":
        return JSON.stringify(this.locationOf(d));
    }
  }

  private observe(op: PositionQuestion, span: Span): void {
    const o = this.observer;
    if (o === null) return;
    const d = this.data(span);
    const base = d.file < 0 ? 0 : (o.bases[d.file] ?? 0);
    const id = `${op}:${d.file}:${d.lo}:${d.hi}:${d.ctxt}`;
    if (o.seen.has(id)) return;
    o.seen.add(id);
    o.observations.push({ op, file: d.file, lo: d.lo - base, hi: d.hi - base, ctxt: d.ctxt, answer: this.positionAnswer(op, d) });
  }

  /** What was added since `from` (spans and contexts; expansions never add files), spans relative to `bases`. */
  deltaSince(from: SpanTableCheckpoint, bases: readonly number[] | null = null): SpanTableDelta {
    if (this.files.length !== from.files) throw new SpanError("source files were added during an expansion");
    const shift = (d: SpanData) => (bases === null || d.file < 0 ? 0 : bases[d.file]);
    return {
      spans: this.spans.slice(from.spans).map((d) => ({ ...d, lo: d.lo - shift(d), hi: d.hi - shift(d) })),
      contexts: this.contexts.slice(from.contexts).map((c) => ({ ...c })),
    };
  }

  /** Replays a delta recorded at checkpoint `at` (relative to bases, when given), which must be where this table is now. */
  applyDelta(at: SpanTableCheckpoint, delta: SpanTableDelta, bases: readonly number[] | null = null): void {
    const now = this.checkpoint();
    if (now.files !== at.files || now.spans !== at.spans || now.contexts !== at.contexts)
      throw new SpanError("the span table changed since the cached expansion's checkpoint");
    const spans = delta.spans.map((d) => {
      const shift = bases === null || d.file < 0 ? 0 : bases[d.file];
      const data = { file: d.file, lo: d.lo + shift, hi: d.hi + shift, ctxt: d.ctxt };
      if (data.file >= 0 && !(0 <= data.lo && data.lo <= data.hi && data.hi <= this.fileAt(data.file).bytes.length))
        throw new SpanError("a cached span does not fit its file");
      return data;
    });
    for (const c of delta.contexts) this.contexts.push({ kind: c.kind, parentCallSite: c.parentCallSite });
    for (const d of spans) {
      const id = this.spans.length;
      this.spans.push(d);
      this.interned.set(id, d.file, d.lo, d.hi, d.ctxt);
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
    this.observe("line", span);
    const d = this.data(span);
    return this.lineOf(d.file, d.lo);
  }

  /** 1-based column of the span's start, counting chars. */
  column(span: Span): number {
    this.observe("column", span);
    const d = this.data(span);
    return this.columnOf(d.file, d.lo);
  }

  private lineOf(file: number, pos: number): number {
    return file < 0 ? 1 : lineIndex(this.fileAt(file), pos) + 1;
  }

  private columnOf(file: number, pos: number): number {
    if (file < 0) return 1;
    const f = this.fileAt(file);
    const lineStart = f.lineStarts[lineIndex(f, pos)];
    return charCount(f.bytes, lineStart, pos) + 1;
  }

  /** File-relative byte range. */
  byteRange(span: Span): { start: number; end: number } {
    this.observe("byteRange", span);
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
    if (this.observer !== null) this.observer.sourceTextRead = true;
    const d = this.data(span);
    return d.file < 0 ? null : decodeOrNull(this.fileAt(d.file).bytes.subarray(d.lo, d.hi));
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
    this.observe("debug", span);
    return this.debugOf(this.data(span));
  }

  private debugOf(d: SpanData): string {
    const base = d.file < 0 ? 0 : this.fileAt(d.file).startPos;
    return `#${d.ctxt} bytes(${base + d.lo}..${base + d.hi})`;
  }

  /** Where a span is, for a diagnostic. */
  location(span: Span): SpanLocation {
    this.observe("location", span);
    return this.locationOf(this.data(span));
  }

  private locationOf(d: SpanData): SpanLocation {
    return {
      file: d.file < 0 ? "<unknown>" : this.fileAt(d.file).name,
      lo: d.lo,
      hi: d.hi,
      line: this.lineOf(d.file, d.lo),
      column: this.columnOf(d.file, d.lo),
      endLine: this.lineOf(d.file, d.hi),
      endColumn: this.columnOf(d.file, d.hi),
      text: d.file < 0 ? null : decodeOrNull(this.fileAt(d.file).bytes.subarray(d.lo, d.hi)),
    };
  }
}

export type Bound = { kind: "included"; value: number } | { kind: "excluded"; value: number } | { kind: "unbounded" };

/** UTF-8 text, or null when the bytes are not (a range not on char boundaries). */
function decodeOrNull(bytes: Uint8Array): string | null {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return null;
  }
}

/** The bytes as a value whose JSON tells any two byte strings apart: their text when UTF-8, else their hex. */
function exactText(bytes: Uint8Array): string | { hex: string } {
  const text = decodeOrNull(bytes);
  if (text !== null) return text;
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return { hex };
}

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
