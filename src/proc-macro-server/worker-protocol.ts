// What the proc-macro server's main thread and its worker say to each other (expansion-worker.ts
// and expansion-worker-main.ts): a file of its own, so the worker's code does not carry the main
// thread's.

import type { Limits } from "../sandbox/limits.js";
import type { UserDirs } from "../node/trust.js";
import type { SpanMode } from "../server/protocol.js";
import type { ProtocolFormat } from "./arguments.js";

/** What crosses to the worker. */
export type ToWorker =
  /**
   * First: how the session starts (the worker may have been started before these were known).
   * `first`: bytes a stopped worker had read past its last request; `memo`: whether repeated
   * unchanged request lines are answered from a memo.
   */
  | {
      type: "init";
      format: ProtocolFormat;
      limits?: Partial<Limits>;
      spanMode: SpanMode;
      dirs: UserDirs;
      memo: boolean;
      maxMessageBytes: number;
      first: Uint8Array;
    }
  | { type: "path"; lib: string; result: { ok: true; value: string } | { ok: false; error: string } };

/** What comes back. */
export type FromWorker =
  /**
   * A message was taken from stdin: the request the worker answers now (null: one it answered
   * already, from the memo or with an error), the bytes it read past it, the span mode it is read
   * in. The main thread keeps the request to answer it itself if the worker cannot.
   */
  | { type: "begin"; id: number; request: string | Uint8Array | null; rest: Uint8Array; spanMode: SpanMode }
  /** What the worker read past its request by now (after the client answered a span question). */
  | { type: "rest"; rest: Uint8Array }
  /** The module path for a dylib, please (the clock is paused meanwhile: a build is not timed). */
  | { type: "path"; lib: string }
  /** The client closed its end; every request was answered. */
  | { type: "closed" };

/**
 * Who answers the request in flight (word 0 of `WorkerData.turn`: the request's id times 8 plus
 * one of these), changed by compareExchange only, so the two threads never both write an answer:
 * the worker writes its response once it moves Running to Worker; the main thread answers with an
 * error (the wall clock ran out, the worker died) once it moves Running to Main.
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

/** Room for `WorkerData.begun`: the id of the request whose clock runs (word 0, Int32), and since when (Float64 at byte 8, `Date.now()`). */
export const BEGUN_BYTES = 16;

export interface WorkerData {
  turn: SharedArrayBuffer;
  /**
   * Where the worker stamps each request as its clock starts or restarts (see BEGUN_BYTES): the
   * main thread's wall clock runs from there, so the worker's start-up, a request waiting its
   * turn, the client answering and a module being found are not timed.
   */
  begun: SharedArrayBuffer;
}
