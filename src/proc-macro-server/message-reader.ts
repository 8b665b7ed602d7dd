// The proc-macro server's input, read by blocking reads in the thread that answers it: JSON lines
// (split at `\n`) or postcard frames (split at the COBS frame's 0 byte), one message at a time. A
// thread that reads its own requests wakes once per request, as the native server does, where a
// main thread reading for a worker woke two threads (DEVELOPERS.md, "Performance, third round").
// The bytes read and not yet taken live in shared memory (`SharedInput`): when the main thread
// stops a worker, the fresh one reads on from exactly there, and nothing is handed over per request.

/** A message longer than the bound: skipped unread up to its delimiter; `bytes` were dropped. */
export interface Oversized {
  oversized: number;
}

const CHUNK = 64 * 1024;

const decoder = new TextDecoder();

/** A JSON-lines message as text: a `\r` before the `\n` is not part of it (clients on Windows send one). */
export function lineText(message: Uint8Array): string {
  const line = decoder.decode(message);
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/**
 * A connection's input buffer, shared by the workers that read it one after another: `bytes` (a
 * growable SharedArrayBuffer) and `at`, two Int32s: where the next message starts and where the
 * bytes read end.
 */
export interface SharedInput {
  bytes: SharedArrayBuffer;
  at: SharedArrayBuffer;
}

/** The input of a connection whose messages are dropped past `maxBytes` (the buffer never needs more than this room). */
export function createSharedInput(maxBytes: number): SharedInput {
  return { bytes: new SharedArrayBuffer(CHUNK * 2, { maxByteLength: maxBytes + CHUNK * 2 }), at: new SharedArrayBuffer(8) };
}

export class MessageReader {
  private readonly bytes: SharedArrayBuffer;
  /** A view that tracks the buffer's length as it grows. */
  private readonly buffer: Uint8Array;
  private readonly at: Int32Array;
  /** Where the next message starts, and where the bytes read end (kept in `at` too). */
  private start: number;
  private end: number;

  /**
   * `read` fills its argument with what the client sent next and returns how many bytes (0: the
   * client closed its end); `input`: where a reader before this one left off (default: a new one).
   */
  constructor(
    private readonly read: (into: Uint8Array) => number,
    private readonly delimiter: number,
    private readonly maxBytes: number,
    input: SharedInput = createSharedInput(maxBytes),
  ) {
    this.bytes = input.bytes;
    this.buffer = new Uint8Array(input.bytes);
    this.at = new Int32Array(input.at);
    this.start = this.at[0];
    this.end = this.at[1];
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
        this.moveTo(stop + 1, this.end);
        return message;
      }
      scanned = this.end - this.start;
      if (dropped >= 0 || scanned > this.maxBytes) {
        // Not kept: whatever the message's length, memory stays within the bound.
        dropped = Math.max(dropped, 0) + scanned;
        this.moveTo(0, 0);
        scanned = 0;
      }
      if (!this.fill()) return null;
    }
  }

  private moveTo(start: number, end: number): void {
    this.start = this.at[0] = start;
    this.end = this.at[1] = end;
  }

  /** Reads more (moving the bytes kept to the front, growing the buffer for room); false once the client closed its end. */
  private fill(): boolean {
    if (this.buffer.length - this.end < CHUNK) {
      const kept = this.end - this.start;
      if (kept + CHUNK > this.buffer.length) this.bytes.grow(Math.min(Math.max(this.buffer.length * 2, kept + CHUNK), this.bytes.maxByteLength));
      this.buffer.copyWithin(0, this.start, this.end);
      this.moveTo(0, kept);
    }
    const n = this.read(this.buffer.subarray(this.end));
    this.moveTo(this.start, this.end + n);
    return n > 0;
  }
}
