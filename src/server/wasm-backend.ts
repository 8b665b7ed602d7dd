// A proc-macro server backend that expands with wasm macro modules through our bridge host:
// what lets rust-analyzer use macrobox as its proc-macro server (serve.ts + src/node/stdio-server.ts).
//
// Spans: rust-analyzer's ids are opaque in `Id` span mode, while the bridge resolves spans to
// source positions. Each distinct id gets its own one-byte span in a virtual file, so the bridge
// sees distinct, joinable spans. Output spans in the expansion's def/mixed/call-site contexts map
// to the request's global span ids; root-context spans map back to the input token at that
// position, anything else to the call site (rust-analyzer's own Id-mode server is as coarse). Group `entire` spans come back as the close span, as the native server does.
//
// Browser-safe: no Node APIs here (loading module bytes is the caller's business).

import { SpanTable } from "../bridge/spans.js";
import type { MacroModule } from "../host/types.js";
import type { Span, TokenStream, TokenTree } from "../tokens/model.js";
import type { MacroInfo, Result, SpanData } from "./protocol.js";
import { RaSpanTable } from "./ra-spans.js";
import type { BackendExpandOptions, BackendExpandRequest, BackendExpansion, ProcMacroBackend } from "./serve.js";

export interface WasmBackendOptions {
  /** The macro module for a library path the client names (cache it: this is called per request). */
  loadModule(lib: string): Promise<MacroModule>;
}

// Both walks use explicit stacks: a request may nest as deep as the client likes, and the depth
// limit is only checked by the expansion these walks prepare (and its output is as deep as that).

/** Every span id in the stream, in order (depth first), into `into`. */
function collectSpans(stream: TokenStream, into: Set<Span>): void {
  const stack: { stream: TokenStream; next: number }[] = [{ stream, next: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.next >= frame.stream.length) {
      stack.pop();
      continue;
    }
    const t = frame.stream[frame.next++];
    if (t.type === "group") {
      into.add(t.span.open).add(t.span.close);
      stack.push({ stream: t.stream, next: 0 });
    } else into.add(t.span);
  }
}

/** A copy of the stream with every span mapped; a group's inner copy is filled when the queue reaches it. */
function mapSpans(stream: TokenStream, map: (s: Span) => Span, joinGroup: (open: Span, close: Span) => Span): TokenStream {
  const top: TokenTree[] = [];
  const queue: { from: TokenStream; into: TokenTree[] }[] = [{ from: stream, into: top }];
  for (let q = 0; q < queue.length; q++) {
    const { from, into } = queue[q];
    for (const t of from) {
      if (t.type !== "group") {
        into.push({ ...t, span: map(t.span) });
        continue;
      }
      const open = map(t.span.open);
      const close = map(t.span.close);
      const inner: TokenTree[] = [];
      queue.push({ from: t.stream, into: inner });
      into.push({ ...t, stream: inner, span: { open, close, entire: joinGroup(open, close) } });
    }
  }
  return top;
}

