// A cache shared by a fleet over the HTTP form of the Bazel remote cache (bazel-remote, Buildbarn,
// BuildBuddy, nginx with WebDAV, ...): blobs by content under `<base>/cas/<sha256>`, action
// results under `<base>/ac/<sha256>`.
//
// An entry of key K (a local cache's key: expansion, instrumented module or built module) is the
// payload P stored as the CAS blob sha256(P), and at /ac/K a REAPI `ActionResult` whose one output
// file, `macrobox/<kind>`, names that blob by digest. Servers that check action results (that they
// parse and that the blobs they name exist) accept it: the blob is uploaded first.
//
// Never in the way: a read that fails (refused, slow, 5xx, a truncated or corrupt body) is a miss;
// the first failure is said once per process on stderr and the server is then left alone for a
// while (`retryAfterMs`), so a dead server costs one timeout, not one per expansion. A blob whose
// bytes do not hash to its name is a miss and gets overwritten by the next upload. Uploads are
// queued (bounded in entries and bytes; past the bound they are dropped) and sent in the
// background; `flushRemoteCaches` waits for them at the end of a command, within a bound.
//
//   MACROBOX_REMOTE_CACHE_TOKEN       sent as `Authorization: Bearer <token>`
//   MACROBOX_REMOTE_CACHE_BASIC_AUTH  `user:password`, sent as basic auth (as are credentials in the URL)
//   MACROBOX_REMOTE_CACHE_TIMEOUT     milliseconds one request may take (default 5000)
//   MACROBOX_REMOTE_CACHE_STATS       "1": print what the remote cache did when the command ends

import { createHash } from "node:crypto";
import type http from "node:http";
import { createRequire } from "node:module";
import type { CacheStore } from "../host/cache-store.js";
import { decodeActionResult, encodeActionResult } from "./reapi.js";

// node:http and node:https are loaded when a remote cache is made, not with this module: every start
// of the command and the proc-macro server loads this module, most without a remote cache, and
// loading them (https brings tls) was a noticeable part of a cold start. Synchronously, so a
// cache behaves as if they were imported at the top.
const require = createRequire(import.meta.url);
const httpModule = (protocol: string): typeof http => require(protocol === "https:" ? "node:https" : "node:http") as typeof http;

export type RemoteKind = "expansion" | "module" | "build";

export interface RemoteCacheOptions {
  url: string;
  /** Read, never write. */
  readOnly?: boolean;
  /** For authentication and the timeout (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** One request's bound (connect, send, answer); default MACROBOX_REMOTE_CACHE_TIMEOUT or 5 s. */
  timeoutMs?: number;
  /** How long the server is left alone after a failure. */
  retryAfterMs?: number;
  /** Uploads waiting at most (entries, bytes); past either, new uploads are dropped. */
  maxQueued?: number;
  maxQueuedBytes?: number;
  /** Largest body read; a larger answer is a failure. */
  maxBlobBytes?: number;
  /** Where the one-time warning goes (default stderr). */
  warn?: (message: string) => void;
}

export interface RemoteStats {
  hits: number;
  misses: number;
  /** Entries that did not decode, or blobs that did not hash to their name. */
  corrupt: number;
  uploads: number;
  /** Uploads not sent: the queue was full, the server was failing, or the flush bound passed. */
  dropped: number;
  /** Requests that failed (network, timeout, an unexpected status). */
  failures: number;
}

class RemoteFailure extends Error {}

/** The output file an entry of each kind is stored as. */
function outputPath(kind: RemoteKind): string {
  return `macrobox/${kind}`;
}

const HEX_KEY = /^[0-9a-f]{64}$/;

let warnedThisProcess = false;
const live = new Set<RemoteCache>();

export class RemoteCache {
  readonly url: URL;
  readonly readOnly: boolean;
  readonly stats: Record<RemoteKind, RemoteStats>;
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;
  private readonly maxBlobBytes: number;
  private readonly warn: (message: string) => void;
  private readonly agent: http.Agent;
  private downUntil = 0;
  private readonly queue: Array<{ kind: RemoteKind; key: string; value: Uint8Array }> = [];
  private queuedBytes = 0;
  private uploading = 0;
  private readonly inflight = new Set<http.ClientRequest>();
  private idle: Array<() => void> = [];

