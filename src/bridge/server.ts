// The bridge server: the dispatcher between the client's bytes and the methods (methods.ts).
//
// For each request it picks the method by tag from the module's bridge version table (versions/),
// decodes the arguments with the table's codecs (codec.ts), calls the method, and encodes
// `Result<T, PanicMessage>` — the shape of rustc's `Dispatcher::dispatch` (bridge/server.rs).
// Handles: token streams live in the handle store (handles.ts); spans are the span table's
// interned numbers, used directly as handles. A request naming an unknown handle, or otherwise
// malformed, is answered like rustc answers a panic inside the server: `Err(PanicMessage)`, which
// the client re-raises as a panic of the macro. The server never throws for client input.
//
// Browser-safe: no Node APIs here.

import type { TokenStream, TokenTree } from "../tokens/model.js";
import type { Edition } from "../tokens/index.js";
import type { LimitExceeded } from "../sandbox/limits.js";
import { BRIDGE_ABI, BridgeAbiError, KNOWN_BRIDGE_ABIS, resolveBridgeAbi } from "./abi.js";
import { tokenTree, type BridgeDiagnostic, type BridgeTable, type Codec } from "./codec.js";
import { HandleStore } from "./handles.js";
import { BridgeMethods, denyAllEnv, type EnvPolicy, type TrackedEnvVar } from "./methods.js";
import { BridgeDecodeError, BridgeReader, BridgeWriter, RESULT_ERR, RESULT_OK, ServerPanic, writePanicMessage } from "./rpc.js";
import type { Expansion, SpanTable } from "./spans.js";
import { BRIDGE_TABLES } from "./versions/index.js";

export type { BridgeDiagnostic, DiagnosticLevel } from "./codec.js";
export { denyAllEnv, HOST_WORK_PER_LEXED_CHAR, type EnvPolicy, type TrackedEnvVar } from "./methods.js";
export { BridgeServerError } from "./rpc.js";

export interface ServerOptions {
  spans: SpanTable;
  expansion: Expansion;
  /** The module's bridge ABI (ModuleAbi.bridgeAbi; a release-only id is resolved). Default: BRIDGE_ABI. */
  bridgeAbi?: string;
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

/** A table entry with the method that serves it. */
interface BoundMethod {
  readonly name: string;
  readonly args: readonly Codec<unknown>[];
  readonly ret: Codec<unknown>;
  readonly impl: (this: object, ...args: unknown[]) => unknown;
}

/**
 * Pairs each method of `table` with the function of that name on `impl`, checking that it exists
 * and takes as many arguments as the wire carries: a mismatch is an error naming the method when
 * the table is bound (at load, below), not a crash in the middle of an expansion.
 */
export function bindTable(table: BridgeTable, impl: object): readonly BoundMethod[] {
  const seen = new Set<string>();
  return table.methods.map((m) => {
    if (seen.has(m.name)) throw new Error(`bridge table ${table.abi}: method ${m.name} is listed twice`);
    seen.add(m.name);
    const f: unknown = (impl as Record<string, unknown>)[m.name];
    if (typeof f !== "function") throw new Error(`bridge table ${table.abi}: method ${m.name} has no implementation`);
    if (f.length !== m.args.length) {
      throw new Error(`bridge table ${table.abi}: method ${m.name} takes ${m.args.length} argument(s) on the wire, its implementation ${f.length}`);
    }
    return { name: m.name, args: m.args, ret: m.ret, impl: f as BoundMethod["impl"] };
  });
}

/** Every registered table bound to the methods, once, when this module loads. */
const BOUND_TABLES: ReadonlyMap<string, readonly BoundMethod[]> = new Map(BRIDGE_TABLES.map((t) => [t.abi, bindTable(t, BridgeMethods.prototype)]));

export class BridgeServer {
  /** The bridge ABI served (the module's, resolved to a known id). */
  readonly bridgeAbi: string;
  readonly diagnostics: BridgeDiagnostic[];
  readonly trackedEnv: TrackedEnvVar[];
  readonly trackedPaths: string[];
  /** Every request that failed inside the server, in order (also sent to the client as panics). */
  readonly errors: string[] = [];

  private readonly store: HandleStore;
  private readonly methods: BridgeMethods;
  private readonly table: readonly BoundMethod[];
  /** Calls per method tag (see `calls`). */
  private readonly counts: number[];
  /** One reader and one writer for every call (see dispatch). */
  private readonly reader = new BridgeReader(new Uint8Array(0));
  private readonly writer = new BridgeWriter();

