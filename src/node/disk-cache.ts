// The caches on disk (Node): instrumented modules and expansion results, shared by every process
// of the user (the CLI, the proc-macro server, later the cargo host).
//
// Layout: <cache root>/<kind>/<first two hex digits>/<key>, each file the hex sha256 of its payload,
// a newline, then the payload. A read whose payload does not hash to the recorded digest (a
// truncated write, a flipped bit, someone else's file) is a miss and the file is removed. Writes go
// to a temporary file that is renamed into place, which is atomic on POSIX file systems: readers
// never see half an entry and two processes writing one key at once both leave a whole entry (the
// same bytes, expansion being deterministic). Bounded in size: past `maxBytes`, the least recently
// used entries (by modification time, refreshed on every hit) are removed.
//
//   MACROBOX_CACHE             the cache root (default ~/.cache/macrobox)
//   MACROBOX_EXPANSION_CACHE   "off" turns the expansion cache off (modules are still cached)
//   MACROBOX_REMOTE_CACHE      a shared cache behind these (src/node/remote-cache.ts)

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LayeredCacheStore, MemoryCacheStore } from "../host/cache.js";
import type { CacheStore } from "../host/cache-store.js";
import { cacheRoot, expansionCacheOff } from "./cache-env.js";
import { RemoteCache, type RemoteKind } from "./remote-cache.js";
import { remoteCacheSetting, type RemoteCacheSetting } from "./settings.js";
import { userDirs, type UserDirs } from "./trust.js";

export { cacheRoot } from "./cache-env.js";

const KEY = /^[0-9a-f]{16,128}$/;

export class DiskCacheStore implements CacheStore {
  private bytesWritten = 0;

  constructor(
    readonly dir: string,
    /** Total size the entries may take before the least recently used are removed. */
    readonly maxBytes = 1024 * 1024 * 1024,
  ) {}

  private path(key: string): string {
    if (!KEY.test(key)) throw new Error(`disk cache: bad key ${JSON.stringify(key)}`);
    return join(this.dir, key.slice(0, 2), key);
  }

  get(key: string): Uint8Array | null {
    const file = this.path(key);
    let raw: Buffer;
    try {
      raw = readFileSync(file);
    } catch {
      return null;
    }
    const nl = raw.indexOf(0x0a);
    const payload = nl === 64 ? raw.subarray(65) : null;
    if (payload === null || createHash("sha256").update(payload).digest("hex") !== raw.subarray(0, 64).toString("latin1")) {
      rmSync(file, { force: true });
      return null;
    }
    try {
      const now = new Date();
      utimesSync(file, now, now); // least recently *used*
    } catch {
      // removed meanwhile by another process's eviction: the bytes we have are still whole
    }
    return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  }

  set(key: string, value: Uint8Array): void {
    const file = this.path(key);
    const digest = createHash("sha256").update(value).digest("hex");
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      mkdirSync(join(this.dir, key.slice(0, 2)), { recursive: true });
      writeFileSync(tmp, Buffer.concat([Buffer.from(`${digest}\n`, "latin1"), value]));
      renameSync(tmp, file);
    } catch {
      // A cache that cannot be written (read-only, full disk) only costs the next process time.
      rmSync(tmp, { force: true });
      return;
    }
    this.bytesWritten += value.length + 65;
    // Check the bound now and then, not on every write: a scan lists the whole directory.
    if (this.bytesWritten > this.maxBytes / 16) {
      this.bytesWritten = 0;
      this.prune();
    }
  }

  /** Removes least recently used entries until the total is under the bound. */
  prune(): void {
    const entries: Array<{ file: string; size: number; mtime: number }> = [];
    let total = 0;
    let shards: string[];
    try {
      shards = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const shard of shards) {
      let names: string[];
      try {
        names = readdirSync(join(this.dir, shard));
      } catch {
        continue;
      }
      for (const name of names) {
        const file = join(this.dir, shard, name);
        try {
          const st = statSync(file);
          // A temporary file older than a minute belongs to a writer that died.
          if (name.includes(".tmp-")) {
            if (Date.now() - st.mtimeMs > 60_000) rmSync(file, { force: true });
            continue;
          }
          entries.push({ file, size: st.size, mtime: st.mtimeMs });
          total += st.size;
        } catch {
          // gone meanwhile
        }
      }
    }
    if (total <= this.maxBytes) return;
    entries.sort((a, b) => a.mtime - b.mtime);
    for (const e of entries) {
      if (total <= this.maxBytes * 0.9) break;
      rmSync(e.file, { force: true });
      total -= e.size;
    }
  }
}

export interface NodeCaches {
  moduleCache: CacheStore;
  /** Null when MACROBOX_EXPANSION_CACHE=off. */
  expansionCache: CacheStore | null;
  /** Built modules by content, for `macrobox build`: null without a remote cache (cargo's target dir is the local one). */
  buildCache: CacheStore | null;
  /** The shared cache behind the local ones (src/node/remote-cache.ts), if one is set. */
  remote: RemoteCache | null;
}

/**
 * The caches a Node process uses: in memory first, then on disk under the cache root, then the
 * remote cache when one is set (`remote`, else MACROBOX_REMOTE_CACHE or the settings files that
 * count: the user's, the current directory's once trusted; src/node/settings.ts). A local hit
 * never asks the remote one; a remote hit fills the local ones. `dirs`: the user's directories
 * (long-lived processes pass theirs; default from `env`).
 */
export function nodeCaches(env: NodeJS.ProcessEnv = process.env, options: { remote?: RemoteCacheSetting | null; dirs?: UserDirs } = {}): NodeCaches {
  const root = cacheRoot(env);
  const off = expansionCacheOff(env);
  const setting = options.remote !== undefined ? options.remote : implicitRemoteSetting(env, options.dirs ?? userDirs(env));
  const remote = setting ? new RemoteCache({ url: setting.url, readOnly: setting.readOnly, env }) : null;
  const behind = (stores: CacheStore[], kind: RemoteKind): CacheStore => (remote ? new LayeredCacheStore([...stores, remote.store(kind)]) : stores[0]);
  return {
    moduleCache: remote
      ? behind([new DiskCacheStore(join(root, "modules"), 2 * 1024 * 1024 * 1024)], "module")
      : new DiskCacheStore(join(root, "modules"), 2 * 1024 * 1024 * 1024),
    expansionCache: off
      ? null
      : new LayeredCacheStore([
          new MemoryCacheStore(64 * 1024 * 1024),
          new DiskCacheStore(join(root, "expansions")),
          ...(remote ? [remote.store("expansion")] : []),
        ]),
    buildCache: remote ? behind([new DiskCacheStore(join(root, "builds"), 2 * 1024 * 1024 * 1024)], "build") : null,
    remote,
  };
}

/** The setting from the environment or the settings files; a bad one is said and skipped (a server keeps serving). */
function implicitRemoteSetting(env: NodeJS.ProcessEnv, dirs: UserDirs): RemoteCacheSetting | null {
  try {
    return remoteCacheSetting({ env, dirs });
  } catch (e) {
    process.stderr.write(`warning: ${(e as Error).message}; continuing without a remote cache\n`);
    return null;
  }
}

/** sha256 of module bytes with Node's native hash (the core's portable one is slower on large modules). */
export function moduleHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
