// The server's handle store (rustc's `HandleStore`, bridge/server.rs): token streams owned under
// non-zero handles, spans checked against the span table, and what a macro can make the host hold
// or do (live handles, tokens per stream, host work) counted against its limits.
//
// Browser-safe: no Node APIs here.

import type { Span, TokenStream } from "../tokens/model.js";
import { LimitExceeded } from "../sandbox/limits.js";
import { streamShape, type StreamShape } from "../tokens/shape.js";
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

export class HandleStore {
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
  private readonly maxLiveStreams: number;
  private readonly maxStreamTokens: number;
  readonly maxNestingDepth: number;

  constructor(
    private readonly spans: SpanTable,
    limits: HandleLimits = {},
  ) {
    this.maxLiveStreams = limits.maxLiveStreams ?? Infinity;
    this.maxStreamTokens = limits.maxStreamTokens ?? Infinity;
    this.maxNestingDepth = limits.maxNestingDepth ?? Infinity;
  }

  /** Stores a stream and returns its new handle (the server side of encoding a `TokenStream`). */
  alloc(stream: TokenStream): number {
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
