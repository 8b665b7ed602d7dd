// The host's side of one instance: the C ABI between the client and the host, the host's buffers in
// memory, the dispatch closure (with fuel charged for host work), and the warm-up call.
//
// The C ABI on wasm32 (what `extern "C"` means in library/proc_macro/src/bridge): a struct is passed
// by pointer to a caller-made copy, and returned through a hidden first pointer argument (sret).
// So, with every pointer and usize an i32:
//   run:      extern "C" fn(BridgeConfig) -> Buffer       = (sret, &config) -> ()
//   dispatch: extern "C" fn(*mut Env, Buffer) -> Buffer  = (sret, env, &buf) -> ()
//   reserve:  extern "C" fn(Buffer, usize) -> Buffer     = (sret, &buf, additional) -> ()
//   drop:     extern "C" fn(Buffer)                      = (&buf) -> ()
// and the repr(C) layouts are
//   Buffer       { data: *mut u8, len: usize, capacity: usize, reserve: fn, drop: fn }   20 bytes
//   Closure      { call: fn, env: *mut Env }                                           8 bytes
//   BridgeConfig { input: Buffer, dispatch: Closure, force_show_panics: bool }         32 bytes
// where a `fn` is an index into `__indirect_function_table`.
//
// The host needs three functions the module can call through its table: the dispatch closure, and
// reserve/drop for the buffers the host creates. JavaScript functions cannot be put into a wasm
// table directly (WebAssembly.Function is not standard yet), so a tiny hand-assembled module
// imports them with the right wasm types and re-exports them; those exports are wasm functions
// that `table.set` accepts.
//
// Memory the host writes (the input buffer, the BridgeConfig, its own buffers) comes from pages it
// adds with `memory.grow`, after a warm-up call has made the module's allocator initialise itself
// (see HostSide.warmUp: wasi-libc's dlmalloc would otherwise adopt those pages as heap). From then
// on the allocator only uses pages it grew itself, so host pages are never handed out. The host's
// first pages (HOST_REGION_PAGES) are grown right after the warm-up, inside any snapshot taken
// then; only a run needing more grows the memory again (and its instance is then not reused). Buffers the
// client created are grown with the client's own `reserve` function, exactly as rustc's server does.
//
// Browser-safe: no Node APIs here.

import { LimitExceeded, WASM_PAGE_BYTES } from "../sandbox/limits.js";
import { BridgeDecodeError } from "./rpc.js";
import { BridgeServer } from "./server.js";
import { SpanTable } from "./spans.js";
import { WasmWriter, concatBytes, encodeSection, SectionId, ValType } from "../wasm/binary.js";
import { MacroModuleError } from "../wasm/decls.js";

/** Fuel charged per bridge call (a host round trip), plus HOST_WORK_PER_BYTE each way and the server's hostWork. */
const HOST_WORK_PER_CALL = 100;
/**
 * Fuel per byte crossing the bridge. Besides time, it bounds what a macro can make the host keep
 * (diagnostics, tracked paths, literals in live streams): at most fuel/32 bytes, 62 MB by default,
 * while real macros spend little on it (serde_derive moves well under a megabyte per expansion).
 */
const HOST_WORK_PER_BYTE = 32;

/** Spans for the warm-up's throwaway server: nothing is ever decoded against them. */
const DUMMY_EXPANSION = (() => {
  const t = new SpanTable();
  return { callSite: t.dummy, defSite: t.dummy, mixedSite: t.dummy };
})();

/**
 * Pages the host reserves for itself after the warm-up (see HostSide.warmUp): room for the input,
 * the config and the host's buffers of a typical expansion (a serde derive of a large item moves
 * well under 16 KiB per message), one page as the warm-up's heap is, for the same reason (every
 * fresh instance's memory counts towards V8's collections).
 */
export const HOST_REGION_PAGES = 1;

/** The size of a Buffer and of a BridgeConfig (see the layouts above). */
export const BUFFER_SIZE = 20;
export const CONFIG_SIZE = 32;

/** A Buffer's fields. */
export interface RawBuffer {
  data: number;
  len: number;
  capacity: number;
  reserve: number;
  drop: number;
}

/** V8's (and SpiderMonkey's, JavaScriptCore's) error for an exhausted stack. */
export function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack|too much recursion/i.test(e.message);
}

