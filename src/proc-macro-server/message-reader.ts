// The proc-macro server's input, read by blocking reads in the thread that answers it: JSON lines
// (split at `\n`) or postcard frames (split at the COBS frame's 0 byte), one message at a time. A
// thread that reads its own requests wakes once per request, as the native server does, where a
// main thread reading for a worker woke two threads (DEVELOPERS.md, "Performance, third round").
// What was read past the message taken last is `rest()`: the bytes a fresh worker starts from
// when the main thread stops this one.

/** A message longer than the bound: skipped unread up to its delimiter; `bytes` were dropped. */
export interface Oversized {
  oversized: number;
}

const CHUNK = 64 * 1024;

export class MessageReader {
  private buffer: Uint8Array;
  /** Where the next message starts, and where the bytes read end. */
  private start = 0;
  private end = 0;

  /**
   * `read` fills its argument with what the client sent next and returns how many bytes (0: the
   * client closed its end); `first`: bytes read before, by a worker that was stopped.
   */
  constructor(
    private readonly read: (into: Uint8Array) => number,
    private readonly delimiter: number,
    private readonly maxBytes: number,
    first: Uint8Array = new Uint8Array(0),
  ) {
    this.buffer = new Uint8Array(Math.max(CHUNK, first.length + CHUNK));
    this.buffer.set(first);
    this.end = first.length;
  }

  /** The next message, without its delimiter (a copy); null once the client closed its end. */
  next(): Uint8Array | Oversized | null {
    /** How far past `start` no delimiter is (offsets move when `fill` moves the bytes). */
    let scanned = 0;
    /** Bytes of an oversized message dropped so far (-1: none). */
    let dropped = -1;
    for (;;) {
      const from = this.start + scanned;
      const at = this.buffer.subarray(from, this.end).indexOf(this.delimiter);
      if (at >= 0) {
        const stop = from + at;
        const length = Math.max(dropped, 0) + (stop - this.start);
        const message = dropped >= 0 || length > this.maxBytes ? { oversized: length } : this.buffer.slice(this.start, stop);
        this.start = stop + 1;
        return message;
      }
      scanned = this.end - this.start;
      if (dropped >= 0 || scanned > this.maxBytes) {
        // Not kept: whatever the message's length, memory stays within the bound.
        dropped = Math.max(dropped, 0) + scanned;
        this.start = this.end = scanned = 0;
      }
      if (!this.fill()) return null;
    }
  }

  /** The bytes read past the last message `next` returned. */
  rest(): Uint8Array {
    return this.buffer.slice(this.start, this.end);
  }

  /** Reads more (moving or growing the buffer for room); false once the client closed its end. */
  private fill(): boolean {
    if (this.buffer.length - this.end < CHUNK) {
      const kept = this.end - this.start;
      const target = kept + CHUNK <= this.buffer.length ? this.buffer : new Uint8Array(Math.max(this.buffer.length * 2, kept + CHUNK));
      if (target === this.buffer) this.buffer.copyWithin(0, this.start, this.end);
      else target.set(this.buffer.subarray(this.start, this.end));
      this.buffer = target;
      this.end = kept;
      this.start = 0;
    }
    const n = this.read(this.buffer.subarray(this.end));
    this.end += n;
    return n > 0;
  }
}
