// The server's handle store (rustc's `HandleStore`, bridge/server.rs): token streams owned under
// non-zero handles, spans checked against the span table, and what a macro can make the host hold
// or do (live handles, tokens per stream, host work) counted against its limits.
//
// Browser-safe: no Node APIs here.

import type { Span, TokenStream, TokenTree } from "../tokens/model.js";
import { LimitExceeded } from "../sandbox/limits.js";
import { streamShape, type StreamShape } from "../tokens/index.js";
import { BridgeServerError } from "./rpc.js";
import type { SpanTable } from "./spans.js";

export interface HandleLimits {
  /** Token stream handles alive at once (the `tokenHandles` limit). Default: unlimited. */
  maxLiveStreams?: number;
  /** Tokens (groups counted with their contents) one stream may hold (the `outputBytes` limit). Default: unlimited. */
  maxStreamTokens?: number;
  /** Nesting depth of groups in one stream (the `nestingDepth` limit). Default: unlimited. */
  maxNestingDepth?: number;
}

const EMPTY_SHAPE: StreamShape = { tokens: 0, depth: 0 };

/**
 * The limit a stream about to be stored goes over, or null. Measured iteratively and memoized, so a
 * stream built one group per call costs one level per call, and no depth overflows the host's stack.
 */
function overLimit(stream: TokenStream, streamShapes: WeakMap<TokenStream, StreamShape>, maxTokens: number, maxDepth: number): LimitExceeded | null {
  if (maxTokens === Infinity && maxDepth === Infinity) return null;
  const { tokens, depth } = streamShape(stream, streamShapes);
  if (depth > maxDepth) return new LimitExceeded("nestingDepth", maxDepth, depth);
  if (tokens > maxTokens) return new LimitExceeded("outputBytes", maxTokens, tokens);
  return null;
}

export class HandleStore {
  /**
   * Host work done for the client so far, in fuel units (see HOST_WORK_PER_CALL in host-side.ts): the runner
   * charges it to the module's fuel, so a macro cannot make the host work unboundedly for free
   * (one bulk copy hands the host a megabyte to lex).
   */
  hostWork = 0;
  /** Set when a request went over a limit: the expansion must end with this error. */
  limitExceeded: LimitExceeded | null = null;

  private readonly streams = new Map<number, TokenStream>();
  /**
   * Token count and nesting depth of the streams measured; memoized, streams being shared and
   * immutable (except a stream the store extends in place, whose entry the store replaces as it
   * does so). One per store, not one for the process: a weak map's table keeps its dead entries
   * until a collection, and one shared by every expansion grew and was rehashed on the way (its
   * `set` was three quarters of `concatTrees`' time).
   */
  private readonly streamShapes = new WeakMap<TokenStream, StreamShape>();
  /**
   * Streams this store's concatenations built and that nothing else holds (not shared by a clone,
   * not inside a group): a concatenation onto one extends it in place, as rustc's does (its
   * `Lrc<Vec>` is unique), so a macro that builds a stream by appending to it, as quote! and
   * proc_macro2 do, costs what it appends rather than the whole stream each time.
   */
  private readonly owned = new WeakSet<TokenStream>();
  private nextStreamHandle = 1;
  private readonly maxLiveStreams: number;
  private readonly maxStreamTokens: number;
  readonly maxNestingDepth: number;
  /** Whether stored streams are measured (some limit on their shape is finite). */
  private readonly measured: boolean;

  constructor(
    private readonly spans: SpanTable,
    limits: HandleLimits = {},
  ) {
    this.maxLiveStreams = limits.maxLiveStreams ?? Infinity;
    this.maxStreamTokens = limits.maxStreamTokens ?? Infinity;
    this.maxNestingDepth = limits.maxNestingDepth ?? Infinity;
    this.measured = this.maxStreamTokens !== Infinity || this.maxNestingDepth !== Infinity;
  }

