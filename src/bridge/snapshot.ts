// Warm starts: a snapshot of an instance after its constructors and the host's warm-up, taken by
// comparing its memory with a just-instantiated one, and restored into later fresh instances of the
// same module instead of running them again. Used by run-client.ts (`RunOptions.warmStart`).
//
// Reuse: an instance that started from a snapshot and whose run ended normally (a result or a
// caught panic) without growing its memory is kept, and the next run under that snapshot starts in
// it instead of a new instance: the whole memory image (kept as its non-zero runs; the gaps are
// zeroed) and every mutable global are written back, which is all of the instance's state for a
// snapshot-able module (SNAPSHOT_EXPORT: one memory, all mutable globals exported, no instruction
// that changes a table or a segment), and the memory has the snapshot's size, so `memory.grow`
// answers as in a fresh instance. Its table holds the same bridge entries, dispatching to the
// current run's HostSide, and its WASI imports call the current run's Wasi. A run that trapped, ran
// out of fuel, exited or hit a limit drops its instance.
//
// Browser-safe: no Node APIs here.

import { Wasi, wasiImportsFor } from "../sandbox/wasi.js";
import { SNAPSHOT_EXPORT, SNAPSHOT_GLOBAL_PREFIX } from "../sandbox/fuel.js";
import { isReplayableCall } from "../sandbox/host-imports.js";
import { WASM_PAGE_BYTES } from "../sandbox/limits.js";
import type { BridgeEntries } from "./host-side.js";

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
  /**
   * The whole memory, compactly: its runs of non-zero bytes (at SNAPSHOT_BLOCK granularity, gaps
   * under RUN_GAP kept inside a run), zeros everywhere else up to `pages`. Written back into a
   * reused instance (restoreInto); most of a snapshot's memory is zero (the stack, the heap's
   * free space), ~6% of serde_derive's 1.3 MB is not.
   */
  nonZero: { at: number; bytes: Uint8Array }[];
  /** The host's region (HostSide.warmUp), inside the snapshot's pages. */
  hostRegion: [number, number];
}

/** An instance kept for the next run under its snapshot (see the header comment). */
export interface IdleInstance {
  instance: WebAssembly.Instance;
  /**
   * The run its WASI imports call (they were made with `wasiImportsFor(module, () => wasi.current)`);
   * null while idle.
   */
  wasi: { current: Wasi | null };
  entries: BridgeEntries;
}

/** At most one idle instance per snapshot: a run in a reused instance is synchronous, so one is all a process uses. */
const idle = new WeakMap<Snapshot, IdleInstance>();
const reuses = new WeakMap<WebAssembly.Module, number>();
let reuseEnabled = true;

/** Turns reuse off or on (for benchmarks comparing the two). */
export function setInstanceReuse(enabled: boolean): void {
  reuseEnabled = enabled;
}

/** How many runs of `module` started in a reused instance (for tests: that reuse happens at all). */
export function reusedInstanceCount(module: WebAssembly.Module): number {
  return reuses.get(module) ?? 0;
}

/** The instance kept for `snapshot`, taken (no other run can have it), with its state the snapshot's. */
export function takeIdleInstance(module: WebAssembly.Module, snapshot: Snapshot, wasi: Wasi): IdleInstance | null {
  const kept = idle.get(snapshot);
  if (!kept) return null;
  idle.delete(snapshot);
  const memory = kept.instance.exports.memory as WebAssembly.Memory;
  if (memory.buffer.byteLength !== snapshot.pages * WASM_PAGE_BYTES) return null;
  restoreInto(new Uint8Array(memory.buffer), snapshot.nonZero);
  restoreGlobals(kept.instance, wasi, snapshot);
  kept.wasi.current = wasi;
  reuses.set(module, (reuses.get(module) ?? 0) + 1);
  return kept;
}

/**
 * Keeps `kept` for the next run under `snapshot`, when its memory is still the snapshot's size. The
 * finished run is let go: otherwise its HostSide (and through it the bridge server's handle store,
 * every token tree of the expansion, megabytes for a large one) and its Wasi stay reachable from the
 * idle instance until the next run under the same snapshot, for each of a module's snapshots, and the
 * young generation's collections copy and promote them (DEVELOPERS.md, "What outlives an expansion").
 */
