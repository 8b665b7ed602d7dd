// A proc-macro server backend that expands with wasm macro modules through our bridge host:
// what lets rust-analyzer use macrobox as its proc-macro server (serve.ts, run by the server process in src/proc-macro-server).
//
// Spans: in `Id` span mode rust-analyzer's ids are opaque and every span question gets the native
// server's constant answers (srv-spans.ts); in `RustAnalyzer` mode they index the request's span
// table (ra-spans.ts). Group `entire` spans come back as the close span, as the native server does.
//
// Errors: a macro's panic answers with its panic message alone (the native server's
// `PanicMessage`, "" when the payload is not a string); an expansion whose question to the client
// failed (a Cancel, a broken connection) answers with "", as natively (the server's panic marker
// reaches the macro as a panic with a payload that is not a string).
//
// Capabilities: the `sandbox` option gives each expansion its SandboxGrant (in the Node server,
// grants from the request's workspace and the request's env), and what outside the request it
// came from (the grants file), which a memoised answer depends on. An expansion served a file
// system is not reusable for the line memo: files change outside the request.
//
// Browser-safe: no Node APIs here (loading module bytes is the caller's business).

import type { ExpandResult, MacroModule, SandboxGrant } from "../host/types.js";
import type { Span, TokenStream } from "../tokens/model.js";
import { copyStream } from "../tokens/index.js";
import { IntKeyIndex } from "../bridge/spans.js";
import type { MacroInfo, Result, SpanData } from "./protocol.js";
import { RaSpanTable } from "./ra-spans.js";
import { IdSpanTable } from "./srv-spans.js";
import type { BackendExpandOptions, BackendExpandRequest, BackendExpansion, MemoDependency, ProcMacroBackend } from "./serve.js";

export interface WasmBackendOptions {
  /** The macro module for a library path the client names (cache it: this is called per request). */
  loadModule(lib: string): Promise<MacroModule>;
  /**
   * The sandbox of one expansion (grants, crate directory, the request's env: src/node/expansion-sandbox.ts);
   * its error is the reply. Default: nothing granted; of the request's env, what every macro sees
   * (the package env: src/sandbox/capabilities.ts).
   */
  sandbox?(module: MacroModule, req: BackendExpandRequest): RequestSandbox;
}

/** The sandbox of one expansion, and what outside the request it was decided from (for the line memo). */
export interface RequestSandbox {
  sandbox: SandboxGrant;
  dependency: MemoDependency | null;
  /**
   * What a settings file asked that is not in effect (an untrusted request, a file another user
   * could write, env globs), one sentence each: in every failed answer, and in the log once.
   */
  notes?: string[];
}

// The walk is src/tokens/walk.ts's (no recursion): a request may nest as deep as the client likes,
// and the depth limit is only checked by the expansion it prepares (and its output is as deep as that).

/** A copy of the stream with every span mapped. */
function mapSpans(stream: TokenStream, map: (s: Span) => Span, joinGroup: (open: Span, close: Span) => Span): TokenStream {
  return copyStream(stream, (from, into, nested) => {
    for (const t of from) {
      if (t.type !== "group") {
        into.push({ ...t, span: map(t.span) });
        continue;
      }
      const open = map(t.span.open);
      const close = map(t.span.close);
      into.push({ ...t, stream: nested(t.stream), span: { open, close, entire: joinGroup(open, close) } });
    }
  });
}

/** The sandbox's refusals (and `more`: notes about the settings), as notes for the server's log. */
function notesOf(result: ExpandResult, more: readonly string[] = []): { notes?: string[] } {
  const notes = [...more, ...result.denials.map((d) => d.note)];
  return notes.length === 0 ? {} : { notes };
}

/**
 * A failed expansion's answer: a panic's own message, as the native server's (else our error), and
 * what the sandbox refused (the likely why, with the grant to give; natively there is none).
 */
function failure(result: ExpandResult, more: readonly string[] = []): { ok: false; error: string } {
  const error = result.error;
  const message = error === undefined ? "expansion failed" : error.kind === "panic" ? (error.payload ?? "") : error.message;
  const notes = [...result.denials.map((d) => d.note), ...more].map((n) => `\nnote: macrobox: ${n}`).join("");
  return { ok: false, error: `${message}${notes}` };
}

/** The default sandbox: no grant, the request's env (of which a macro sees only the package env). */
function requestEnvOnly(module: MacroModule, req: BackendExpandRequest): RequestSandbox {
  const env: Record<string, string> = Object.fromEntries(req.env);
  const crateDir = env.CARGO_MANIFEST_DIR;
  const sandbox: SandboxGrant = {
    crate: module.crate?.name ?? "<unknown>",
    declared: module.declared,
    granted: { env: [], read: [] },
    fs: null,
    env,
    crateDir,
    currentDir: req.currentDir ?? crateDir,
  };
  return { sandbox, dependency: null };
}