/** The host's view of one instance: its memory, its table, the host buffers and functions. */
export class HostSide {
  readonly dispatchIndex: number;
  readonly reserveIndex: number;
  readonly dropIndex: number;
  private region = 0;
  private regionEnd = 0;
  /** A host-side failure inside a call from the module (it is also thrown into the module). */
  fault: string | null = null;
  /** The module's remaining fuel by its own count, when it is metered (set by runClient). */
  fuelLeft: (() => bigint) | null = null;
  /** Empties the module's fuel, so that it traps at its next metering point that reads the global. */
  exhaust: (() => void) | null = null;
  /** Fuel given to the run (for the limit message). */
  fuelGiven = 0;
  /** Fuel charged for host work (bridge and WASI calls) so far in the run. */
  hostFuelUsed = 0;

  /** HostMeter: counts host work against the module's fuel; false (and the limit set) once it is out. */
  charge(units: number): boolean {
    if (this.fuelLeft === null) return true;
    // In doubles, not BigInts (one bridge call would allocate four): fuel is given as a Number, so
    // what is left is below 2^53 and every operand an exact integer.
    this.hostFuelUsed += units;
    if (Number(this.fuelLeft()) - this.hostFuelUsed >= 0) return true;
    this.limitExceeded ??= new LimitExceeded("fuel", this.fuelGiven);
    this.exhaust?.();
    return false;
  }
  limitExceeded: LimitExceeded | null = null;

  /** The bridge's entries in the table; they dispatch to this HostSide while it runs. */
  readonly entries: BridgeEntries;

  /**
   * `entries`: those a previous run put into this instance's table (a reused instance, see
   * snapshot.ts), now dispatching to this HostSide; without, three new ones are added.
   */
  constructor(
    readonly memory: WebAssembly.Memory,
    readonly table: WebAssembly.Table,
    private server: BridgeServer,
    private readonly memoryPages?: number,
    entries?: BridgeEntries,
  ) {
    this.entries = entries ?? addBridgeEntries(table);
    this.entries.host = this;
    this.dispatchIndex = this.entries.dispatchIndex;
    this.reserveIndex = this.entries.reserveIndex;
    this.dropIndex = this.entries.dropIndex;
  }

  /** Called by the module through the table (see BridgeEntries). */
  dispatchCall(sret: number, buf: number): void {
    // No closure per call: this runs for every bridge call.
    try {
      this.dispatch(sret, buf);
    } catch (e) {
      this.failed(e);
    }
  }
  reserveCall(sret: number, buf: number, additional: number): void {
    try {
      this.reserveHost(sret, buf, additional);
    } catch (e) {
      this.failed(e);
    }
  }

  private dataView: DataView | null = null;
  private memoryBuffer: ArrayBuffer | null = null;
  /**
   * The memory's buffer, kept: `memory.buffer` is a slow accessor and every call reads it. Growing
   * detaches the old buffer (its length becomes 0), which is when it is read again.
   */
  private buffer(): ArrayBuffer {
    let b = this.memoryBuffer;
    // A shared memory's old buffer is not detached by growing: never kept.
    if (b === null || b.byteLength === 0) b = this.memory.buffer instanceof ArrayBuffer ? (this.memoryBuffer = this.memory.buffer) : this.memory.buffer;
    return b;
  }
  /** A view of the memory (a new one only when growing has replaced the buffer). */
  view(): DataView {
    const buffer = this.buffer();
    if (this.dataView === null || this.dataView.buffer !== buffer) this.dataView = new DataView(buffer);
    return this.dataView;
  }

  /** Remembers why a call from the module failed, before the error unwinds into it. */
  private failed(e: unknown): never {
    if (e instanceof LimitExceeded) this.limitExceeded ??= e;
    // The host's calls are shallow (its walks over trees are iterative): a call that overflows
    // the stack was made with it nearly used up by the macro's own recursion, which is the
    // macro's stack overflow, reported as the trap it is (classifyThrow), not as a host fault.
    else if (!isStackOverflow(e)) this.fault ??= e instanceof Error ? e.message : String(e);
    throw e;
  }

  private memoryBytes: Uint8Array | null = null;
  /** The whole memory as bytes (a new view only when growing has replaced the buffer). */
  private u8(): Uint8Array {
    const buffer = this.buffer();
    if (this.memoryBytes === null || this.memoryBytes.buffer !== buffer) this.memoryBytes = new Uint8Array(buffer);
    return this.memoryBytes;
  }

