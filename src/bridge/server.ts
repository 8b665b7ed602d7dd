// The bridge server: decodes one request from the client, runs the method with rustc's semantics
// (rustc_expand/src/proc_macro_server.rs is the reference), encodes `Result<T, PanicMessage>`.
//
// Handles: token streams live in an owned store (a handle is consumed by `ts_drop` and by methods
// taking a stream by value); spans are the span table's interned numbers, used directly as handles.
// A request naming an unknown handle, or otherwise malformed, is answered like rustc answers a
// panic inside the server: `Err(PanicMessage)`, which the client re-raises as a panic of the macro.
// The server never throws for client input.
//
// Browser-safe: no Node APIs here.

import type { Delimiter, LitKind, Literal, Span, TokenStream, TokenTree } from "../tokens/model.js";
import { PUNCT_CHARS } from "../tokens/model.js";
import { ICE_PANIC_MESSAGE, normalizeAndValidateIdent, parseLiteral, parseTokenStream, printTokenStream, type Edition } from "../tokens/index.js";
import { METHODS_1_96, type Method } from "./abi.js";
import { expandExpr } from "./expand-expr.js";
import { BridgeDecodeError, ByteReader, ByteWriter, RESULT_ERR, RESULT_OK, writePanicMessage } from "./rpc.js";
import type { Bound, Expansion, SpanTable } from "./spans.js";
import { LimitExceeded } from "../sandbox/limits.js";
import { streamShape, type StreamShape } from "../tokens/shape.js";

export type DiagnosticLevel = "error" | "warning" | "note" | "help";

export interface BridgeDiagnostic {
  level: DiagnosticLevel;
  message: string;
  spans: Span[];
  children: BridgeDiagnostic[];
}

export interface TrackedEnvVar {
  name: string;
  value: string | null;
}

/** Decides what `proc_macro::tracked::env_var` sees through the bridge (`injected_env_var`). */
export type EnvPolicy = (name: string) => string | null;

/** The default: no environment at all. */
export const denyAllEnv: EnvPolicy = () => null;

export interface ServerOptions {
  spans: SpanTable;
  expansion: Expansion;
  env?: EnvPolicy;
  /** Token stream handles alive at once (the `tokenHandles` limit). Default: unlimited. */
  maxLiveStreams?: number;
  /**
   * Tokens (groups counted with their contents) one stream may hold: the `outputBytes` limit, since
   * every token prints as at least one byte. Bounds what a macro can make the host build (a stream
   * doubled by concatenating it with itself). Default: unlimited.
   */
  maxStreamTokens?: number;
  /** Groups nested inside each other in one stream (the `nestingDepth` limit). Default: unlimited. */
  maxNestingDepth?: number;
  /**
   * The macro crate's edition. Tokens a macro parses from strings carry the call-site span, whose
   * edition is the macro definition's: it decides prefixes, `c"..."`, raw lifetimes and keywords.
   * Default 2021.
   */
  edition?: Edition;
}

/** Fuel units charged per character the host lexes or prints (~0.5 µs each, ~ that many wasm instructions). */
export const HOST_WORK_PER_LEXED_CHAR = 256;

/** Token count and nesting depth of the streams stored; memoized, streams being shared and immutable. */
const streamShapes = new WeakMap<TokenStream, StreamShape>();

/**
 * The limit a stream about to be stored goes over, or null. Measured iteratively and memoized, so a
 * stream built one group per call costs one level per call, and no depth overflows the host's stack.
 */
function overLimit(stream: TokenStream, maxTokens: number, maxDepth: number): LimitExceeded | null {
  if (maxTokens === Infinity && maxDepth === Infinity) return null;
  const { tokens, depth } = streamShape(stream, streamShapes);
  if (depth > maxDepth) return new LimitExceeded("nestingDepth", maxDepth, depth);
  if (tokens > maxTokens) return new LimitExceeded("outputBytes", maxTokens, tokens);
  return null;
}

