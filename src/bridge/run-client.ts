// Runs one macro expansion: a fresh instance of the module (or one restored from a warm-start
// snapshot, snapshot.ts), the bridge wired into its memory and function table (host-side.ts), the
// client's `run` called, the result decoded, and whatever went wrong classified as a RunOutcome.
//
// Browser-safe: no Node APIs here.

import type { TokenStream } from "../tokens/model.js";
import { CapturedOutput, Wasi, WasiExit, wasiImportsFor, type WasiOptions } from "../sandbox/wasi.js";
import { DEFAULT_LIMITS, LimitExceeded, WASM_PAGE_BYTES } from "../sandbox/limits.js";
import { FUEL_EXPORT, isOutOfFuel, setFuel } from "../sandbox/fuel.js";
import { BridgeDecodeError, BridgeReader, BridgeWriter, RESULT_OK, readPanicMessage } from "./rpc.js";
import type { BridgeServer } from "./server.js";
import type { Expansion } from "./spans.js";
import { BUFFER_SIZE, CONFIG_SIZE, HostSide, isStackOverflow } from "./host-side.js";
import {
  findSnapshot,
  keepIdleInstance,
  keepSnapshot,
  recordingCalls,
  restoreSnapshot,
  takeIdleInstance,
  type IdleInstance,
  type WarmStart,
} from "./snapshot.js";

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
  let host: HostSide;
  let instance: WebAssembly.Instance;
  const fuel = options.fuel ?? DEFAULT_LIMITS.fuel;
  const warm = options.warmStart;
  // Taking a snapshot: the WASI calls the constructors and warm-up make are recorded.
  const { snapshot, calls } = findSnapshot(module, warm, fuel, options.wasi?.maxWrittenBytes);
  // Starting from a snapshot: in the instance a previous run left, else in a new one that may be kept (snapshot.ts).
  let reusable: IdleInstance | null = null;
  let calling: { current: Wasi | null } | null = null;
  const result = (outcome: RunOutcome): RunResult => {
    if (snapshot && reusable && (outcome.kind === "ok" || outcome.kind === "panic")) keepIdleInstance(snapshot, reusable);
    return { outcome, stdout: wasi.stdout, stderr: wasi.stderr };
  };
  try {
    const idle = snapshot ? takeIdleInstance(module, snapshot, wasi) : null;
    if (idle) {
      instance = idle.instance;
    } else if (snapshot) {
      // Made only for an instance that may be kept, not on every run: V8 pretenured the literal (put
      // it straight in the old generation), and each run's copy, garbage once the run ended, held
      // the run's Wasi, and through it the whole run, through every young-generation collection
      // until a full one (DEVELOPERS.md, "What outlives an expansion").
      const current: { current: Wasi | null } = { current: wasi };
      calling = current;
      instance = await instantiate(
        module,
        wasiImportsFor(module, () => {
          // Only a run calls into its instance, and a run sets `current` first (takeIdleInstance).
          if (current.current === null) throw new Error("an idle instance called a WASI function");
          return current.current;
        }),
      );
      restoreSnapshot(instance.exports.memory as WebAssembly.Memory, instance, wasi, snapshot);
    } else {
      const imports = wasiImportsFor(module, wasi);
      instance = await instantiate(module, calls ? recordingCalls(imports, calls) : imports);
    }
    if (instance.exports[FUEL_EXPORT] instanceof WebAssembly.Global) {
      setFuel(instance, fuel);
      fuelGiven.set(instance, fuel);
    }
    const memory = instance.exports.memory;
    const table = instance.exports.__indirect_function_table;
    if (!(memory instanceof WebAssembly.Memory)) return result({ kind: "bridge", message: "the module exports no memory" });
    if (!(table instanceof WebAssembly.Table)) return result({ kind: "bridge", message: "the module exports no __indirect_function_table" });
    wasi.bindMemory(memory);
    host = new HostSide(memory, table, server, options.memoryPages, idle?.entries);
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
      host.useRegion(...snapshot.hostRegion);
      warm!.replay(snapshot.calls);
      reusable = idle ?? (calling === null ? null : { instance, wasi: calling, entries: host.entries });
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
    if (calls && warm) {
      const fuelVar = instance.exports[FUEL_EXPORT];
      const fuelUsed = fuelVar instanceof WebAssembly.Global ? BigInt(fuel) - (fuelVar.value as bigint) + hostFuel : null;
      keepSnapshot(module, warm.key, instance, wasi, calls, fuelUsed, host.hostRegion);
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
    const input = new BridgeWriter();
    input.handle(expansion.defSite).handle(expansion.callSite).handle(expansion.mixedSite);
    for (const stream of inputs) input.handle(server.allocStream(stream));
    const configPtr = host.alloc(CONFIG_SIZE);
    host.writeConfig(configPtr, host.newBuffer(input.finish()), options.forceShowPanics ?? false);
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
    const r = new BridgeReader(response);
    if (r.tag(2, "Result") === RESULT_OK) {
      const stream = r.option(() => server.takeStream(r.handle())) ?? [];
      return result({ kind: "ok", output: stream });
    }
    return result({ kind: "panic", message: readPanicMessage(r) });
  } catch (e) {
    return result({ kind: "bridge", message: `malformed result from the macro: ${(e as Error).message}` });
  }
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
    const pages = host.memory.buffer.byteLength / WASM_PAGE_BYTES;
    return { kind: "limit", error: new LimitExceeded("memoryPages", memoryPages, pages + Math.ceil(Number(oom[1]) / WASM_PAGE_BYTES)) };
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
