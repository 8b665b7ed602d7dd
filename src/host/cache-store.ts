// The interface of a cache store, on its own so that the public types (types.ts) and the caches
// (cache.ts) both name it without importing each other.

/** A key-value store for cache entries. Keys are lowercase hex sha256 digests. */
export interface CacheStore {
  get(key: string): Uint8Array | null | Promise<Uint8Array | null>;
  set(key: string, value: Uint8Array): void | Promise<void>;
}
