// The proc-macro server's worker thread (see expansion-worker.ts): it reads the requests from stdin
// itself, answers them with the protocol session of src/server over the wasm backend and writes
// the responses to stdout (request-loop.ts). Module paths are asked of the main thread (it may build
// a crate); span questions go to the client in the middle of an expansion, as sub-request frames.
// The main thread keeps the clock: this thread stamps when each request's clock runs, copies each
// request it takes where the main thread can read it, and takes its turn to write an answer
// (worker-protocol.ts `Turn`, `Slot`), all in shared memory: no message per request.

import { parentPort, workerData } from "node:worker_threads";

import { loadMacroModule } from "../host/module.js";
import type { MacroModule } from "../host/types.js";
import type { Limits } from "../sandbox/limits.js";
import type { SubRequest, SubResponse } from "../server/postcard.js";
import type { SpanData, SpanMode } from "../server/protocol.js";
import type { RaSpanClient } from "../server/ra-spans.js";
import { createServerSession, type ProcMacroBackend, type ServerSession } from "../server/serve.js";
import { createWasmBackend } from "../server/wasm-backend.js";
import { MacroboxError } from "../errors.js";
import { saveCodeCache } from "../node/code-cache.js";
import { moduleHash, nodeCaches, type NodeCaches } from "../node/disk-cache.js";
import { readModuleFile } from "../node/module-file.js";
import type { UserDirs } from "../node/trust.js";
import { requestSandbox, settingsState } from "../node/expansion-sandbox.js";
import { ResponseMemo } from "./memo.js";
import { MessageReader } from "./message-reader.js";
import { RequestLoop, type RequestTurn } from "./request-loop.js";
import { readSome, writeAll } from "./stdio.js";
import { BEGUN_AT_BYTE, Slot, SPAN_MODES, Turn, turnWord, type FromWorker, type ToWorker, type WorkerData } from "./worker-protocol.js";

const { control } = workerData as WorkerData;
const slots = new Int32Array(control, 0, BEGUN_AT_BYTE / 4);
const begunAt = new Float64Array(control, BEGUN_AT_BYTE, 1);
const port = parentPort!;
/** Where each request taken is copied for the main thread (`ToWorker.taken`), set by the first message. */
let taken: SharedArrayBuffer | undefined;
let takenBytes: Uint8Array | undefined;
/** The user's directories (the main thread's first message), and the caches they decide the remote one of. */
let dirs: UserDirs | undefined;
let caches: NodeCaches | undefined;
const theCaches = (): NodeCaches => (caches ??= nodeCaches(process.env, { dirs }));
const modules = new Map<string, Promise<MacroModule>>();
/** Dylib path -> the module path the main thread resolved for it. */
const paths = new Map<string, { promise: Promise<string>; resolve(r: string): void; reject(e: Error): void }>();

function modulePath(lib: string): Promise<string> {
  let entry = paths.get(lib);
  if (entry === undefined) {
    let resolve!: (r: string) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => {});
    paths.set(lib, (entry = { promise, resolve, reject }));
    // The clock stops while the main thread finds it (maybe building the crate), and restarts after.
    if (!turn.pause()) return new Promise(() => {});
    port.postMessage({ type: "path", lib } satisfies FromWorker);
    void promise.then(resumeClock, resumeClock);
  }
  return entry.promise;
}

/** Set by the main thread's first message. */
let limits: Partial<Limits> | undefined;

const wasm = createWasmBackend({
  async loadModule(lib) {
    const path = await modulePath(lib);
    let module = modules.get(path);
    if (module === undefined) {
      // A regular file within the bound: the path comes from the client or its configuration.
      const bytes = readModuleFile(path);
      module = loadMacroModule(bytes, {
        limits,
        moduleHash: moduleHash(bytes),
        moduleCache: theCaches().moduleCache,
        expansionCache: theCaches().expansionCache ?? undefined,
      });
      modules.set(path, module);
      module.catch(() => modules.delete(path));
    }
    return module;
  },
  sandbox: (module, req) => requestSandbox(module, req.env, req.currentDir, dirs!),
});

/** Whether an expansion ran (the code cache is saved after the first). */
let expanded = false;

/** The wasm backend, asking the client about spans synchronously. */
const backend: ProcMacroBackend = {
  spanModes: wasm.spanModes,
  listMacros: (lib) => wasm.listMacros(lib),
  async expand(req, how) {
    expanded = true;
    const result = await wasm.expand({ ...req, spanClient: req.askClient !== undefined ? spanClient : undefined, askClient: undefined }, how);
    // What the sandbox refused goes to stderr, which rust-analyzer logs: the protocol has no place for it.
    // Written at once: `process.stderr` of a worker flushes through its event loop, which does not
    // turn while the loop waits for the next request.
    if (result.ok) for (const note of result.value.notes ?? []) writeAll(2, `macrobox: note: ${note}\n`);
    return result;
  },
};
let session: ServerSession = createServerSession(backend);
let loop: RequestLoop | undefined;

