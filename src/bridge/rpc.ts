// The byte encoding of rustc 1.96's proc_macro bridge (library/proc_macro/src/bridge/rpc.rs).
//
// It is not LEB128: integers are fixed-width little-endian (`to_le_bytes`), `u8`/`bool` one byte,
// `usize` the *client's* pointer width — 4 bytes on wasm32 —, `&str`/`String` a usize length then
// UTF-8 bytes, `Vec<T>` a usize count then the items, enums (`Option`, `Result`, `Bound`, ...) a u8
// tag in declaration order then the payload, handles a non-zero u32. `PanicMessage` travels as
// `Option<String>` (None = a payload that was neither `&str` nor `String`).
//
// Browser-safe: only typed arrays. The reader and writer are src/bytes.ts's, with the bridge's types.

import { ByteReader, ByteWriter } from "../bytes.js";
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

/**
 * Reads bridge bytes. One reader can be pointed at each message in turn (`reset`): the bridge
 * decodes one message per call, and a reader per call was a good share of the host's garbage.
 */
export class BridgeReader extends ByteReader {
  constructor(bytes: Uint8Array) {
    super(bytes);
  }

  fail(message: string): never {
    throw new BridgeDecodeError(message);
  }

  protected override truncated(n: number, what: string): never {
    throw new BridgeDecodeError(`truncated bridge message: needed ${n} byte(s) for ${what} at offset ${this.pos}, have ${this.remaining}`);
  }

  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw new BridgeDecodeError(`invalid bool byte ${b}`);
    return b === 1;
  }

  usize(): number {
    return this.u32le();
  }

  /** A `NonZero<u32>` handle. */
  handle(): number {
    const h = this.u32le();
    if (h === 0) throw new BridgeDecodeError("zero handle");
    return h;
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
export class BridgeWriter extends ByteWriter {
  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  usize(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`usize out of range for wasm32: ${v}`);
    return this.u32le(v);
  }

  handle(h: number): this {
    if (h === 0) throw new RangeError("handles are non-zero");
    return this.u32le(h);
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
}

/** `Result` tags: Ok = 0, Err = 1. */
export const RESULT_OK = 0;
export const RESULT_ERR = 1;

/** `PanicMessage` is encoded as `Option<&str>`; `null` is `PanicMessage::Unknown`. */
export function writePanicMessage(w: BridgeWriter, message: string | null): void {
  w.option(message, (m) => w.str(m));
}

export function readPanicMessage(r: BridgeReader): string | null {
  return r.option(() => r.str());
}
