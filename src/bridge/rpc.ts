// The byte encoding of rustc 1.96's proc_macro bridge (library/proc_macro/src/bridge/rpc.rs).
//
// It is not LEB128: integers are fixed-width little-endian (`to_le_bytes`), `u8`/`bool` one byte,
// `usize` the *client's* pointer width — 4 bytes on wasm32 —, `&str`/`String` a usize length then
// UTF-8 bytes, `Vec<T>` a usize count then the items, enums (`Option`, `Result`, `Bound`, ...) a u8
// tag in declaration order then the payload, handles a non-zero u32. `PanicMessage` travels as
// `Option<String>` (None = a payload that was neither `&str` nor `String`).
//
// Browser-safe: only typed arrays.

import { MacroboxError } from "../errors.js";

/** Size of `usize` on the client side. Only wasm32 modules are supported. */
export const USIZE_BYTES = 4;

/** Malformed bridge bytes (a truncated message, a bad tag, invalid UTF-8, a zero handle). */
export class BridgeDecodeError extends MacroboxError {
  override name = "BridgeDecodeError";
  constructor(message: string) {
    super("bridge", message);
  }
}

/** A failure inside the server caused by the request (unknown handle, bad token, ...): answered as a panic. */
export class BridgeServerError extends MacroboxError {
  override name = "BridgeServerError";
  constructor(message: string) {
    super("bridge", message);
  }
}

/**
 * A panic rustc's server raises on purpose (e.g. a fatal lexer error in `ts_from_str`): sent as
 * `Err(PanicMessage)` like any failure, but part of the semantics, so not recorded as an error.
 */
export class ServerPanic extends MacroboxError {
  override name = "ServerPanic";
  constructor(readonly payload: string | null) {
    super("bridge", payload ?? "panic");
  }
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Reads bridge bytes. One reader can be pointed at each message in turn (`reset`): the bridge
 * decodes one message per call, and a reader per call was a good share of the host's garbage.
 */
export class ByteReader {
  private pos = 0;

  constructor(private bytes: Uint8Array) {}

  /** Reads `bytes` from the start. */
  reset(bytes: Uint8Array): this {
    this.bytes = bytes;
    this.pos = 0;
    return this;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.bytes.length) {
      throw new BridgeDecodeError(`truncated bridge message: needed ${n} byte(s) for ${what} at offset ${this.pos}, have ${this.remaining}`);
    }
  }

  u8(): number {
    this.need(1, "u8");
    return this.bytes[this.pos++];
  }

  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw new BridgeDecodeError(`invalid bool byte ${b}`);
    return b === 1;
  }

  u32(): number {
    this.need(4, "u32");
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  usize(): number {
    return this.u32();
  }

  /** A `NonZero<u32>` handle. */
  handle(): number {
    const h = this.u32();
    if (h === 0) throw new BridgeDecodeError("zero handle");
    return h;
  }

  str(): string {
    const len = this.usize();
    this.need(len, "string bytes");
    const bytes = this.bytes;
    const start = this.pos;
    this.pos += len;
    // Most strings are short and ASCII (identifiers, punctuation, numbers): TextDecoder's fixed cost
    // per call is more than building them from their char codes.
    if (len <= 32) {
      let ascii = true;
      for (let i = start; i < start + len; i++) {
        if (bytes[i] >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, bytes.subarray(start, start + len) as unknown as number[]);
    }
    const slice = bytes.subarray(start, start + len);
    try {
      return utf8Decoder.decode(slice);
    } catch {
      throw new BridgeDecodeError("string is not valid UTF-8");
    }
  }

  /** An enum tag that must be below `count`. */
  tag(count: number, what: string): number {
    const t = this.u8();
    if (t >= count) throw new BridgeDecodeError(`invalid ${what} tag ${t}`);
    return t;
  }

  /** An `Option<T>` tag: true for Some (tag 0), false for None (tag 1), declaration order in bridge/mod.rs. */
  some(): boolean {
    return this.tag(2, "Option") === 0;
  }

  option<T>(item: () => T): T | null {
    return this.some() ? item() : null;
  }

  /** A `Vec<T>`'s element count. */
  vecLength(): number {
    const len = this.usize();
    // Every element takes at least one byte, so a longer count is certainly malformed.
    if (len > this.remaining) throw new BridgeDecodeError(`vector length ${len} exceeds message`);
    return len;
  }

  vec<T>(item: () => T): T[] {
    const len = this.vecLength();
    const out: T[] = [];
    for (let i = 0; i < len; i++) out.push(item());
    return out;
  }
}

/** Writes bridge bytes; `reset` starts a new message in the same storage. */
export class ByteWriter {
  private bytes = new Uint8Array(64);
  private len = 0;

  reset(): this {
    this.len = 0;
    return this;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(0, this.len));
    this.bytes = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.bytes[this.len++] = v & 0xff;
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  u32(v: number): this {
    this.reserve(4);
    const b = this.bytes;
    const p = this.len;
    b[p] = v & 0xff;
    b[p + 1] = (v >>> 8) & 0xff;
    b[p + 2] = (v >>> 16) & 0xff;
    b[p + 3] = (v >>> 24) & 0xff;
    this.len = p + 4;
    return this;
  }

  usize(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`usize out of range for wasm32: ${v}`);
    return this.u32(v);
  }

  handle(h: number): this {
    if (h === 0) throw new RangeError("handles are non-zero");
    return this.u32(h);
  }

  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.bytes.set(b, this.len);
    this.len += b.length;
    return this;
  }

  str(s: string): this {
    // Most strings are short and ASCII (identifiers, punctuation, numbers): written in place.
    const n = s.length;
    if (n <= 64) {
      this.reserve(4 + n);
      const b = this.bytes;
      const start = this.len + 4;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[start + i] = c;
      }
      if (i === n) {
        this.u32(n);
        this.len += n;
        return this;
      }
    }
    const b = utf8Encoder.encode(s);
    this.usize(b.length);
    return this.raw(b);
  }

  /** `Option<T>`: Some = 0, None = 1. */
  option<T>(v: T | null | undefined, item: (v: T) => void): this {
    if (v === null || v === undefined) return this.u8(1);
    this.u8(0);
    item(v);
    return this;
  }

  vec<T>(vs: readonly T[], item: (v: T) => void): this {
    this.usize(vs.length);
    for (const v of vs) item(v);
    return this;
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.len);
  }

  /** The message so far, without a copy: valid until the next write or `reset`. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.len);
  }
}

/** `Result` tags: Ok = 0, Err = 1. */
export const RESULT_OK = 0;
export const RESULT_ERR = 1;

/** `PanicMessage` is encoded as `Option<&str>`; `null` is `PanicMessage::Unknown`. */
export function writePanicMessage(w: ByteWriter, message: string | null): void {
  w.option(message, (m) => w.str(m));
}

export function readPanicMessage(r: ByteReader): string | null {
  return r.option(() => r.str());
}
