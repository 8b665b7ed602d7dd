// The proc-macro server's session runs in a worker thread (Node-only); the main thread only moves
// bytes between stdin/stdout and the worker, answers what needs no worker, and keeps the clock.
//
// - The wall clock. A wasm call cannot be interrupted from its own thread; fuel is the real bound,
//   and this is the backstop: an expansion that outlives `wallClockMs` gets an error reply from
//   the main thread, its worker is terminated and a fresh one (started at once, in the span mode
//   the connection was in) serves the next request (modules are loaded again, from the module cache).
//   The clock runs from when the worker begins the request (it stamps `begun`), so a worker still
//   starting (a fresh isolate on a loaded machine can take seconds) or finishing the previous
//   request does not use up the request's time. A request the worker did not answer (stopped or
//   died) gets its own kind of reply from this thread (ErrorAnswers): never an expansion's error
//   for a SetConfig, which would leave the connection in the wrong span mode.
// - Cost. The worker owns the whole request: it reads the request line or frame, expands and
//   writes the response, which crosses back as a string (a frame as bytes). No token tree crosses
//   threads (structured cloning recurses, and copying trees twice per request cost more than the
//   expansion of a small derive), and the main thread loads none of the host.
// - Start-up. The worker is started when the session is, so its start overlaps node's loading the
//   main thread's code and the client's first requests; the version request is answered here.
// - The memo. A repeated, unchanged request line is answered here from the responses the worker
//   marked reusable, without crossing to the worker.
// - rust-analyzer's span questions in the bidirectional postcard format. A macro asks them
//   synchronously, in the middle of a wasm call, while the answer has to come from the client
//   over stdin: the worker posts the sub-request frame and blocks on a shared buffer
//   (Atomics.wait) until the main thread puts the client's next frame there.
// - Memory. The worker's young generation is capped (WORKER_YOUNG_GENERATION_MB): left to V8, its
//   semi-spaces grow to 16 MiB each under the expansions' allocation rate, and the old generation
//   then fills with what those large scavenges promote; capped, the server's resident set is
//   ~10–15 MiB smaller (DEVELOPERS.md, "Performance, third round").

import { Worker } from "node:worker_threads";

import type { Limits } from "../sandbox/limits.js";
import type { SpanMode } from "../server/protocol.js";
import type { ResponseMemo } from "./memo.js";
import type { MemoDependency } from "../server/serve.js";
import { ANSWER_BYTES, BEGUN_BYTES, Turn, Wake, type FromWorker, type ToWorker, type WorkerData } from "./worker-protocol.js";
import type { UserDirs } from "../node/trust.js";

export type { FromWorker, ToWorker, WorkerData } from "./worker-protocol.js";

export interface WorkerSessionOptions {
  /** The .wasm path standing for a dylib path (may build it); its error is the reply. */
  modulePath(lib: string): Promise<string>;
  limits?: Partial<Limits>;
  /** The wall-clock bound of one expansion. */
  wallClockMs: number;
  /** Where repeated unchanged expansion requests are answered from (JSON lines only); none: not memoised. */
  memo?: ResponseMemo | null;
  /** The user's directories: whose grants and trust store count (src/node/trust.ts). */
  dirs: UserDirs;
}

interface Started {
  worker: Worker;
  shared: SharedArrayBuffer;
  turn: Int32Array;
  /** The id of the request the worker began last, and when (WorkerData.begun). */
  begunId: Int32Array;
  begunAt: Float64Array;
}

let prestarted: Started | null = null;

/**
 * Starts the worker of the session the process is about to serve, before the session exists (the
 * server's entry, main.ts, calls it as soon as the command line says serve): the first
 * WorkerSession takes it over.
 */
export function prestartWorker(): void {
  prestarted ??= spawnWorker();
}