  /**
   * `base` followed by the trees of `streams` (`ts_concat_streams`). Host work: what is copied
   * (all of `base` too when it is not the store's own).
   */
  concatStreams(base: TokenStream | null, streams: readonly TokenStream[]): TokenStream {
    const { out, shape } = this.extendable(base);
    let { tokens, depth } = shape;
    for (const s of streams) {
      for (let i = 0; i < s.length; i++) out.push(s[i]);
      this.hostWork += s.length;
      if (this.measured) {
        const inner = streamShape(s, this.streamShapes);
        tokens += inner.tokens;
        depth = Math.max(depth, inner.depth);
      }
    }
    if (this.measured) this.streamShapes.set(out, { tokens, depth });
    return out;
  }

  /** `base` followed by `trees`, each appended as what it stands for by `pushInternal` (`ts_concat_trees`). */
  concatTrees(base: TokenStream | null, trees: readonly TokenTree[], pushInternal: (t: TokenTree, out: TokenTree[]) => void): TokenStream {
    const { out, shape } = this.extendable(base);
    const before = out.length;
    for (const tree of trees) pushInternal(tree, out);
    this.hostWork += out.length - before;
    if (this.measured) {
      let { tokens, depth } = shape;
      for (let i = before; i < out.length; i++) {
        const t = out[i];
        if (t.type !== "group") tokens++;
        else {
          const inner = streamShape(t.stream, this.streamShapes);
          tokens += 1 + inner.tokens;
          depth = Math.max(depth, 1 + inner.depth);
        }
      }
      this.streamShapes.set(out, { tokens, depth });
    }
    return out;
  }

  /** A stream from now on held elsewhere too (a clone, a group's contents): never extended in place again. */
  share(stream: TokenStream): void {
    this.owned.delete(stream);
  }

  /** `base` itself when the store owns it, else a copy the store owns; and its shape (when measured). */
  private extendable(base: TokenStream | null): { out: TokenTree[]; shape: StreamShape } {
    const shape = base !== null && this.measured ? streamShape(base, this.streamShapes) : EMPTY_SHAPE;
    if (base !== null && this.owned.has(base)) return { out: base as TokenTree[], shape };
    const out = base === null ? [] : base.slice();
    this.hostWork += out.length;
    this.owned.add(out);
    return { out, shape };
  }

  /** Stores a stream and returns its new handle (the server side of encoding a `TokenStream`). */
  alloc(stream: TokenStream): number {
    if (this.nextStreamHandle > 0xffffffff) throw new BridgeServerError("`proc_macro` handle counter overflowed");
    if (this.streams.size >= this.maxLiveStreams) {
      // The client would see this as a panic it might catch; the runner ends the expansion instead.
      this.limitExceeded ??= new LimitExceeded("tokenHandles", this.maxLiveStreams, this.streams.size + 1);
      throw this.limitExceeded;
    }
    const over = overLimit(stream, this.streamShapes, this.maxStreamTokens, this.maxNestingDepth);
    if (over !== null) {
      this.limitExceeded ??= over;
      throw this.limitExceeded;
    }
    // The top-level array was built (copied) for this stream; the store's own concatenations count what they copy.
    if (!this.owned.has(stream)) this.hostWork += stream.length;
    const h = this.nextStreamHandle++;
    this.streams.set(h, stream);
    return h;
  }

  /** Removes and returns a stream (a stream passed by value). */
  take(handle: number): TokenStream {
    const s = this.streams.get(handle);
    if (s === undefined) throw new BridgeServerError("use-after-free in `proc_macro` handle");
    this.streams.delete(handle);
    return s;
  }

  /** Looks a stream up (a stream passed by reference). */
  get(handle: number): TokenStream {
    const s = this.streams.get(handle);
    if (s === undefined) throw new BridgeServerError("use-after-free in `proc_macro` handle");
    return s;
  }

  get liveStreams(): number {
    return this.streams.size;
  }

  /** A span handle from the client, which must name a span of the table. */
  span(handle: number): Span {
    if (!this.spans.has(handle)) throw new BridgeServerError("use-after-free in `proc_macro` handle");
    return handle;
  }
}
