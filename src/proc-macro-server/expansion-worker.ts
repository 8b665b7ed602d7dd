// The proc-macro server's session runs in a worker thread (Node-only), which reads the requests
// from stdin, expands and writes the responses itself (expansion-worker-main.ts,
// request-loop.ts); this thread keeps the clock, and answers what the worker could not.
//
// - One thread per request. The worker blocks reading stdin between requests, so a request wakes
//   the one thread that answers it, as the native server's does. Before, this thread read stdin and
//   handed each request to the worker: two thread wake-ups on every request's way in, and a
//   request ~0.2-0.4 ms slower (DEVELOPERS.md, "Performance, third round"). No token tree crosses
//   threads (structured cloning recurses, and copying trees twice per request cost more than the
//   expansion of a small derive), and this thread loads none of the host.
// - The wall clock. A wasm call cannot be interrupted from its own thread; fuel is the real bound,
//   and this is the backstop: an expansion that outlives `wallClockMs` gets an error reply from
//   this thread, its worker is terminated and a fresh one (started at once, in the span mode the
//   connection was in, reading on from the bytes the old one had read past the request) serves the
//   next request (modules are loaded again, from the module cache). The worker posts each request it
//   takes (the reply is made from it) and stamps when its clock runs: not while the worker was
//   starting, nor while the client answers a span question or a module is found (maybe built). A
//   request the worker did not answer (stopped or died) gets its own kind of reply from this thread
//   (ErrorAnswers): never an expansion's error for a SetConfig, which would leave the connection in
//   the wrong span mode. Who writes the answer is decided once, on a shared word (`Turn`).
// - Start-up. The worker is started when the command line says serve, so its start overlaps node's
//   loading this thread's code.
// - Memory. The worker's young generation is capped (WORKER_YOUNG_GENERATION_MB): left to V8, its
//   semi-spaces grow to 16 MiB each under the expansions' allocation rate, and the old generation
//   then fills with what those large scavenges promote; capped, the server's resident set is
//   ~10–15 MiB smaller (DEVELOPERS.md, "Performance, third round").

import { Worker } from "node:worker_threads";

import type { Limits } from "../sandbox/limits.js";
import type { SpanMode } from "../server/protocol.js";
import type { ProtocolFormat } from "./arguments.js";
import { writeAll } from "./stdio.js";
import { BEGUN_BYTES, Turn, turnWord, type FromWorker, type ToWorker, type WorkerData } from "./worker-protocol.js";
import type { UserDirs } from "../node/trust.js";
import { MacroboxError } from "../errors.js";

export type { FromWorker, ToWorker, WorkerData } from "./worker-protocol.js";

export interface WorkerSessionOptions {
  format: ProtocolFormat;
  /** The .wasm path standing for a dylib path (may build it); its error is the reply. */
  modulePath(lib: string): Promise<string>;
  limits?: Partial<Limits>;
  /** The wall-clock bound of one expansion. */
  wallClockMs: number;
  /** Whether repeated unchanged expansion request lines are answered from a memo (JSON lines only). */
  memo: boolean;
  /** The user's directories: whose grants and trust store count (src/node/trust.ts). */
  dirs: UserDirs;
  /** A message longer than this is dropped unread and answered with an error. */
  maxMessageBytes: number;
}

interface Started {
  worker: Worker;
  turn: Int32Array;
  /** The id of the request whose clock runs, and since when (WorkerData.begun). */
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
  const turn = new SharedArrayBuffer(4);
  const begun = new SharedArrayBuffer(BEGUN_BYTES);
  const worker = startWorker({ turn, begun });
  worker.stderr.on("data", (chunk: Uint8Array) => writeAll(2, chunk));
  // Until a session takes it over, it must not keep the process alive (a session that fails to start).
  worker.unref();
  return { worker, turn: new Int32Array(turn), begunId: new Int32Array(begun, 0, 1), begunAt: new Float64Array(begun, 8, 1) };
}

