// The bridge host's library API: load a wasm proc-macro module once, expand with it many times.
//
//   const mod = await loadMacroModule(wasmBytes);
//   mod.macros;  // [{kind: "derive", name: "Serialize", helpers: ["serde"]}, ...]
//   const r = await mod.expand({kind: "derive", name: "Serialize", input: "struct S { x: u8 }"});
//   r.ok ? r.text : r.error.message
//
// Every expansion runs in a fresh instance, so nothing a macro does (statics, leaks, a trap) can
// reach the next one. Failures are values (`ok: false` with an `error`), never exceptions, except
// for misuse of the API itself (loading something that is not a macro module).
//
// Browser-safe: no Node APIs here.

import { MacroboxError } from "../errors.js";
import type { Span, TokenStream, TokenTree } from "../tokens/model.js";
import { forEachTree, normalizeSource, tokenStreamFromStr, printedLengthBound, printTokenStream, streamShape, type Edition } from "../tokens/index.js";
import { withLazyText } from "./lazy-text.js";
import { declsExportName, listProcMacros, type MacroKind, type ProcMacroDecl } from "../wasm/decls.js";
import { parseModule } from "../wasm/binary.js";
import { readMetadata, type ModuleMetadata } from "../wasm/metadata.js";
import { LIBC_INFO_VERSION, readLibcInfo, type LibcInfo } from "../wasm/libc.js";
import { checkBridgeAbi, detectModuleAbi, type ModuleAbi } from "../bridge/abi.js";
import { runClient, type RunOptions } from "../bridge/run-client.js";
import { BridgeServer, type BridgeDiagnostic } from "../bridge/server.js";
import { SpanTable, type SourceFile, type SpanTableView } from "../bridge/spans.js";
import { Wasi, wasiImportsFor } from "../sandbox/wasi.js";
import { LimitExceeded, resolveLimits, type Limits } from "../sandbox/limits.js";
import { FUEL_EXPORT, FUEL_INSTRUMENTATION_VERSION, instrumentFuel } from "../sandbox/fuel.js";
import { CapabilitySession, type SandboxGrant } from "../sandbox/grant.js";
import type { Capabilities } from "../sandbox/capabilities.js";
import { desugarDocCommentsAsMacroArgs } from "./input.js";
import { decodeEntry, encodeEntry, expansionKey, RecordingFs, sha256Hex } from "./cache.js";
import type { CacheStore } from "./cache-store.js";
import type { Diagnostic, ExpandErrorKind, ExpandFailure, ExpandReport, ExpandRequest, ExpandResult, LoadOptions, MacroInfo, MacroModule } from "./types.js";

/** Deepest token trees (input or output) the expansion cache keeps; deeper ones are always expanded. */
const CACHEABLE_DEPTH = 1000;

const EDITIONS: readonly Edition[] = ["2015", "2018", "2021", "2024"];

/** Compiles (if needed) and checks a macro module, and reads its macro table. */
export async function loadMacroModule(wasm: Uint8Array | WebAssembly.Module, options: LoadOptions = {}): Promise<MacroModule> {
  const limits = resolveLimits(options.limits);
  const moduleHash = options.moduleHash ?? (wasm instanceof WebAssembly.Module ? null : sha256Hex(wasm));
  let module: WebAssembly.Module;
  // From a compiled module the code cannot be read: the macro's current directory stays "/".
  let libc: LibcInfo = { cwdAddress: null, joinsRelativePaths: false };
  if (wasm instanceof WebAssembly.Module) module = wasm;
  else {
    const moduleCache = options.moduleCache && moduleHash ? options.moduleCache : null;
    libc = await cachedLibcInfo(wasm, moduleCache, moduleHash);
    let bytes: Uint8Array | null = null;
    // Instrumenting is most of the cost of loading: the instrumented bytes are cached by what decides them.
    // Only bytes that were not instrumented yet are ever stored, so a hit also answers that question.
    const cacheKey = (options.meter ?? true) && moduleCache ? sha256Hex(`module:${FUEL_INSTRUMENTATION_VERSION}:${moduleHash}:${limits.memoryPages}`) : null;
    if (cacheKey) bytes = await moduleCache!.get(cacheKey);
    if (bytes === null) {
      const meter = (options.meter ?? true) && !isInstrumented(wasm);
      bytes = meter ? instrumentFuel(wasm, { maxMemoryPages: limits.memoryPages }) : wasm;
      if (cacheKey && meter) await moduleCache!.set(cacheKey, bytes);
    }
    try {
      module = await WebAssembly.compile(bytes as BufferSource);
    } catch (e) {
      if (e instanceof WebAssembly.CompileError) throw new MacroboxError("wasm-format", `not a WebAssembly module: ${e.message}`);
      throw e;
    }
  }
  const abi = detectModuleAbi(module, options.assumeBridgeAbi);
  checkBridgeAbi(abi);
  declsExportName(module);
  // Refuse modules that import anything the sandbox does not provide now, not at first expansion.
  wasiImportsFor(module, new Wasi());
  const decls = await listProcMacros(module);
  const metered = WebAssembly.Module.exports(module).some((e) => e.name === FUEL_EXPORT && e.kind === "global");
  let metadata: ModuleMetadata | null = null;
  try {
    metadata = readMetadata(module);
  } catch {
    // a module with malformed metadata declares nothing
  }
  return new LoadedMacroModule(module, abi, decls, limits, metered, metadata, moduleHash, options.expansionCache ?? null, libc, options.warmSnapshots ?? true);
}

