// Runs one macro expansion: a fresh instance of the module, the bridge wired into its memory and
// function table, the client's `run` called, the result decoded.
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
// on the allocator only uses pages it grew itself, so host pages are never handed out. Buffers the
// client created are grown with the client's own `reserve` function, exactly as rustc's server does.
//
// Browser-safe: no Node APIs here.

import type { TokenStream } from "../tokens/model.js";
import { CapturedOutput, Wasi, WasiExit, wasiImportsFor, type WasiOptions } from "../sandbox/wasi.js";
import { DEFAULT_LIMITS, LimitExceeded } from "../sandbox/limits.js";
import { FUEL_EXPORT, isOutOfFuel, setFuel, SNAPSHOT_EXPORT, SNAPSHOT_GLOBAL_PREFIX } from "../sandbox/fuel.js";
import { BridgeDecodeError, ByteReader, ByteWriter, RESULT_OK, readPanicMessage } from "./rpc.js";
import { BridgeServer } from "./server.js";
import { SpanTable, type Expansion } from "./spans.js";
import { ByteWriter as WasmWriter, concatBytes, encodeSection, SectionId, ValType } from "../wasm/binary.js";
import { MacroModuleError } from "../wasm/decls.js";

const PAGE = 65536;
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
const BUFFER_SIZE = 20;
const CONFIG_SIZE = 32;

export type RunOutcome =
  | { kind: "ok"; output: TokenStream }
  | { kind: "panic"; message: string | null }
  | { kind: "trap"; message: string }
  | { kind: "exit"; code: number }
  | { kind: "bridge"; message: string }
  | { kind: "limit"; error: LimitExceeded };

export interface RunResult {
  outcome: RunOutcome;
  stdout: CapturedOutput;
  stderr: CapturedOutput;
}

export interface RunOptions {
  wasi?: WasiOptions;
  /** Fuel for the run, when the module was instrumented by src/sandbox/fuel.ts. Default: DEFAULT_LIMITS.fuel. */
  fuel?: number;
  /** The module's memory cap in pages (for the message when the host's own allocation hits it). */
  memoryPages?: number;
  /** rustc's `-Z proc-macro-backtrace`: let the module's default panic hook print to stderr. */
  forceShowPanics?: boolean;
  /**
   * The macro's current directory, stored in wasi-libc's `__wasilibc_cwd` (at `address`, see
   * src/wasm/libc.ts) before the macro runs: what `std::env::current_dir()` returns.
   */
  currentDir?: { address: number; path: string };
  /**
   * Start from a snapshot of the instance after its constructors and the warm-up, when the module
   * allows it (SNAPSHOT_EXPORT) and one was taken under the same key; else run them and take one.
   */
  warmStart?: WarmStart;
}

/**
 * What lets runs share a snapshot. The constructors and the warm-up see the same WASI answers in
 * every run with the same `key` (the caller's: it must cover whatever its WASI extension answers
 * them from) and the same host defaults (clock, random seed: no `wasi` overrides beyond `extend`
 * and `maxWrittenBytes`); their effects outside the instance are the WASI calls they made, which
 * `replay` re-applies to the run's own records (an environment read, say).
 */
export interface WarmStart {
  key: string;
  replay(calls: ReadonlySet<string>): void;
}

/** An instance after its constructors and warm-up: what differs from a fresh instance. */
interface Snapshot {
  pages: number;
  /** Byte ranges of memory that differ from a just-instantiated instance, with their contents. */
  blocks: { at: number; bytes: Uint8Array }[];
  /** Values of the exported mutable globals (SNAPSHOT_GLOBAL_PREFIX), fuel excepted. */
  globals: [string, number | bigint][];
  randomPosition: bigint;
  /** The WASI functions the constructors and the warm-up called. */
  calls: ReadonlySet<string>;
  /** Fuel they spent (module and host): a run with no more than that takes the slow path, and fails where it would. */
  fuelUsed: bigint;
  /** Bytes they wrote to stdout and stderr: a run allowed fewer takes the slow path. */
  written: number;
}

/**
 * WASI functions whose only effects are on the instance's memory, the random stream, the written
 * byte count (reset after the warm-up) and what `WarmStart.replay` redoes. A warm-up that calls
 * anything else (opens a file, exits) is never snapshotted.
 */
