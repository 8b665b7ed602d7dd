// Blocking reads and writes of the proc-macro server's stdin and stdout (Node-only): the thread
// that expands reads its requests and writes its responses itself (request-loop.ts), and the main
// thread writes the answers it gives instead. Neither thread opens `process.stdin` or
// `process.stdout`, whose streams would make the descriptors non-blocking.

import { readSync, writeSync } from "node:fs";

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Reads what is there of `fd` into `into` (waiting for it); 0 at its end. */
export function readSome(fd: number, into: Uint8Array): number {
  for (;;) {
    try {
      return readSync(fd, into);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A descriptor some parent made non-blocking: wait a little and read again.
      if (code === "EAGAIN") Atomics.wait(pause, 0, 0, 1);
      else if (code === "EOF" || code === "EPIPE" || code === "ECONNRESET") return 0;
      else throw e;
    }
  }
}

/** Writes all of `data` to `fd`, waiting while a full pipe refuses more; a reader gone is not an error. */
export function writeAll(fd: number, data: Uint8Array | string): void {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  let at = 0;
  while (at < bytes.length) {
    try {
      at += writeSync(fd, bytes, at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EPIPE") return;
      if (code !== "EAGAIN") throw e;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}
