// Expansions of the proc-macro server run in a worker thread (Node-only), for two reasons:
//
// - The wall clock. A wasm call cannot be interrupted from its own thread; fuel is the real bound,
//   and this is the backstop: an expansion that outlives `wallClockMs` gets an error reply, its
//   worker is terminated and a fresh one serves the next request (modules are loaded again, from
//   the module cache).
// - rust-analyzer's span questions in the bidirectional postcard format. A macro asks them
//   synchronously, in the middle of a wasm call, while the answer has to come from the client
//   over stdin: the worker posts the sub-request and blocks on a shared buffer (Atomics.wait)
//   until the main thread has the client's answer.

import { Worker } from "node:worker_threads";

import { LimitExceeded, resolveLimits, type Limits } from "../sandbox/limits.js";
import { streamShape } from "../tokens/shape.js";
import { encodeFlatTree } from "../server/flat.js";
import type { MacroInfo, Result } from "../server/protocol.js";
import type { SubRequest, SubResponse } from "../server/postcard.js";
import type { BackendExpandRequest, BackendExpansion, ProcMacroBackend } from "../server/serve.js";

export interface WorkerBackendOptions {
  /** The .wasm path standing for a dylib path (may build it); its error is the reply. */
  modulePath(lib: string): Promise<string>;
  limits?: Partial<Limits>;
  /** The wall-clock bound of one expansion. */
  wallClockMs: number;
}

/** Room for one sub-response (JSON) in the shared buffer; a bigger answer cancels the expansion. */
const ANSWER_BYTES = 4 * 1024 * 1024;

/** What crosses to the worker. */
export type WorkerMessage =
  | { type: "list"; id: number; lib: string; path: string }
  | { type: "expand"; id: number; path: string; req: Omit<BackendExpandRequest, "spanClient" | "askClient">; asksClient: boolean };

/** What comes back. */
export type WorkerReply =
  | { type: "listed"; id: number; result: Result<MacroInfo[], string> }
  | { type: "expanded"; id: number; result: Result<BackendExpansion, string> }
  | { type: "sub"; id: number; sub: SubRequest };

interface Pending {
  resolve(reply: WorkerReply): void;
  askClient?: (sub: SubRequest) => Promise<SubResponse>;
}

function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./expansion-worker-main.js", import.meta.url), { workerData });
  // Running from sources under tsx (tests, development): a worker does not inherit tsx's loader,
  // so a bootstrap registers it before importing the TypeScript entry.
  const entry = new URL("./expansion-worker-main.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  const code = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData });
}

class ExpansionWorker {
  readonly worker: Worker;
  readonly shared = new SharedArrayBuffer(8 + ANSWER_BYTES);
  readonly pending = new Map<number, Pending>();
  dead = false;

  constructor(limits: Partial<Limits> | undefined, onDeath: (w: ExpansionWorker) => void) {
    this.worker = startWorker({ shared: this.shared, limits });
    this.worker.unref();
    this.worker.on("message", (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      if (reply.type === "sub") {
        void this.answer(reply.sub, p.askClient);
        return;
      }
      this.pending.delete(reply.id);
      p.resolve(reply);
    });
    const die = (why: string) => {
      if (this.dead) return;
      this.dead = true;
      onDeath(this);
      for (const [id, p] of this.pending) {
        p.resolve({ type: "expanded", id, result: { ok: false, error: `macrobox: the expansion worker stopped: ${why}` } });
      }
      this.pending.clear();
    };
    this.worker.on("error", (e) => die(e.message));
    this.worker.on("exit", (code) => die(`exit code ${code}`));
  }

  private async answer(sub: SubRequest, askClient: Pending["askClient"]): Promise<void> {
    let response: SubResponse;
    try {
      response = askClient ? await askClient(sub) : { type: "Cancel", reason: "the client cannot be asked about spans" };
    } catch (e) {
      response = { type: "Cancel", reason: `cannot ask the client: ${(e as Error).message}` };
    }
    let bytes = new TextEncoder().encode(JSON.stringify(response));
    if (bytes.length > ANSWER_BYTES) {
      bytes = new TextEncoder().encode(JSON.stringify({ type: "Cancel", reason: `the client's answer is over ${ANSWER_BYTES} bytes` }));
    }
    const flag = new Int32Array(this.shared, 0, 2);
    new Uint8Array(this.shared, 8).set(bytes);
    Atomics.store(flag, 1, bytes.length);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  }

