// The server side of the proc-macro-srv protocol: turns requests into calls on a backend (for
// macrobox: wasm macro modules) and backend answers into responses, the way
// proc-macro-srv-cli/src/main_loop.rs (`run_old`) does for native dylibs.
//
// Span modes: in `Id` mode span ids are opaque and our token model's spans are those ids. In
// `RustAnalyzer` mode ids index the request's span data table; the backend sees the same ids plus
// the table, and returns the (possibly extended) table with its output, which we send back as
// `ExpandMacroExtended`.
//
// The one request path of macrobox's proc-macro server runs this session in its expansion worker
// (src/proc-macro-server): `answerLine` for json-legacy lines, `handle` for postcard requests. The
// memo of repeated lines and the stdio loops are the server process's, not this layer's.
//
// Browser-safe: no Node APIs here.

import { errorMessage, isMacroboxError } from "../errors.js";
import { CURRENT_API_VERSION, decodeFlatTree, encodeFlatTree } from "./flat.js";
import { decodeRequestLine, decodeSpanDataTable, encodeResponseLine, encodeSpanDataTable } from "./protocol.js";
import type { ExpandMacroRequest, MacroInfo, Request, Response, Result, SpanData, SpanMode } from "./protocol.js";
import type { Span, TokenStream } from "../tokens/model.js";
import type { RaSpanClient } from "./ra-spans.js";
import { encodeBidirectionalFrame, type SubRequest, type SubResponse } from "./postcard.js";

export interface BackendExpandRequest {
  /** What the client named the library (`lib` / `dylib_path`). */
  lib: string;
  macroName: string;
  body: TokenStream;
  /** Attribute arguments, for attribute macros. */
  attributes: TokenStream | null;
  defSite: Span;
  callSite: Span;
  mixedSite: Span;
  env: [string, string][];
  currentDir: string | null;
  spanMode: SpanMode;
  /** RustAnalyzer mode: what each span id stands for. Empty in Id mode. */
  spanData: SpanData[];
  /**
   * RustAnalyzer mode in the bidirectional format: asks the client what only it knows about spans
   * (its sub-requests); absent, the native server's answers without a client apply.
   */
  spanClient?: RaSpanClient;
  /**
   * The same, asynchronously: what the session can offer (the bidirectional stdio loop sends a
   * SubRequest and waits for the SubResponse). A backend that runs macros elsewhere (a worker
   * thread) turns it into a `spanClient` there.
   */
  askClient?: (sub: SubRequest) => Promise<SubResponse>;
}

/** How the caller of `ProcMacroBackend.expand` takes the result (apart from the request, which may be forwarded elsewhere). */
export interface BackendExpandOptions {
  /**
   * The caller encodes the output with `encodeFlatTree`, mapping its spans with
   * `BackendExpansion.outputSpan` as they are written: the backend may then skip a mapped copy.
   */
  mapsOutputSpans?: boolean;
}

/** What one request may use besides its message. */
export interface RequestContext {
  /** The bidirectional format's sub-requests to the client. */
  askClient?: (sub: SubRequest) => Promise<SubResponse>;
}

export interface BackendExpansion {
  output: TokenStream;
  /**
   * The expansion depended on nothing outside the request (no granted file system), so the same
   * request line may be answered with the same response without asking the backend again.
   */
  reusable?: boolean;
  /**
   * What a reusable answer depended on outside the request (for macrobox's Node server, the
   * workspace's grants file), as the backend found it before the macro ran. A memoised answer is
   * reused only while the state there is unchanged (src/proc-macro-server/memo.ts).
   */
  dependency?: MemoDependency | null;
  /**
   * RustAnalyzer mode: the span table the output's ids index (default: the request's). With
   * `outputSpan`, complete only once the output is encoded (the mapping appends to it).
   */
  spanData?: SpanData[];
  /**
   * What the sandbox refused, as notes naming the grant that would allow it (the protocol has no
   * place for them: the Node server writes them to stderr, which rust-analyzer logs).
   */
  notes?: string[];
  /**
   * Only when the caller said `mapsOutputSpans`: `output` is in the backend's own spans and this
   * maps each to the client's, called in encodeFlatTree's writing order.
   */
  outputSpan?: (span: Span) => Span;
}

export interface ProcMacroBackend {
  listMacros(lib: string): Promise<Result<MacroInfo[], string>>;
  /** An error is reported to the client as the macro's panic message. */
  expand(req: BackendExpandRequest, options?: BackendExpandOptions): Promise<Result<BackendExpansion, string>>;
  /** Span modes this backend can serve; default Id only. */
  spanModes?: readonly SpanMode[];
}

/** What an answer depended on outside its request, as plain data (it crosses threads). */
export interface MemoDependency {
  /** Where to look (for macrobox's Node server: where the workspace's settings are looked up from). */
  where: string;
  /** What was there before the expansion ran. */
  state: string;
}

export interface ServerSession {
  /** Answers one request. Never throws for bad requests: errors become error responses where the protocol has them. */
  handle(req: Request, context?: RequestContext): Promise<Response>;
  /**
   * Answers one JSON line (without its newline) with the response line (newline included), saying
   * whether the response may be memoised (an expansion the backend marked reusable) and what it
   * depended on: the proc-macro server keeps its memo on its main thread (src/proc-macro-server/memo.ts).
   */
  answerLine(line: string): Promise<{ response: string; reusable: boolean; dependency: MemoDependency | null }>;
  readonly spanMode: SpanMode;
}

