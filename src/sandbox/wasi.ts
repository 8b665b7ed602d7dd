// A deny-by-default WASI preview1 layer for macro modules.
//
// Rust's std for wasm32-wasip1 imports a handful of preview1 functions even when a macro never does
// I/O (the panic machinery writes to stderr, HashMap seeds itself from random_get, ...). This layer
// gives each of them a typed implementation whose result is the errno number, and makes a macro run
// deterministic and capability-free:
//   - no arguments, no environment variables, no preopened directories, no files or sockets
//     (EBADF / ENOTCAPABLE), unless `WasiOptions.extend` serves granted ones (src/sandbox/wasi-fs.ts);
//   - fd_write to stdout (1) and stderr (2) is captured into bounded buffers (past an optional
//     total, writes fail with ENOSPC and `limitExceeded` is set);
//   - random_get returns a fixed pseudo-random stream (same bytes every run);
//   - clock_time_get returns a fixed instant;
//   - proc_exit ends the run by throwing `WasiExit`;
//   - the others answer ENOTCAPABLE or ENOSYS, as `WASI_PREVIEW1` (src/sandbox/host-imports.ts) says.
//
// Browser-safe: no Node APIs here.

import { LimitExceeded } from "./limits.js";
import { MacroboxError } from "../errors.js";
import { MacroModuleError } from "../wasm/decls.js";
import { unsupportedImportsMessage, WASI_MODULE, WASI_PREVIEW1, type HostWasiFunction, type WasiFunction } from "./host-imports.js";

export { WASI_MODULE };

/** WASI preview1 errno values (wasi_snapshot_preview1 `errno`), the one table for the whole sandbox. */
export const Errno = {
  SUCCESS: 0,
  "2BIG": 1,
  ACCES: 2,
  ADDRINUSE: 3,
  ADDRNOTAVAIL: 4,
  AFNOSUPPORT: 5,
  AGAIN: 6,
  ALREADY: 7,
  BADF: 8,
  BADMSG: 9,
  BUSY: 10,
  CANCELED: 11,
  CHILD: 12,
  CONNABORTED: 13,
  CONNREFUSED: 14,
  CONNRESET: 15,
  DEADLK: 16,
  DESTADDRREQ: 17,
  DOM: 18,
  DQUOT: 19,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  HOSTUNREACH: 23,
  IDRM: 24,
  ILSEQ: 25,
  INPROGRESS: 26,
  INTR: 27,
  INVAL: 28,
  IO: 29,
  ISCONN: 30,
  ISDIR: 31,
  LOOP: 32,
  MFILE: 33,
  MLINK: 34,
  MSGSIZE: 35,
  MULTIHOP: 36,
  NAMETOOLONG: 37,
  NETDOWN: 38,
  NETRESET: 39,
  NETUNREACH: 40,
  NFILE: 41,
  NOBUFS: 42,
  NODEV: 43,
  NOENT: 44,
  NOEXEC: 45,
  NOLCK: 46,
  NOLINK: 47,
  NOMEM: 48,
  NOMSG: 49,
  NOPROTOOPT: 50,
  NOSPC: 51,
  NOSYS: 52,
  NOTCONN: 53,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTRECOVERABLE: 56,
  NOTSOCK: 57,
  NOTSUP: 58,
  NOTTY: 59,
  NXIO: 60,
  OVERFLOW: 61,
  OWNERDEAD: 62,
  PERM: 63,
  PIPE: 64,
  PROTO: 65,
  PROTONOSUPPORT: 66,
  PROTOTYPE: 67,
  RANGE: 68,
  ROFS: 69,
  SPIPE: 70,
  SRCH: 71,
  STALE: 72,
  TIMEDOUT: 73,
  TXTBSY: 74,
  XDEV: 75,
  NOTCAPABLE: 76,
} as const;

/** Thrown by proc_exit: the module asked to end the process. */
export class WasiExit extends MacroboxError {
  override name = "WasiExit";
  constructor(readonly exitCode: number) {
    super("exit", `the macro called proc_exit(${exitCode})`);
  }
}

