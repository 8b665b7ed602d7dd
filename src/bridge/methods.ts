// What each bridge method does, with rustc's semantics (rustc_expand/src/proc_macro_server.rs is
// the reference): one method per with_api! entry, taking decoded arguments and returning the
// decoded result. The dispatcher (server.ts) does all byte handling, from the signature tables in
// versions/: handles passed by value are already out of the store when a method runs, and a
// returned `$TokenStream` is stored by the result's codec.
//
// A method throws BridgeServerError for a request that cannot be served (the client sees a panic,
// recorded in `errors`) and ServerPanic where rustc's server itself panics.
//
// Browser-safe: no Node APIs here.

import { LimitExceeded } from "../sandbox/limits.js";
import type { Literal, Span, TokenStream, TokenTree } from "../tokens/model.js";
import { ICE_PANIC_MESSAGE, normalizeAndValidateIdent, parseLiteral, tokenStreamFromStr, printTokenStream, type Edition } from "../tokens/index.js";
import { pushInternal } from "../tokens/index.js";
import { ERR_UNIT, type BridgeDiagnostic, type MethodsOf, type Result } from "./codec.js";
import { expandExpr } from "./expand-expr.js";
import type { HandleStore } from "./handles.js";
import { ServerPanic } from "./rpc.js";
import type { Bound, Expansion, SpanTable } from "./spans.js";
import type { RUSTC_1_96 } from "./versions/rustc-1.96.js";

export interface TrackedEnvVar {
  name: string;
  value: string | null;
}

/** Decides what `proc_macro::tracked::env_var` sees through the bridge (`injected_env_var`). */
export type EnvPolicy = (name: string) => string | null;

/** The default: no environment at all. */
export const denyAllEnv: EnvPolicy = () => null;

/** Fuel units charged per character the host lexes or prints (~0.5 µs each, ~ that many wasm instructions). */
export const HOST_WORK_PER_LEXED_CHAR = 256;

export interface MethodContext {
  store: HandleStore;
  spans: SpanTable;
  expansion: Expansion;
  env: EnvPolicy;
  /** The macro crate's edition (see ServerOptions.edition). */
  edition: Edition;
}

export class BridgeMethods implements MethodsOf<typeof RUSTC_1_96.methods> {
  readonly diagnostics: BridgeDiagnostic[] = [];
  readonly trackedEnv: TrackedEnvVar[] = [];
  readonly trackedPaths: string[] = [];

  private readonly savedSpans: Span[] = [];
  private readonly store: HandleStore;
  private readonly spans: SpanTable;
  private readonly expansion: Expansion;
  private readonly env: EnvPolicy;
  private readonly edition: Edition;

  constructor(context: MethodContext) {
    this.store = context.store;
    this.spans = context.spans;
    this.expansion = context.expansion;
    this.env = context.env;
    this.edition = context.edition;
  }

  injected_env_var(name: string): string | null {
    return this.env(name);
  }

  track_env_var(name: string, value: string | null): void {
    this.trackedEnv.push({ name, value });
  }

  track_path(path: string): void {
    this.trackedPaths.push(path);
  }

  literal_from_str(s: string): Result<Literal, string> {
    // Literals parsed from strings get the call-site span, as in rustc.
    const parsed = parseLiteral(s, this.expansion.callSite, { edition: this.edition });
    return parsed.ok ? { ok: true, value: parsed.literal } : { ok: false, error: parsed.error };
  }

  emit_diagnostic(diagnostic: BridgeDiagnostic): void {
    this.diagnostics.push(diagnostic);
  }

  ts_drop(_stream: TokenStream): void {
    // Decoding the argument (by value) took it out of the store: nothing left to do.
  }

  ts_clone(stream: TokenStream): TokenStream {
    // A clone shares the trees; the store never extends a shared stream in place.
    this.store.share(stream);
    return stream;
  }

  ts_is_empty(stream: TokenStream): boolean {
    return stream.length === 0;
  }

  ts_expand_expr(stream: TokenStream): Result<TokenStream, void> {
    // The expansion may be (or contain) the stream itself.
    this.store.share(stream);
    if (!this.spans.expandsExpressions) return { ok: true, value: stream };
    const expanded = expandExpr(stream, {
      spans: this.spans,
      env: this.env,
      trackEnv: (name, value) => this.trackedEnv.push({ name, value }),
      error: (message, span) => this.diagnostics.push({ level: "error", message, spans: [span], children: [] }),
    });
    return expanded === null ? ERR_UNIT : { ok: true, value: expanded };
  }