  post(message: WorkerMessage, pending: Pending): void {
    if (this.dead) {
      pending.resolve({ type: "expanded", id: message.id, result: { ok: false, error: "macrobox: the expansion worker stopped" } });
      return;
    }
    this.pending.set(message.id, pending);
    this.worker.postMessage(message);
  }

  async terminate(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }
}

/** A ProcMacroBackend that runs the wasm backend in a worker thread, bounded by a wall clock. */
export function createWorkerBackend(options: WorkerBackendOptions): ProcMacroBackend & { close(): Promise<void> } {
  let current: ExpansionWorker | null = null;
  let nextId = 1;
  const worker = (): ExpansionWorker => {
    if (current === null || current.dead) {
      current = new ExpansionWorker(options.limits, (w) => {
        if (current === w) current = null;
      });
    }
    return current;
  };
  const path = async (lib: string): Promise<Result<string, string>> => {
    try {
      return { ok: true, value: await options.modulePath(lib) };
    } catch (e) {
      return { ok: false, error: `macrobox cannot load a macro module for ${lib}: ${(e as Error).message}` };
    }
  };

  return {
    spanModes: ["Id", "RustAnalyzer"],

    async listMacros(lib) {
      const p = await path(lib);
      if (!p.ok) return p;
      const id = nextId++;
      const reply = await new Promise<WorkerReply>((resolve) => worker().post({ type: "list", id, lib, path: p.value }, { resolve }));
      if (reply.type !== "listed")
        return { ok: false, error: reply.type === "expanded" && !reply.result.ok ? reply.result.error : "macrobox: bad worker reply" };
      return reply.result;
    },

    async expand(req) {
      // Checked here, before the trees cross to the worker: structured cloning recurses, so a tree
      // deeper than the limit would overflow this thread's stack instead of getting the limit's error.
      const maxDepth = resolveLimits(options.limits).nestingDepth;
      for (const [stream, what] of [
        [req.body, "the input of"],
        [req.attributes, "the attribute arguments of"],
      ] as const) {
        if (stream !== null && streamShape(stream, undefined, maxDepth).depth > maxDepth) {
          return { ok: false, error: new LimitExceeded("nestingDepth", maxDepth, undefined, `${what} proc macro \`${req.macroName}\``).message };
        }
      }
      const p = await path(req.lib);
      if (!p.ok) return p;
      const id = nextId++;
      const w = worker();
      const { spanClient: _sync, askClient, ...plain } = req;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const reply = await new Promise<WorkerReply>((resolve) => {
        // Trees cross as FlatTrees: structured cloning recurses, the FlatTree codec does not.
        const flat = {
          ...plain,
          body: encodeFlatTree(plain.body, { rootSpan: plain.callSite }) as never,
          attributes: (plain.attributes === null ? null : encodeFlatTree(plain.attributes, { rootSpan: plain.callSite })) as never,
        };
        w.post({ type: "expand", id, path: p.value, req: flat, asksClient: askClient !== undefined }, { resolve, askClient });
        if (Number.isFinite(options.wallClockMs)) {
          timer = setTimeout(() => {
            w.pending.delete(id);
            void w.terminate();
            if (current === w) current = null;
            resolve({
              type: "expanded",
              id,
              result: {
                ok: false,
                error: `macrobox: proc-macro \`${req.macroName}\` exceeded its wallClockMs limit (${options.wallClockMs} ms for one expansion) and was stopped`,
              },
            });
          }, options.wallClockMs);
        }
      });
      clearTimeout(timer);
      if (reply.type !== "expanded") return { ok: false, error: "macrobox: bad worker reply" };
      return reply.result;
    },

    async close() {
      await current?.terminate();
      current = null;
    },
  };
}
