// The proc-macro server's worker thread (see expansion-worker.ts): the protocol session with the
// wasm backend. Requests arrive as the client's bytes and leave as response bytes; module paths
// are asked of the main thread (it may build a crate); span questions for the client go out as
// sub-request frames, the answer comes back through the shared buffer while this thread blocks.

import { writeSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

import { loadMacroModule } from "../host/module.js";
import type { MacroModule } from "../host/types.js";
import type { Limits } from "../sandbox/limits.js";
import { decodeBidirectionalFrame, encodeBidirectionalFrame, type BidirectionalMessage, type SubRequest, type SubResponse } from "../server/postcard.js";
import type { Response, SpanData } from "../server/protocol.js";
import type { RaSpanClient } from "../server/ra-spans.js";
import { createServerSession, expansionErrorFrame, type ProcMacroBackend } from "../server/serve.js";
import { createWasmBackend } from "../server/wasm-backend.js";
import { errorMessage, MacroboxError } from "../errors.js";
import { saveCodeCache } from "../node/code-cache.js";
import { moduleHash, nodeCaches, type NodeCaches } from "../node/disk-cache.js";
import { readModuleFile } from "../node/module-file.js";
import type { UserDirs } from "../node/trust.js";
import { requestSandbox } from "../node/expansion-sandbox.js";
import { BEGUN_BYTES, Turn, Wake, type FromWorker, type ToWorker, type WorkerData } from "./worker-protocol.js";

const { shared, turn: turnBuffer, begun: begunBuffer } = workerData as WorkerData;
const turn = new Int32Array(turnBuffer);
const begunId = new Int32Array(begunBuffer, 0, 1);
const begunAt = new Float64Array(begunBuffer, 8, (BEGUN_BYTES - 8) / 8);
const port = parentPort!;
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
    port.postMessage({ type: "path", id: current, lib } satisfies FromWorker);
  }
  return entry.promise;
}

/** Set by the main thread's first message. */
let limits: Partial<Limits> | undefined;
/** Whether the main thread keeps a memo of responses (the first message says). */
let memo = false;

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

/** The request being answered (the main thread sends one at a time). */
let current = 0;
/** Whether an expansion ran (the code cache is saved after the first). */
let expanded = false;
/** A request that came instead of a sub-response: served right after the one it interrupted. */
let interrupted: Uint8Array | null = null;

/** The wasm backend, asking the client about spans synchronously. */
const backend: ProcMacroBackend = {
  spanModes: wasm.spanModes,
  listMacros: (lib) => wasm.listMacros(lib),
  async expand(req, how) {
    expanded = true;
    const result = await wasm.expand({ ...req, spanClient: req.askClient !== undefined ? spanClient : undefined, askClient: undefined }, how);
    // What the sandbox refused goes to stderr, which rust-analyzer logs: the protocol has no place for it.
    if (result.ok) for (const note of result.value.notes ?? []) process.stderr.write(`macrobox: note: ${note}\n`);
    return result;
  },
};
let session = createServerSession(backend);

/** The client was asked to stop the expansion (native: the expansion fails with the reason). */
class Cancelled extends MacroboxError {
  override name = "Cancelled";
  constructor(reason: string) {
    super("protocol", reason);
  }
}

/** A span question, answered synchronously: post it, wait on the shared buffer for the client's next frame. */
function ask(sub: SubRequest): SubResponse {
  const flag = new Int32Array(shared, 0, 2);
  Atomics.store(flag, 0, Wake.Waiting);
  port.postMessage({ type: "sub", id: current, frame: encodeBidirectionalFrame({ type: "SubRequest", subRequest: sub }) } satisfies FromWorker);
  Atomics.wait(flag, 0, Wake.Waiting);
  const kind = Atomics.load(flag, 0);
  const bytes = new Uint8Array(shared, 8, Atomics.load(flag, 1)).slice();
  Atomics.store(flag, 0, Wake.Waiting);
  if (kind === Wake.Closed) throw new Cancelled("the client closed the connection");
  if (kind === Wake.Refused) throw new Cancelled(new TextDecoder().decode(bytes));
  let msg: BidirectionalMessage;
  try {
    msg = decodeBidirectionalFrame(bytes);
  } catch (e) {
    throw new Cancelled(`proc-macro IPC error: macrobox: ${errorMessage(e)}`);
  }
  if (msg.type !== "SubResponse") {
    // A request is served after the expansion it cancels; anything else is dropped.
    if (msg.type === "Request") interrupted = bytes;
    throw new Cancelled(`proc-macro IPC error: expected SubResponse, got ${msg.type}`);
  }
  if (msg.subResponse.type === "Cancel") throw new Cancelled(msg.subResponse.reason);
  return msg.subResponse;
}

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