export interface WasiOptions {
  /** Bytes of stdout kept (the rest is counted, not stored). Default 64 KiB. */
  stdoutLimit?: number;
  /** Bytes of stderr kept. Default 64 KiB. */
  stderrLimit?: number;
  /**
   * Bytes the module may write to stdout and stderr together; writing more ends the run with
   * `LimitExceeded("capturedOutputBytes")`. Default: unlimited (only the kept bytes are bounded).
   */
  maxWrittenBytes?: number;
  /** Seed of the random_get stream. Default 0. */
  randomSeed?: number;
  /** What clock_time_get answers, in nanoseconds since the epoch. Default 2000-01-01T00:00:00Z. */
  clockTimeNs?: bigint;
  /**
   * Extra preview1 functions for this instance, overriding the deny-all ones (granted files and
   * environment: `CapabilitySession.extend` in src/sandbox/grant.ts).
   */
  extend?: WasiExtender;
}

/**
 * Makes the extension of one instance's Wasi, at the first call of one of the functions it declares:
 * most runs make no such call (a reused instance ran its constructors in its snapshot, and a macro
 * rarely opens a file), and an extension is an fd table and a closure per function.
 */
export interface WasiExtender {
  /** The preview1 functions the extension serves; every other stays this layer's. */
  functions: ReadonlySet<WasiFunction>;
  make(wasi: Wasi): WasiExtension;
}

/**
 * Counts the host's work for a module against its fuel (the runner sets one for metered modules):
 * `charge` answers false once the run is out of fuel, and the call then fails fast.
 */
export interface HostMeter {
  charge(units: number): boolean;
}

/** Fuel units per preview1 call (a host round trip), besides what each function charges for its bytes. */
export const WASI_CALL_COST = 100;

/** Preview1 functions (by import name) that replace this layer's own for one instance. */
export interface WasiExtension {
  functions: Partial<Record<WasiFunction, (...args: never[]) => number>>;
}

/** A bounded capture of one output stream. */
export class CapturedOutput {
  private readonly chunks: Uint8Array[] = [];
  private kept = 0;
  /** Every byte written, including those beyond the limit. */
  total = 0;

  constructor(readonly limit: number) {}

  write(bytes: Uint8Array): void {
    this.total += bytes.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const part = bytes.length <= room ? bytes.slice() : bytes.slice(0, room);
    this.chunks.push(part);
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.total > this.kept;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.kept);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  text(): string {
    return new TextDecoder("utf-8").decode(this.bytes());
  }
}

const FILETYPE_CHARACTER_DEVICE = 2;

/** The preview1 functions, bound to one instance's memory: one method per `host` answer of `WASI_PREVIEW1`. */
export class Wasi implements Record<HostWasiFunction, (...args: never[]) => number> {
  stdout: CapturedOutput;
  stderr: CapturedOutput;
  private memory: WebAssembly.Memory | null = null;
  private randomState: bigint;
  private readonly clockTimeNs: bigint;
  private readonly maxWrittenBytes: number;
  /** Set once the module wrote more than `maxWrittenBytes`; the run must end with it. */
  limitExceeded: LimitExceeded | null = null;
  /** Set when the module called proc_exit (it may unwind or trap afterwards). */
  exitCode: number | null = null;

  private readonly extender: WasiExtender | null;
  private extensionMade: WasiExtension | null = null;

  /** The extension's function for `name`, or null when `name` stays this layer's (see `WasiExtender`). */
  extensionFor(name: WasiFunction): ((...args: never[]) => number) | null {
    if (this.extender === null || !this.extender.functions.has(name)) return null;
    this.extensionMade ??= this.extender.make(this);
    return this.extensionMade.functions[name] ?? null;
  }
  /** Where host work is charged (see HostMeter); none: unmetered. */
  meter: HostMeter | null = null;

  /** Charges host work; false once the run is out of fuel. */
  charge(units: number): boolean {
    return this.meter === null || this.meter.charge(units);
  }

  constructor(options: WasiOptions = {}) {
    this.maxWrittenBytes = options.maxWrittenBytes ?? Infinity;
    this.stdout = new CapturedOutput(options.stdoutLimit ?? 64 * 1024);
    this.stderr = new CapturedOutput(options.stderrLimit ?? 64 * 1024);
    this.randomState = BigInt.asUintN(64, BigInt(options.randomSeed ?? 0));
    this.clockTimeNs = options.clockTimeNs ?? 946_684_800_000_000_000n;
    this.extender = options.extend ?? null;
  }