/** What readLibcInfo finds (a walk over the module's names and code), kept in the module cache beside the module. */
async function cachedLibcInfo(wasm: Uint8Array, cache: CacheStore | null, moduleHash: string | null): Promise<LibcInfo> {
  const key = cache ? sha256Hex(`libc:${LIBC_INFO_VERSION}:${moduleHash}`) : null;
  const stored = key ? await cache!.get(key) : null;
  if (stored !== null) {
    try {
      const info = JSON.parse(new TextDecoder().decode(stored)) as LibcInfo;
      if ((info.cwdAddress === null || Number.isInteger(info.cwdAddress)) && typeof info.joinsRelativePaths === "boolean") return info;
    } catch {
      // a damaged entry: read the module again
    }
  }
  const info = readLibcInfo(wasm);
  if (key) await cache!.set(key, new TextEncoder().encode(JSON.stringify(info)));
  return info;
}

/** Whether the bytes already export the fuel global (cheap check before instrumenting twice). */
function isInstrumented(wasm: Uint8Array): boolean {
  try {
    return parseModule(wasm).exports.some((e) => e.name === FUEL_EXPORT);
  } catch {
    return false; // let compilation report what is wrong with the bytes
  }
}

const PANIC_TITLES: Record<MacroKind, string> = {
  bang: "proc macro panicked",
  derive: "proc-macro derive panicked",
  attr: "custom attribute panicked",
};

class LoadedMacroModule implements MacroModule {
  readonly macros: readonly MacroInfo[];
  readonly crate: { name: string; version: string } | null;
  readonly edition: Edition;
  readonly declared: Readonly<Capabilities>;

  constructor(
    private readonly module: WebAssembly.Module,
    readonly abi: ModuleAbi,
    private readonly decls: readonly ProcMacroDecl[],
    readonly limits: Readonly<Limits>,
    readonly metered: boolean,
    readonly metadata: ModuleMetadata | null,
    /** sha256 of the module's bytes as given (before instrumentation); null when unknown (a precompiled module). */
    readonly hash: string | null,
    private readonly expansionCache: CacheStore | null,
    private readonly libc: LibcInfo = { cwdAddress: null, joinsRelativePaths: false },
    private readonly warmSnapshots = true,
  ) {
    this.macros = decls.map((d) => ({ kind: d.kind, name: d.name, helpers: [...d.helpers] }));
    this.crate = metadata ? { name: metadata.crate.name, version: metadata.crate.version } : null;
    // The edition decides how the macro's own `from_str` calls lex; rustc's default for a crate without one is 2015,
    // but a module without metadata was most likely built by a current cargo, hence 2021.
    this.edition = EDITIONS.find((e) => e === metadata?.crate.edition) ?? "2021";
    this.declared = Object.freeze({ env: [...(metadata?.capabilities?.env ?? [])], read: [...(metadata?.capabilities?.read ?? [])] });
  }