const REPLAYABLE_CALLS = new Set([
  "environ_sizes_get",
  "environ_get",
  "args_sizes_get",
  "args_get",
  "clock_res_get",
  "clock_time_get",
  "random_get",
  "fd_write",
  "fd_fdstat_get",
  "fd_prestat_get",
  "fd_prestat_dir_name",
  "sched_yield",
]);

/** Per compiled module: whether it can be snapshotted, and the snapshots by key (null: that key's warm-up cannot be). */
const snapshots = new WeakMap<WebAssembly.Module, Map<string, Snapshot | null> | null>();

function snapshotsOf(module: WebAssembly.Module): Map<string, Snapshot | null> | null {
  let byKey = snapshots.get(module);
  if (byKey === undefined) {
    byKey = WebAssembly.Module.exports(module).some((e) => e.name === SNAPSHOT_EXPORT && e.kind === "global") ? new Map() : null;
    snapshots.set(module, byKey);
  }
  return byKey;
}

/** How many snapshots runs of `module` have taken (for tests: that warm starts happen at all). */
export function warmSnapshotCount(module: WebAssembly.Module): number {
  return [...(snapshots.get(module)?.values() ?? [])].filter((s) => s !== null).length;
}

/** Snapshots kept per module: keys are few in practice (one per distinct granted environment). */
const MAX_SNAPSHOTS_PER_MODULE = 16;

/** Granularity of the memory comparison: ranges that differ are copied in blocks this big. */
const SNAPSHOT_BLOCK = 256;

interface RawBuffer {
  data: number;
  len: number;
  capacity: number;
  reserve: number;
  drop: number;
}

/**
 * Runs the client `run` function at table index `runIndex` with `inputs` (one stream for derive and
 * function-like macros; attribute arguments then item for attribute macros). Never throws for
 * anything the module does; the server's state (diagnostics, tracked env, ...) is left in `server`.
 */