  /** The instance's memory once bound (for extensions). */
  boundMemory(): WebAssembly.Memory | null {
    return this.memory;
  }

  /** Forgets what was written so far (the host's warm-up call prints a panic nobody asked for). */
  resetOutput(): void {
    this.stdout = new CapturedOutput(this.stdout.limit);
    this.stderr = new CapturedOutput(this.stderr.limit);
    this.limitExceeded = null;
  }

  /** Must be called once the instance exists, before it runs. */
  bindMemory(memory: WebAssembly.Memory): void {
    this.memory = memory;
  }

  private view(): DataView {
    if (!this.memory) throw new Error("WASI used before its memory was bound");
    return new DataView(this.memory.buffer);
  }

  private inBounds(ptr: number, len: number): boolean {
    const size = this.memory ? this.memory.buffer.byteLength : 0;
    return ptr >= 0 && len >= 0 && ptr + len <= size;
  }

  // ---- arguments and environment: there are none ----

  args_sizes_get(argcPtr: number, bufSizePtr: number): number {
    return this.writeTwoZeros(argcPtr, bufSizePtr);
  }
  args_get(_argv: number, _buf: number): number {
    return Errno.SUCCESS;
  }
  environ_sizes_get(countPtr: number, bufSizePtr: number): number {
    return this.writeTwoZeros(countPtr, bufSizePtr);
  }
  environ_get(_environ: number, _buf: number): number {
    return Errno.SUCCESS;
  }

  private writeTwoZeros(a: number, b: number): number {
    if (!this.inBounds(a, 4) || !this.inBounds(b, 4)) return Errno.FAULT;
    const v = this.view();
    v.setUint32(a, 0, true);
    v.setUint32(b, 0, true);
    return Errno.SUCCESS;
  }

  // ---- clocks and randomness: fixed ----

  clock_res_get(_id: number, resPtr: number): number {
    if (!this.inBounds(resPtr, 8)) return Errno.FAULT;
    this.view().setBigUint64(resPtr, 1_000n, true);
    return Errno.SUCCESS;
  }
  clock_time_get(_id: number, _precision: bigint, timePtr: number): number {
    if (!this.inBounds(timePtr, 8)) return Errno.FAULT;
    this.view().setBigUint64(timePtr, this.clockTimeNs, true);
    return Errno.SUCCESS;
  }
  random_get(bufPtr: number, len: number): number {
    if (!this.inBounds(bufPtr, len)) return Errno.FAULT;
    // ~0.75 µs a byte (BigInt arithmetic), and one call could ask for all of memory: at most a few
    // MB per expansion with the default fuel (std asks for 16 bytes per RandomState seed).
    if (!this.charge(1024 * len)) return Errno.NOSPC;
    const bytes = new Uint8Array(this.memory!.buffer, bufPtr, len);
    for (let i = 0; i < len; i += 8) {
      const word = this.nextRandom();
      for (let j = 0; j < 8 && i + j < len; j++) bytes[i + j] = Number((word >> BigInt(8 * j)) & 0xffn);
    }
    return Errno.SUCCESS;
  }

  /** Where the random_get stream is (a warm-started run continues where its snapshot's warm-up left it). */
  get randomPosition(): bigint {
    return this.randomState;
  }
  set randomPosition(state: bigint) {
    this.randomState = state;
  }

  /** splitmix64: a fixed, well-mixed stream. */
  private nextRandom(): bigint {
    this.randomState = BigInt.asUintN(64, this.randomState + 0x9e3779b97f4a7c15n);
    let z = this.randomState;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return z ^ (z >> 31n);
  }

  // ---- file descriptors: only stdout and stderr, write-only ----