export function createWasmBackend(options: WasmBackendOptions): ProcMacroBackend {
  // Settings notes go to the log once each (every expansion in a workspace would repeat them).
  const logged = new Set<string>();
  const unlogged = (notes: readonly string[] = []) => notes.filter((n) => !logged.has(n) && logged.add(n));
  const load = async (lib: string): Promise<Result<MacroModule, string>> => {
    try {
      return { ok: true, value: await options.loadModule(lib) };
    } catch (e) {
      return { ok: false, error: `macrobox cannot load a macro module for ${lib}: ${(e as Error).message}` };
    }
  };

  /**
   * RustAnalyzer span mode, as proc-macro-srv-cli's `handle_expand_ra` does it: ids index the
   * request's span table; a group's `entire` is `join(open, close)` or else the close span; the
   * output's spans index the same table (an IndexSet: entries already there keep their index, new
   * ones are appended in the order the flat-tree writer meets them, the call site first).
   */
  async function expandRa(
    module: MacroModule,
    req: BackendExpandRequest,
    { sandbox, dependency, notes }: RequestSandbox,
    how: BackendExpandOptions,
  ): Promise<Result<BackendExpansion, string>> {
    const kind = module.macros.find((m) => m.name === req.macroName)!.kind;
    const spans = new RaSpanTable(req.spanClient ?? null);
    // The native server reads the request's table into an IndexSet: a repeated entry is kept once,
    // so ids index the table without its repeats (and the output table starts as that set).
    const table: SpanData[] = [];
    const index = new IntKeyIndex(5);
    const idOf = (d: SpanData): number => {
      let id = index.get(d.fileId, d.astId, d.start, d.end, d.ctx);
      if (id < 0) {
        id = table.length;
        table.push(d);
        index.set(id, d.fileId, d.astId, d.start, d.end, d.ctx);
      }
      return id;
    };
    for (const d of req.spanData) idOf(d);
    const inputEntries = table.length;
    // Every token's span goes through these two: memoised per id and per handle (a request's tokens
    // share a few hundred spans), so each distinct span is interned and keyed once.
    const handles: Span[] = [];
    const handleOf = (id: Span): Span => {
      const known = handles[id];
      if (known !== undefined) return known;
      const d = id < inputEntries ? table[id] : undefined;
      if (d === undefined) throw new RangeError(`span id ${id} is not in the span data table (${inputEntries} distinct entries)`);
      return (handles[id] = spans.internRa(d));
    };
    let input: TokenStream;
    let args: TokenStream | undefined;
    try {
      const inRa = (stream: TokenStream) => mapSpans(stream, handleOf, (open, close) => spans.join(open, close) ?? close);
      spans.setGlobals({ defSite: handleOf(req.defSite), callSite: handleOf(req.callSite), mixedSite: handleOf(req.mixedSite) });
      input = inRa(req.body);
      args = kind === "attr" ? inRa(req.attributes ?? []) : undefined;
    } catch (e) {
      return { ok: false, error: `bad request: ${(e as Error).message}` };
    }
    const result = await module.expand({ kind, name: req.macroName, input, args, spans, sandbox, cache: !spans.asksClient });
    if (spans.clientFailure !== null) return { ok: false, error: "" };
    if (result.output === undefined) return failure(result, notes);

    idOf(table[req.callSite]);
    const ids = new Map<Span, number>();
    const toId = (s: Span): number => {
      let id = ids.get(s);
      if (id === undefined) ids.set(s, (id = idOf(spans.ra(s))));
      return id;
    };
    const reusable = !spans.asksClient && !sandbox.fs;
    // Either way the ids are made in the flat-tree writer's order (mapSpans walks as it writes).
    if (how.mapsOutputSpans) {
      return { ok: true, value: { output: result.output, outputSpan: toId, spanData: table, reusable, dependency, ...notesOf(result, unlogged(notes)) } };
    }
    const output = mapSpans(result.output, toId, (_open, close) => close);
    return { ok: true, value: { output, spanData: table, reusable, dependency, ...notesOf(result, unlogged(notes)) } };
  }

  return {
    spanModes: ["Id", "RustAnalyzer"],

    async listMacros(lib: string): Promise<Result<MacroInfo[], string>> {
      const module = await load(lib);
      if (!module.ok) return module;
      return { ok: true, value: module.value.macros.map((m) => ({ name: m.name, kind: m.kind })) };
    },

    async expand(req: BackendExpandRequest, how: BackendExpandOptions = {}): Promise<Result<BackendExpansion, string>> {
      const module = await load(req.lib);
      if (!module.ok) return module;
      const macro = module.value.macros.find((m) => m.name === req.macroName);
      if (macro === undefined) return { ok: false, error: `proc-macro \`${req.macroName}\` is missing from ${req.lib}` };
      const kind = macro.kind;
      let resolved: RequestSandbox;
      try {
        resolved = (options.sandbox ?? requestEnvOnly)(module.value, req);
      } catch (e) {
        return { ok: false, error: `macrobox: ${(e as Error).message}` };
      }
      if (req.spanMode === "RustAnalyzer") return expandRa(module.value, req, resolved, how);
      const { sandbox, dependency, notes } = resolved;

      const spans = new IdSpanTable();
      spans.setGlobals({ defSite: spans.internId(req.defSite), callSite: spans.internId(req.callSite), mixedSite: spans.internId(req.mixedSite) });
      const inBridge = (stream: TokenStream) =>
        mapSpans(
          stream,
          (s) => spans.internId(s),
          (_open, close) => close,
        );
      const result = await module.value.expand({
        kind,
        name: req.macroName,
        input: inBridge(req.body),
        args: kind === "attr" ? inBridge(req.attributes ?? []) : undefined,
        spans,
        sandbox,
      });
      if (result.output === undefined) return failure(result, notes);
      const toClientSpan = (s: Span) => spans.id(s);
      // Without a granted file system nothing outside the request decided the output.
      const reusable = !sandbox.fs;
      if (how.mapsOutputSpans)
        return { ok: true, value: { output: result.output, outputSpan: toClientSpan, reusable, dependency, ...notesOf(result, unlogged(notes)) } };
      return {
        ok: true,
        value: { output: mapSpans(result.output, toClientSpan, (_open, close) => close), reusable, dependency, ...notesOf(result, unlogged(notes)) },
      };
    },
  };
}