export function createWasmBackend(options: WasmBackendOptions): ProcMacroBackend {
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
  async function expandRa(module: MacroModule, req: BackendExpandRequest, options: BackendExpandOptions): Promise<Result<BackendExpansion, string>> {
    const kind = module.macros.find((m) => m.name === req.macroName)!.kind;
    const spans = new RaSpanTable(req.spanClient ?? null);
    const handleOf = (id: Span): Span => {
      const d = req.spanData[id];
      if (d === undefined) throw new RangeError(`span id ${id} is not in the span data table (${req.spanData.length} entries)`);
      return spans.internRa(d);
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
    const result = await module.expand({ kind, name: req.macroName, input, args, spans, cache: !spans.asksClient });
    if (result.output === undefined) return { ok: false, error: result.error?.message ?? "expansion failed" };

    const table: SpanData[] = [];
    const index = new Map<string, number>();
    const idOf = (d: SpanData): number => {
      const key = `${d.fileId}:${d.astId}:${d.start}:${d.end}:${d.ctx}`;
      let id = index.get(key);
      if (id === undefined) {
        id = table.length;
        table.push(d);
        index.set(key, id);
      }
      return id;
    };
    for (const d of req.spanData) idOf(d);
    idOf(req.spanData[req.callSite]);
    const toId = (s: Span) => idOf(spans.ra(s));
    const reusable = !spans.asksClient;
    // Either way the ids are made in the flat-tree writer's order (mapSpans walks as it writes).
    if (options.mapsOutputSpans) return { ok: true, value: { output: result.output, outputSpan: toId, spanData: table, reusable } };
    const output = mapSpans(result.output, toId, (_open, close) => close);
    return { ok: true, value: { output, spanData: table, reusable } };
  }

  return {
    spanModes: ["Id", "RustAnalyzer"],

    async listMacros(lib: string): Promise<Result<MacroInfo[], string>> {
      const module = await load(lib);
      if (!module.ok) return module;
      return { ok: true, value: module.value.macros.map((m) => ({ name: m.name, kind: m.kind })) };
    },

    async expand(req: BackendExpandRequest, options: BackendExpandOptions = {}): Promise<Result<BackendExpansion, string>> {
      const module = await load(req.lib);
      if (!module.ok) return module;
      const macro = module.value.macros.find((m) => m.name === req.macroName);
      if (macro === undefined) return { ok: false, error: `proc-macro \`${req.macroName}\` is missing from ${req.lib}` };
      const kind = macro.kind;
      if (req.spanMode === "RustAnalyzer") return expandRa(module.value, req, options);

      const ids = new Set<Span>();
      collectSpans(req.body, ids);
      if (req.attributes !== null) collectSpans(req.attributes, ids);
      const order = [...ids];
      const spans = new SpanTable();
      const file = spans.addFile("<rust-analyzer tokens>", " ".repeat(order.length * 2));
      // The id at position i owns bytes 2i..2i+1 of the file: `order` maps a position back to its id.
      const toBridge = new Map<Span, Span>();
      order.forEach((id, i) => toBridge.set(id, spans.span(file, i * 2, i * 2 + 1)));
      const inBridge = (stream: TokenStream) =>
        mapSpans(
          stream,
          (s) => toBridge.get(s)!,
          (_open, close) => close,
        );

      const result = await module.value.expand({
        kind,
        name: req.macroName,
        input: inBridge(req.body),
        args: kind === "attr" ? inBridge(req.attributes ?? []) : undefined,
        spans,
      });
      if (result.output === undefined) return { ok: false, error: result.error?.message ?? "expansion failed" };

      // Output tokens share few spans: each is mapped once.
      const mapped = new Map<Span, Span>();
      const toClientSpan = (s: Span): Span => {
        let c = mapped.get(s);
        if (c === undefined) mapped.set(s, (c = clientSpan(s)));
        return c;
      };
      const clientSpan = (s: Span): Span => {
        if (!spans.has(s)) return req.callSite;
        const d = spans.data(s);
        switch (spans.context(d.ctxt).kind) {
          case "def_site":
            return req.defSite;
          case "mixed_site":
            return req.mixedSite;
          case "call_site":
            return req.callSite;
          case "root": {
            // An input token's span (possibly joined or sliced: those fall back to the call site).
            const id = d.file === file.index && d.hi === d.lo + 1 && d.lo % 2 === 0 ? order[d.lo / 2] : undefined;
            return id ?? req.callSite;
          }
        }
      };
      // No file system is granted here, so nothing outside the request decided the output.
      if (options.mapsOutputSpans) return { ok: true, value: { output: result.output, outputSpan: toClientSpan, reusable: true } };
      return { ok: true, value: { output: mapSpans(result.output, toClientSpan, (_open, close) => close), reusable: true } };
    },
  };
}