  constructor(options: ServerOptions) {
    const abi = resolveBridgeAbi(options.bridgeAbi ?? BRIDGE_ABI);
    const table = abi === null ? undefined : BOUND_TABLES.get(abi);
    if (abi === null || table === undefined) {
      throw new BridgeAbiError(`no bridge server for ${options.bridgeAbi}; this host serves: ${KNOWN_BRIDGE_ABIS.join(", ")}`);
    }
    this.bridgeAbi = abi;
    this.table = table;
    this.counts = new Array<number>(table.length).fill(0);
    this.store = new HandleStore(options.spans, {
      maxLiveStreams: options.maxLiveStreams,
      maxStreamTokens: options.maxStreamTokens,
      maxNestingDepth: options.maxNestingDepth,
    });
    this.methods = new BridgeMethods({
      store: this.store,
      spans: options.spans,
      expansion: options.expansion,
      env: options.env ?? denyAllEnv,
      edition: options.edition ?? "2021",
    });
    this.diagnostics = this.methods.diagnostics;
    this.trackedEnv = this.methods.trackedEnv;
    this.trackedPaths = this.methods.trackedPaths;
  }

  /** Calls per method so far (only methods called at least once), for tests and profiling. */
  get calls(): ReadonlyMap<string, number> {
    const calls = new Map<string, number>();
    for (let tag = 0; tag < this.counts.length; tag++) if (this.counts[tag] > 0) calls.set(this.table[tag].name, this.counts[tag]);
    return calls;
  }

  /** Host work done for the client so far, in fuel units (HandleStore.hostWork). */
  get hostWork(): number {
    return this.store.hostWork;
  }

  /** Set when a request went over a limit: the expansion must end with this error. */
  get limitExceeded(): LimitExceeded | null {
    return this.store.limitExceeded;
  }

  // ---- the owned token stream store, for the runner (run-client.ts) ----

  /** Stores a stream and returns its new handle (the server side of encoding a `TokenStream`). */
  allocStream(stream: TokenStream): number {
    return this.store.alloc(stream);
  }

  /** Removes and returns a stream (a stream passed by value). */
  takeStream(handle: number): TokenStream {
    return this.store.take(handle);
  }

  /** Looks a stream up (a stream passed by reference). */
  stream(handle: number): TokenStream {
    return this.store.get(handle);
  }

  get liveStreams(): number {
    return this.store.liveStreams;
  }

  /** Encodes a tree as the server sends it (a group's stream gets a new handle). */
  writeTree(w: BridgeWriter, t: TokenTree): void {
    tokenTree.write(w, this.store, t);
  }

  // ---- dispatch ----

  /**
   * Answers one request (the bytes the client put in its buffer: `bytes[start..end)`, so that the
   * client's whole memory can be passed without a view per call). Never throws. The request is
   * decoded completely before anything is answered, so it may be the client's memory itself;
   * the response is a view of the server's writer, valid until the next call.
   */
  dispatch(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
    return this.answer(bytes, start, end).view();
  }

  /**
   * `dispatch` without a view: the response is the first `length` bytes of the returned writer's
   * `storage()`, valid until the next call. What the host side uses: no allocation per call.
   */
  answer(bytes: Uint8Array, start: number, end: number): BridgeWriter {
    const w = this.writer;
    try {
      const r = this.reader.reset(bytes, start, end);
      const tag = r.u8();
      const m = this.table[tag];
      if (m === undefined) throw new BridgeDecodeError(`unknown bridge method tag ${tag}`);
      this.counts[tag]++;
      const value = this.call(m, r);
      w.reset();
      w.u8(RESULT_OK);
      m.ret.write(w, this.store, value);
      return w;
    } catch (e) {
      w.reset();
      w.u8(RESULT_ERR);
      if (e instanceof ServerPanic) {
        // A panic rustc's server itself raises for this request: part of the semantics, not a fault.
        writePanicMessage(w, e.payload);
        return w;
      }
      const message = e instanceof Error ? e.message : String(e);
      this.errors.push(message);
      writePanicMessage(w, message);
      return w;
    }
  }

  /** Decodes the arguments in order (as rustc does) and calls the method; no per-call closures or arrays for up to three. */
  private call(m: BoundMethod, r: BridgeReader): unknown {
    const args = m.args;
    const h = this.store;
    switch (args.length) {
      case 0:
        return m.impl.call(this.methods);
      case 1:
        return m.impl.call(this.methods, args[0].read(r, h));
      case 2:
        return m.impl.call(this.methods, args[0].read(r, h), args[1].read(r, h));
      case 3:
        return m.impl.call(this.methods, args[0].read(r, h), args[1].read(r, h), args[2].read(r, h));
      default:
        return m.impl.apply(
          this.methods,
          args.map((a) => a.read(r, h)),
        );
    }
  }
}
