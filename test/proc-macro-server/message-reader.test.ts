// The proc-macro server's input framing (src/proc-macro-server/message-reader.ts), which the worker
// reads stdin through: against a reference split of the same bytes, for every way the client's
// bytes can arrive (one byte at a time, random pieces, messages far larger than a read), with
// oversized messages dropped unread, and a second reader of the same shared input (a worker started
// after one was stopped) going on exactly after the message taken last.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createSharedInput, MessageReader, type Oversized } from "../../src/proc-macro-server/message-reader.js";

/** A deterministic stream of pseudo-random numbers (xorshift32). */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** Reads handing out `input` in pieces whose sizes `piece` chooses (bounded by what the reader has room for). */
function reads(input: Uint8Array, piece: () => number): { read(into: Uint8Array): number; calls: number } {
  let at = 0;
  const self = {
    calls: 0,
    read(into: Uint8Array): number {
      self.calls++;
      const n = Math.min(into.length, input.length - at, Math.max(1, piece()));
      into.set(input.subarray(at, at + n));
      at += n;
      return n;
    },
  };
  return self;
}

/** What the reader must give for `input`: each delimited message, or its length when over `max`; a trailing piece without a delimiter is not a message. */
function reference(input: Uint8Array, delimiter: number, max: number): (Uint8Array | Oversized)[] {
  const out: (Uint8Array | Oversized)[] = [];
  let start = 0;
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== delimiter) continue;
    out.push(i - start > max ? { oversized: i - start } : input.slice(start, i));
    start = i + 1;
  }
  return out;
}

function all(reader: MessageReader): (Uint8Array | Oversized)[] {
  const out: (Uint8Array | Oversized)[] = [];
  for (let m = reader.next(); m !== null; m = reader.next()) out.push(m);
  return out;
}

/** Messages of the given lengths (bytes never the delimiter), each followed by it, then `tail`. */
function stream(lengths: number[], delimiter: number, next: () => number, tail = 0): Uint8Array {
  const parts: number[] = [];
  for (const length of [...lengths, -1]) {
    const n = length < 0 ? tail : length;
    for (let i = 0; i < n; i++) {
      const b = Math.floor(next() * 255);
      parts.push(b >= delimiter ? b + 1 : b);
    }
    if (length >= 0) parts.push(delimiter);
  }
  return Uint8Array.from(parts);
}

test("messages split at their delimiter, however the bytes arrive", () => {
  for (const delimiter of [0x0a, 0]) {
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      const max = [16, 1000, 100_000, 1 << 20][seed % 4];
      // Small and empty messages, some exactly at the bound, one past it, and some far over a read's 64 KiB.
      const lengths = Array.from({ length: 30 }, () => [0, 1, 7, max, max + 1, 70_000, 200_000, Math.floor(next() * 3000)][Math.floor(next() * 8)]);
      const input = stream(lengths, delimiter, next, Math.floor(next() * 50));
      const pieces = [() => 1, () => Math.floor(next() * 100_000), () => 1 << 30][seed % 3];
      const source = reads(input, pieces);
      assert.deepEqual(all(new MessageReader(source.read, delimiter, max)), reference(input, delimiter, max), `seed ${seed}`);
    }
  }
});

test("an oversized message is not kept: the reader's buffer stays near the bound", () => {
  const max = 4096;
  const next = random(7);
  const input = stream([10, 8 << 20, 10], 0x0a, next);
  let largest = 0;
  const source = reads(input, () => 1 << 30);
  const reader = new MessageReader(
    (into) => {
      largest = Math.max(largest, into.buffer.byteLength);
      return source.read(into);
    },
    0x0a,
    max,
  );
  const out = all(reader);
  assert.deepEqual(out, reference(input, 0x0a, max));
  assert.deepEqual(out[1], { oversized: 8 << 20 });
  assert.ok(largest <= 256 * 1024, `the buffer grew to ${largest} bytes for an 8 MiB message over a 4 KiB bound`);
});

test("a fresh reader of the same shared input goes on exactly after the message taken last", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const next = random(seed + 100);
    const input = stream(
      Array.from({ length: 12 }, () => Math.floor(next() * 90_000)),
      0,
      next,
    );
    const expected = reference(input, 0, 1 << 20);
    const stopAt = 1 + Math.floor(next() * (expected.length - 1));
    const source = reads(input, () => Math.floor(next() * 200_000));
    const shared = createSharedInput(1 << 20);
    const first = new MessageReader(source.read, 0, 1 << 20, shared);
    const taken = Array.from({ length: stopAt }, () => first.next());
    // A worker stopped here: the next one reads on from what this one read past its last message.
    const second = new MessageReader(source.read, 0, 1 << 20, shared);
    assert.deepEqual([...taken, ...all(second)], expected, `seed ${seed}`);
  }
});

test("the end of input: null, then null again; a last piece without its delimiter is no message", () => {
  const source = reads(new TextEncoder().encode('{"a":1}\n{"b":'), () => 3);
  const reader = new MessageReader(source.read, 0x0a, 100);
  assert.equal(new TextDecoder().decode(reader.next() as Uint8Array), '{"a":1}');
  assert.equal(reader.next(), null);
  assert.equal(reader.next(), null);
});