/** A failure inside the server caused by the request (unknown handle, malformed bytes, ...). */
export class BridgeServerError extends Error {
  override name = "BridgeServerError";
}

/** A panic rustc's server raises on purpose (e.g. a fatal lexer error in `ts_from_str`). */
class ServerPanic extends Error {
  constructor(readonly payload: string | null) {
    super(payload ?? "panic");
  }
}

const DELIMITERS: readonly Delimiter[] = ["Parenthesis", "Brace", "Bracket", "None"];
const LEVELS: readonly DiagnosticLevel[] = ["error", "warning", "note", "help"];
/** `bridge::LitKind` tags in declaration order; the raw kinds carry a u8 hash count. */
const LIT_KINDS: readonly LitKind[] = [
  "Byte", "Char", "Integer", "Float", "Str", "StrRaw", "ByteStr", "ByteStrRaw", "CStr", "CStrRaw", "ErrWithGuar",
];
const RAW_KINDS = new Set<LitKind>(["StrRaw", "ByteStrRaw", "CStrRaw"]);

export class BridgeServer {
  readonly diagnostics: BridgeDiagnostic[] = [];
  readonly trackedEnv: TrackedEnvVar[] = [];
  readonly trackedPaths: string[] = [];
  /** Every request that failed inside the server, in order (also sent to the client as panics). */
  readonly errors: string[] = [];
  /** Calls per method, for tests and profiling. */
  readonly calls = new Map<Method, number>();
  /**
   * Host work done for the client so far, in fuel units (see HOST_WORK in instance.ts): the runner
   * charges it to the module's fuel, so a macro cannot make the host work unboundedly for free
   * (one bulk copy hands the host a megabyte to lex).
   */
  hostWork = 0;
  /** Set when a request went over a limit: the expansion must end with this error. */
  limitExceeded: LimitExceeded | null = null;

  private readonly streams = new Map<number, TokenStream>();
  private nextStreamHandle = 1;
  private readonly savedSpans: Span[] = [];
  private readonly spans: SpanTable;
  private readonly expansion: Expansion;
  private readonly env: EnvPolicy;
  private readonly maxLiveStreams: number;
  private readonly maxStreamTokens: number;
  private readonly maxNestingDepth: number;
  private readonly edition: Edition;

  constructor(options: ServerOptions) {
    this.maxLiveStreams = options.maxLiveStreams ?? Infinity;
    this.maxStreamTokens = options.maxStreamTokens ?? Infinity;
    this.maxNestingDepth = options.maxNestingDepth ?? Infinity;
    this.spans = options.spans;
    this.expansion = options.expansion;
    this.env = options.env ?? denyAllEnv;
    this.edition = options.edition ?? "2021";
  }

  // ---- the owned token stream store ----

  /** Stores a stream and returns its new handle (the server side of encoding a `TokenStream`). */
  allocStream(stream: TokenStream): number {
    if (this.nextStreamHandle > 0xffffffff) throw new BridgeServerError("`proc_macro` handle counter overflowed");
    if (this.streams.size >= this.maxLiveStreams) {
      // The client would see this as a panic it might catch; the runner ends the expansion instead.
      this.limitExceeded ??= new LimitExceeded("tokenHandles", this.maxLiveStreams, this.streams.size + 1);
      throw this.limitExceeded;
    }
    const over = overLimit(stream, this.maxStreamTokens, this.maxNestingDepth);
    if (over !== null) {
      this.limitExceeded ??= over;
      throw this.limitExceeded;
    }
    this.hostWork += stream.length; // the top-level array was built (copied) for this stream
    const h = this.nextStreamHandle++;
    this.streams.set(h, stream);
    return h;
  }

  /** Removes and returns a stream (a stream passed by value). */
  takeStream(handle: number): TokenStream {
    const s = this.streams.get(handle);
    if (s === undefined) throw new BridgeServerError("use-after-free in `proc_macro` handle");
    this.streams.delete(handle);
    return s;
  }