  async expand(request: ExpandRequest): Promise<ExpandResult> {
    const spans = request.spans ?? new SpanTable();
    const base: ExpandReport = { diagnostics: [], trackedEnv: [], trackedPaths: [], reads: [], denials: [], stdout: "", stderr: "", spans };
    const fail = (kind: ExpandErrorKind, message: string): ExpandFailure => ({ ...base, ok: false, error: { kind, message } });

    const decl = this.decls.find((d) => d.kind === request.kind && d.name === request.name);
    if (!decl) {
      const known = this.macros.map((m) => `${m.kind} ${m.name}`).join(", ") || "none";
      return fail("unknown-macro", `no ${request.kind} macro named \`${request.name}\` in this module (it has: ${known})`);
    }
    if (request.kind === "attr" && request.args === undefined) request = { ...request, args: [] };

    let limits: Limits;
    try {
      limits = resolveLimits({ ...this.limits, ...request.limits });
    } catch (e) {
      return fail("input", (e as Error).message);
    }

    const prepared = prepareInputs(request, spans, limits.nestingDepth);
    if ("tooDeep" in prepared) {
      // Refused before anything walks the trees (see prepareInputs).
      const what = prepared.tooDeep.what === "input" ? "the input of" : "the attribute arguments of";
      const e = new LimitExceeded("nestingDepth", limits.nestingDepth, undefined, `${what} proc macro \`${request.name}\``);
      const at = prepared.tooDeep.at === null ? [] : [spans.location(prepared.tooDeep.at)];
      return {
        ...base,
        ok: false,
        diagnostics: [{ level: "error", message: e.message, spans: at, children: [] }],
        error: { kind: "limit", message: e.message, limit: e.limit },
      };
    }
    if ("error" in prepared) return fail("input", prepared.error);
    let sandbox = request.sandbox ?? {
      crate: this.crate?.name ?? "<unknown>",
      declared: { env: [...this.declared.env], read: [...this.declared.read] },
      granted: { env: [], read: [] },
    };

    // The expansion cache (src/host/cache.ts). A caller's own env policy is a function whose
    // answers cannot be keyed, and WASI overrides are for tests and tools: both bypass it.
    // Entries are JSON, whose encoder recurses: trees nested deeper than any real code skip the cache.
    const shallow = (s: TokenStream | undefined) => s === undefined || streamShape(s, undefined, CACHEABLE_DEPTH).depth <= CACHEABLE_DEPTH;
    const cache =
      this.expansionCache !== null &&
      this.hash !== null &&
      request.cache !== false &&
      request.env === undefined &&
      request.wasi === undefined &&
      shallow(prepared.input) &&
      shallow(prepared.args)
        ? this.expansionCache
        : null;
    let cacheKey: string | null = null;
    const checkpoint = spans.checkpoint();
    let recorder: RecordingFs | null = null;
    let view: SpanTableView | null = null;
    if (cache) {
      view = spans.cacheView();
      cacheKey = expansionKey({
        moduleHash: this.hash!,
        metered: this.metered,
        edition: this.edition,
        kind: request.kind,
        name: request.name,
        input: prepared.input,
        args: prepared.args,
        invocation: prepared.invocation,
        spans: view,
        sandbox,
        limits,
        forceShowPanics: request.forceShowPanics ?? false,
      });
      const stored = await cache.get(cacheKey);
      if (stored !== null) {
        const hit = decodeEntry(cacheKey, stored, spans, view, sandbox.fs);
        if (hit !== null) return hit;
      }
      if (sandbox.fs) {
        recorder = new RecordingFs(sandbox.fs);
        sandbox = { ...sandbox, fs: recorder };
      }
    }
    // Where the input sits is not in the key: every question about it is observed (cache.ts).
    const positions = view?.bases ? spans.observePositions(view.bases) : [];
    let result: ExpandResult;
    let sourceTextRead = false;
    try {
      result = await this.run(request, decl, prepared, spans, limits, sandbox);
    } finally {
      if (view?.bases) sourceTextRead = spans.stopObserving().sourceTextRead;
    }
    if (view?.bases) {
      // Kept in the cache entry with the rest of the result: a hit says the same.
      result.selfContained =
        positions.length === 0 &&
        !sourceTextRead &&
        (recorder?.observations.length ?? 0) === 0 &&
        result.reads.length === 0 &&
        result.trackedPaths.length === 0 &&
        result.denials.length === 0;
    }
    if (cache && cacheKey !== null && view !== null && result.error?.kind !== "limit" && shallow(result.output)) {
      // A limit's verdict depends on the host's bookkeeping as well as on the macro; not worth keeping.
      await cache.set(cacheKey, encodeEntry(cacheKey, checkpoint, spans, view, { fs: recorder?.observations ?? [], positions }, result));
    }
    return result;
  }