  /** Fails unless `ptr..ptr+len` lies in the memory. */
  private check(ptr: number, len: number): void {
    if (ptr < 0 || len < 0 || ptr + len > this.buffer().byteLength) throw new BridgeDecodeError(`buffer ${ptr}+${len} is outside memory`);
  }

  bytes(ptr: number, len: number): Uint8Array {
    const buffer = this.buffer();
    if (ptr < 0 || len < 0 || ptr + len > buffer.byteLength) {
      throw new BridgeDecodeError(`buffer ${ptr}+${len} is outside memory`);
    }
    return new Uint8Array(buffer, ptr, len);
  }

  /**
   * Runs the client once on an empty input before the real run, against a throwaway server.
   *
   * Why: wasi-libc's malloc (dlmalloc) sizes its first heap segment, at its first call, as
   * everything from `__heap_base` to the current end of memory (older wasi-libc, as in Debian,
   * does not know the linker's `__heap_end`). Pages the host grew before that call would become
   * heap and be handed out under the host's buffers. The client's `run` allocates first thing
   * (installing its panic hook), then fails to decode the empty input and returns
   * `Err(PanicMessage)` — so after this call the allocator is initialised, and pages the host
   * grows from then on are its own.
   *
   * The config for this call sits at the end of a page grown for the purpose, which becomes heap:
   * the warm-up allocates a few hundred bytes, far from reaching it. One page, not more: V8 counts
   * every instance's memory as external memory and runs full collections by that count (a
   * megabyte here per expansion doubled them, measured in bench/profile.ts).
   *
   * Afterwards the host's own region (HOST_REGION_PAGES) is grown, so that a snapshot taken now
   * holds it: a run whose input and buffers fit there leaves the memory at the snapshot's size, and
   * its instance can be reused (snapshot.ts).
   *
   * Returns the fuel charged for host work during the call (reset afterwards).
   */
  warmUp(run: (sret: number, config: number) => void, forceShowPanics: boolean): bigint {
    const realServer = this.server;
    this.server = new BridgeServer({ spans: new SpanTable(), expansion: DUMMY_EXPANSION, bridgeAbi: realServer.bridgeAbi });
    try {
      const pages = 1;
      const end = (this.memory.grow(pages) + pages) * WASM_PAGE_BYTES;
      const scratch = end - 512; // room for a client that ignores capacity
      const config = end - 128;
      const sret = end - 64;
      this.writeConfig(config, { data: scratch, len: 0, capacity: 0, reserve: this.reserveIndex, drop: this.dropIndex }, forceShowPanics);
      run(sret, config);
      const used = BigInt(this.hostFuelUsed);
      this.reserveRegion();
      return used;
    } finally {
      this.server = realServer;
      this.fault = null;
      this.limitExceeded = null;
      this.hostFuelUsed = 0;
    }
  }

  /** Grows the host's region (see warmUp). */
  private reserveRegion(): void {
    let start: number;
    try {
      start = this.memory.grow(HOST_REGION_PAGES) * WASM_PAGE_BYTES;
    } catch {
      const have = this.memory.buffer.byteLength / WASM_PAGE_BYTES;
      throw new LimitExceeded("memoryPages", this.memoryPages ?? have, have + HOST_REGION_PAGES);
    }
    this.useRegion(start, start + HOST_REGION_PAGES * WASM_PAGE_BYTES);
  }

  /** Where the host's region is (a restored snapshot's). */
  get hostRegion(): [number, number] {
    return [this.regionStart, this.regionEnd];
  }
  useRegion(start: number, end: number): void {
    this.regionStart = this.region = start;
    this.regionEnd = end;
  }
  private regionStart = 0;

  /** Bump allocation in host-owned pages. */
  alloc(size: number): number {
    // Arithmetic, not `& ~7`: addresses past 2 GiB do not fit JS's signed 32-bit bitwise ops.
    const aligned = Math.ceil(this.region / 8) * 8;
    if (aligned + size <= this.regionEnd && this.regionEnd > 0) {
      this.region = aligned + size;
      return aligned;
    }
    const pages = Math.ceil((size + 8) / WASM_PAGE_BYTES) + 1;
    let start: number;
    try {
      start = this.memory.grow(pages) * WASM_PAGE_BYTES;
    } catch {
      const have = this.memory.buffer.byteLength / WASM_PAGE_BYTES;
      throw new LimitExceeded("memoryPages", this.memoryPages ?? have, have + pages);
    }
    this.region = start + size;
    this.regionEnd = start + pages * WASM_PAGE_BYTES;
    return start;
  }