  /** Looks a stream up (a stream passed by reference). */
  stream(handle: number): TokenStream {
    const s = this.streams.get(handle);
    if (s === undefined) throw new BridgeServerError("use-after-free in `proc_macro` handle");
    return s;
  }

  get liveStreams(): number {
    return this.streams.size;
  }

  private span(r: ByteReader): Span {
    const h = r.handle();
    if (!this.spans.has(h)) throw new BridgeServerError("use-after-free in `proc_macro` handle");
    return h;
  }

  // ---- dispatch ----

  /** Answers one request (the bytes the client put in its buffer). Never throws. */
  dispatch(request: Uint8Array): Uint8Array {
    const w = new ByteWriter();
    try {
      const r = new ByteReader(request);
      const tag = r.u8();
      const method = METHODS_1_96[tag];
      if (method === undefined) throw new BridgeDecodeError(`unknown bridge method tag ${tag}`);
      this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
      const body = new ByteWriter();
      this.call(method, r, body);
      w.u8(RESULT_OK).raw(body.finish());
    } catch (e) {
      if (e instanceof ServerPanic) {
        // A panic rustc's server itself raises for this request: part of the semantics, not a fault.
        const err = new ByteWriter();
        err.u8(RESULT_ERR);
        writePanicMessage(err, e.payload);
        return err.finish();
      }
      const message = e instanceof Error ? e.message : String(e);
      this.errors.push(message);
      const err = new ByteWriter();
      err.u8(RESULT_ERR);
      writePanicMessage(err, message);
      return err.finish();
    }
    return w.finish();
  }

