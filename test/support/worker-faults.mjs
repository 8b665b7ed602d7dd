// Fault injection for the proc-macro server's tests, loaded with `--import` into the server's
// process: node runs it in every worker thread too, before the worker's own code (plain JavaScript:
// tsx's loader is not active yet in a worker when node runs it there). Only tests set
// these variables; the product reads none of them.
//
// - MACROBOX_TEST_WORKER_START_DELAY_MS: every worker thread blocks this long before it loads (the
//   slow start of a loaded machine, made certain).
// - MACROBOX_TEST_WORKER_DIES_ONCE: a directory path; the first worker to take a request from
//   stdin creates it and exits with the request in hand (right after marking it taken in the
//   shared turn word, worker-protocol.ts `Slot.turn`); the workers after it run normally.
// - MACROBOX_TEST_WORKER_NEVER_STARTS: every worker exits as it starts (a worker that cannot start,
//   e.g. its stderr a broken pipe it writes to).

import { existsSync, mkdirSync } from "node:fs";
import { isMainThread, parentPort, workerData } from "node:worker_threads";

// Only in the expansion worker (its workerData, worker-protocol.ts), not in node's own threads
// (tsx's module hooks run in one).
const expansionWorker = !isMainThread && parentPort !== null && workerData?.control instanceof SharedArrayBuffer;

if (expansionWorker) {
  const delay = Number(process.env.MACROBOX_TEST_WORKER_START_DELAY_MS ?? 0);
  if (delay > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
  if (process.env.MACROBOX_TEST_WORKER_NEVER_STARTS !== undefined) process.exit(71);
  const marker = process.env.MACROBOX_TEST_WORKER_DIES_ONCE;
  if (marker !== undefined && !existsSync(marker)) {
    const store = Atomics.store;
    // Slot.turn is word 0 of the control buffer; a turn word's low three bits are its state, Running is 1.
    Atomics.store = (array, index, value) => {
      const stored = store(array, index, value);
      if (array.buffer !== workerData.control || index !== 0 || (value & 7) !== 1) return stored;
      try {
        mkdirSync(marker);
      } catch {
        return stored;
      }
      process.exit(70);
    };
  }
}