  constructor(options: RemoteCacheOptions) {
    const env = options.env ?? process.env;
    this.url = new URL(options.url);
    if (this.url.protocol !== "http:" && this.url.protocol !== "https:") throw new Error(`remote cache: ${options.url} is not an http(s) URL`);
    this.readOnly = options.readOnly ?? false;
    this.base = this.url.pathname.replace(/\/+$/, "");
    this.headers = {};
    const token = env.MACROBOX_REMOTE_CACHE_TOKEN;
    const basic =
      env.MACROBOX_REMOTE_CACHE_BASIC_AUTH ?? (this.url.username ? `${decodeURIComponent(this.url.username)}:${decodeURIComponent(this.url.password)}` : "");
    if (token) this.headers.authorization = `Bearer ${token}`;
    else if (basic) this.headers.authorization = `Basic ${Buffer.from(basic).toString("base64")}`;
    const envTimeout = Number(env.MACROBOX_REMOTE_CACHE_TIMEOUT);
    this.timeoutMs = options.timeoutMs ?? (Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : 5000);
    this.retryAfterMs = options.retryAfterMs ?? 30_000;
    this.maxQueued = options.maxQueued ?? 256;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024 * 1024;
    this.maxBlobBytes = options.maxBlobBytes ?? 1024 * 1024 * 1024;
    this.warn = options.warn ?? ((m) => process.stderr.write(m));
    // Idle keep-alive sockets are unref'd by Node's agent: they never hold the process open.
    this.agent = new (httpModule(this.url.protocol).Agent)({ keepAlive: true, maxSockets: 4 });
    const zero = (): RemoteStats => ({ hits: 0, misses: 0, corrupt: 0, uploads: 0, dropped: 0, failures: 0 });
    this.stats = { expansion: zero(), module: zero(), build: zero() };
    live.add(this);
  }

  /** A `CacheStore` view for one kind of entry. */
  store(kind: RemoteKind): CacheStore {
    return { get: (key) => this.get(kind, key), set: (key, value) => this.set(kind, key, value) };
  }

  /** The entry, or null: absent, unusable, or the server is failing. Never throws. */
  async get(kind: RemoteKind, key: string): Promise<Uint8Array | null> {
    const stats = this.stats[kind];
    if (!HEX_KEY.test(key) || this.isDown()) {
      stats.misses++;
      return null;
    }
    try {
      const ac = await this.request("GET", `/ac/${key}`);
      if (ac === null) {
        stats.misses++;
        return null;
      }
      let files;
      try {
        files = decodeActionResult(ac).outputFiles;
      } catch {
        stats.corrupt++;
        return null;
      }
      // An action result of another kind (or another tool) under this key holds nothing for us.
      const digest = files.find((f) => f.path === outputPath(kind))?.digest;
      if (!digest || !HEX_KEY.test(digest.hash)) {
        stats.misses++;
        return null;
      }
      const blob = await this.request("GET", `/cas/${digest.hash}`);
      if (blob === null) {
        stats.misses++;
        return null;
      }
      if (blob.length !== digest.sizeBytes || sha256Hex(blob) !== digest.hash) {
        stats.corrupt++;
        return null;
      }
      stats.hits++;
      return blob;
    } catch (e) {
      this.failed(kind, e);
      stats.misses++;
      return null;
    }
  }

  /** Queues the entry for upload and returns at once. */
  set(kind: RemoteKind, key: string, value: Uint8Array): void {
    if (this.readOnly) return;
    const stats = this.stats[kind];
    if (!HEX_KEY.test(key) || value.length === 0) return;
    if (this.isDown() || this.queue.length >= this.maxQueued || this.queuedBytes + value.length > this.maxQueuedBytes) {
      stats.dropped++;
      return;
    }
    this.queue.push({ kind, key, value });
    this.queuedBytes += value.length;
    this.pump();
  }