function spawnWorker(): Started {
  const shared = new SharedArrayBuffer(8 + ANSWER_BYTES);
  const turn = new SharedArrayBuffer(4);
  const begun = new SharedArrayBuffer(BEGUN_BYTES);
  const worker = startWorker({ shared, turn, begun });
  // Until a session takes it over, it must not keep the process alive (a session that fails to start).
  worker.unref();
  return { worker, shared, turn: new Int32Array(turn), begunId: new Int32Array(begun, 0, 1), begunAt: new Float64Array(begun, 8, 1) };
}

/**
 * The worker's young generation in MiB (V8 splits it into two semi-spaces and a large-object part:
 * 24 gives semi-spaces of 8 MiB). Scavenges get more frequent but each copies less; measured
 * beside V8's default (semi-spaces growing to 16 MiB), the server's CPU time was ~2.5% higher,
 * within the noise, with 12 (4 MiB) ~5% and a little less memory.
 */
const WORKER_YOUNG_GENERATION_MB = 24;

function startWorker(workerData: WorkerData): Worker {
  const options = { workerData, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } };
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./expansion-worker-main.js", import.meta.url), options);
  // Running from sources under tsx (tests, development): a worker does not inherit tsx's loader,
  // so a bootstrap registers it before importing the TypeScript entry.
  const entry = new URL("./expansion-worker-main.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  const code = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), options);
}

/** How the session reaches the client while a postcard expansion waits for a sub-response. */
export interface FrameClient {
  /** Writes a frame to the client. */
  send(frame: Uint8Array): void;
  /** Called when the worker waits for the client's next frame: hand it over with `deliver`. */
  expectAnswer(deliver: (answer: ClientAnswer) => void): void;
}

export type ClientAnswer = { type: "frame"; frame: Uint8Array } | { type: "closed" } | { type: "refused"; reason: string };

/** The answers the main thread writes itself: the version, and errors (the worker died or was stopped). */
export interface ErrorAnswers {
  /** The version request's response line. */
  version: string;
  /**
   * JSON: the response to the request `line` the worker did not answer (`error`: why), the kind of
   * response that request gets, and the span mode the connection is in after it (`mode` before).
   */
  line(line: string, mode: SpanMode, error: string): { answer: string; spanMode: SpanMode };
  /** Postcard: the same as a response frame. */
  frame(frame: Uint8Array, mode: SpanMode, error: string): { answer: Uint8Array; spanMode: SpanMode };
  /** The macro a request line or frame names (for the wall clock's error; only read then). */
  macroName(request: string | Uint8Array): string;
}

interface Pending {
  id: number;
  /** The request (for the wall clock's error). */
  request: string | Uint8Array;
  /** `written`: the worker wrote the response itself (`answer` is its text when it may be memoised). */
  resolve(answer: string | Uint8Array | null, reusable: boolean, written: boolean, dependency: MemoDependency | null): void;
  /** Answers it with `error` in span mode `mode`; returns the mode after the answer. */
  fail(mode: SpanMode, error: string): SpanMode;
  client?: FrameClient;
  timer?: ReturnType<typeof setTimeout>;
  /** When the clock restarted after a module path was found (finding it, maybe a build, is not timed). */
  restarted?: number;
}

/** A session in a worker thread, restarted when it dies or outlives the wall clock. */
export class WorkerSession {
  private worker!: Worker;
  private shared!: SharedArrayBuffer;
  private turn!: Int32Array;
  private begunId!: Int32Array;
  private begunAt!: Float64Array;
  private pending: Pending | null = null;
  private nextId = 1;
  private spanMode: SpanMode = "Id";
  private readonly memo: ResponseMemo | null;
  private readonly paths = new Map<string, Promise<{ ok: true; value: string } | { ok: false; error: string }>>();
  /** The session is closed: no worker is started again. */
  private closed = false;
  /** The client closed its end: no span question reaches it (the requests it sent before are still answered). */
  private clientGone = false;

  constructor(
    private readonly options: WorkerSessionOptions,
    private readonly errors: ErrorAnswers,
  ) {
    this.memo = options.memo ?? null;
    this.start();
  }

