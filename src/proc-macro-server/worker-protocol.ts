// What the proc-macro server's main thread and its worker say to each other (expansion-worker.ts
// and expansion-worker-main.ts): a file of its own, so the worker's code does not carry the main
// thread's.

import type { Limits } from "../sandbox/limits.js";
import type { UserDirs } from "../node/trust.js";
import type { SpanMode } from "../server/protocol.js";
import type { MemoDependency } from "../server/serve.js";

/** Room for one client frame while the worker waits for it; a bigger one cancels the expansion. */
export const ANSWER_BYTES = 4 * 1024 * 1024;

/** What the shared buffer's first word says when the worker wakes. */
export const Wake = {
  Waiting: 0,
  /** The client's next frame is in the buffer (length in word 1). */
  Frame: 1,
  /** The client closed the connection. */
  Closed: 2,
  /** The client's frame was refused; the reason (UTF-8) is in the buffer. */
  Refused: 3,
} as const;

/** What crosses to the worker. */
export type ToWorker =
  /** First: how the session starts (the worker may have been started before these were known). */
  /** `memo`: whether the main thread keeps a memo (else no response text is sent back for it). */
  | { type: "init"; limits?: Partial<Limits>; spanMode: SpanMode; dirs: UserDirs; memo: boolean }
  /** A JSON request line; `direct`: the worker writes the response to stdout itself (see Turn). */
  | { type: "line"; id: number; line: string; direct: boolean }
  | { type: "frame"; id: number; frame: Uint8Array }
  | { type: "path"; lib: string; result: { ok: true; value: string } | { ok: false; error: string } };

/** What comes back. */
export type FromWorker =
  /**
   * The response: a JSON line, or a frame (null: the frame needed none); the span mode after it;
   * whether it may be memoised. Lines cross as strings: cloning a string costs less than
   * encoding it here and transferring the buffer, and the main thread encodes it as it writes.
   */
  | {
      type: "answer";
      id: number;
      answer: string | Uint8Array | null;
      spanMode: SpanMode;
      reusable: boolean;
      /** What a reusable answer depended on outside its request (checked before the memo reuses it). */
      dependency?: MemoDependency | null;
      written?: boolean;
    }
  /** The module path for a dylib, please (the wall clock stops while it is found: a build is not timed). */
  | { type: "path"; id: number; lib: string }
  /** A sub-request frame for the client; the worker waits for the next frame on the shared buffer. */
  | { type: "sub"; id: number; frame: Uint8Array };

/**
 * Who answers the JSON request in flight, decided once (word 0 of `WorkerData.turn`, changed by
 * compareExchange from Running only): the worker writes its response to stdout itself, saving
 * the hop back through this thread on every request; or this thread answers with an error (the
 * wall clock ran out, the worker died) and the worker must write nothing.
 */
export const Turn = {
  Idle: 0,
  Running: 1,
  /** The worker writes (or wrote) the response. */
  Worker: 2,
  /** This thread answered. */
  Main: 3,
} as const;

/** Room for `WorkerData.begun`: the id of the request the worker began last (word 0, Int32), and when (Float64 at byte 8, `Date.now()`). */
export const BEGUN_BYTES = 16;

export interface WorkerData {
  shared: SharedArrayBuffer;
  turn: SharedArrayBuffer;
  /**
   * Where the worker stamps each request as it begins it (see BEGUN_BYTES): the main thread's wall
   * clock runs from there, so the worker's start-up and a request waiting its turn are not timed.
   */
  begun: SharedArrayBuffer;
}
