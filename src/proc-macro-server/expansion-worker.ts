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
//   next request (modules are loaded again, from the module cache). The worker copies each request
//   it takes into shared memory (the reply is made from it) and stamps when its clock runs: not
//   while the worker was starting, nor while the client answers a span question or a module is
//   found (maybe built). This thread looks at that stamp when the limit could have run out, never
//   per request: a message per request woke this thread on every request, ~0.05 ms each on a busy
//   2-core machine. A request the worker did not answer (stopped or died) gets its own kind of
//   reply from this thread (ErrorAnswers): never an expansion's error for a SetConfig, which would
//   leave the connection in the wrong span mode. Who writes the answer is decided once, on a shared
//   word (`Turn`).
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
import { createSharedInput, lineText, type SharedInput } from "./message-reader.js";
import { BEGUN_AT_BYTE, CONTROL_BYTES, Slot, SPAN_MODES, Turn, turnWord, type FromWorker, type ToWorker, type WorkerData } from "./worker-protocol.js";
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
  /** `WorkerData.control`'s slots (`Slot`), and since when the clock of `Slot.begunId` runs. */
  slots: Int32Array;
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
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const worker = startWorker({ control });
  worker.stderr.on("data", (chunk: Uint8Array) => writeAll(2, chunk));
  // Until a session takes it over, it must not keep the process alive (a session that fails to start).
  worker.unref();
  return { worker, slots: new Int32Array(control, 0, BEGUN_AT_BYTE / 4), begunAt: new Float64Array(control, BEGUN_AT_BYTE, 1) };
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

/** The session: a worker serving stdin and stdout, replaced when it dies or outlives the wall clock. */
export class WorkerSession {
  private worker!: Worker;
  private slots!: Int32Array;
  private begunAt!: Float64Array;
  /** The connection's input, read on by each worker from where the one before left it. */
  private readonly input: SharedInput;
  /** Where each worker copies the request it takes (`ToWorker.taken`). */
  private readonly taken: SharedArrayBuffer;
  /** The span mode the next worker starts in. */
  private spanMode: SpanMode = "Id";
  /** The wall clock's one timer. */
  private clock: ReturnType<typeof setTimeout> | undefined;
  private readonly paths = new Map<string, Promise<{ ok: true; value: string } | { ok: false; error: string }>>();
  /** The session is closed: no worker is started again. */
  private closed = false;
  /** How many workers in a row died before taking a request. */
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
    this.input = createSharedInput(options.maxMessageBytes);
    this.taken = new SharedArrayBuffer(0, { maxByteLength: options.maxMessageBytes });
    this.start();
  }

  private start(): void {
    const { worker, slots, begunAt } = prestarted ?? spawnWorker();
    prestarted = null;
    this.worker = worker;
    this.slots = slots;
    this.begunAt = begunAt;
    // Until it takes a request, the connection stays in the mode it starts in.
    slots[Slot.spanMode] = SPAN_MODES.indexOf(this.spanMode);
    worker.ref();
    worker.postMessage({
      type: "init",
      format: this.options.format,
      limits: this.options.limits,
      spanMode: this.spanMode,
      dirs: this.options.dirs,
      memo: this.options.memo,
      maxMessageBytes: this.options.maxMessageBytes,
      input: this.input,
      taken: this.taken,
    } satisfies ToWorker);
    worker.on("message", (m: FromWorker) => this.receive(worker, m));
    const die = (why: string) => {
      if (this.worker === worker && !this.closed) this.died(`macrobox: the expansion worker stopped: ${why}`);
    };
    worker.on("error", (e) => die(e.message));
    worker.on("exit", (code) => die(`exit code ${code}`));
    this.look(this.options.wallClockMs);
  }

  private receive(worker: Worker, m: FromWorker): void {
    if (worker !== this.worker) return;
    switch (m.type) {
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

  /** The wall clock is looked at again in `ms` (never, without a limit). */
  private look(ms: number): void {
    clearTimeout(this.clock);
    if (!Number.isFinite(this.options.wallClockMs)) return;
    this.clock = setTimeout(() => this.tick(), ms);
    // The worker keeps the process alive while it serves; the clock alone must not.
    this.clock.unref();
  }

  /**
   * The wall clock: the request running (its turn word and stamp, written by the worker) is
   * stopped once it has run `wallClockMs`, and answered with the limit's error; otherwise the clock
   * is looked at again when it could run out: at that request's limit, or a whole limit from now
   * (no request running, or its clock paused), which no request can outrun.
   */
  private tick(): void {
    const limit = this.options.wallClockMs;
    const word = Atomics.load(this.slots, Slot.turn);
    const id = word >>> 3;
    if ((word & 7) !== Turn.Running || Atomics.load(this.slots, Slot.begunId) !== id) return this.look(limit);
    const left = this.begunAt[0] + limit - Date.now();
    if (left > 0) return this.look(left);
    // Answered, or being written, or paused meanwhile: nothing to stop yet.
    if (Atomics.compareExchange(this.slots, Slot.turn, word, turnWord(id, Turn.Main)) !== word) return this.look(limit);
    const request = this.request();
    let name = "?";
    try {
      name = this.errors.macroName(request);
    } catch {
      // the request named no macro: a list request, or one the worker could not read either
    }
    this.replace(request, `macrobox: proc-macro \`${name}\` exceeded its wallClockMs limit (${limit} ms for one expansion) and was stopped`);
  }

  /** The request in flight, as the worker copied it (this thread has its turn: the worker writes no more). */
  private request(): string | Uint8Array {
    const bytes = new Uint8Array(this.taken, 0, this.slots[Slot.takenBytes]).slice();
    if (this.options.format !== "json-legacy") return bytes;
    return lineText(bytes);
  }

  /** The worker died: the request it took is answered here unless it wrote its answer. */
  private died(error: string): void {
    const begun = Atomics.load(this.slots, Slot.begunId);
    if (begun === 0 && ++this.deathsBeforeRequest >= WORKER_START_ATTEMPTS) {
      void this.close();
      this.failed(new MacroboxError("protocol", `the expansion worker died ${WORKER_START_ATTEMPTS} times in a row before taking a request (${error})`));
      return;
    }
    if (begun !== 0) this.deathsBeforeRequest = 0;
    let ours = false;
    for (const state of [Turn.Running, Turn.Paused]) {
      if (Atomics.compareExchange(this.slots, Slot.turn, turnWord(begun, state), turnWord(begun, Turn.Main)) === turnWord(begun, state)) ours = true;
    }
    this.replace(ours ? this.request() : null, error);
  }

  /** Ends the worker, answers `request` with `error` (this thread has its turn), and starts a fresh worker. */
  private replace(request: string | Uint8Array | null, error: string): void {
    clearTimeout(this.clock);
    void this.worker.terminate();
    // The mode the request was read in, or (none taken over) the one the connection is in now.
    this.spanMode = SPAN_MODES[this.slots[Slot.spanMode]] ?? this.spanMode;
    if (request !== null) {
      const { answer, spanMode } =
        typeof request === "string" ? this.errors.line(request, this.spanMode, error) : this.errors.frame(request, this.spanMode, error);
      writeAll(1, answer);
      // Answered here: a SetConfig answered here sets the mode the fresh worker starts in.
      this.spanMode = spanMode;
    }
    if (!this.closed) this.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.clock);
    await this.worker.terminate();
  }
}
