// The macrobox host the shims talk to: one Node process per socket, started by the first shim
// that finds no host, serving every rustc of the build (and of later builds) until it has been
// idle for a while. Each connection carries one expansion (shim-runtime.rs, protocol.ts).
//
// Concurrent connections (`cargo build -j N` runs several rustc processes, each expanding) are
// expanded in parallel: the main thread reads each request and hands it to a pool of worker
// threads (host-worker.ts), one per core at most, started when first needed; a request waits only
// when every worker is busy. A wasm call blocks its thread, so one thread would serve them one at
// a time. Each expansion still runs in a fresh sandbox with its memory bound, whichever worker.

import { existsSync, rmSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import type { UserDirs } from "../node/index.js";
import { ensurePrivateDir, HostSocketError, socketFileProblem } from "./host-socket.js";
import { encodeReply } from "./protocol.js";
import { answersDir, pruneAnswers } from "./answers.js";
import type { HostJob, HostJobDone } from "./host-worker.js";

/** How long the host waits for a connection before it exits. */
export const DEFAULT_IDLE_MS = 60_000;
/**
 * How long after the last expansion the host logs how many it served since its last such line, and
 * how many of them the expansion cache answered (one line per burst: a build's, or a crate's).
 */
export const SUMMARY_QUIET_MS = 250;
/**
 * The largest request (and reply) on the socket: 256 MiB, far above any expansion (the request
 * holds rustc's env and the input's tokens and spans). `MACROBOX_HOST_MAX_MESSAGE` (bytes) sets it,
 * for the host and the shims alike (shim-runtime.rs reads the same variable).
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/**
 * How long a connection may send nothing while its request is incomplete (30 s; a shim writes its
 * whole request at once): a connection left open would otherwise keep the host, and its memory, forever.
 * `MACROBOX_HOST_READ_TIMEOUT_MS` sets it.
 */
export const DEFAULT_READ_TIMEOUT_MS = 30_000;

export interface HostOptions {
  socket: string;
  idleMs?: number;
  /** A request whose length prefix is over this gets an error reply and the connection is closed. */
  maxMessageBytes?: number;
  /** A connection that sends nothing for this long before its request is complete is closed. */
  readTimeoutMs?: number;
  log?: (line: string) => void;
  /** How many requests are expanded at once (worker threads; default: the number of cores). */
  workers?: number;
  /**
   * The user's directories (whose grants and trust store count): never taken from this process's
   * environment, which rustc passed on and a repository's `.cargo/config.toml` `[env]` can set.
   */
  dirs: UserDirs;
}

export async function runHost(options: HostOptions): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const limits = { maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, readTimeoutMs: options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS };
  // The shims' answer index (answers.ts) lives beside the socket: they find it from the path baked into them.
  const answers = answersDir(options.socket);
  const pool = new ExpansionPool(Math.max(1, options.workers ?? availableParallelism()), options.dirs, log, answers);

  let active = 0;
  let timer: NodeJS.Timeout | null = null;
  const server = createServer((conn) => {
    active++;
    if (timer) clearTimeout(timer);
    serveConnection(conn, pool, log, limits).finally(() => {
      active--;
      if (active === 0) armIdle();
    });
  });
  const armIdle = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      log("idle: exiting");
      server.close();
      void pool.close();
      try {
        unlinkSync(options.socket);
      } catch {
        // already gone
      }
    }, idleMs);
  };

  // The directory is the only guard of who may connect (Node cannot ask the peer's uid): host-socket.ts.
  ensurePrivateDir(dirname(options.socket));
  const problem = socketFileProblem(options.socket);
  if (problem !== null) throw new HostSocketError(`the macrobox host's socket ${problem}: remove it and build again`);
  await listen(server, options.socket);
  log(`listening on ${options.socket} (pid ${process.pid})`);
  pruneAnswers(answers);
  armIdle();
  await new Promise<void>((done) => server.on("close", done));
}

/** Listens on the socket; a stale socket file is removed, a live host makes this one exit (exit code 0). */
async function listen(server: ReturnType<typeof createServer>, socket: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((ok, fail) => {
        server.once("error", fail);
        server.listen(socket, () => {
          server.off("error", fail);
          ok();
        });
      });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt > 0) throw e;
      if (await isAlive(socket)) process.exit(0); // another host answers: the shim connects to it
      // Stale; another host starting at the same time may have removed it already.
      rmSync(socket, { force: true });
    }
  }
}

function isAlive(socket: string): Promise<boolean> {
  return new Promise((answer) => {
    const c = createConnection(socket);
    c.once("connect", () => {
      c.destroy();
      answer(true);
    });
    c.once("error", () => answer(false));
  });
}

