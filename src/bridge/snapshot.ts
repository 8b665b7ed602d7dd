// Warm starts: a snapshot of an instance after its constructors and the host's warm-up, taken by
// comparing its memory with a just-instantiated one, and restored into later fresh instances of the
// same module instead of running them again. Used by run-client.ts (`RunOptions.warmStart`).
//
// Browser-safe: no Node APIs here.

import { Wasi, wasiImportsFor } from "../sandbox/wasi.js";
import { SNAPSHOT_EXPORT, SNAPSHOT_GLOBAL_PREFIX } from "../sandbox/fuel.js";
import { isReplayableCall } from "../sandbox/host-imports.js";
import { WASM_PAGE_BYTES } from "../sandbox/limits.js";

/**
 * What lets runs share a snapshot. The constructors and the warm-up see the same WASI answers in
 * every run with the same `key` (the caller's: it must cover whatever its WASI extension answers
 * them from) and the same host defaults (clock, random seed: no `wasi` overrides beyond `extend`
 * and `maxWrittenBytes`); their effects outside the instance are the WASI calls they made, which
 * `replay` re-applies to the run's own records (an environment read, say).
 */
export interface WarmStart {
  key: string;
  replay(calls: ReadonlySet<string>): void;
}

/** An instance after its constructors and warm-up: what differs from a fresh instance. */
export interface Snapshot {
  pages: number;
  /** Byte ranges of memory that differ from a just-instantiated instance, with their contents. */
  blocks: { at: number; bytes: Uint8Array }[];
  /** Values of the exported mutable globals (SNAPSHOT_GLOBAL_PREFIX), fuel excepted. */
  globals: [string, number | bigint][];
  randomPosition: bigint;
  /** The WASI functions the constructors and the warm-up called. */
  calls: ReadonlySet<string>;
  /** Fuel they spent (module and host): a run with no more than that takes the slow path, and fails where it would. */
  fuelUsed: bigint;
  /** Bytes they wrote to stdout and stderr: a run allowed fewer takes the slow path. */
  written: number;
}

/** Per compiled module: whether it can be snapshotted, and the snapshots by key (null: that key's warm-up cannot be). */
const snapshots = new WeakMap<WebAssembly.Module, Map<string, Snapshot | null> | null>();

function snapshotsOf(module: WebAssembly.Module): Map<string, Snapshot | null> | null {
  let byKey = snapshots.get(module);
  if (byKey === undefined) {
    byKey = WebAssembly.Module.exports(module).some((e) => e.name === SNAPSHOT_EXPORT && e.kind === "global") ? new Map() : null;
    snapshots.set(module, byKey);
  }
  return byKey;
}

/** How many snapshots runs of `module` have taken (for tests: that warm starts happen at all). */
export function warmSnapshotCount(module: WebAssembly.Module): number {
  return [...(snapshots.get(module)?.values() ?? [])].filter((s) => s !== null).length;
}

/** Snapshots kept per module: keys are few in practice (one per distinct granted environment). */
const MAX_SNAPSHOTS_PER_MODULE = 16;

/** Granularity of the memory comparison: ranges that differ are copied in blocks this big. */
const SNAPSHOT_BLOCK = 256;

/**
 * How a run of `module` under `warm` starts: from `snapshot`, when one was taken under its key and
 * the run has more fuel and output allowance than the warm-up used; otherwise (snapshot null) by
 * running the constructors and warm-up, with `calls` the set to record their WASI calls in when a
 * snapshot is to be taken afterwards (`keepSnapshot`).
 */
export function findSnapshot(
  module: WebAssembly.Module,
  warm: WarmStart | undefined,
  fuel: number,
  maxWrittenBytes: number | undefined,
): { snapshot: Snapshot | null; calls: Set<string> | null } {
  const byKey = warm ? snapshotsOf(module) : null;
  if (!warm || !byKey) return { snapshot: null, calls: null };
  const snapshot = byKey.get(warm.key);
  if (snapshot === undefined) return { snapshot: null, calls: byKey.size < MAX_SNAPSHOTS_PER_MODULE ? new Set() : null };
  if (snapshot && BigInt(fuel) > snapshot.fuelUsed && (maxWrittenBytes ?? Infinity) >= snapshot.written) return { snapshot, calls: null };
  return { snapshot: null, calls: null };
}