  private call(method: Method, r: ByteReader, w: ByteWriter): void {
    const spans = this.spans;
    switch (method) {
      case "injected_env_var": {
        const name = r.str();
        w.option(this.env(name), (v) => w.str(v));
        return;
      }
      case "track_env_var": {
        const name = r.str();
        const value = r.option(() => r.str());
        this.trackedEnv.push({ name, value });
        return;
      }
      case "track_path":
        this.trackedPaths.push(r.str());
        return;
      case "literal_from_str": {
        // Literals parsed from strings get the call-site span, as in rustc.
        const result = parseLiteral(r.str(), this.expansion.callSite, { edition: this.edition });
        if (!result.ok) w.u8(RESULT_ERR).str(result.error);
        else {
          w.u8(RESULT_OK);
          this.writeLiteral(w, result.literal);
        }
        return;
      }
      case "emit_diagnostic":
        this.diagnostics.push(this.readDiagnostic(r, 0));
        return;
      case "ts_drop":
        this.takeStream(r.handle());
        return;
      case "ts_clone":
        // Streams are never mutated in place, so a clone can share the trees.
        w.handle(this.allocStream(this.stream(r.handle())));
        return;
      case "ts_is_empty":
        w.bool(this.stream(r.handle()).length === 0);
        return;
      case "ts_expand_expr": {
        const expanded = expandExpr(this.stream(r.handle()), {
          spans: this.spans,
          env: this.env,
          trackEnv: (name, value) => this.trackedEnv.push({ name, value }),
          error: (message, span) => this.diagnostics.push({ level: "error", message, spans: [span], children: [] }),
        });
        if (expanded === null) w.u8(RESULT_ERR);
        else w.u8(RESULT_OK).handle(this.allocStream(expanded));
        return;
      }
      case "ts_from_str": {
        const src = r.str();
        this.hostWork += src.length * HOST_WORK_PER_LEXED_CHAR;
        // rustc gives every token of a parsed string the call-site span.
        const callSite = this.expansion.callSite;
        // Too deep a text fails before its trees are built, with the limit storing them would hit.
        const parsed = parseTokenStream(src, () => callSite, { edition: this.edition, maxDepth: this.maxNestingDepth });
        // What the lexer reports without failing still reaches the user, as in rustc.
        for (const d of parsed.diagnostics) this.diagnostics.push({ level: d.level, message: d.message, spans: [callSite], children: [] });
        if (parsed.ok) {
          w.u8(RESULT_OK).handle(this.allocStream(parsed.stream));
          return;
        }
        switch (parsed.error.kind) {
          case "lex":
            w.u8(RESULT_ERR).str(parsed.error.message);
            return;
          case "fatal":
            // rustc emits the error and aborts the call: the macro sees a panic with no message.
            this.diagnostics.push({ level: "error", message: parsed.error.message, spans: [callSite], children: [] });
            throw new ServerPanic(null);
          case "ice":
            // rustc 1.96 panics turning this diagnostic into a LexError.
            throw new ServerPanic(ICE_PANIC_MESSAGE);
          case "depth":
            this.limitExceeded ??= new LimitExceeded("nestingDepth", this.maxNestingDepth);
            throw this.limitExceeded;
        }
        return;
      }
      case "ts_to_string": {
        const text = printTokenStream(this.stream(r.handle()));
        this.hostWork += text.length * HOST_WORK_PER_LEXED_CHAR;
        w.str(text);
        return;
      }
      case "ts_from_token_tree":
        w.handle(this.allocStream(toInternal(this.readTree(r))));
        return;
      case "ts_concat_trees": {
        const base = r.option(() => this.takeStream(r.handle())) ?? [];
        const trees = r.vec(() => this.readTree(r));
        const out = base.slice();
        for (const t of trees) out.push(...toInternal(t));
        w.handle(this.allocStream(out));
        return;
      }
      case "ts_concat_streams": {
        const base = r.option(() => this.takeStream(r.handle())) ?? [];
        const streams = r.vec(() => this.takeStream(r.handle()));
        w.handle(this.allocStream(base.concat(...streams)));
        return;
      }
      case "ts_into_trees": {
        const stream = this.takeStream(r.handle());
        w.vec(stream, (t) => this.writeTree(w, t));
        return;
      }
      case "span_debug":
        w.str(spans.debug(this.span(r)));
        return;
      case "span_parent":
        w.option(spans.parent(this.span(r)), (s) => w.handle(s));
        return;
      case "span_source":
        w.handle(spans.source(this.span(r)));
        return;
      case "span_byte_range": {
        const range = spans.byteRange(this.span(r));
        w.usize(range.start).usize(range.end);
        return;
      }
      case "span_start":
        w.handle(spans.start(this.span(r)));
        return;
      case "span_end":
        w.handle(spans.end(this.span(r)));
        return;
      case "span_line":
        w.usize(spans.line(this.span(r)));
        return;
      case "span_column":
        w.usize(spans.column(this.span(r)));
        return;
      case "span_file":
        w.str(spans.fileName(this.span(r)));
        return;
      case "span_local_file":
        w.option(spans.localFile(this.span(r)), (p) => w.str(p));
        return;
      case "span_join": {
        const a = this.span(r);
        const b = this.span(r);
        w.option(spans.join(a, b), (s) => w.handle(s));
        return;
      }
      case "span_subspan": {
        const s = this.span(r);
        const start = readBound(r);
        const end = readBound(r);
        w.option(spans.subspan(s, start, end), (x) => w.handle(x));
        return;
      }
      case "span_resolved_at": {
        const s = this.span(r);
        const at = this.span(r);
        w.handle(spans.resolvedAt(s, at));
        return;
      }
      case "span_source_text":
        w.option(spans.sourceText(this.span(r)), (t) => w.str(t));
        return;
      case "span_save_span":
        this.savedSpans.push(this.span(r));
        w.usize(this.savedSpans.length - 1);
        return;
      case "span_recover_proc_macro_span": {
        // rustc reads spans saved while compiling the macro crate from its metadata, which a wasm
        // module does not carry; spans saved during this expansion round-trip, others become
        // def-site (rustc gives recovered spans the def-site context too).
        const id = r.usize();
        w.handle(this.savedSpans[id] ?? this.expansion.defSite);
        return;
      }
      case "symbol_normalize_and_validate_ident": {
        const sym = normalizeAndValidateIdent(r.str());
        if (sym === null) w.u8(RESULT_ERR);
        else w.u8(RESULT_OK).str(sym);
        return;
      }
    }
  }

