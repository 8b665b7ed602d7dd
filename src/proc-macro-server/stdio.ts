// Blocking reads and writes of the proc-macro server's stdin and stdout (Node-only): the thread
// that expands reads its requests and writes its responses itself (request-loop.ts), and the main
// thread writes the answers it gives instead. Neither thread opens `process.stdin` or
// `process.stdout`, whose streams would make the descriptors non-blocking.

import { readSync, writeSync } from "node:fs";

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * A descriptor some parent made non-blocking (ours stay blocking: expansion-worker.ts) refuses
 * with EAGAIN instead of waiting, and node has no poll(2): wait `ms`, then the next wait twice as
 * long up to `cap`, so a short wait costs little time and a long one little CPU.
 */
function backoff(ms: number, cap: number): number {
  Atomics.wait(pause, 0, 0, ms);
  return Math.min(ms * 2, cap);
}

/** Reads what is there of `fd` into `into` (waiting for it); 0 at its end. */
export function readSome(fd: number, into: Uint8Array): number {
  let wait = 0.02;
  for (;;) {
    try {
      return readSync(fd, into);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") wait = backoff(wait, 5);
      else if (code === "EOF" || code === "EPIPE" || code === "ECONNRESET") return 0;
      else throw e;
    }
  }
}

/** Writes all of `data` to `fd`, waiting while a full pipe refuses more; a reader gone is not an error. */
export function writeAll(fd: number, data: Uint8Array | string): void {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  let at = 0;
  let wait = 0.02;
  while (at < bytes.length) {
    try {
      at += writeSync(fd, bytes, at);
      wait = 0.02;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EPIPE") return;
      if (code !== "EAGAIN") throw e;
      wait = backoff(wait, 1);
    }
  }
}