  private async run(
    request: ExpandRequest,
    decl: ProcMacroDecl,
    prepared: PreparedInputs,
    spans: SpanTable,
    limits: Limits,
    sandbox: SandboxGrant,
  ): Promise<ExpandResult> {
    const base: ExpandReport = { diagnostics: [], trackedEnv: [], trackedPaths: [], reads: [], denials: [], stdout: "", stderr: "", spans };
    const expansion = spans.newExpansion(prepared.invocation);
    const cwdAddress = this.libc.cwdAddress;
    const session = new CapabilitySession(
      sandbox,
      // Relative paths reach the host absolute only when wasi-libc joins them with the cwd we set.
      { joinsRelativePaths: this.libc.joinsRelativePaths && cwdAddress !== null },
    );
    const server = new BridgeServer({
      spans,
      expansion,
      bridgeAbi: this.abi.bridgeAbi,
      env: request.env ?? session.envPolicy,
      maxLiveStreams: limits.tokenHandles,
      maxStreamTokens: limits.outputBytes,
      maxNestingDepth: limits.nestingDepth,
      edition: this.edition,
    });
    const runOptions: RunOptions = {
      wasi: { maxWrittenBytes: limits.capturedOutputBytes, extend: session.extend, ...request.wasi },
      forceShowPanics: request.forceShowPanics,
      fuel: limits.fuel,
      memoryPages: limits.memoryPages,
      currentDir: cwdAddress !== null && session.currentDir !== "/" ? { address: cwdAddress, path: session.currentDir } : undefined,
      // What the constructors and warm-up can see through the session: the granted environment (the
      // preopens and stdio it answers are fixed), and whether the panic hook prints. Caller-given
      // WASI options may change anything: no snapshot then.
      warmStart:
        this.warmSnapshots && request.wasi === undefined
          ? {
              key: JSON.stringify([session.environment(), request.forceShowPanics ?? false]),
              replay: (calls) => {
                if (calls.has("environ_get")) session.environRead();
              },
            }
          : undefined,
    };
    const inputs = request.kind === "attr" ? [prepared.args!, prepared.input] : [prepared.input];
    const run = await runClient(this.module, decl.run, server, expansion, inputs, runOptions);

    const diagnostics = server.diagnostics.map((d) => resolveDiagnostic(d, spans));
    const result: ExpandReport = {
      ...base,
      diagnostics,
      trackedEnv: [...server.trackedEnv, ...session.env.filter((e) => !server.trackedEnv.some((t) => t.name === e.name))],
      trackedPaths: server.trackedPaths,
      reads: session.reads,
      denials: session.denials,
      stdout: run.stdout.text(),
      stderr: run.stderr.text(),
    };
    const outcome = run.outcome;
    // Only a failure points at the call site (asked then: where it is is an observed position, cache.ts).
    const at = () => [spans.location(prepared.invocation)];
    switch (outcome.kind) {
      case "ok":
        if (diagnostics.some((d) => d.level === "error")) {
          // rustc keeps the output but the compilation fails; we report both.
          return {
            ...result,
            ok: false,
            output: outcome.output,
            text: printTokenStream(outcome.output),
            error: { kind: "diagnostics", message: `proc macro \`${request.name}\` emitted ${diagnostics.filter((d) => d.level === "error").length} error(s)` },
          };
        }
        {
          // The text is printed only when someone reads it, or when a cheap bound on its size
          // cannot rule out the output limit (then the exact size decides, as always).
          let text: string | undefined;
          if (printedLengthBound(outcome.output) > limits.outputBytes) {
            text = printTokenStream(outcome.output);
            const size = new TextEncoder().encode(text).length;
            if (size > limits.outputBytes) {
              const e = new LimitExceeded("outputBytes", limits.outputBytes, size);
              const message = e.message.replace(/^macro /, `proc macro \`${request.name}\` `);
              result.diagnostics.push({ level: "error", message, spans: at(), children: [] });
              return { ...result, ok: false, error: { kind: "limit", message, limit: e.limit } };
            }
          }
          return withLazyText({ ...result, ok: true as const, output: outcome.output }, outcome.output, text);
        }
      case "panic": {
        // A server-side failure (unknown handle, bad bytes) reaches the client as a panic whose
        // message is ours: report it as a bridge error, not as the macro's panic.
        const serverError = outcome.message !== null && server.errors.includes(outcome.message);
        const title = PANIC_TITLES[request.kind];
        const children: Diagnostic[] = outcome.message === null ? [] : [{ level: "help", message: `message: ${outcome.message}`, spans: [], children: [] }];
        result.diagnostics.push({ level: "error", message: title, spans: at(), children });
        return {
          ...result,
          ok: false,
          error: serverError
            ? { kind: "bridge", message: `bridge request failed: ${outcome.message}` }
            : { kind: "panic", message: outcome.message === null ? title : `${title}: ${outcome.message}`, payload: outcome.message },
        };
      }
      case "trap": {
        // Rust's stack sits at the bottom of linear memory (`--stack-first`): overflowing it
        // reaches below address 0, an out-of-bounds access (safe Rust has no other way to make one).
        const children: Diagnostic[] = /out of bounds|stack overflow/.test(outcome.message)
          ? [{ level: "help", message: "this is most likely a stack overflow: the macro recursed too deeply", spans: [], children: [] }]
          : [];
        result.diagnostics.push({ level: "error", message: `proc macro \`${request.name}\` trapped: ${outcome.message}`, spans: at(), children });
        return { ...result, ok: false, error: { kind: "trap", message: outcome.message } };
      }
      case "exit":
        result.diagnostics.push({
          level: "error",
          message: `proc macro \`${request.name}\` exited the process with code ${outcome.code}`,
          spans: at(),
          children: [],
        });
        return { ...result, ok: false, error: { kind: "exit", message: `the macro called proc_exit(${outcome.code})` } };
      case "limit": {
        // Name the macro: "proc macro `x` exceeded its fuel limit: ...".
        const message = outcome.error.message.replace(/^macro /, `proc macro \`${request.name}\` `);
        result.diagnostics.push({ level: "error", message, spans: at(), children: [] });
        return { ...result, ok: false, error: { kind: "limit", message, limit: outcome.error.limit } };
      }
      case "bridge":
        result.diagnostics.push({ level: "error", message: `proc macro \`${request.name}\` failed: ${outcome.message}`, spans: at(), children: [] });
        return { ...result, ok: false, error: { kind: "bridge", message: outcome.message } };
    }
  }
}