  readBuffer(ptr: number): RawBuffer {
    this.check(ptr, BUFFER_SIZE);
    const v = this.view();
    return {
      data: v.getUint32(ptr, true),
      len: v.getUint32(ptr + 4, true),
      capacity: v.getUint32(ptr + 8, true),
      reserve: v.getUint32(ptr + 12, true),
      drop: v.getUint32(ptr + 16, true),
    };
  }

  writeBuffer(ptr: number, b: RawBuffer): void {
    this.writeBufferFields(ptr, b.data, b.len, b.capacity, b.reserve, b.drop);
  }

  /** `writeBuffer` from the fields themselves (the dispatch closure makes no object per call). */
  private writeBufferFields(ptr: number, data: number, len: number, capacity: number, reserve: number, drop: number): void {
    const v = this.view();
    v.setUint32(ptr, data, true);
    v.setUint32(ptr + 4, len, true);
    v.setUint32(ptr + 8, capacity, true);
    v.setUint32(ptr + 12, reserve, true);
    v.setUint32(ptr + 16, drop, true);
  }

  /** A BridgeConfig at `ptr` (CONFIG_SIZE bytes): the input buffer, the host's dispatch closure, the panic flag. */
  writeConfig(ptr: number, input: RawBuffer, forceShowPanics: boolean): void {
    this.writeBuffer(ptr, input);
    this.view().setUint32(ptr + BUFFER_SIZE, this.dispatchIndex, true);
    this.view().setUint32(ptr + BUFFER_SIZE + 4, 0, true); // env: unused, the closure is ours
    this.view().setUint8(ptr + BUFFER_SIZE + 8, forceShowPanics ? 1 : 0);
  }

  /** A host-owned buffer holding `content`. */
  newBuffer(content: Uint8Array): RawBuffer {
    const capacity = Math.max(64, content.length);
    const data = this.alloc(capacity);
    this.bytes(data, content.length).set(content);
    return { data, len: content.length, capacity, reserve: this.reserveIndex, drop: this.dropIndex };
  }

  /** `reserve` for host buffers: a bigger host region, contents copied. */
  private reserveHost(sret: number, bufPtr: number, additional: number): void {
    const b = this.readBuffer(bufPtr);
    const capacity = Math.max(b.capacity * 2, b.len + additional, 64);
    const data = this.alloc(capacity);
    this.bytes(data, b.len).set(this.bytes(b.data, b.len));
    this.writeBuffer(sret, { data, len: b.len, capacity, reserve: this.reserveIndex, drop: this.dropIndex });
  }

  /** The dispatch closure: answer the request in the buffer, in that same buffer. */
  private dispatch(sret: number, bufPtr: number): void {
    // The buffer's fields one by one, and the response copied without a view: nothing allocated
    // per call (a serde expansion makes ~430) unless the response outgrows the buffer.
    this.check(bufPtr, BUFFER_SIZE);
    const v = this.view();
    let data = v.getUint32(bufPtr, true);
    const len = v.getUint32(bufPtr + 4, true);
    let capacity = v.getUint32(bufPtr + 8, true);
    let reserve = v.getUint32(bufPtr + 12, true);
    let drop = v.getUint32(bufPtr + 16, true);
    this.check(data, len);
    // Out of fuel once: every later call fails too (the macro may catch the first as a panic).
    if (this.limitExceeded) throw this.limitExceeded;
    const workBefore = this.server.hostWork;
    // The memory itself, not a copy: the server decodes the request completely before answering (BridgeServer.answer).
    const response = this.server.answer(this.u8(), data, data + len);
    const length = response.length;
    // The host's work counts against the module's fuel. It is kept here, not subtracted from the
    // fuel global: the module's metering keeps a local copy it may store back over the global.
    if (!this.charge(HOST_WORK_PER_CALL + HOST_WORK_PER_BYTE * (len + length) + (this.server.hostWork - workBefore))) {
      throw this.limitExceeded!;
    }
    if (length > capacity) ({ data, capacity, reserve, drop } = this.outgrown({ data, len: 0, capacity, reserve, drop }, length));
    this.check(data, length);
    copyBytes(response.storage(), length, this.u8(), data);
    this.writeBufferFields(sret, data, length, capacity, reserve, drop);
  }