export interface SessionOptions {
  /** The span mode the connection starts in (a session taking over a connection: a restarted worker). */
  spanMode?: SpanMode;
}

/** One connection's state (the span mode is per connection, like the native server's loop). */
export function createServerSession(backend: ProcMacroBackend, options: SessionOptions = {}): ServerSession {
  let spanMode: SpanMode = options.spanMode ?? "Id";
  /** Set by `expand` when the answer it is building may be memoised. */
  let reusable = false;
  /** Set with `reusable`: what that answer depended on outside the request. */
  let dependency: MemoDependency | null = null;
  const modes = backend.spanModes ?? ["Id"];

  async function expand(req: ExpandMacroRequest, context: RequestContext): Promise<Response> {
    const mode = spanMode;
    const fail = (error: string): Response => expansionError(mode, error);
    let spanData: SpanData[] = [];
    let body: TokenStream;
    let attributes: TokenStream | null = null;
    try {
      if (mode === "RustAnalyzer") spanData = decodeSpanDataTable(req.spanDataTable);
      // Like the native server, decode with the current version whatever the client announced.
      body = decodeFlatTree(req.macroBody);
      if (req.attributes !== null) attributes = decodeFlatTree(req.attributes);
    } catch (e) {
      // Anything else is our bug, but still only this request's: answer it and keep serving.
      return fail(isMacroboxError(e) ? `bad request: ${e.message}` : `macrobox: ${errorMessage(e)}`);
    }
    const globals = req.globals ?? { defSite: 0, callSite: 0, mixedSite: 0 };
    let result: Result<BackendExpansion, string>;
    try {
      result = await backend.expand(
        {
          lib: req.lib,
          macroName: req.macroName,
          body,
          attributes,
          defSite: globals.defSite,
          callSite: globals.callSite,
          mixedSite: globals.mixedSite,
          env: req.env,
          currentDir: req.currentDir,
          spanMode: mode,
          spanData,
          // Only RustAnalyzer-mode spans are things the client can answer questions about.
          askClient: mode === "RustAnalyzer" ? context.askClient : undefined,
        },
        { mapsOutputSpans: true },
      );
    } catch (e) {
      // The backend's own failure (ours or an embedder's): its message is the answer.
      return fail(`macrobox: ${(e as Error).message}`);
    }
    if (!result.ok) return fail(result.error);
    reusable = result.value.reusable === true;
    dependency = result.value.dependency ?? null;
    let tree;
    try {
      tree = encodeFlatTree(result.value.output, { rootSpan: globals.callSite, noneGroupAsRoot: true, mapSpan: result.value.outputSpan });
    } catch (e) {
      return fail(`macrobox: cannot encode the expansion: ${(e as Error).message}`);
    }
    if (mode === "Id") return { type: "ExpandMacro", result: { ok: true, value: tree } };
    return {
      type: "ExpandMacroExtended",
      result: { ok: true, value: { tree, spanDataTable: encodeSpanDataTable(result.value.spanData ?? spanData) } },
    };
  }

  async function handle(req: Request, context: RequestContext = {}): Promise<Response> {
    switch (req.type) {
      case "ApiVersionCheck":
        return { type: "ApiVersionCheck", version: CURRENT_API_VERSION };
      case "SetConfig":
        // The reply names the mode we adopted; rust-analyzer uses whatever we answer.
        spanMode = modes.includes(req.spanMode) ? req.spanMode : "Id";
        return { type: "SetConfig", spanMode };
      case "ListMacros":
        try {
          return { type: "ListMacros", result: await backend.listMacros(req.dylibPath) };
        } catch (e) {
          return { type: "ListMacros", result: { ok: false, error: `macrobox: ${(e as Error).message}` } };
        }
      case "ExpandMacro":
        return expand(req, context);
    }
  }

  async function answerLine(line: string): Promise<{ response: string; reusable: boolean; dependency: MemoDependency | null }> {
    // A request we cannot read has no response of its own in the protocol; the native server
    // dies on it. We answer with the error as a panic message so the client sees why.
    let req: Request;
    try {
      req = decodeRequestLine(line);
    } catch (e) {
      return { response: encodeResponseLine(expansionError("Id", `macrobox: ${errorMessage(e)}`)), reusable: false, dependency: null };
    }
    reusable = false;
    dependency = null;
    const response = encodeResponseLine(await handle(req));
    // Only expansions are kept (the span mode is part of what the line means).
    return { response, reusable: req.type === "ExpandMacro" && reusable, dependency };
  }

  return {
    handle,
    answerLine,
    get spanMode() {
      return spanMode;
    },
  };
}

/**
 * The error reply to an expansion request (or to a request that could not be read), as the
 * native server gives it in the connection's span mode: `ExpandMacro` in `Id` mode,
 * `ExpandMacroExtended` in `RustAnalyzer` mode.
 */
export function expansionError(mode: SpanMode, error: string): Response {
  return mode === "Id" ? { type: "ExpandMacro", result: { ok: false, error } } : { type: "ExpandMacroExtended", result: { ok: false, error } };
}

/** The same as a postcard frame (the bidirectional format's reply to a frame that gets an error). */
export function expansionErrorFrame(mode: SpanMode, error: string): Uint8Array {
  return encodeBidirectionalFrame({ type: "Response", response: expansionError(mode, error) });
}