interface PreparedInputs {
  input: TokenStream;
  args?: TokenStream;
  /** The invocation's span (root context): the call site's location. */
  invocation: Span;
}

/** An input nested deeper than the nestingDepth limit, and where when known (the first delimiter too deep). */
interface TooDeep {
  tooDeep: { what: "input" | "attribute arguments"; at: Span | null };
}

/**
 * Lexes and checks the inputs. The nesting depth is checked first (while lexing text, by an
 * iterative measure of given streams): everything after it, here and in the bridge, may walk the
 * trees, so it must come before any of that.
 */
function prepareInputs(request: ExpandRequest, spans: SpanTable, maxDepth: number): PreparedInputs | TooDeep | { error: string } {
  const fileName = request.fileName ?? "<macro input>";
  const encoder = new TextEncoder();
  let sourceFile: SourceFile | null = null;
  // With `source`, input and args are cut from one file; without, each text is its own file.
  const fileFor = (text: string, what: string): SourceFile => {
    if (!request.source) return spans.addFile(what === "input" ? fileName : `${fileName} (${what})`, text);
    sourceFile ??= spans.addFile(fileName, request.source.text, { localPath: request.source.localPath ?? null });
    return sourceFile;
  };

  type What = TooDeep["tooDeep"]["what"];
  const lex = (value: string | TokenStream, offset: number, what: What): { stream: TokenStream; range: Span | null } | TooDeep | { error: string } => {
    if (typeof value !== "string") {
      const { depth } = streamShape(value, undefined, maxDepth);
      if (depth > maxDepth) return { tooDeep: { what, at: null } };
      const bad = firstUnknownSpan(value, spans);
      if (bad !== null) return { error: `the ${what} token stream has span ${bad}, which is not in the given span table` };
      return { stream: value, range: null };
    }
    const f = fileFor(value, what);
    const expected = encoder.encode(normalizeSource(value).text);
    const at = request.source ? offset : 0;
    // The text given must be where the source says it is (after the same normalisation).
    const bytes = f.bytes.subarray(at, at + expected.length);
    if (bytes.length !== expected.length || !bytes.every((b, i) => b === expected[i])) {
      return { error: `the ${what} text is not found at byte ${at} of the source text` };
    }
    const parsed = tokenStreamFromStr(new TextDecoder().decode(bytes), (lo: number, hi: number) => spans.span(f, at + lo, at + hi), { maxDepth });
    if (!parsed.ok && parsed.error.kind === "depth") return { tooDeep: { what, at: spans.span(f, at + parsed.error.lo, at + parsed.error.hi) } };
    if (!parsed.ok) {
      const clamp = (n: number) => Math.min(at + Math.max(0, n), f.bytes.length);
      const loc = spans.location(spans.span(f, clamp(parsed.error.lo), Math.max(clamp(parsed.error.lo), clamp(parsed.error.hi))));
      return { error: `cannot lex the ${what}: ${parsed.error.message} at ${loc.file}:${loc.line}:${loc.column}` };
    }
    return { stream: parsed.stream, range: spans.span(f, at, at + bytes.length) };
  };

  const input = lex(request.input, request.source?.inputOffset ?? 0, "input");
  if (!("stream" in input)) return input;
  let args: TokenStream | undefined;
  let argsRange: Span | null = null;
  if (request.args !== undefined) {
    const a = lex(request.args, request.source?.argsOffset ?? 0, "attribute arguments");
    if (!("stream" in a)) return a;
    args = a.stream;
    argsRange = a.range;
  }

  // The call site: the whole input (joined with the arguments when they are in the same file).
  let invocation = input.range ?? spanOfTokens(input.stream, spans) ?? spans.dummy;
  if (argsRange !== null) invocation = spans.join(argsRange, invocation) ?? invocation;
  const callSite = request.source?.callSite;
  if (callSite && sourceFile) {
    const f: SourceFile = sourceFile;
    if (!(0 <= callSite.lo && callSite.lo <= callSite.hi && callSite.hi <= f.bytes.length)) {
      return { error: `call site ${callSite.lo}..${callSite.hi} is outside the source text` };
    }
    invocation = spans.span(f, callSite.lo, callSite.hi);
  }
  const stream = request.kind === "bang" && typeof request.input === "string" ? desugarDocCommentsAsMacroArgs(input.stream) : input.stream;
  return { input: stream, args, invocation };
}

