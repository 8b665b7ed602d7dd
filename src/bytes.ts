// Bytes in and out: the one bounds-checked reader and growable writer every binary format here
// builds on, with the fixed-width little-endian integers and length-prefixed strings they share.
// Each format extends them with its own encodings and names its own errors: rustc's proc_macro
// bridge (src/bridge/rpc.ts), the WebAssembly binary format and postcard's LEB128 (src/wasm/binary.ts),
// and the shim protocol of `macrobox patch`.
//
// Browser-safe; imports nothing, so every folder may import it.

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** A cursor over `bytes[start..end)`. Every read checks bounds; a format's subclass says how it fails. */
export abstract class ByteReader {
  pos: number;
  end: number;

  constructor(
    public bytes: Uint8Array,
    start = 0,
    end = bytes.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  /** Reads `bytes[start..end)` (one reader for a message after another, without garbage). */
  reset(bytes: Uint8Array, start = 0, end = bytes.length): this {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** Throws the format's error for malformed bytes at `at`. */
  abstract fail(message: string, at?: number): never;

  /** Fails for input that ends before `n` more bytes (of `what`); formats may word it their way. */
  protected truncated(n: number, what: string): never {
    this.fail(`truncated: needed ${n} byte(s) for ${what} at offset ${this.pos}, have ${this.remaining}`);
  }

  protected need(n: number, what: string): void {
    if (this.pos + n > this.end) this.truncated(n, what);
  }

  u8(): number {
    if (this.pos >= this.end) this.truncated(1, "u8");
    return this.bytes[this.pos++];
  }

  /** A fixed-width little-endian u32. */
  u32le(): number {
    this.need(4, "u32");
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  skip(n: number): void {
    this.need(n, "bytes");
    this.pos += n;
  }

  /** The next `n` bytes, a view (no copy). */
  take(n: number): Uint8Array {
    const start = this.pos;
    this.skip(n);
    return this.bytes.subarray(start, start + n);
  }

  /** A string as a u32le byte count then that many bytes of UTF-8. */
  str(): string {
    const len = this.u32le();
    this.need(len, "string bytes");
    const bytes = this.bytes;
    const start = this.pos;
    this.pos += len;
    // Most strings are short and ASCII (identifiers, punctuation, numbers), and the same few recur
    // (a macro's output repeats its idents): looked up in SHORT_STRINGS by their bytes, and built
    // from their char codes (TextDecoder's fixed cost per call is more) only when not there.
    if (len <= SHORT_STRING_MAX) {
      let hash = len;
      let ascii = true;
      for (let i = start; i < start + len; i++) {
        const b = bytes[i];
        if (b >= 0x80) {
          ascii = false;
          break;
        }
        hash = Math.imul(hash ^ b, 0x01000193);
      }
      if (ascii) {
        const slot = (hash ^ (hash >>> 15)) & (SHORT_STRING_SLOTS - 1);
        const known = SHORT_STRINGS[slot];
        if (known !== undefined && known.length === len && sameAscii(known, bytes, start)) return known;
        const made = String.fromCharCode.apply(null, bytes.subarray(start, start + len) as unknown as number[]);
        SHORT_STRINGS[slot] = made;
        return made;
      }
    }
    try {
      return utf8Decoder.decode(bytes.subarray(start, start + len));
    } catch {
      return this.fail("string is not valid UTF-8", start);
    }
  }
}

/** Strings `ByteReader.str` read lately, by a hash of their bytes (a slot keeps the latest). */
const SHORT_STRING_MAX = 32;
const SHORT_STRING_SLOTS = 4096;
const SHORT_STRINGS: (string | undefined)[] = new Array<string | undefined>(SHORT_STRING_SLOTS).fill(undefined);

/** Whether `s` is the ASCII bytes at `bytes[start..start + s.length)`. */
function sameAscii(s: string, bytes: Uint8Array, start: number): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
}

/** Accumulates bytes in a buffer that grows by doubling; `reset` starts over in the same storage. */
export class ByteWriter {
  private buf = new Uint8Array(64);
  length = 0;

  reset(): this {
    this.length = 0;
    return this;
  }

  protected reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }

  /** A fixed-width little-endian u32. */
  u32le(v: number): this {
    this.reserve(4);
    const b = this.buf;
    const p = this.length;
    b[p] = v & 0xff;
    b[p + 1] = (v >>> 8) & 0xff;
    b[p + 2] = (v >>> 16) & 0xff;
    b[p + 3] = (v >>> 24) & 0xff;
    this.length = p + 4;
    return this;
  }

  bytes(data: Uint8Array | readonly number[]): this {
    this.reserve(data.length);
    this.buf.set(data, this.length);
    this.length += data.length;
    return this;
  }

  /** A string as a u32le byte count then its UTF-8 bytes. */
  str(s: string): this {
    // Most strings are short and ASCII (identifiers, punctuation, numbers): written in place.
    const n = s.length;
    if (n <= 64) {
      this.reserve(4 + n);
      const b = this.buf;
      const start = this.length + 4;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[start + i] = c;
      }
      if (i === n) {
        this.u32le(n);
        this.length += n;
        return this;
      }
    }
    const utf8 = utf8Encoder.encode(s);
    return this.u32le(utf8.length).bytes(utf8);
  }

  /** The bytes written, a copy. */
  finish(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.length);
  }

  /** The storage the bytes are written to (the first `length` of it), without a view: valid until the next write or `reset`. */
  storage(): Uint8Array {
    return this.buf;
  }

  /** The bytes written, without a copy: valid until the next write or `reset`. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}