/**
 * The worker's young generation in MiB (V8 splits it into two semi-spaces and a large-object part:
 * 24 gives semi-spaces of 8 MiB). Scavenges get more frequent but each copies less; measured
 * beside V8's default (semi-spaces growing to 16 MiB), the server's CPU time was ~2.5% higher,
 * within the noise, with 12 (4 MiB) ~5% and a little less memory.
 */
const WORKER_YOUNG_GENERATION_MB = 24;

function startWorker(workerData: WorkerData): Worker {
  // `stdout` and `stderr: true`: the worker's streams are not piped into this thread's. Piping
  // either opens this thread's `process.stdout` as a stream (node's `Readable.pipe` compares its
  // destination with it), which makes fd 1 non-blocking: the worker writes its responses to fd 1
  // itself, and on a full pipe a non-blocking write can only be retried after a wait (stdio.ts),
  // where a blocking one returns the moment the client has read. That wait was 1 ms for every
  // response over the pipe's 64 KiB. What the worker prints on its `process.stderr` (node's
  // warnings) still reaches fd 2.
  const options = { workerData, stdout: true, stderr: true, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } };
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./expansion-worker-main.js", import.meta.url), options);
  // Running from sources under tsx (tests, development): a worker does not inherit tsx's loader,
  // so a bootstrap registers it before importing the TypeScript entry.
  const entry = new URL("./expansion-worker-main.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  const code = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), options);
}

/** The answers the main thread writes itself: errors (the worker died or was stopped). */
export interface ErrorAnswers {
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

/** Workers that may die in a row before taking a request, before the server gives up. */
const WORKER_START_ATTEMPTS = 3;

/** A request the worker took, which this thread answers if the worker cannot. */
interface Taken {
  id: number;
  request: string | Uint8Array;
  /** The span mode it was read in. */
  spanMode: SpanMode;
  timer?: ReturnType<typeof setTimeout>;
}

/** The session: a worker serving stdin and stdout, replaced when it dies or outlives the wall clock. */
export class WorkerSession {
  private worker!: Worker;
  private turn!: Int32Array;
  private begunId!: Int32Array;
  private begunAt!: Float64Array;
  /** The span mode the connection is in, as of the last request taken. */
  private spanMode: SpanMode = "Id";
  private taken: Taken | null = null;
  /** What the worker read past the last request it took: where a fresh worker starts reading. */
  private rest: Uint8Array = new Uint8Array(0);
  private readonly paths = new Map<string, Promise<{ ok: true; value: string } | { ok: false; error: string }>>();
  /** The session is closed: no worker is started again. */
  private closed = false;
  /** Whether the current worker took a request; how many workers in a row died before taking one. */
  private tookRequest = false;
  private deathsBeforeRequest = 0;
  private ended!: () => void;
  private failed!: (e: Error) => void;
  /**
   * Settles once the client closed its end and every request was answered; rejects when workers keep
   * dying before they take a request (one that cannot start would be restarted forever, and the end
   * of input, which only a worker reads, would never be seen).
   */
  readonly finished = new Promise<void>((resolve, reject) => {
    this.ended = resolve;
    this.failed = reject;
  });

  constructor(
    private readonly options: WorkerSessionOptions,
    private readonly errors: ErrorAnswers,
  ) {
    this.start();
  }

  private start(): void {
    const { worker, turn, begunId, begunAt } = prestarted ?? spawnWorker();
    prestarted = null;
    this.worker = worker;
    this.turn = turn;
    this.begunId = begunId;
    this.begunAt = begunAt;
    worker.ref();
    this.tookRequest = false;
    worker.postMessage({
      type: "init",
      format: this.options.format,
      limits: this.options.limits,
      spanMode: this.spanMode,
      dirs: this.options.dirs,
      memo: this.options.memo,
      maxMessageBytes: this.options.maxMessageBytes,
      first: this.rest,
    } satisfies ToWorker);
    worker.on("message", (m: FromWorker) => this.receive(worker, m));
    const die = (why: string) => {
      if (this.worker === worker && !this.closed) this.died(`macrobox: the expansion worker stopped: ${why}`);
    };
    worker.on("error", (e) => die(e.message));
    worker.on("exit", (code) => die(`exit code ${code}`));
  }

