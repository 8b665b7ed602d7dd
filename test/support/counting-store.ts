// An expansion cache store that counts what reaches it, so a cache test can tell a hit (a get, no
// set) from a run (a set).
import { MemoryCacheStore } from "../../src/host/cache.js";
import type { CacheStore } from "../../src/host/cache-store.js";

export class CountingStore implements CacheStore {
  readonly inner = new MemoryCacheStore();
  gets = 0;
  sets = 0;
  get(key: string) {
    this.gets++;
    return this.inner.get(key);
  }
  set(key: string, value: Uint8Array) {
    this.sets++;
    this.inner.set(key, value);
  }
}