export function keepIdleInstance(snapshot: Snapshot, kept: IdleInstance): void {
  kept.entries.host = null;
  kept.wasi.current = null;
  if (!reuseEnabled) return;
  const memory = kept.instance.exports.memory as WebAssembly.Memory;
  if (memory.buffer.byteLength === snapshot.pages * WASM_PAGE_BYTES) idle.set(snapshot, kept);
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

/** Granularity of the memory comparison: ranges that differ (or are not zero) are copied in blocks this big. */
const SNAPSHOT_BLOCK = 256;

/** Zero gaps shorter than this stay inside a non-zero run: fewer, longer copies on restore. */
const RUN_GAP = 4096;

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
  hostRegion: [number, number],
): void {
  const byKey = snapshotsOf(module);
  if (!byKey) return;
  const clean = wasi.exitCode === null && wasi.limitExceeded === null && [...calls].every(isReplayableCall);
  byKey.set(
    key,
    clean && fuelUsed !== null ? takeSnapshot(module, instance, wasi, new Set(calls), fuelUsed, wasi.stdout.total + wasi.stderr.total, hostRegion) : null,
  );
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
function takeSnapshot(
  module: WebAssembly.Module,
  instance: WebAssembly.Instance,
  wasi: Wasi,
  calls: Set<string>,
  fuelUsed: bigint,
  written: number,
  hostRegion: [number, number],
): Snapshot {
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
  const nonZero: Snapshot["nonZero"] = [];
  const zero = (at: number): boolean => {
    const end = Math.min(at + SNAPSHOT_BLOCK, now.length) / 4;
    for (let i = at / 4; i < end; i++) if (nowWords[i] !== 0) return false;
    return true;
  };
  let runStart = -1;
  let runEnd = -1;
  for (let at = 0; at < now.length; at += SNAPSHOT_BLOCK) {
    if (zero(at)) continue;
    if (runStart >= 0 && at - runEnd >= RUN_GAP) {
      nonZero.push({ at: runStart, bytes: now.slice(runStart, runEnd) });
      runStart = -1;
    }
    if (runStart < 0) runStart = at;
    runEnd = Math.min(at + SNAPSHOT_BLOCK, now.length);
  }
  if (runStart >= 0) nonZero.push({ at: runStart, bytes: now.slice(runStart, runEnd) });
  const globals: [string, number | bigint][] = [];
  for (const [name, g] of Object.entries(instance.exports)) {
    if (name.startsWith(SNAPSHOT_GLOBAL_PREFIX) && g instanceof WebAssembly.Global) globals.push([name, g.value as number | bigint]);
  }
  return {
    pages: now.length / WASM_PAGE_BYTES,
    blocks,
    globals,
    randomPosition: wasi.randomPosition,
    calls,
    fuelUsed,
    written,
    nonZero,
    hostRegion,
  };
}

/** Makes a just-instantiated instance what the snapshot's instance was after its warm-up. */
export function restoreSnapshot(memory: WebAssembly.Memory, instance: WebAssembly.Instance, wasi: Wasi, snapshot: Snapshot): void {
  const have = memory.buffer.byteLength / WASM_PAGE_BYTES;
  if (snapshot.pages > have) memory.grow(snapshot.pages - have);
  const bytes = new Uint8Array(memory.buffer);
  for (const b of snapshot.blocks) bytes.set(b.bytes, b.at);
  restoreGlobals(instance, wasi, snapshot);
}

/**
 * Writes the snapshot's memory back over whatever a run left in `bytes` (the snapshot's size):
 * its non-zero runs, and zeros in every gap between them, so a byte the run wrote where the
 * snapshot had zero is zero again. One pass over the memory, each byte written once.
 */
function restoreInto(bytes: Uint8Array, nonZero: Snapshot["nonZero"]): void {
  let at = 0;
  for (const run of nonZero) {
    bytes.fill(0, at, run.at);
    bytes.set(run.bytes, run.at);
    at = run.at + run.bytes.length;
  }
  bytes.fill(0, at);
}

function restoreGlobals(instance: WebAssembly.Instance, wasi: Wasi, snapshot: Snapshot): void {
  for (const [name, value] of snapshot.globals) (instance.exports[name] as WebAssembly.Global).value = value;
  wasi.randomPosition = snapshot.randomPosition;
}