/**
 * After the constructors and warm-up of a run that recorded `calls`: a snapshot of `instance` under
 * `key`, or null under it when the warm-up did something a snapshot cannot redo (or its fuel is
 * unknown: `fuelUsed` null).
 */
export function keepSnapshot(
  module: WebAssembly.Module,
  key: string,
  instance: WebAssembly.Instance,
  wasi: Wasi,
  calls: Set<string>,
  fuelUsed: bigint | null,
): void {
  const byKey = snapshotsOf(module);
  if (!byKey) return;
  const clean = wasi.exitCode === null && wasi.limitExceeded === null && [...calls].every(isReplayableCall);
  byKey.set(key, clean && fuelUsed !== null ? takeSnapshot(module, instance, wasi, new Set(calls), fuelUsed, wasi.stdout.total + wasi.stderr.total) : null);
}

/** The import object with every function noting its name in `calls` when called. */
export function recordingCalls(imports: WebAssembly.Imports, calls: Set<string>): WebAssembly.Imports {
  const out: WebAssembly.Imports = {};
  for (const [mod, fns] of Object.entries(imports)) {
    const wrapped: Record<string, (...args: never[]) => unknown> = {};
    for (const [name, fn] of Object.entries(fns as Record<string, (...args: never[]) => unknown>)) {
      wrapped[name] = (...args: never[]) => {
        calls.add(name);
        return fn(...args);
      };
    }
    out[mod] = wrapped;
  }
  return out;
}

/** What differs between `instance` now and a just-instantiated instance of `module`. */
function takeSnapshot(module: WebAssembly.Module, instance: WebAssembly.Instance, wasi: Wasi, calls: Set<string>, fuelUsed: bigint, written: number): Snapshot {
  const memory = instance.exports.memory as WebAssembly.Memory;
  const fresh = new WebAssembly.Instance(module, wasiImportsFor(module, new Wasi())).exports.memory as WebAssembly.Memory;
  const now = new Uint8Array(memory.buffer);
  const nowWords = new Uint32Array(memory.buffer);
  const wasWords = new Uint32Array(fresh.buffer);
  const blocks: Snapshot["blocks"] = [];
  const differs = (at: number): boolean => {
    const end = Math.min(at + SNAPSHOT_BLOCK, now.length) / 4;
    for (let i = at / 4; i < end; i++) if (nowWords[i] !== (i < wasWords.length ? wasWords[i] : 0)) return true;
    return false;
  };
  for (let at = 0; at < now.length; at += SNAPSHOT_BLOCK) {
    if (!differs(at)) continue;
    let end = at + SNAPSHOT_BLOCK;
    while (end < now.length && differs(end)) end += SNAPSHOT_BLOCK;
    blocks.push({ at, bytes: now.slice(at, end) });
    at = end;
  }
  const globals: [string, number | bigint][] = [];
  for (const [name, g] of Object.entries(instance.exports)) {
    if (name.startsWith(SNAPSHOT_GLOBAL_PREFIX) && g instanceof WebAssembly.Global) globals.push([name, g.value as number | bigint]);
  }
  return { pages: now.length / WASM_PAGE_BYTES, blocks, globals, randomPosition: wasi.randomPosition, calls, fuelUsed, written };
}

/** Makes a just-instantiated instance what the snapshot's instance was after its warm-up. */
export function restoreSnapshot(memory: WebAssembly.Memory, instance: WebAssembly.Instance, wasi: Wasi, snapshot: Snapshot): void {
  const have = memory.buffer.byteLength / WASM_PAGE_BYTES;
  if (snapshot.pages > have) memory.grow(snapshot.pages - have);
  const bytes = new Uint8Array(memory.buffer);
  for (const b of snapshot.blocks) bytes.set(b.bytes, b.at);
  for (const [name, value] of snapshot.globals) (instance.exports[name] as WebAssembly.Global).value = value;
  wasi.randomPosition = snapshot.randomPosition;
}