  fd_write(fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number): number {
    const out = fd === 1 ? this.stdout : fd === 2 ? this.stderr : null;
    if (!out) return Errno.BADF;
    if (this.limitExceeded) return Errno.NOSPC;
    if (!this.inBounds(iovsPtr, iovsLen * 8) || !this.inBounds(nwrittenPtr, 4)) return Errno.FAULT;
    const v = this.view();
    let written = 0;
    for (let i = 0; i < iovsLen; i++) {
      const ptr = v.getUint32(iovsPtr + i * 8, true);
      const len = v.getUint32(iovsPtr + i * 8 + 4, true);
      if (!this.inBounds(ptr, len)) return Errno.FAULT;
      const total = this.stdout.total + this.stderr.total + len;
      if (total > this.maxWrittenBytes) {
        // Throwing through the module's frames would meet its unwinding machinery (and print a
        // panic, which writes again...): fail the write instead and let the runner end the run.
        this.limitExceeded ??= new LimitExceeded("capturedOutputBytes", this.maxWrittenBytes, total);
        return Errno.NOSPC;
      }
      out.write(new Uint8Array(this.memory!.buffer, ptr, len));
      written += len;
    }
    v.setUint32(nwrittenPtr, written, true);
    return Errno.SUCCESS;
  }
  fd_read(fd: number, _iovs: number, _iovsLen: number, nreadPtr: number): number {
    if (fd !== 0) return Errno.BADF;
    // stdin is empty.
    if (!this.inBounds(nreadPtr, 4)) return Errno.FAULT;
    this.view().setUint32(nreadPtr, 0, true);
    return Errno.SUCCESS;
  }
  fd_fdstat_get(fd: number, statPtr: number): number {
    if (fd > 2) return Errno.BADF;
    if (!this.inBounds(statPtr, 24)) return Errno.FAULT;
    const v = this.view();
    v.setUint8(statPtr, FILETYPE_CHARACTER_DEVICE);
    v.setUint16(statPtr + 2, 0, true);
    v.setBigUint64(statPtr + 8, 0n, true);
    v.setBigUint64(statPtr + 16, 0n, true);
    return Errno.SUCCESS;
  }
  /** No preopened directories: wasi-libc stops scanning at the first EBADF. */
  fd_prestat_get(_fd: number, _ptr: number): number {
    return Errno.BADF;
  }
  fd_prestat_dir_name(_fd: number, _ptr: number, _len: number): number {
    return Errno.BADF;
  }
  fd_close(fd: number): number {
    return fd <= 2 ? Errno.SUCCESS : Errno.BADF;
  }
  fd_seek(_fd: number, _offset: bigint, _whence: number, _newOffsetPtr: number): number {
    return Errno.BADF;
  }
  fd_sync(fd: number): number {
    return fd <= 2 ? Errno.SUCCESS : Errno.BADF;
  }
  path_open(..._args: unknown[]): number {
    return Errno.NOTCAPABLE;
  }

  // ---- process ----

  proc_exit(code: number): never {
    this.exitCode ??= code;
    throw new WasiExit(code);
  }
  sched_yield(): number {
    return Errno.SUCCESS;
  }
}

/**
 * The import object for `module`: every preview1 function it imports, bound to `wasi`.
 * Functions we do not implement answer ENOTCAPABLE (file system, sockets) or ENOSYS (anything else,
 * e.g. poll_oneoff, proc_raise). Anything else is refused, as `macrobox build` refuses it
 * (src/sandbox/host-imports.ts decides): a macro module has no business importing anything but WASI.
 */
export function wasiImportsFor(module: WebAssembly.Module, wasi: Wasi | (() => Wasi)): WebAssembly.Imports {
  const badImports = unsupportedImportsMessage(module);
  if (badImports !== null) throw new MacroModuleError(`the module ${badImports}`);
  // A getter: an instance reused across runs calls whichever run's Wasi is current (src/bridge/snapshot.ts).
  const current = typeof wasi === "function" ? wasi : () => wasi;
  const fns: Record<string, (...args: never[]) => unknown> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    const name = imp.name as WasiFunction; // unsupportedImportsMessage refused any other
    const answer = WASI_PREVIEW1[name].answer;
    const fn = (w: Wasi, args: never[]): unknown => {
      const extended = w.extensionFor(name);
      if (extended !== null) return extended(...args);
      if (answer === "host") return (w[name as HostWasiFunction] as (...args: unknown[]) => unknown).apply(w, args);
      return answer === "not-capable" ? Errno.NOTCAPABLE : Errno.NOSYS;
    };
    // Every call costs fuel; out of fuel, calls fail fast (proc_exit still exits).
    fns[name] =
      name === "proc_exit"
        ? (...args: never[]) => fn(current(), args)
        : (...args: never[]) => {
            const w = current();
            return w.charge(WASI_CALL_COST) ? fn(w, args) : Errno.NOSPC;
          };
  }
  return { [WASI_MODULE]: fns };
}