  private start(): void {
    const { worker, shared, turn, begunId, begunAt } = prestarted ?? spawnWorker();
    prestarted = null;
    this.worker = worker;
    this.shared = shared;
    this.turn = turn;
    this.begunId = begunId;
    this.begunAt = begunAt;
    worker.postMessage({
      type: "init",
      limits: this.options.limits,
      spanMode: this.spanMode,
      dirs: this.options.dirs,
      memo: this.memo !== null,
    } satisfies ToWorker);
    worker.on("message", (m: FromWorker) => this.receive(worker, m));
    const die = (why: string) => {
      if (this.worker !== worker) return;
      this.stop(`macrobox: the expansion worker stopped: ${why}`, true);
    };
    worker.on("error", (e) => die(e.message));
    worker.on("exit", (code) => die(`exit code ${code}`));
  }

  /**
   * Ends the current worker, answers what it was doing with `error`, and starts a fresh one. A
   * worker that took its turn to write its response itself is left to finish when the clock runs
   * out (its answer is on the way); when it died, what it wrote stands and nothing more is written.
   */
  private stop(error: string, died = false): void {
    const p = this.pending;
    const wrote = p !== null && Atomics.compareExchange(this.turn, 0, Turn.Running, Turn.Main) === Turn.Worker;
    if (wrote && !died) return;
    this.pending = null;
    void this.worker.terminate();
    if (p !== null) {
      clearTimeout(p.timer);
      if (wrote) p.resolve(null, false, true, null);
      // Answered here: a SetConfig answered here sets the mode the fresh worker starts in.
      else this.spanMode = p.fail(this.spanMode, error);
    }
    if (!this.closed) this.start();
  }

  private receive(worker: Worker, m: FromWorker): void {
    if (worker !== this.worker) return;
    switch (m.type) {
      case "path": {
        // The clock stops while the path is found (it may mean building the crate), and restarts.
        const p = this.pending?.id === m.id ? this.pending : null;
        if (p !== null) clearTimeout(p.timer);
        void this.path(m.lib).then((result) => {
          if (worker !== this.worker) return;
          worker.postMessage({ type: "path", lib: m.lib, result } satisfies ToWorker);
          if (p !== null && this.pending === p) {
            p.restarted = Date.now();
            this.arm(p);
          }
        });
        return;
      }
      case "sub": {
        const p = this.pending;
        if (p?.id !== m.id) return;
        if (p.client === undefined || this.clientGone) {
          this.wake({ type: "closed" });
          return;
        }
        p.client.send(m.frame);
        p.client.expectAnswer((answer) => {
          if (this.pending === p && this.worker === worker) this.wake(answer);
        });
        return;
      }
      case "answer": {
        const p = this.pending;
        if (p?.id !== m.id) return;
        this.pending = null;
        clearTimeout(p.timer);
        this.spanMode = m.spanMode;
        Atomics.store(this.turn, 0, Turn.Idle);
        p.resolve(m.answer, m.reusable, m.written === true, m.dependency ?? null);
      }
    }
  }

  private wake(answer: ClientAnswer): void {
    const flag = new Int32Array(this.shared, 0, 2);
    let kind: number = Wake.Closed;
    let bytes: Uint8Array = new Uint8Array(0);
    if (answer.type === "frame" && answer.frame.length <= ANSWER_BYTES) {
      kind = Wake.Frame;
      bytes = answer.frame;
    } else if (answer.type !== "closed") {
      kind = Wake.Refused;
      const reason = answer.type === "refused" ? answer.reason : `the client's answer is over ${ANSWER_BYTES} bytes`;
      bytes = new TextEncoder().encode(reason).subarray(0, ANSWER_BYTES);
    }
    new Uint8Array(this.shared, 8).set(bytes);
    Atomics.store(flag, 1, bytes.length);
    Atomics.store(flag, 0, kind);
    Atomics.notify(flag, 0);
  }

