// The expansion worker's thread (see expansion-worker.ts): the wasm backend, with modules loaded
// from the paths the main thread resolved, and span questions for the client asked through the
// main thread, blocking on the shared buffer until it answers.

import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

import { loadMacroModule } from "../host/module.js";
import type { MacroModule } from "../host/types.js";
import type { Limits } from "../sandbox/limits.js";
import type { SubRequest, SubResponse } from "../server/postcard.js";
import type { SpanData } from "../server/protocol.js";
import type { RaSpanClient } from "../server/ra-spans.js";
import { createWasmBackend } from "../server/wasm-backend.js";
import { decodeFlatTree, type FlatTree } from "../server/flat.js";
import { MacroboxError } from "../errors.js";
import { moduleHash, nodeCaches } from "./disk-cache.js";
import { requestSandbox } from "./expansion-sandbox.js";
import type { WorkerMessage, WorkerReply } from "./expansion-worker.js";

const { shared, limits } = workerData as { shared: SharedArrayBuffer; limits?: Partial<Limits> };
const port = parentPort!;
const caches = nodeCaches();
const modules = new Map<string, Promise<MacroModule>>();
/** Dylib path (what errors name) -> the module path the main thread resolved for it. */
const pathFor = new Map<string, string>();

const backend = createWasmBackend({
  loadModule(lib) {
    const path = pathFor.get(lib) ?? lib;
    let module = modules.get(path);
    if (module === undefined) {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch (e) {
        return Promise.reject(new MacroboxError("io", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
      }
      module = loadMacroModule(bytes, {
        limits,
        moduleHash: moduleHash(bytes),
        moduleCache: caches.moduleCache,
        expansionCache: caches.expansionCache ?? undefined,
      });
      modules.set(path, module);
      module.catch(() => modules.delete(path));
    }
    return module;
  },
  sandbox: (module, req) => requestSandbox(module, req.env, req.currentDir),
});

/** The client was asked to stop the expansion (native: the expansion fails with the reason). */
class Cancelled extends MacroboxError {
  override name = "Cancelled";
  constructor(reason: string) {
    super("protocol", reason);
  }
}

/** A span question, answered synchronously: post it, wait on the shared buffer. */
function ask(id: number, sub: SubRequest): SubResponse {
  const flag = new Int32Array(shared, 0, 2);
  Atomics.store(flag, 0, 0);
  port.postMessage({ type: "sub", id, sub } satisfies WorkerReply);
  Atomics.wait(flag, 0, 0);
  const length = Atomics.load(flag, 1);
  const response = JSON.parse(new TextDecoder().decode(new Uint8Array(shared, 8, length).slice())) as SubResponse;
  Atomics.store(flag, 0, 0);
  if (response.type === "Cancel") throw new Cancelled(response.reason);
  return response;
}

function unexpected(r: SubResponse): never {
  throw new MacroboxError("protocol", `proc-macro IPC error: unexpected SubResponse ${r.type}`);
}

function spanClient(id: number): RaSpanClient {
  const q = (s: SpanData) => ({ fileId: s.fileId, astId: s.astId, start: s.start, end: s.end });
  return {
    filePath(fileId) {
      const r = ask(id, { type: "FilePath", fileId });
      return r.type === "FilePathResult" ? r.name : unexpected(r);
    },
    localFilePath(fileId) {
      const r = ask(id, { type: "LocalFilePath", fileId });
      return r.type === "LocalFilePathResult" ? r.name : unexpected(r);
    },
    sourceText(span) {
      const r = ask(id, { type: "SourceText", ...q(span) });
      return r.type === "SourceTextResult" ? r.text : unexpected(r);
    },
    lineColumn(fileId, astId, offset) {
      const r = ask(id, { type: "LineColumn", fileId, astId, offset });
      return r.type === "LineColumnResult" ? { line: r.line, column: r.column } : unexpected(r);
    },
    byteRange(span) {
      const r = ask(id, { type: "ByteRange", ...q(span) });
      return r.type === "ByteRangeResult" ? { start: r.start, end: r.end } : unexpected(r);
    },
    spanSource(span) {
      const r = ask(id, { type: "SpanSource", ...q(span), ctx: span.ctx });
      return r.type === "SpanSourceResult" ? { fileId: r.fileId, astId: r.astId, start: r.start, end: r.end, ctx: r.ctx } : unexpected(r);
    },
    spanParent(span) {
      const r = ask(id, { type: "SpanParent", ...q(span), ctx: span.ctx });
      return r.type === "SpanParentResult" ? r.parentSpan : unexpected(r);
    },
  };
}

port.on("message", (m: WorkerMessage) => {
  void (async () => {
    if (m.type === "list") {
      pathFor.set(m.lib, m.path);
      port.postMessage({ type: "listed", id: m.id, result: await backend.listMacros(m.lib) } satisfies WorkerReply);
      return;
    }
    pathFor.set(m.req.lib, m.path);
    let result;
    try {
      const body = decodeFlatTree(m.req.body as unknown as FlatTree);
      const attributes = m.req.attributes === null ? null : decodeFlatTree(m.req.attributes as unknown as FlatTree);
      result = await backend.expand({ ...m.req, body, attributes, spanClient: m.asksClient ? spanClient(m.id) : undefined });
    } catch (e) {
      result = { ok: false as const, error: `macrobox: ${(e as Error).message}` };
    }
    port.postMessage({ type: "expanded", id: m.id, result } satisfies WorkerReply);
  })();
});