  ts_from_str(src: string): Result<TokenStream, string> {
    this.store.hostWork += src.length * HOST_WORK_PER_LEXED_CHAR;
    // rustc gives every token of a parsed string the call-site span (the span table decides: rust-analyzer's does not).
    const callSite = this.expansion.callSite;
    // Too deep a text fails before its trees are built, with the limit storing them would hit.
    const parsed = tokenStreamFromStr(src, (lo, hi) => this.spans.parsedSpan(callSite, lo, hi), {
      edition: this.edition,
      maxDepth: this.store.maxNestingDepth,
    });
    // What the lexer reports without failing still reaches the user, as in rustc.
    for (const d of parsed.diagnostics) this.diagnostics.push({ level: d.level, message: d.message, spans: [callSite], children: [] });
    if (parsed.ok) return { ok: true, value: this.spans.adjustParsed(parsed.stream, src, callSite) };
    switch (parsed.error.kind) {
      case "lex":
        return { ok: false, error: parsed.error.message };
      case "fatal":
        // rustc emits the error and aborts the call: the macro sees a panic with no message.
        this.diagnostics.push({ level: "error", message: parsed.error.message, spans: [callSite], children: [] });
        throw new ServerPanic(null);
      case "ice":
        // rustc 1.96 panics turning this diagnostic into a LexError.
        throw new ServerPanic(ICE_PANIC_MESSAGE);
      case "depth":
        this.store.limitExceeded ??= new LimitExceeded("nestingDepth", this.store.maxNestingDepth);
        throw this.store.limitExceeded;
    }
  }

  ts_to_string(stream: TokenStream): string {
    const text = printTokenStream(stream);
    this.store.hostWork += text.length * HOST_WORK_PER_LEXED_CHAR;
    return text;
  }

  ts_from_token_tree(tree: TokenTree): TokenStream {
    // Spacing beyond `joint` is not part of the bridge, so trees from the client carry none.
    const out: TokenStream = [];
    pushInternal(tree, out);
    return out;
  }

  ts_concat_trees(base: TokenStream | null, trees: TokenTree[]): TokenStream {
    return this.store.concatTrees(base, trees, pushInternal);
  }

  ts_concat_streams(base: TokenStream | null, streams: TokenStream[]): TokenStream {
    return this.store.concatStreams(base, streams);
  }

  ts_into_trees(stream: TokenStream): TokenTree[] {
    // Groups' streams get handles as the result is encoded.
    return stream;
  }

  span_debug(span: Span): string {
    return this.spans.debug(span);
  }

  span_parent(span: Span): Span | null {
    return this.spans.parent(span);
  }

  span_source(span: Span): Span {
    return this.spans.source(span);
  }

  span_byte_range(span: Span): { start: number; end: number } {
    return this.spans.byteRange(span);
  }

  span_start(span: Span): Span {
    return this.spans.start(span);
  }

  span_end(span: Span): Span {
    return this.spans.end(span);
  }

  span_line(span: Span): number {
    return this.spans.line(span);
  }

  span_column(span: Span): number {
    return this.spans.column(span);
  }

  span_file(span: Span): string {
    return this.spans.fileName(span);
  }

  span_local_file(span: Span): string | null {
    return this.spans.localFile(span);
  }

  span_join(span: Span, other: Span): Span | null {
    return this.spans.join(span, other);
  }

  span_subspan(span: Span, start: Bound, end: Bound): Span | null {
    return this.spans.subspan(span, start, end);
  }

  span_resolved_at(span: Span, at: Span): Span {
    return this.spans.resolvedAt(span, at);
  }

  span_source_text(span: Span): string | null {
    return this.spans.sourceText(span);
  }

  span_save_span(span: Span): number {
    const id = this.spans.saveSpan(span);
    if (id !== null) return id;
    this.savedSpans.push(span);
    return this.savedSpans.length - 1;
  }

  span_recover_proc_macro_span(id: number): Span {
    // rustc reads spans saved while compiling the macro crate from its metadata, which a wasm
    // module does not carry; spans saved during this expansion round-trip, others become
    // def-site (rustc gives recovered spans the def-site context too).
    return this.spans.recoverSpan(id) ?? this.savedSpans[id] ?? this.expansion.defSite;
  }

  symbol_normalize_and_validate_ident(string: string): Result<string, void> {
    const sym = normalizeAndValidateIdent(string);
    return sym === null ? ERR_UNIT : { ok: true, value: sym };
  }
}
