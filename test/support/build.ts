// Module builds shared by every test process. Each test file is a process of its own, and many
// need the same modules (serde_derive, demo-macros...): a memo in memory rebuilt them in every
// file (cargo finds its target dir fresh, but staging, resolution and the fresh check cost ~2 s a
// module, and a crate built from another copy in between is compiled again). This memo lives on
// disk, in $MACROBOX_CACHE/test-builds, through the builder's own module store (`moduleStore`, the
// one `macrobox build --remote-cache` uses): the key is the builder's `moduleKey` (toolchain,
// wasi-libc, the crate's staged sources, features, profile, every resolved dependency, compat
// patches) plus a hash of the builder's own sources in this checkout, so editing the builder
// never gets an older module back. DiskCacheStore writes atomically (test/host/cache.test.ts has two
// processes writing one directory at once), and builds hold the toolchain cache's lock.
//
// Tests of the builder itself (test/build*.test.ts) call `build` directly: they test what cargo does.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { build, type BuildOptions, type BuildResult } from "../../src/builder/index.js";
import type { ModuleStore } from "../../src/builder/cache.js";
import { cacheRoot } from "../../src/node/cache-env.js";
import { DiskCacheStore } from "../../src/node/disk-cache.js";
import { ROOT } from "./paths.js";

/** What decides a module's bytes besides what `moduleKey` covers: the code of the builder and of the metadata it writes. */
const BUILDER_SOURCES = ["src/builder", "src/wasm", "src/sandbox/host-imports.ts"];

let store: ModuleStore | null = null;

function sourcesHash(): string {
  const hash = createHash("sha256");
  for (const source of BUILDER_SOURCES) {
    const path = join(ROOT, source);
    const files = source.endsWith(".ts")
      ? [path]
      : readdirSync(path, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name))
          .sort();
    for (const file of files) hash.update(file.slice(ROOT.length)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex");
}

/** The on-disk memo: the builder's key, hashed with the builder's sources. */
function sharedStore(): ModuleStore {
  if (store) return store;
  const disk = new DiskCacheStore(join(cacheRoot(), "test-builds"), 4 * 1024 * 1024 * 1024);
  const salt = sourcesHash();
  const key = (k: string) => createHash("sha256").update(salt).update(k).digest("hex");
  store = { get: (k) => disk.get(key(k)), set: (k, v) => disk.set(key(k), v) };
  return store;
}

/** `build` through the memo shared by every test process: a module built once (in the OS sandbox) is written out without cargo afterwards. */
export function buildModule(options: BuildOptions): Promise<BuildResult> {
  return build({ ...options, moduleStore: sharedStore() });
}