export async function runClient(
  module: WebAssembly.Module,
  runIndex: number,
  server: BridgeServer,
  expansion: Expansion,
  inputs: TokenStream[],
  options: RunOptions = {},
): Promise<RunResult> {
  const wasi = new Wasi(options.wasi);
  const result = (outcome: RunOutcome): RunResult => ({ outcome, stdout: wasi.stdout, stderr: wasi.stderr });
  let host: HostSide;
  let instance: WebAssembly.Instance;
  const fuel = options.fuel ?? DEFAULT_LIMITS.fuel;
  const warm = options.warmStart;
  const byKey = warm ? snapshotsOf(module) : null;
  let snapshot = byKey?.get(warm!.key);
  if (snapshot && !(BigInt(fuel) > snapshot.fuelUsed && (options.wasi?.maxWrittenBytes ?? Infinity) >= snapshot.written)) snapshot = null;
  // Taking a snapshot: the WASI calls the constructors and warm-up make are recorded.
  const calls = byKey && snapshot === undefined && byKey.size < MAX_SNAPSHOTS_PER_MODULE ? new Set<string>() : null;
  try {
    const imports = wasiImportsFor(module, wasi);
    instance = await instantiate(module, calls ? recordingCalls(imports, calls) : imports);
    if (instance.exports[FUEL_EXPORT] instanceof WebAssembly.Global) {
      setFuel(instance, fuel);
      fuelGiven.set(instance, fuel);
    }
    const memory = instance.exports.memory;
    const table = instance.exports.__indirect_function_table;
    if (!(memory instanceof WebAssembly.Memory)) return result({ kind: "bridge", message: "the module exports no memory" });
    if (!(table instanceof WebAssembly.Table)) return result({ kind: "bridge", message: "the module exports no __indirect_function_table" });
    wasi.bindMemory(memory);
    host = new HostSide(memory, table, server, options.memoryPages);
    const fuelVar = instance.exports[FUEL_EXPORT];
    if (fuelVar instanceof WebAssembly.Global) {
      host.fuelLeft = () => fuelVar.value as bigint;
      host.exhaust = () => {
        fuelVar.value = -1n;
      };
      host.fuelGiven = fuel;
      wasi.meter = host;
    }
    if (snapshot) {
      restoreSnapshot(memory, instance, wasi, snapshot);
      warm!.replay(snapshot.calls);
    } else {
      // A reactor's `_initialize`, else the constructors themselves: wasi-libc fills its preopen
      // table in one (without it, every file access fails before reaching the host).
      const init = instance.exports._initialize ?? instance.exports.__wasm_call_ctors;
      if (typeof init === "function") init();
    }
  } catch (e) {
    return result(classifyThrow(e, "while instantiating the module"));
  }

  const run = host.table.get(runIndex);
  if (typeof run !== "function") return result({ kind: "bridge", message: `table entry ${runIndex} is not a function` });
  const callRun = run as (sret: number, config: number) => void;

  // Warm-up (see warmUp): afterwards the module's allocator is initialised, and only then may the
  // host add pages of its own.
  if (!snapshot) {
    let hostFuel: bigint;
    try {
      hostFuel = host.warmUp(callRun, options.forceShowPanics ?? false);
    } catch (e) {
      return result(failureOutcome(e, instance, host, server, wasi, options.memoryPages));
    }
    if (calls && byKey) {
      const clean = wasi.exitCode === null && wasi.limitExceeded === null && [...calls].every((c) => REPLAYABLE_CALLS.has(c));
      const fuelVar = instance.exports[FUEL_EXPORT];
      const fuelUsed = fuelVar instanceof WebAssembly.Global ? BigInt(fuel) - (fuelVar.value as bigint) + hostFuel : null;
      byKey.set(
        warm!.key,
        clean && fuelUsed !== null ? takeSnapshot(module, instance, wasi, new Set(calls), fuelUsed, wasi.stdout.total + wasi.stderr.total) : null,
      );
    }
  }
  wasi.resetOutput();
  if (instance.exports[FUEL_EXPORT] instanceof WebAssembly.Global) setFuel(instance, fuel);
  if (options.currentDir) {
    // The string lives in host-allocated memory, never freed: wasi-libc's chdir frees only what it
    // allocated itself (`__wasilibc_cwd_mallocd`).
    try {
      const bytes = new TextEncoder().encode(options.currentDir.path + "\0");
      const at = host.alloc(bytes.length);
      host.bytes(at, bytes.length).set(bytes);
      host.view().setUint32(options.currentDir.address, at, true);
    } catch (e) {
      return result(failureOutcome(e, instance, host, server, wasi, options.memoryPages));
    }
  }

  let response: Uint8Array;
  try {
    const input = new ByteWriter();
    input.handle(expansion.defSite).handle(expansion.callSite).handle(expansion.mixedSite);
    for (const stream of inputs) input.handle(server.allocStream(stream));
    const configPtr = host.alloc(CONFIG_SIZE);
    host.writeBuffer(configPtr, host.newBuffer(input.finish()));
    host.view().setUint32(configPtr + BUFFER_SIZE, host.dispatchIndex, true);
    host.view().setUint32(configPtr + BUFFER_SIZE + 4, 0, true); // env: unused, the closure is ours
    host.view().setUint8(configPtr + BUFFER_SIZE + 8, options.forceShowPanics ? 1 : 0);
    const sret = host.alloc(BUFFER_SIZE);
    callRun(sret, configPtr);
    const out = host.readBuffer(sret);
    response = host.bytes(out.data, out.len).slice();
  } catch (e) {
    return result(failureOutcome(e, instance, host, server, wasi, options.memoryPages));
  }
  // Limits and exits recorded on the way count even when the module carried on to a result.
  if (server.limitExceeded) return result({ kind: "limit", error: server.limitExceeded });
  if (host.limitExceeded) return result({ kind: "limit", error: host.limitExceeded });
  if (wasi.limitExceeded) return result({ kind: "limit", error: wasi.limitExceeded });

  try {
    const r = new ByteReader(response);
    if (r.tag(2, "Result") === RESULT_OK) {
      const stream = r.option(() => server.takeStream(r.handle())) ?? [];
      return result({ kind: "ok", output: stream });
    }
    return result({ kind: "panic", message: readPanicMessage(r) });
  } catch (e) {
    return result({ kind: "bridge", message: `malformed result from the macro: ${(e as Error).message}` });
  }
}

/** The import object with every function noting its name in `calls` when called. */
function recordingCalls(imports: WebAssembly.Imports, calls: Set<string>): WebAssembly.Imports {
  const out: WebAssembly.Imports = {};
  for (const [mod, fns] of Object.entries(imports)) {
    const wrapped: Record<string, (...args: never[]) => unknown> = {};
    for (const [name, fn] of Object.entries(fns as Record<string, (...args: never[]) => unknown>)) {
      wrapped[name] = (...args: never[]) => {
        calls.add(name);
        return fn(...args);
      };
    }
    out[mod] = wrapped;
  }
  return out;
}