const errorFrame = (error: string) => expansionErrorFrame("Id", error);
/** Marks that the client can be asked (the backend above turns it into the synchronous `spanClient`). */
const askClient = () => Promise.reject(new Error("the worker asks the client synchronously"));

/**
 * One postcard frame: a request gets its response frame; a frame that cannot be read, or that is
 * not a request, an error response; a stray sub-response nothing.
 */
async function answerFrame(frame: Uint8Array): Promise<Uint8Array | null> {
  let msg: BidirectionalMessage;
  try {
    msg = decodeBidirectionalFrame(frame);
  } catch (e) {
    return errorFrame(`macrobox: ${errorMessage(e)}`);
  }
  // An answer nobody asked for is ignored, like noise on the JSON channel.
  if (msg.type === "SubResponse") return null;
  if (msg.type !== "Request") return errorFrame(`macrobox: proc-macro protocol: expected a Request frame, got ${msg.type}`);
  let response: Response;
  try {
    response = await session.handle(msg.request, { askClient });
  } catch (e) {
    return errorFrame(`macrobox: ${errorMessage(e)}`);
  }
  return encodeBidirectionalFrame({ type: "Response", response });
}

async function answer(m: Exclude<ToWorker, { type: "path" | "init" }>): Promise<FromWorker> {
  current = m.id;
  // The wall clock starts now (the time first, then the id that publishes it): not while this
  // thread was starting or busy before the request reached it.
  begunAt[0] = Date.now();
  Atomics.store(begunId, 0, m.id);
  if (m.type === "line") {
    const { response, reusable, dependency } = await session.answerLine(m.line);
    // Straight to stdout, unless the main thread has answered already (the clock ran out).
    if (m.direct && Atomics.compareExchange(turn, 0, Turn.Running, Turn.Worker) === Turn.Running) {
      writeOut(response);
      // The text comes back only for the memo (a copy of the whole response: not when there is none).
      return { type: "answer", id: m.id, answer: reusable && memo ? response : null, spanMode: session.spanMode, reusable, dependency, written: true };
    }
    return { type: "answer", id: m.id, answer: response, spanMode: session.spanMode, reusable, dependency };
  }
  let out = await answerFrame(m.frame);
  // A request that interrupted a sub-request is answered next, after the response it cut short.
  while (interrupted !== null) {
    const next = interrupted;
    interrupted = null;
    const more = await answerFrame(next);
    if (more !== null) out = out === null ? more : concat(out, more);
  }
  return { type: "answer", id: m.id, answer: out, spanMode: session.spanMode, reusable: false };
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `text` to stdout (fd 1), waiting while a full pipe refuses more. */
function writeOut(text: string): void {
  const bytes = Buffer.from(text);
  let at = 0;
  while (at < bytes.length) {
    try {
      at += writeSync(1, bytes, at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

port.on("message", (m: ToWorker) => {
  if (m.type === "init") {
    limits = m.limits;
    memo = m.memo;
    dirs = m.dirs;
    session = createServerSession(backend, { spanMode: m.spanMode });
    return;
  }
  if (m.type === "path") {
    const entry = paths.get(m.lib);
    if (m.result.ok) entry?.resolve(m.result.value);
    else entry?.reject(new MacroboxError("module", m.result.error));
    return;
  }
  void answer(m).then((reply) => {
    port.postMessage(reply);
    // Once an expansion ran, the code it needs has been compiled: it goes into the code cache of
    // the next start (once; nothing when this start came from the cache).
    if (expanded) saveCodeCache();
  });
});