  // ---- compound types ----

  private readTree(r: ByteReader): TokenTree {
    switch (r.tag(4, "TokenTree")) {
      case 0: {
        const delimiter = DELIMITERS[r.tag(4, "Delimiter")];
        const stream = r.option(() => this.takeStream(r.handle())) ?? [];
        const open = this.span(r);
        const close = this.span(r);
        const entire = this.span(r);
        return { type: "group", delimiter, stream, span: { open, close, entire } };
      }
      case 1: {
        const code = r.u8();
        const ch = String.fromCharCode(code);
        const joint = r.bool();
        const span = this.span(r);
        if (!PUNCT_CHARS.includes(ch)) throw new BridgeServerError(`unsupported character ${JSON.stringify(ch)} in Punct`);
        return { type: "punct", ch, joint, span };
      }
      case 2: {
        const sym = r.str();
        const isRaw = r.bool();
        const span = this.span(r);
        return { type: "ident", sym, isRaw, span };
      }
      default: {
        const kindTag = r.tag(LIT_KINDS.length, "LitKind");
        const kind = LIT_KINDS[kindTag];
        const hashes = RAW_KINDS.has(kind) ? r.u8() : 0;
        const symbol = r.str();
        const suffix = r.option(() => r.str());
        const span = this.span(r);
        return { type: "literal", kind, hashes, symbol, suffix, span };
      }
    }
  }

  writeTree(w: ByteWriter, t: TokenTree): void {
    switch (t.type) {
      case "group":
        w.u8(0).u8(DELIMITERS.indexOf(t.delimiter));
        w.u8(0).handle(this.allocStream(t.stream)); // Some(stream), as rustc sends it
        w.handle(t.span.open).handle(t.span.close).handle(t.span.entire);
        return;
      case "punct":
        w.u8(1).u8(t.ch.charCodeAt(0)).bool(t.joint).handle(t.span);
        return;
      case "ident":
        w.u8(2).str(t.sym).bool(t.isRaw).handle(t.span);
        return;
      case "literal":
        w.u8(3);
        this.writeLiteral(w, t);
        return;
    }
  }

  private writeLiteral(w: ByteWriter, l: Literal): void {
    w.u8(LIT_KINDS.indexOf(l.kind));
    if (RAW_KINDS.has(l.kind)) w.u8(l.hashes);
    w.str(l.symbol);
    w.option(l.suffix, (s) => w.str(s));
    w.handle(l.span);
  }

  private readDiagnostic(r: ByteReader, depth: number): BridgeDiagnostic {
    if (depth > 64) throw new BridgeDecodeError("diagnostic nesting too deep");
    const level = LEVELS[r.tag(4, "Level")];
    const message = r.str();
    const spans = r.vec(() => this.span(r));
    const children = r.vec(() => this.readDiagnostic(r, depth + 1));
    return { level, message, spans, children };
  }

}

function readBound(r: ByteReader): Bound {
  switch (r.tag(3, "Bound")) {
    case 0:
      return { kind: "included", value: r.usize() };
    case 1:
      return { kind: "excluded", value: r.usize() };
    default:
      return { kind: "unbounded" };
  }
}

/**
 * rustc's `ToInternal` for one tree. Spacing beyond `joint` is not part of the bridge, so trees
 * from the client carry none (they print as rustc prints them: Alone unless joint). A negative
 * integer or float literal (which a macro can make: a negative integer or float literal with `Literal::i32_unsuffixed(-5)`) becomes a `-` punct followed by the positive literal.
 */
export function toInternal(t: TokenTree): TokenTree[] {
  if (t.type === "literal" && (t.kind === "Integer" || t.kind === "Float") && t.symbol.startsWith("-")) {
    // rustc makes the `-` JointHidden: invisible to macros, but printed glued (`-5`).
    return [
      { type: "punct", ch: "-", joint: false, spacing: "JointHidden", span: t.span },
      { ...t, symbol: t.symbol.slice(1) },
    ];
  }
  return [t];
}