/** The request in flight (its id in the turn word). */
let current = 0;

const turn: RequestTurn = {
  begin(request, spanMode) {
    current++;
    if (request !== null) {
      // The main thread answers from this copy if this thread cannot (it died, or the clock ran out).
      if (request.length > takenBytes!.length) taken!.grow(Math.min(Math.max(request.length, takenBytes!.length * 2), taken!.maxByteLength));
      takenBytes!.set(request);
      slots[Slot.takenBytes] = request.length;
    }
    slots[Slot.spanMode] = SPAN_MODES.indexOf(spanMode);
    begunAt[0] = Date.now();
    Atomics.store(slots, Slot.begunId, current);
    Atomics.store(slots, Slot.turn, turnWord(current, request === null ? Turn.Idle : Turn.Running));
  },
  pause: () => move(Turn.Running, Turn.Paused),
  resume: resumeClock,
  claim: () => move(Turn.Running, Turn.Worker),
  finish(spanMode) {
    slots[Slot.spanMode] = SPAN_MODES.indexOf(spanMode);
    Atomics.store(slots, Slot.turn, turnWord(current, Turn.Idle));
    // Once an expansion ran, the code it needs has been compiled: it goes into the code cache of
    // the next start (once; nothing when this start came from the cache).
    if (expanded) saveCodeCache();
  },
};

/** Moves the request in flight's turn from `from` to `to`; false when it was not in `from` (the main thread took it). */
function move(from: number, to: number): boolean {
  return Atomics.compareExchange(slots, Slot.turn, turnWord(current, from), turnWord(current, to)) === turnWord(current, from);
}

/** The clock of the request in flight runs again from now. */
function resumeClock(): void {
  begunAt[0] = Date.now();
  move(Turn.Paused, Turn.Running);
}

const ask = (sub: SubRequest): SubResponse => loop!.ask(sub);

function unexpected(r: SubResponse): never {
  throw new MacroboxError("protocol", `proc-macro IPC error: unexpected SubResponse ${r.type}`);
}

const q = (s: SpanData) => ({ fileId: s.fileId, astId: s.astId, start: s.start, end: s.end });
const spanClient: RaSpanClient = {
  filePath(fileId) {
    const r = ask({ type: "FilePath", fileId });
    return r.type === "FilePathResult" ? r.name : unexpected(r);
  },
  localFilePath(fileId) {
    const r = ask({ type: "LocalFilePath", fileId });
    return r.type === "LocalFilePathResult" ? r.name : unexpected(r);
  },
  sourceText(span) {
    const r = ask({ type: "SourceText", ...q(span) });
    return r.type === "SourceTextResult" ? r.text : unexpected(r);
  },
  lineColumn(fileId, astId, offset) {
    const r = ask({ type: "LineColumn", fileId, astId, offset });
    return r.type === "LineColumnResult" ? { line: r.line, column: r.column } : unexpected(r);
  },
  byteRange(span) {
    const r = ask({ type: "ByteRange", ...q(span) });
    return r.type === "ByteRangeResult" ? { start: r.start, end: r.end } : unexpected(r);
  },
  spanSource(span) {
    const r = ask({ type: "SpanSource", ...q(span), ctx: span.ctx });
    return r.type === "SpanSourceResult" ? { fileId: r.fileId, astId: r.astId, start: r.start, end: r.end, ctx: r.ctx } : unexpected(r);
  },
  spanParent(span) {
    const r = ask({ type: "SpanParent", ...q(span), ctx: span.ctx });
    return r.type === "SpanParentResult" ? r.parentSpan : unexpected(r);
  },
};

function start(m: Extract<ToWorker, { type: "init" }>): void {
  limits = m.limits;
  dirs = m.dirs;
  taken = m.taken;
  takenBytes = new Uint8Array(m.taken);
  const where = m.dirs;
  session = createServerSession(backend, { spanMode: m.spanMode as SpanMode });
  loop = new RequestLoop({
    format: m.format,
    reader: new MessageReader((into) => readSome(0, into), m.format === "json-legacy" ? 0x0a : 0, m.maxMessageBytes, m.input),
    write: (bytes) => writeAll(1, bytes),
    noise: (line) => writeAll(2, `macrobox proc-macro server: ignored input: ${line}\n`),
    session: () => session,
    // A memoised answer holds while the workspace's grants file, the user's file and the trust store are unchanged.
    memo: m.memo ? new ResponseMemo(undefined, (dir) => settingsState(dir, where)) : null,
    turn,
    maxMessageBytes: m.maxMessageBytes,
  });
  void loop.run().then((end) => {
    if (end === "closed") port.postMessage({ type: "closed" } satisfies FromWorker);
  });
}

port.on("message", (m: ToWorker) => {
  if (m.type === "init") start(m);
  else {
    const entry = paths.get(m.lib);
    if (m.result.ok) entry?.resolve(m.result.value);
    else entry?.reject(new MacroboxError("module", m.result.error));
  }
});