/** What differs between `instance` now and a just-instantiated instance of `module`. */
function takeSnapshot(module: WebAssembly.Module, instance: WebAssembly.Instance, wasi: Wasi, calls: Set<string>, fuelUsed: bigint, written: number): Snapshot {
  const memory = instance.exports.memory as WebAssembly.Memory;
  const fresh = new WebAssembly.Instance(module, wasiImportsFor(module, new Wasi())).exports.memory as WebAssembly.Memory;
  const now = new Uint8Array(memory.buffer);
  const nowWords = new Uint32Array(memory.buffer);
  const wasWords = new Uint32Array(fresh.buffer);
  const blocks: Snapshot["blocks"] = [];
  const differs = (at: number): boolean => {
    const end = Math.min(at + SNAPSHOT_BLOCK, now.length) / 4;
    for (let i = at / 4; i < end; i++) if (nowWords[i] !== (i < wasWords.length ? wasWords[i] : 0)) return true;
    return false;
  };
  for (let at = 0; at < now.length; at += SNAPSHOT_BLOCK) {
    if (!differs(at)) continue;
    let end = at + SNAPSHOT_BLOCK;
    while (end < now.length && differs(end)) end += SNAPSHOT_BLOCK;
    blocks.push({ at, bytes: now.slice(at, end) });
    at = end;
  }
  const globals: [string, number | bigint][] = [];
  for (const [name, g] of Object.entries(instance.exports)) {
    if (name.startsWith(SNAPSHOT_GLOBAL_PREFIX) && g instanceof WebAssembly.Global) globals.push([name, g.value as number | bigint]);
  }
  return { pages: now.length / PAGE, blocks, globals, randomPosition: wasi.randomPosition, calls, fuelUsed, written };
}

/** Makes a just-instantiated instance what the snapshot's instance was after its warm-up. */
function restoreSnapshot(memory: WebAssembly.Memory, instance: WebAssembly.Instance, wasi: Wasi, snapshot: Snapshot): void {
  const have = memory.buffer.byteLength / PAGE;
  if (snapshot.pages > have) memory.grow(snapshot.pages - have);
  const bytes = new Uint8Array(memory.buffer);
  for (const b of snapshot.blocks) bytes.set(b.bytes, b.at);
  for (const [name, value] of snapshot.globals) (instance.exports[name] as WebAssembly.Global).value = value;
  wasi.randomPosition = snapshot.randomPosition;
}

/**
 * Why a run threw. What the host recorded beats what reached the top: a JS error thrown into the
 * module meets its unwinding machinery and usually surfaces as some other trap.
 */
function failureOutcome(
  e: unknown,
  instance: WebAssembly.Instance,
  host: HostSide,
  server: BridgeServer,
  wasi: Wasi,
  memoryPages: number | undefined,
): RunOutcome {
  const fuel = instance.exports[FUEL_EXPORT];
  if (fuel instanceof WebAssembly.Global && isOutOfFuel(instance)) {
    return { kind: "limit", error: new LimitExceeded("fuel", Number(fuelGiven.get(instance) ?? DEFAULT_LIMITS.fuel)) };
  }
  if (server.limitExceeded) return { kind: "limit", error: server.limitExceeded };
  if (wasi.limitExceeded) return { kind: "limit", error: wasi.limitExceeded };
  if (host.limitExceeded) return { kind: "limit", error: host.limitExceeded };
  if (wasi.exitCode !== null) return { kind: "exit", code: wasi.exitCode };
  if (host.fault) return { kind: "bridge", message: `host error while the macro ran: ${host.fault}` };
  // Rust's allocation failure hook prints this, then aborts (a trap).
  const oom = /memory allocation of (\d+) bytes failed/.exec(wasi.stderr.text());
  if (oom && memoryPages !== undefined) {
    const pages = host.memory.buffer.byteLength / PAGE;
    return { kind: "limit", error: new LimitExceeded("memoryPages", memoryPages, pages + Math.ceil(Number(oom[1]) / PAGE)) };
  }
  return classifyThrow(e, "while the macro ran");
}

/**
 * A fresh instance of an already compiled module. Synchronously where the engine allows it: the
 * asynchronous form yields to the event loop (and, in V8, to a background task) for every
 * expansion, which costs more than the instantiation itself. Browsers may refuse synchronous
 * instantiation of large modules on the main thread (a RangeError): then asynchronously.
 */
async function instantiate(module: WebAssembly.Module, imports: WebAssembly.Imports): Promise<WebAssembly.Instance> {
  if (syncInstantiation) {
    try {
      return new WebAssembly.Instance(module, imports);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      syncInstantiation = false;
    }
  }
  return WebAssembly.instantiate(module, imports);
}
let syncInstantiation = true;