  private path(lib: string): Promise<{ ok: true; value: string } | { ok: false; error: string }> {
    // Decided once per dylib: a crate that does not build is not rebuilt for every request.
    let p = this.paths.get(lib);
    if (p === undefined) {
      p = this.options.modulePath(lib).then(
        (value) => ({ ok: true as const, value }),
        (e: unknown) => ({ ok: false as const, error: (e as Error).message }),
      );
      this.paths.set(lib, p);
    }
    return p;
  }

  /**
   * The wall clock of the pending request: past it, the worker is stopped and the request answered
   * with the limit's error. It runs from when the worker began the request (or from when the clock
   * restarted); until the worker has begun it, it is looked at again a whole limit later.
   */
  private arm(p: Pending): void {
    const limit = this.options.wallClockMs;
    if (!Number.isFinite(limit)) return;
    clearTimeout(p.timer);
    const since = p.restarted ?? (Atomics.load(this.begunId, 0) === p.id ? this.begunAt[0] : null);
    const left = since === null ? limit : since + limit - Date.now();
    if (left > 0) {
      p.timer = setTimeout(() => {
        if (this.pending === p) this.arm(p);
      }, left);
      return;
    }
    let name = "?";
    try {
      name = this.errors.macroName(p.request);
    } catch {
      // the request named no macro: a list request, or one the worker could not read either
    }
    this.stop(`macrobox: proc-macro \`${name}\` exceeded its wallClockMs limit (${limit} ms for one expansion) and was stopped`);
  }

  private send<A>(
    message: ToWorker & { id: number },
    request: string | Uint8Array,
    fail: (mode: SpanMode, error: string) => { answer: A; spanMode: SpanMode },
    client?: FrameClient,
  ) {
    return new Promise<{ answer: string | Uint8Array | A | null; reusable: boolean; written: boolean; dependency: MemoDependency | null }>((resolve) => {
      const p: Pending = {
        id: message.id,
        request,
        resolve: (answer, reusable, written, dependency) => resolve({ answer, reusable, written, dependency }),
        fail: (mode, error) => {
          const { answer, spanMode } = fail(mode, error);
          resolve({ answer, reusable: false, written: false, dependency: null });
          return spanMode;
        },
        client,
      };
      this.pending = p;
      Atomics.store(this.turn, 0, Turn.Running);
      this.worker.postMessage(message);
      this.arm(p);
    });
  }

  /**
   * Answers one JSON request line (without its newline). `direct`: the worker may write the
   * response to stdout itself (null comes back then); whatever this thread wrote before must have
   * reached stdout already.
   */
  async line(line: string, direct = false): Promise<string | null> {
    const mode = this.spanMode;
    const known = this.memo?.get(mode, line);
    if (known !== undefined) return known;
    // The first request of every session, answered while the worker may still be starting.
    if (line.length < 64 && /^\{\s*"ApiVersionCheck"\s*:\s*\{\s*\}\s*\}\s*$/.test(line)) return this.errors.version;
    const { answer, reusable, written, dependency } = await this.send({ type: "line", id: this.nextId++, line, direct }, line, (m, error) =>
      this.errors.line(line, m, error),
    );
    if (typeof answer === "string") this.memo?.keep(mode, line, { response: answer, reusable, dependency });
    if (written) return null;
    return typeof answer === "string" ? answer : "";
  }

  /** Answers one postcard frame (the answer frame, or null when it needs none). */
  frame(frame: Uint8Array, client: FrameClient): Promise<Uint8Array | null> {
    const id = this.nextId++;
    // Copied to the worker, kept here for the wall clock's error.
    return this.send({ type: "frame", id, frame }, frame, (mode, error) => this.errors.frame(frame, mode, error), client).then((a) =>
      typeof a.answer === "string" ? null : a.answer,
    );
  }

  /**
   * The client is gone: a worker waiting for its answer is told so. The frames it sent before are
   * still answered, by a fresh worker if the clock stops this one.
   */
  end(): void {
    this.clientGone = true;
    if (this.pending?.client !== undefined) this.wake({ type: "closed" });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
  }
}