async function serveConnection(
  conn: Socket,
  pool: ExpansionPool,
  log: (line: string) => void,
  limits: { maxMessageBytes: number; readTimeoutMs: number },
): Promise<void> {
  const request = await new Promise<Buffer | { refused: string } | null>((done) => {
    let header = Buffer.alloc(0);
    let body: Buffer | null = null;
    let size = 0;
    conn.setTimeout(limits.readTimeoutMs, () => {
      log(`closed a connection that sent nothing for ${limits.readTimeoutMs} ms`);
      conn.destroy();
      done(null);
    });
    conn.on("data", (chunk: Buffer) => {
      if (body === null) {
        header = Buffer.concat([header, chunk]);
        if (header.length < 4) return;
        const expected = header.readUInt32LE(0);
        if (expected > limits.maxMessageBytes) {
          conn.pause();
          done({ refused: `a request of ${expected} bytes is over the host's bound of ${limits.maxMessageBytes} bytes (MACROBOX_HOST_MAX_MESSAGE)` });
          return;
        }
        body = Buffer.allocUnsafe(expected);
        chunk = header.subarray(4);
      }
      const take = Math.min(chunk.length, body.length - size);
      chunk.copy(body, size, 0, take);
      size += take;
      if (size === body.length) {
        conn.pause();
        done(body);
      }
    });
    conn.on("error", () => done(null));
    conn.on("end", () => done(null));
  });
  if (request === null) return;
  // The expansion may take long; the client waits for it (its own timeout bounds the wait).
  conn.setTimeout(0);
  let reply: Buffer;
  if ("refused" in request) {
    log(`refused: ${request.refused}`);
    reply = encodeReply({ kind: "error", message: `macrobox: ${request.refused}` }, { stdout: "", stderr: "" }, null);
  } else {
    reply = await pool.expand(request);
  }
  if ("refused" in request) {
    // The client may still be writing the rest: read and drop it (never kept) for up to the read
    // timeout, so that the close does not reset the connection before the client reads the reply.
    await new Promise<void>((done) => {
      const cutoff = setTimeout(() => conn.destroy(), limits.readTimeoutMs);
      conn.on("close", () => {
        clearTimeout(cutoff);
        done();
      });
      conn.on("data", () => {});
      conn.resume();
      conn.end(reply);
    });
    return;
  }
  await new Promise<void>((done) => {
    conn.on("close", () => done());
    conn.end(reply, () => {
      conn.destroy();
      done();
    });
  });
}

/**
 * The worker threads that expand: up to `size`, started when a request finds none idle; requests
 * beyond them wait in order. Settings notes already shown are kept here, for all workers.
 */
class ExpansionPool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly waiting: Array<(w: Worker) => void> = [];
  private readonly pending = new Map<number, { resolve(reply: Buffer): void; worker: Worker }>();
  private readonly shown = new Set<string>();
  private nextId = 0;
  private served = { expansions: 0, fromCache: 0 };
  private summary: NodeJS.Timeout | null = null;

  constructor(
    private readonly size: number,
    private readonly dirs: UserDirs,
    private readonly log: (line: string) => void,
    private readonly answers: string | null,
  ) {}

  async expand(request: Buffer): Promise<Buffer> {
    const worker = await this.acquire();
    const id = this.nextId++;
    return new Promise<Buffer>((resolve) => {
      this.pending.set(id, { resolve, worker });
      const job: HostJob = { id, request, shown: [...this.shown] };
      worker.postMessage(job);
    });
  }

  private acquire(): Promise<Worker> {
    const ready = this.idle.pop();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.all.size < this.size) return Promise.resolve(this.start());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(worker: Worker): void {
    const next = this.waiting.shift();
    if (next !== undefined) next(worker);
    else this.idle.push(worker);
  }

  private start(): Worker {
    const worker = startHostWorker(this.dirs, this.answers);
    this.all.add(worker);
    worker.on("message", (done: HostJobDone) => {
      const job = this.pending.get(done.id);
      if (job === undefined) return;
      this.pending.delete(done.id);
      for (const n of done.notes) this.shown.add(n);
      if (done.error !== undefined) this.log(`error: ${done.error}`);
      this.count(done.fromCache);
      job.resolve(Buffer.from(done.reply.buffer, done.reply.byteOffset, done.reply.byteLength));
      this.release(worker);
    });
    // A worker that dies (out of memory in the host's own code, a bug) fails its request with an
    // error reply; a fresh worker takes its place when one is needed.
    worker.on("error", (e) => this.log(`worker error: ${e.message}`));
    worker.on("exit", (code) => {
      this.all.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
      for (const [id, job] of this.pending) {
        if (job.worker !== worker) continue;
        this.pending.delete(id);
        job.resolve(
          encodeReply({ kind: "error", message: `macrobox: the host's expansion thread stopped (exit code ${code})` }, { stdout: "", stderr: "" }, null),
        );
      }
      const next = this.waiting.shift();
      if (next !== undefined) next(this.start());
    });
    return worker;
  }

  private count(fromCache: boolean): void {
    this.served.expansions++;
    if (fromCache) this.served.fromCache++;
    if (this.summary) clearTimeout(this.summary);
    this.summary = setTimeout(() => this.logSummary(), SUMMARY_QUIET_MS);
  }

  private logSummary(): void {
    if (this.summary) clearTimeout(this.summary);
    this.summary = null;
    const { expansions, fromCache } = this.served;
    if (expansions === 0) return;
    this.log(`served ${expansions} expansions (${fromCache} from the expansion cache)`);
    this.served = { expansions: 0, fromCache: 0 };
  }

  async close(): Promise<void> {
    this.logSummary();
    await Promise.all([...this.all].map((w) => w.terminate()));
  }
}

function startHostWorker(dirs: UserDirs, answers: string | null): Worker {
  const workerData = { dirs, answers };
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./host-worker.js", import.meta.url), { workerData });
  // Running from sources under tsx (tests, development): a worker does not inherit tsx's loader,
  // so a bootstrap registers it before importing the TypeScript entry.
  const entry = new URL("./host-worker.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  const code = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData });
}

export function socketExists(socket: string): boolean {
  return existsSync(socket);
}
