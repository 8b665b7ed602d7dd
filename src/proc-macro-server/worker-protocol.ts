// What the proc-macro server's main thread and its worker say to each other (expansion-worker.ts
// and expansion-worker-main.ts): a file of its own, so the worker's code does not carry the main
// thread's.

import type { Limits } from "../sandbox/limits.js";
import type { UserDirs } from "../node/trust.js";
import type { SpanMode } from "../server/protocol.js";
import type { ProtocolFormat } from "./arguments.js";
import type { SharedInput } from "./message-reader.js";

/** What crosses to the worker. */
export type ToWorker =
  /**
   * First: how the session starts (the worker may have been started before these were known).
   * `input`: the session's input (message-reader.ts `SharedInput`), read on from where the worker
   * before left it; `memo`: whether repeated unchanged request lines are answered from a memo.
   */
  | {
      type: "init";
      format: ProtocolFormat;
      limits?: Partial<Limits>;
      spanMode: SpanMode;
      dirs: UserDirs;
      memo: boolean;
      maxMessageBytes: number;
      input: SharedInput;
      /** Where the worker copies each request it takes (`Slot.takenBytes` long), growable to `maxMessageBytes`. */
      taken: SharedArrayBuffer;
    }
  | { type: "path"; lib: string; result: { ok: true; value: string } | { ok: false; error: string } };

/**
 * What comes back. Nothing per request: a message wakes the main thread, ~0.05 ms of every request
 * on a busy 2-core machine (DEVELOPERS.md); what the main thread needs to answer a request the worker
 * cannot is in shared memory (`Slot`, `ToWorker.taken`, the shared input).
 */
export type FromWorker =
  /** The module path for a dylib, please (the clock is paused meanwhile: a build is not timed). */
  | { type: "path"; lib: string }
  /** The client closed its end; every request was answered. */
  | { type: "closed" };

/**
 * Who answers the request in flight (`Slot.turn`: the request's id times 8 plus one of these),
 * changed by compareExchange only, so the two threads never both write an answer: the worker writes
 * its response once it moves Running to Worker; the main thread answers with an error (the wall
 * clock ran out, the worker died) once it moves Running to Main.
 */
export const Turn = {
  Idle: 0,
  Running: 1,
  /** The clock is paused: the worker waits for the client's answer or for a module path. */
  Paused: 2,
  /** The worker writes (or wrote) the response. */
  Worker: 3,
  /** The main thread answered. */
  Main: 4,
} as const;

/** The turn word of request `id` in `state`. */
export function turnWord(id: number, state: number): number {
  return ((id & 0x0fffffff) << 3) | state;
}

/**
 * The Int32 slots of `WorkerData.control`, written by the worker; the main thread reads them to keep
 * the clock and to answer for the worker. Everything the worker writes before it stores the turn
 * word (Atomics, sequentially consistent) is seen by the main thread once it has read that word.
 */
export const Slot = {
  /** The turn word (`Turn`, `turnWord`). */
  turn: 0,
  /** The id of the request whose clock runs (0: none taken yet by this worker); since when: `BEGUN_AT_BYTE`. */
  begunId: 1,
  /** The connection's span mode (`SPAN_MODES` index): the one the request in flight was read in, else the one it is in now. */
  spanMode: 2,
  /** How many bytes of `ToWorker.taken` the request in flight is. */
  takenBytes: 3,
} as const;

/**
 * A Float64 at this byte of `WorkerData.control`: since when the clock of `Slot.begunId` runs
 * (`Date.now()`). It is not timed while the worker starts, the client answers a span question or a
 * module is found (maybe built).
 */
export const BEGUN_AT_BYTE = 16;
export const CONTROL_BYTES = 24;

/** Span modes by their number in `Slot.spanMode`. */
export const SPAN_MODES: readonly SpanMode[] = ["Id", "RustAnalyzer"];

export interface WorkerData {
  /** `CONTROL_BYTES`, laid out as `Slot` and `BEGUN_AT_BYTE` say. */
  control: SharedArrayBuffer;
}