/** The fuel each instance was given (for the limit message). */
const fuelGiven = new WeakMap<WebAssembly.Instance, number>();

/** V8's (and SpiderMonkey's, JavaScriptCore's) error for an exhausted stack. */
function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack|too much recursion/i.test(e.message);
}

function classifyThrow(e: unknown, when: string): RunOutcome {
  if (e instanceof WasiExit) return { kind: "exit", code: e.exitCode };
  if (e instanceof LimitExceeded) return { kind: "limit", error: e };
  if (e instanceof WebAssembly.RuntimeError) return { kind: "trap", message: `wasm trap ${when}: ${e.message}` };
  if (isStackOverflow(e)) return { kind: "trap", message: `stack overflow ${when}` };
  const WasmException = (WebAssembly as unknown as { Exception?: new (...args: never[]) => unknown }).Exception;
  if (typeof WasmException === "function" && e instanceof WasmException) {
    return { kind: "trap", message: `uncaught wasm exception ${when} (a panic escaped the bridge)` };
  }
  if (e instanceof WebAssembly.LinkError || e instanceof WebAssembly.CompileError) {
    return { kind: "bridge", message: `cannot instantiate the module: ${e.message}` };
  }
  if (e instanceof BridgeDecodeError) return { kind: "bridge", message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  return { kind: "bridge", message: `host error ${when}: ${message}` };
}

/** The host's view of one instance: its memory, its table, the host buffers and functions. */
class HostSide {
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
  hostFuelUsed = 0n;

  /** HostMeter: counts host work against the module's fuel; false (and the limit set) once it is out. */
  charge(units: number): boolean {
    if (this.fuelLeft === null) return true;
    this.hostFuelUsed += BigInt(units);
    if (this.fuelLeft() - this.hostFuelUsed >= 0n) return true;
    this.limitExceeded ??= new LimitExceeded("fuel", this.fuelGiven);
    this.exhaust?.();
    return false;
  }
  limitExceeded: LimitExceeded | null = null;

  constructor(
    readonly memory: WebAssembly.Memory,
    readonly table: WebAssembly.Table,
    private server: BridgeServer,
    private readonly memoryPages?: number,
  ) {
    const fns = hostFunctions({
      dispatch: (sret, _env, buf) => this.recording(() => this.dispatch(sret, buf)),
      reserve: (sret, buf, additional) => this.recording(() => this.reserveHost(sret, buf, additional)),
      drop: () => {
        // Host buffers live in host pages that die with the instance.
      },
    });
    let base: number;
    try {
      base = table.grow(3);
    } catch (e) {
      throw new MacroModuleError(`cannot add the bridge functions to the module's table (${(e as Error).message}); link it with a growable table`);
    }
    table.set(base, fns.dispatch);
    table.set(base + 1, fns.reserve);
    table.set(base + 2, fns.drop);
    this.dispatchIndex = base;
    this.reserveIndex = base + 1;
    this.dropIndex = base + 2;
  }

  private dataView: DataView | null = null;
  /** A view of the memory (a new one only when growing has replaced the buffer). */
  view(): DataView {
    const buffer = this.memory.buffer;
    if (this.dataView === null || this.dataView.buffer !== buffer) this.dataView = new DataView(buffer);
    return this.dataView;
  }

  /** Runs a call from the module, remembering why it failed before the error unwinds into it. */
  private recording(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof LimitExceeded) this.limitExceeded ??= e;
      // The host's calls are shallow (its walks over trees are iterative): a call that overflows
      // the stack was made with it nearly used up by the macro's own recursion, which is the
      // macro's stack overflow, reported as the trap it is (classifyThrow), not as a host fault.
      else if (!isStackOverflow(e)) this.fault ??= e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  bytes(ptr: number, len: number): Uint8Array {
    if (ptr < 0 || len < 0 || ptr + len > this.memory.buffer.byteLength) {
      throw new BridgeDecodeError(`buffer ${ptr}+${len} is outside memory`);
    }
    return new Uint8Array(this.memory.buffer, ptr, len);
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
   * Returns the fuel charged for host work during the call (reset afterwards).
   */
  warmUp(run: (sret: number, config: number) => void, forceShowPanics: boolean): bigint {
    const realServer = this.server;
    this.server = new BridgeServer({ spans: new SpanTable(), expansion: DUMMY_EXPANSION, bridgeAbi: realServer.bridgeAbi });
    try {
      const pages = 1;
      const end = (this.memory.grow(pages) + pages) * PAGE;
      const scratch = end - 512; // room for a client that ignores capacity
      const config = end - 128;
      const sret = end - 64;
      this.writeBuffer(config, { data: scratch, len: 0, capacity: 0, reserve: this.reserveIndex, drop: this.dropIndex });
      this.view().setUint32(config + BUFFER_SIZE, this.dispatchIndex, true);
      this.view().setUint32(config + BUFFER_SIZE + 4, 0, true);
      this.view().setUint8(config + BUFFER_SIZE + 8, forceShowPanics ? 1 : 0);
      run(sret, config);
      return this.hostFuelUsed;
    } finally {
      this.server = realServer;
      this.fault = null;
      this.limitExceeded = null;
      this.hostFuelUsed = 0n;
    }
  }

  /** Bump allocation in host-owned pages. */
  alloc(size: number): number {
    // Arithmetic, not `& ~7`: addresses past 2 GiB do not fit JS's signed 32-bit bitwise ops.
    const aligned = Math.ceil(this.region / 8) * 8;
    if (aligned + size <= this.regionEnd && this.regionEnd > 0) {
      this.region = aligned + size;
      return aligned;
    }
    const pages = Math.ceil((size + 8) / PAGE) + 1;
    let start: number;
    try {
      start = this.memory.grow(pages) * PAGE;
    } catch {
      const have = this.memory.buffer.byteLength / PAGE;
      throw new LimitExceeded("memoryPages", this.memoryPages ?? have, have + pages);
    }
    this.region = start + size;
    this.regionEnd = start + pages * PAGE;
    return start;
  }

  readBuffer(ptr: number): RawBuffer {
    this.bytes(ptr, BUFFER_SIZE);
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
    const v = this.view();
    v.setUint32(ptr, b.data, true);
    v.setUint32(ptr + 4, b.len, true);
    v.setUint32(ptr + 8, b.capacity, true);
    v.setUint32(ptr + 12, b.reserve, true);
    v.setUint32(ptr + 16, b.drop, true);
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
    let b = this.readBuffer(bufPtr);
    // A view, not a copy: the server decodes it completely before answering (BridgeServer.dispatch).
    const request = this.bytes(b.data, b.len);
    // Out of fuel once: every later call fails too (the macro may catch the first as a panic).
    if (this.limitExceeded) throw this.limitExceeded;
    const workBefore = this.server.hostWork;
    const response = this.server.dispatch(request);
    // The host's work counts against the module's fuel. It is kept here, not subtracted from the
    // fuel global: the module's metering keeps a local copy it may store back over the global.
    if (!this.charge(HOST_WORK_PER_CALL + HOST_WORK_PER_BYTE * (request.length + response.length) + (this.server.hostWork - workBefore))) {
      throw this.limitExceeded!;
    }
    b.len = 0;
    if (response.length > b.capacity) {
      if (b.reserve === this.reserveIndex) {
        b = { ...b, ...this.grownHostBuffer(response.length) };
      } else {
        // The client's buffer: grow it with its own reserve, as `Buffer::extend_from_slice` does.
        const arg = this.alloc(BUFFER_SIZE);
        const out = this.alloc(BUFFER_SIZE);
        this.writeBuffer(arg, b);
        const reserve = this.table.get(b.reserve);
        if (typeof reserve !== "function") throw new BridgeDecodeError(`buffer reserve ${b.reserve} is not a function`);
        (reserve as (sret: number, buf: number, additional: number) => void)(out, arg, response.length);
        b = this.readBuffer(out);
      }
    }
    this.bytes(b.data, response.length).set(response);
    b.len = response.length;
    this.writeBuffer(sret, b);
  }

  private grownHostBuffer(capacity: number): { data: number; capacity: number } {
    return { data: this.alloc(capacity), capacity };
  }
}

type I32 = number;
interface HostFns {
  dispatch: (sret: I32, env: I32, buf: I32) => void;
  reserve: (sret: I32, buf: I32, additional: I32) => void;
  drop: (buf: I32) => void;
}

/** Wraps the JS functions as wasm functions via the re-export module (see the header comment). */
function hostFunctions(fns: HostFns): Record<keyof HostFns, Function> {
  const instance = new WebAssembly.Instance(reexportModule(), { h: { ...fns } });
  return instance.exports as unknown as Record<keyof HostFns, Function>;
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