  /** Waits until every queued upload is sent, at most `boundMs`; then drops what is left. */
  async flush(boundMs: number): Promise<void> {
    if (this.queue.length > 0 || this.uploading > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => this.idle.push(r)),
        new Promise<void>((r) => {
          timer = setTimeout(r, boundMs);
        }),
      ]);
      clearTimeout(timer);
    }
    for (const item of this.queue.splice(0)) this.stats[item.kind].dropped++;
    this.queuedBytes = 0;
    for (const req of this.inflight) req.destroy();
    this.agent.destroy();
  }

  private pump(): void {
    while (this.uploading < 2 && this.queue.length > 0) {
      const item = this.queue.shift()!;
      this.queuedBytes -= item.value.length;
      this.uploading++;
      void this.upload(item).finally(() => {
        this.uploading--;
        this.pump();
        if (this.uploading === 0 && this.queue.length === 0) for (const r of this.idle.splice(0)) r();
      });
    }
  }

  private async upload(item: { kind: RemoteKind; key: string; value: Uint8Array }): Promise<void> {
    const stats = this.stats[item.kind];
    if (this.isDown()) {
      stats.dropped++;
      return;
    }
    try {
      const hash = sha256Hex(item.value);
      // The blob first: a server that validates the action result wants what it names to exist.
      await this.request("PUT", `/cas/${hash}`, item.value);
      const result = encodeActionResult({ outputFiles: [{ path: outputPath(item.kind), digest: { hash, sizeBytes: item.value.length } }], exitCode: 0 });
      await this.request("PUT", `/ac/${item.key}`, result);
      stats.uploads++;
    } catch (e) {
      this.failed(item.kind, e);
      stats.dropped++;
    }
  }

  private isDown(): boolean {
    return Date.now() < this.downUntil;
  }

  private failed(kind: RemoteKind, e: unknown): void {
    this.stats[kind].failures++;
    this.downUntil = Date.now() + this.retryAfterMs;
    if (!warnedThisProcess) {
      warnedThisProcess = true;
      this.warn(`warning: the remote cache ${this.display()} is unreachable (${(e as Error).message}); continuing without it\n`);
    }
  }

  /** The URL without credentials. */
  private display(): string {
    const u = new URL(this.url.href);
    u.username = "";
    u.password = "";
    return u.href.replace(/\/$/, "");
  }

  /**
   * One request. GET: the body, or null for 404. PUT: null. Throws `RemoteFailure` on anything
   * else: a network error, the timeout, another status, a body cut short or too large.
   */
  private request(method: "GET" | "PUT", path: string, body?: Uint8Array): Promise<Uint8Array | null> {
    const mod = httpModule(this.url.protocol);
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err: Error | null, value: Uint8Array | null = null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inflight.delete(req);
        if (err) {
          req.destroy();
          reject(err instanceof RemoteFailure ? err : new RemoteFailure(err.message));
        } else resolve(value);
      };
      const headers: Record<string, string> = { ...this.headers };
      if (body) {
        headers["content-type"] = "application/octet-stream";
        headers["content-length"] = String(body.length);
      }
      const req = mod.request(
        { protocol: this.url.protocol, hostname: this.url.hostname, port: this.url.port, path: `${this.base}${path}`, method, headers, agent: this.agent },
        (res) => {
          const status = res.statusCode ?? 0;
          if (method === "GET" && status === 404) {
            res.resume();
            return done(null, null);
          }
          if (status < 200 || status >= 300) {
            res.resume();
            return done(new RemoteFailure(`${method} ${path.split("/")[1]}: HTTP ${status}`));
          }
          if (method === "PUT") {
            res.resume();
            res.on("end", () => done(null));
            res.on("error", (e) => done(e));
            return;
          }
          const expected = res.headers["content-length"] === undefined ? null : Number(res.headers["content-length"]);
          if (expected !== null && expected > this.maxBlobBytes) return done(new RemoteFailure(`a ${expected}-byte answer is larger than allowed`));
          const chunks: Buffer[] = [];
          let length = 0;
          res.on("data", (c: Buffer) => {
            length += c.length;
            if (length > this.maxBlobBytes) done(new RemoteFailure("an answer larger than allowed"));
            else chunks.push(c);
          });
          res.on("error", (e) => done(e));
          res.on("aborted", () => done(new RemoteFailure("the answer was cut short")));
          res.on("end", () => {
            if (!res.complete || (expected !== null && length !== expected)) return done(new RemoteFailure("the answer was cut short"));
            const all = Buffer.concat(chunks);
            done(null, new Uint8Array(all.buffer, all.byteOffset, all.byteLength));
          });
        },
      );
      const timer = setTimeout(() => done(new RemoteFailure(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.inflight.add(req);
      req.on("error", (e) => done(e));
      req.end(body);
    });
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Sends what every remote cache of the process still has queued, waiting at most `boundMs`, and
 * (with MACROBOX_REMOTE_CACHE_STATS=1) says on stderr what each did. Commands call it as they end.
 */
export async function flushRemoteCaches(boundMs = 5000, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const caches = [...live];
  live.clear();
  await Promise.all(caches.map((c) => c.flush(boundMs)));
  if (env.MACROBOX_REMOTE_CACHE_STATS === "1") {
    for (const c of caches) {
      for (const [kind, s] of Object.entries(c.stats)) {
        if (Object.values(s).every((n) => n === 0)) continue;
        process.stderr.write(
          `remote cache ${kind}: ${s.hits} hits, ${s.misses} misses, ${s.corrupt} corrupt, ${s.uploads} uploaded, ${s.dropped} dropped, ${s.failures} failed requests\n`,
        );
      }
    }
  }
}