/** The span covering all of a token stream, if its tokens are all in one file. */
function spanOfTokens(stream: TokenStream, spans: SpanTable): Span | null {
  if (stream.length === 0) return null;
  const first = stream[0];
  const last = stream[stream.length - 1];
  const s = (t: TokenTree) => (t.type === "group" ? t.span.entire : t.span);
  const joined = spans.join(s(first), s(last));
  if (joined === null) return null;
  const d = spans.data(joined);
  return d.file < 0 ? null : spans.intern({ ...d, ctxt: 0 });
}

/** The first span (depth first, in order) the table does not know; iterative, as any depth may come here. */
function firstUnknownSpan(stream: TokenStream, spans: SpanTable): Span | null {
  let unknown: Span | null = null;
  forEachTree(stream, (t) => {
    const own = t.type === "group" ? [t.span.open, t.span.close, t.span.entire] : [t.span];
    unknown = own.find((s) => !spans.has(s)) ?? null;
    return unknown !== null;
  });
  return unknown;
}

function resolveDiagnostic(d: BridgeDiagnostic, spans: SpanTable): Diagnostic {
  return {
    level: d.level,
    message: d.message,
    spans: d.spans.map((s) => spans.location(s)),
    children: d.children.map((c) => resolveDiagnostic(c, spans)),
  };
}