  private receive(worker: Worker, m: FromWorker): void {
    if (worker !== this.worker) return;
    switch (m.type) {
      case "begin": {
        this.tookRequest = true;
        this.deathsBeforeRequest = 0;
        if (this.taken !== null) clearTimeout(this.taken.timer);
        this.rest = m.rest;
        this.spanMode = m.spanMode;
        this.taken = m.request === null ? null : { id: m.id, request: m.request, spanMode: m.spanMode };
        if (this.taken !== null) this.arm(this.taken);
        return;
      }
      case "rest":
        this.rest = m.rest;
        return;
      case "path": {
        void this.path(m.lib).then((result) => {
          if (worker === this.worker) worker.postMessage({ type: "path", lib: m.lib, result } satisfies ToWorker);
        });
        return;
      }
      case "closed":
        void this.close().then(this.ended);
    }
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
   * The wall clock of the request taken: past it, the worker is stopped and the request answered
   * with the limit's error. It runs from the worker's stamp; while it is paused, it is looked at
   * again a whole limit later.
   */
  private arm(t: Taken): void {
    const limit = this.options.wallClockMs;
    if (!Number.isFinite(limit)) return;
    const lookAgain = (ms: number) => {
      t.timer = setTimeout(() => {
        if (this.taken === t) this.arm(t);
      }, ms);
    };
    const since = Atomics.load(this.begunId, 0) === t.id ? this.begunAt[0] : Date.now();
    const left = since + limit - Date.now();
    if (left > 0) return lookAgain(left);
    const running = turnWord(t.id, Turn.Running);
    const word = Atomics.compareExchange(this.turn, 0, running, turnWord(t.id, Turn.Main));
    if (word === turnWord(t.id, Turn.Paused)) return lookAgain(limit);
    // Answered, or being written: nothing to stop.
    if (word !== running) return;
    let name = "?";
    try {
      name = this.errors.macroName(t.request);
    } catch {
      // the request named no macro: a list request, or one the worker could not read either
    }
    this.replace(t, `macrobox: proc-macro \`${name}\` exceeded its wallClockMs limit (${limit} ms for one expansion) and was stopped`);
  }

  /** The worker died: the request it took is answered here unless it wrote its answer. */
  private died(error: string): void {
    if (!this.tookRequest && ++this.deathsBeforeRequest >= WORKER_START_ATTEMPTS) {
      void this.close();
      this.failed(new MacroboxError("protocol", `the expansion worker died ${WORKER_START_ATTEMPTS} times in a row before taking a request (${error})`));
      return;
    }
    const t = this.taken;
    let ours = false;
    if (t !== null) {
      for (const state of [Turn.Running, Turn.Paused]) {
        if (Atomics.compareExchange(this.turn, 0, turnWord(t.id, state), turnWord(t.id, Turn.Main)) === turnWord(t.id, state)) ours = true;
      }
    }
    this.replace(ours ? t : null, error);
  }

  /** Ends the worker, answers `t` with `error` (this thread has its turn), and starts a fresh worker. */
  private replace(t: Taken | null, error: string): void {
    if (this.taken !== null) clearTimeout(this.taken.timer);
    this.taken = null;
    void this.worker.terminate();
    if (t !== null) {
      const { answer, spanMode } =
        typeof t.request === "string" ? this.errors.line(t.request, t.spanMode, error) : this.errors.frame(t.request, t.spanMode, error);
      writeAll(1, answer);
      // Answered here: a SetConfig answered here sets the mode the fresh worker starts in.
      this.spanMode = spanMode;
    }
    if (!this.closed) this.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.taken !== null) clearTimeout(this.taken.timer);
    await this.worker.terminate();
  }
}