  /** A buffer with room for `length` bytes instead of `b`: the host's own, or `b` grown by the client's reserve. */
  private outgrown(b: RawBuffer, length: number): RawBuffer {
    if (b.reserve === this.reserveIndex) return { ...b, ...this.grownHostBuffer(length) };
    // The client's buffer: grow it with its own reserve, as `Buffer::extend_from_slice` does.
    const arg = this.alloc(BUFFER_SIZE);
    const out = this.alloc(BUFFER_SIZE);
    this.writeBuffer(arg, b);
    const reserve = this.table.get(b.reserve);
    if (typeof reserve !== "function") throw new BridgeDecodeError(`buffer reserve ${b.reserve} is not a function`);
    (reserve as (sret: number, buf: number, additional: number) => void)(out, arg, length);
    return this.readBuffer(out);
  }

  private grownHostBuffer(capacity: number): { data: number; capacity: number } {
    return { data: this.alloc(capacity), capacity };
  }
}

/** `from[0..length)` into `to` at `at`: short ones byte by byte (a view to `set` from costs more). */
function copyBytes(from: Uint8Array, length: number, to: Uint8Array, at: number): void {
  if (length > 64) {
    to.set(from.subarray(0, length), at);
    return;
  }
  for (let i = 0; i < length; i++) to[at + i] = from[i];
}

type I32 = number;

/**
 * The bridge's three functions in an instance's table: wasm functions (see the header comment)
 * that call the HostSide of the run the instance is in now.
 */
export interface BridgeEntries {
  dispatchIndex: number;
  reserveIndex: number;
  dropIndex: number;
  host: HostSide | null;
}

function addBridgeEntries(table: WebAssembly.Table): BridgeEntries {
  let base: number;
  try {
    base = table.grow(3);
  } catch (e) {
    throw new MacroModuleError(`cannot add the bridge functions to the module's table (${(e as Error).message}); link it with a growable table`);
  }
  const entries: BridgeEntries = { dispatchIndex: base, reserveIndex: base + 1, dropIndex: base + 2, host: null };
  const fns = new WebAssembly.Instance(reexportModule(), {
    h: {
      dispatch: (sret: I32, _env: I32, buf: I32) => entries.host!.dispatchCall(sret, buf),
      reserve: (sret: I32, buf: I32, additional: I32) => entries.host!.reserveCall(sret, buf, additional),
      drop: (_buf: I32) => {
        // Host buffers live in the host's region, rewritten by the next run's restore.
      },
    },
  }).exports as unknown as Record<"dispatch" | "reserve" | "drop", Function>;
  table.set(base, fns.dispatch);
  table.set(base + 1, fns.reserve);
  table.set(base + 2, fns.drop);
  return entries;
}

let cachedReexport: WebAssembly.Module | null = null;

function reexportModule(): WebAssembly.Module {
  cachedReexport ??= new WebAssembly.Module(assembleReexportModule());
  return cachedReexport;
}

/**
 * (module
 *   (type (func (param i32 i32 i32)))  (type (func (param i32)))
 *   (import "h" "dispatch" (func (type 0)))  (import "h" "reserve" (func (type 0)))  (import "h" "drop" (func (type 1)))
 *   (export "dispatch" (func 0))  (export "reserve" (func 1))  (export "drop" (func 2)))
 */
export function assembleReexportModule(): Uint8Array<ArrayBuffer> {
  const FUNC = 0x60;
  const IMPORT_FUNC = 0x00;
  const funcs: [string, number][] = [
    ["dispatch", 0],
    ["reserve", 0],
    ["drop", 1],
  ];
  const types = new WasmWriter().u32(2).u8(FUNC).u32(3).u8(ValType.i32).u8(ValType.i32).u8(ValType.i32).u32(0).u8(FUNC).u32(1).u8(ValType.i32).u32(0);
  const imports = new WasmWriter().u32(funcs.length);
  for (const [name, type] of funcs) imports.name("h").name(name).u8(IMPORT_FUNC).u32(type);
  const exports = new WasmWriter().u32(funcs.length);
  funcs.forEach(([name], index) => exports.name(name).u8(IMPORT_FUNC).u32(index));
  return concatBytes([
    new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
    encodeSection(SectionId.type, types.finish()),
    encodeSection(SectionId.import, imports.finish()),
    encodeSection(SectionId.export, exports.finish()),
  ]);
}
