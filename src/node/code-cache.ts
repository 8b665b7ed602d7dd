// Runs a CommonJS bundle through V8's code cache (Node-only): the proc-macro server's worker
// starts on rust-analyzer's critical path, and compiling its ~360 KB of code took 10-17 ms of it
// (measured); with the cache it takes ~0.1 ms, and the functions the first expansion compiled
// lazily come compiled too. Node 20 has no compile cache of its own for user code.
//
// The cache file is keyed by the bundle's text and node's version, and V8 checks what it is given
// (a rejected or damaged entry only costs the compile it would have saved); it is written once,
// atomically, after the first expansion, when `saveCodeCache()` is called; the directory keeps
// the newest few entries.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Script } from "node:vm";

// On the global object: the loader and the bundle it runs each carry their own copy of this file.
const SAVE = Symbol.for("macrobox.saveCodeCache");
const slot = globalThis as { [SAVE]?: (() => void) | null };

/**
 * Runs `file` (CommonJS, with `import.meta.url` compiled to the free name `__importMetaUrl`),
 * compiled with the cached code in `cacheDir` when there is one.
 */
export function runWithCodeCache(file: string, cacheDir: string): void {
  const source = readFileSync(file, "utf8");
  const key = createHash("sha256").update(`${process.version}\n${process.arch}\n`).update(source).digest("hex");
  const path = join(cacheDir, `${key}.bin`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(path);
  } catch {
    // not cached yet
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname, __importMetaUrl) {${source}\n})`;
  const script = new Script(wrapped, { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected === true) {
    slot[SAVE] = () => {
      slot[SAVE] = null;
      try {
        mkdirSync(cacheDir, { recursive: true });
        const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, path);
        prune(cacheDir);
      } catch {
        // a cache that cannot be written only costs the next start its compile
      }
    };
  }
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} };
  run(module.exports, createRequire(file), module, file, dirname(file), pathToFileURL(file).href);
}

/** Entries kept: one per bundle (a macrobox version) used recently; the rest go, oldest first. */
const KEEP = 8;

function prune(dir: string): void {
  const entries = readdirSync(dir)
    .filter((f) => f.endsWith(".bin"))
    .map((f) => ({ f, at: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { f } of entries.slice(KEEP)) rmSync(join(dir, f), { force: true });
}

/** Stores the code compiled so far, once (no-op when the cache was used, or outside such a bundle). */
export function saveCodeCache(): void {
  slot[SAVE]?.();
}
