// Deterministic CPU fuel for wasm modules, by instrumenting the module at load time.
//
// Browsers and Node run modules on engines without fuel, so the module meters itself: it gets a
// mutable, exported i64 global holding the remaining fuel, and at every metering point (function
// entry, loop header, `if` arms, `catch` handlers, and the join point after a block that some
// branch targets) it subtracts the instruction count of the straight-line code that follows, up
// to the next metering point. When the fuel drops below zero it executes `unreachable`.
//
// By default ("local" mode) a function meters a local copy of the fuel, loaded from the global at
// entry, after calls and at `catch` handlers, and stored back before calls, returns, throws and
// traps, so a hot loop decrements a register, not memory; the charges are identical to metering
// the global directly ("global" mode), only cheaper (see bench/fuel.ts).
//
// Why a trap and not a call to a throwing host import: the macro modules use wasm exception
// handling, and a JS exception thrown from an import *is* caught by the module's own `catch_all`
// (Rust's panic machinery uses it for `catch_unwind`), so the macro could swallow it and run on.
// A trap is not an exception: no `catch`/`catch_all`/`try_table` handler can intercept it, and it
// unwinds straight out to the host. Exhaustion is also sticky: the global stays negative, so any
// later metering point traps again. Not adding an import also means no function index shifts:
// the rewrite appends one global, one export and (in local mode) one local per function, and
// copies every other section through byte for byte. (DWARF and branch-hint custom sections, which
// hold code offsets, are copied unchanged and so go stale; release macro builds carry neither.)
//
// Every instruction costs 1, block markers (`block`, `loop`, `end`, `else`, `try`, `catch`...)
// cost 0. Branches that leave a segment early still pay for the whole segment: fuel is an upper
// bound on instructions executed, the same on every engine and every run. Bulk memory operations
// cost 1 whatever their length; they are bounded by the memory limit.
//
// Browser-safe: no Node APIs.

import {
  WasmReader,
  WasmWriter,
  InstructionReader,
  Op,
  SectionId,
  WasmFormatError,
  concatBytes,
  encodeSection,
  findSection,
  parseModule,
  sectionOrder,
  skipLocals,
  writeLimits,
  type CodeBody,
  type ModuleInfo,
  type RawSection,
} from "../wasm/binary.js";
import { DEFAULT_LIMITS, LimitExceeded } from "./limits.js";
import { MacroboxError } from "../errors.js";

/** Name of the exported global that holds the remaining fuel. */
export const FUEL_EXPORT = "__macrobox_fuel";

export interface FuelOptions {
  /** Fuel the global starts with: what the start function and the first call may use. Default: `DEFAULT_LIMITS.fuel`. */
  initialFuel?: number | bigint;
  /**
   * Caps every memory the module defines at this many 64 KiB pages (its declared maximum), so
   * `memory.grow` beyond it returns -1. A minimum above the cap is refused with
   * `LimitExceeded("memoryPages")`. Imported memories are left alone: whoever creates them sets
   * their maximum. Default: unchanged.
   */
  maxMemoryPages?: number;
  /** Name to export the fuel global under. Default: `__macrobox_fuel`. */
  exportName?: string;
  /**
   * Where functions keep the fuel while they run. `"local"` (default): each function copies the
   * global into a local at entry, meters the local, and writes it back before anything that can
   * observe it (calls, returns, throws, traps), reloading after calls and at `catch` handlers;
   * loops then meter a register instead of memory. `"global"`: every metering point reads and
   * writes the global. Both charge exactly the same fuel; functions containing `try_table` always
   * use `"global"` (its handlers land on ordinary labels where a reload cannot be placed safely).
   */
  mode?: FuelMode;
}

export type FuelMode = "local" | "global";

export interface FuelInstrumentation {
  wasm: Uint8Array<ArrayBuffer>;
  /** Index of the fuel global in the instrumented module. */
  globalIndex: number;
  /** Functions instrumented (all the module defines). */
  functions: number;
  /** Metering points inserted. */
  meteringPoints: number;
  /** Instructions added in all (metering, and in local mode the syncs with the global). */
  insertedInstructions: number;
}

/** The module cannot be instrumented as asked (already instrumented, bad options). */
export class InstrumentationError extends MacroboxError {
  override name = "InstrumentationError";
  constructor(message: string) {
    super("module", message);
  }
}

/** Instruments `wasm` with fuel metering (and optionally a memory cap); returns the new module bytes. */
/**
 * Version of the instrumentation: part of the key under which instrumented modules are cached
 * (src/host/module.ts). Bump it whenever the rewrite changes what it emits.
 */
export const FUEL_INSTRUMENTATION_VERSION = 3;

/**
 * Exported by an instrumented module whose whole state after a call is its memory and the globals it
 * exports (every mutable global, see SNAPSHOT_GLOBAL_PREFIX): one memory, no imported globals, no start
 * function, and no instruction that changes a table or the segments (table.set/grow/fill/copy/init,
 * elem.drop, memory.init, data.drop). Only then may the host snapshot an instance (src/bridge/snapshot.ts).
 */
export const SNAPSHOT_EXPORT = "__macrobox_snapshot";
/** Each mutable global the module defines is exported as this prefix and its index. */
export const SNAPSHOT_GLOBAL_PREFIX = "__macrobox_global_";

export function instrumentFuel(wasm: Uint8Array, options: FuelOptions = {}): Uint8Array<ArrayBuffer> {
  return instrumentFuelDetailed(wasm, options).wasm;
}

export function instrumentFuelDetailed(wasm: Uint8Array, options: FuelOptions = {}): FuelInstrumentation {
  const exportName = options.exportName ?? FUEL_EXPORT;
  const fuelOption = options.initialFuel ?? DEFAULT_LIMITS.fuel;
  if (typeof fuelOption === "number" && !Number.isSafeInteger(fuelOption)) {
    throw new InstrumentationError(`initial fuel must be a whole number, got ${fuelOption}`);
  }
  const initialFuel = BigInt(fuelOption);
  if (initialFuel < 0n || initialFuel >= 2n ** 63n) {
    throw new InstrumentationError(`initial fuel must be between 0 and 2^63-1, got ${initialFuel}`);
  }
  const info = parseModule(wasm);
  if (info.exports.some((e) => e.name === exportName)) {
    throw new InstrumentationError(`module already exports \`${exportName}\` (is it already instrumented?)`);
  }
  const mode = options.mode ?? "local";
  if (mode !== "local" && mode !== "global") throw new InstrumentationError(`unknown fuel mode \`${String(mode)}\``);
  const globalIndex = info.importedGlobals + info.definedGlobals;

  let meteringPoints = 0;
  // One memory: the host snapshots and restores the exported `memory` only.
  let snapshotSafe = info.importedGlobals === 0 && info.start === undefined && info.memories.length + info.importedMemories === 1;
  let insertedInstructions = 0;
  const replaced = new Map<number, Uint8Array>(); // section id -> new section bytes
  const code = findSection(info, SectionId.code);
  if (code) {
    const w = new WasmWriter().u32(info.codeBodies.length);
    info.codeBodies.forEach((body, i) => {
      const plan = planMetering(wasm, body);
      meteringPoints += plan.points.length;
      if (plan.changesTablesOrSegments) snapshotSafe = false;
      if (mode === "global" || plan.hasTryTable) {
        writeMeteredBody(w, wasm, body, globalModeInsertions(plan, globalIndex), undefined);
        insertedInstructions += 10 * plan.points.length;
      } else {
        const type = info.types[info.functionTypes[i]];
        if (type === undefined) throw new WasmFormatError(`function ${i} has an unknown type`, body.start);
        const local = type.params.length + countLocals(wasm, body);
        const insertions = localModeInsertions(plan, globalIndex, local, body);
        for (const insertion of insertions) insertedInstructions += insertion.order === CHARGE ? 11 : 2;
        writeMeteredBody(w, wasm, body, insertions, local);
      }
    });
    replaced.set(SectionId.code, encodeSection(SectionId.code, w.finish()));
  }

  // (global (mut i64) (i64.const initialFuel)), appended so no existing global index moves.
  const fuelGlobalEntry = new WasmWriter().u8(0x7e).u8(0x01).u8(Op.i64_const).s64(initialFuel).u8(Op.end).finish();
  replaced.set(SectionId.global, appendToVector(info, SectionId.global, fuelGlobalEntry));
  const exports = [new WasmWriter().name(exportName).u8(0x03).u32(globalIndex).finish()];
  if (snapshotSafe) {
    info.globalMutability.forEach((mutable, i) => {
      if (mutable)
        exports.push(
          new WasmWriter()
            .name(`${SNAPSHOT_GLOBAL_PREFIX}${i}`)
            .u8(0x03)
            .u32(info.importedGlobals + i)
            .finish(),
        );
    });
    exports.push(new WasmWriter().name(SNAPSHOT_EXPORT).u8(0x03).u32(globalIndex).finish());
  }
  replaced.set(SectionId.export, appendToVector(info, SectionId.export, ...exports));
  if (options.maxMemoryPages !== undefined) {
    const memory = capMemories(info, options.maxMemoryPages);
    if (memory) replaced.set(SectionId.memory, memory);
  }

  return {
    wasm: assemble(info, replaced),
    globalIndex,
    functions: info.codeBodies.length,
    meteringPoints,
    insertedInstructions,
  };
}

// ---------------------------------------------------------------------------------------------
// Planning: where the metering points go and what each one charges
// ---------------------------------------------------------------------------------------------

/** A metering point: insert a charge of `cost` at byte offset `at` of the module. */
export interface MeteringPoint {
  at: number;
  cost: number;
}

interface Frame {
  kind: "func" | "block" | "loop" | "if" | "try";
  /** Some branch targets this frame's end (for `loop`: its header, which is metered anyway). */
  targeted: boolean;
  /** A legacy `try` with at least one `catch`/`catch_all`: its end is reached from the body too. */
  hasCatch: boolean;
}

/** Fuel an instruction costs: block markers are free, everything else counts 1. */
export function instructionCost(opcode: number): number {
  switch (opcode) {
    case Op.block:
    case Op.loop:
    case Op.else:
    case Op.end:
    case Op.try:
    case Op.catch:
    case Op.catch_all:
    case Op.delegate:
    case Op.try_table:
      return 0;
    default:
      return 1;
  }
}

export interface MeteringPlan {
  /** Charges, in offset order; zero-cost segments are left out. */
  points: MeteringPoint[];
  /** Offsets where a segment other than the entry starts (join points, handlers, loop headers), charged or not. */
  boundaries: number[];
  /** Offsets of instructions before which the fuel must be in the global (they can observe it or leave the function). */
  writeBacks: number[];
  /** Offsets after which the global may have changed (after calls, at `catch` handlers). */
  reloads: number[];
  /** The body uses `try_table`, whose handlers land on ordinary labels. */
  hasTryTable: boolean;
  /** The body changes a table or a segment's state (see SNAPSHOT_EXPORT). */
  changesTablesOrSegments: boolean;
}

/** 0xfc sub-opcodes that change tables or segments: memory.init, data.drop, table.init, elem.drop, table.copy, table.grow, table.fill. */
const TABLE_OR_SEGMENT_MISC = new Set([8, 9, 12, 13, 14, 15, 17]);
const TABLE_SET = 0x26;

/**
 * Splits a body into segments, each entered only at its first instruction (every branch target,
 * handler and function entry starts one), and charges each segment's whole cost at its start.
 * Code after an unconditional transfer (br, return, throw, unreachable...) up to the next segment
 * is dead, and costs nothing. Also records where a function-local copy of the fuel must be synced
 * with the global.
 */
export function planMetering(bytes: Uint8Array, body: CodeBody): MeteringPlan {
  const points: MeteringPoint[] = [];
  const writeBacks: number[] = [];
  const reloads: number[] = [];
  let hasTryTable = false;
  let changesTablesOrSegments = false;
  let current: MeteringPoint = { at: body.instrStart, cost: 0 };
  points.push(current);
  let live = true;
  const frames: Frame[] = [{ kind: "func", targeted: false, hasCatch: false }];
  const startSegment = (at: number): void => {
    current = { at, cost: 0 };
    points.push(current);
    live = true;
  };
  const ins = new InstructionReader(bytes, body.instrStart, body.end);
  const target = (depth: number): void => {
    const frame = frames[frames.length - 1 - depth];
    if (frame === undefined) throw new WasmFormatError(`branch to label ${depth} outside the function`, ins.offset);
    frame.targeted = true;
    // A branch to the function's own label is a return.
    if (depth === frames.length - 1 && writeBacks[writeBacks.length - 1] !== ins.offset) writeBacks.push(ins.offset);
  };
  const push = (kind: Frame["kind"]): void => {
    frames.push({ kind, targeted: false, hasCatch: false });
  };
  const top = (): Frame => {
    const frame = frames[frames.length - 1];
    if (frame === undefined) throw new WasmFormatError("instruction after the function's final end", ins.offset);
    return frame;
  };

  while (ins.next()) {
    const op = ins.opcode;
    if (frames.length === 0) throw new WasmFormatError("instruction after the function's final end", ins.offset);
    if (live) current.cost += instructionCost(op);
    if (op === TABLE_SET || (op === Op.prefix_misc && TABLE_OR_SEGMENT_MISC.has(ins.sub))) changesTablesOrSegments = true;
    switch (op) {
      case Op.block:
        push("block");
        break;
      case Op.try_table:
        hasTryTable = true;
        // Catch clauses branch to labels of the enclosing context (outside the try_table).
        for (const label of ins.labels) target(label);
        push("block");
        break;
      case Op.try:
        push("try");
        break;
      case Op.loop:
        push("loop");
        startSegment(ins.pos);
        break;
      case Op.if:
        push("if");
        startSegment(ins.pos);
        break;
      case Op.else:
        if (top().kind !== "if") throw new WasmFormatError("`else` outside an `if`", ins.offset);
        startSegment(ins.pos);
        break;
      case Op.catch:
      case Op.catch_all: {
        const frame = top();
        if (frame.kind !== "try") throw new WasmFormatError("`catch` outside a `try`", ins.offset);
        frame.hasCatch = true;
        reloads.push(ins.pos);
        startSegment(ins.pos);
        break;
      }
      case Op.delegate: {
        // Ends a `try` whose exceptions go to an outer handler (metered at its `catch`).
        const frame = frames.pop();
        if (frame?.kind !== "try") throw new WasmFormatError("`delegate` outside a `try`", ins.offset);
        if (frame.targeted) startSegment(ins.pos);
        break;
      }
      case Op.end: {
        const frame = frames.pop()!;
        if (frames.length === 0) {
          if (ins.pos !== body.end) throw new WasmFormatError("function body continues after its final end", ins.pos);
          writeBacks.push(ins.offset);
          break;
        }
        const join = frame.kind === "if" || (frame.kind === "try" && frame.hasCatch) || (frame.kind !== "loop" && frame.targeted);
        if (join) startSegment(ins.pos);
        break;
      }
      case Op.br:
        target(ins.index);
        live = false;
        break;
      case Op.br_if:
      case Op.br_on_null:
      case Op.br_on_non_null:
        target(ins.index);
        break;
      case Op.br_table:
        for (const label of ins.labels) target(label);
        live = false;
        break;
      case Op.call:
      case Op.call_indirect:
      case Op.call_ref:
        writeBacks.push(ins.offset);
        reloads.push(ins.pos);
        break;
      case Op.unreachable:
      case Op.return:
      case Op.throw:
      case Op.rethrow:
      case Op.throw_ref:
      case Op.return_call:
      case Op.return_call_indirect:
      case Op.return_call_ref:
        writeBacks.push(ins.offset);
        live = false;
        break;
      default:
        break;
    }
  }
  if (frames.length !== 0) throw new WasmFormatError("function body ends inside a block", body.end);
  return {
    points: points.filter((p) => p.cost > 0),
    boundaries: points.slice(1).map((p) => p.at),
    writeBacks,
    reloads,
    hasTryTable,
    changesTablesOrSegments,
  };
}

// ---------------------------------------------------------------------------------------------
// Rewriting
// ---------------------------------------------------------------------------------------------

/** Code spliced into a body at byte offset `at`; at equal offsets, lower `order` goes first. */
interface Insertion {
  at: number;
  order: number;
  code: Uint8Array;
}

// At one offset: first the reload (the previous instruction's effect), then the charge (the
// segment starting here), then the write-back (before the next instruction).
const RELOAD = 0;
const CHARGE = 1;
const WRITE_BACK = 2;

/**
 * Global mode, per charge:
 *   global.get F; i64.const cost; i64.sub; global.set F;
 *   global.get F; i64.const 0; i64.lt_s; if unreachable end
 * Stack-neutral, so it can go anywhere an instruction can (after `catch`, a block's results...).
 */
function globalModeInsertions(plan: MeteringPlan, fuel: number): Insertion[] {
  return plan.points.map((p) => ({
    at: p.at,
    order: CHARGE,
    code: new WasmWriter()
      .u8(Op.global_get)
      .u32(fuel)
      .u8(Op.i64_const)
      .s64(p.cost)
      .u8(Op.i64_sub)
      .u8(Op.global_set)
      .u32(fuel)
      .u8(Op.global_get)
      .u32(fuel)
      .u8(Op.i64_const)
      .u8(0)
      .u8(Op.i64_lt_s)
      .u8(Op.if)
      .u8(0x40)
      .u8(Op.unreachable)
      .u8(Op.end)
      .finish(),
  }));
}

/**
 * Local mode: the function's fuel lives in local L.
 *   entry, after calls, at catch:  global.get F; local.set L
 *   charge:      local.get L; i64.const cost; i64.sub; local.tee L; i64.const 0; i64.lt_s;
 *                if local.get L; global.set F; unreachable end
 *   write-back:  local.get L; global.set F      (before calls, returns, throws, traps, the final end)
 */
function localModeInsertions(plan: MeteringPlan, fuel: number, local: number, body: CodeBody): Insertion[] {
  const reload = new WasmWriter().u8(Op.global_get).u32(fuel).u8(Op.local_set).u32(local).finish();
  const writeBack = new WasmWriter().u8(Op.local_get).u32(local).u8(Op.global_set).u32(fuel).finish();
  const charge = (cost: number): Uint8Array =>
    new WasmWriter()
      .u8(Op.local_get)
      .u32(local)
      .u8(Op.i64_const)
      .s64(cost)
      .u8(Op.i64_sub)
      .u8(Op.local_tee)
      .u32(local)
      .u8(Op.i64_const)
      .u8(0)
      .u8(Op.i64_lt_s)
      .u8(Op.if)
      .u8(0x40)
      .bytes(writeBack)
      .u8(Op.unreachable)
      .u8(Op.end)
      .finish();

  // Walk the events in byte order, tracking whether the local holds charges the global lacks
  // ("dirty"). Between two segment starts the code is straight-line and entered only at the
  // first, so a write-back with no charge since the last sync is redundant and left out (typical:
  // consecutive calls). Any segment start may be reached from elsewhere, so it counts as dirty.
  // A reload (the global is the newer after a call) is left out when no charge or segment start
  // follows before the next reload: the stale local is then never read, and the write-backs in
  // between are left out too, since nothing was charged to it (typical: consecutive calls).
  const BOUNDARY = -1;
  const events: { at: number; order: number; cost: number }[] = [{ at: body.instrStart, order: RELOAD, cost: 0 }];
  for (const at of plan.reloads) events.push({ at, order: RELOAD, cost: 0 });
  for (const at of plan.boundaries) events.push({ at, order: CHARGE, cost: BOUNDARY });
  for (const p of plan.points) events.push({ at: p.at, order: CHARGE, cost: p.cost });
  for (const at of plan.writeBacks) events.push({ at, order: WRITE_BACK, cost: 0 });
  events.sort((a, b) => a.at - b.at || a.order - b.order || a.cost - b.cost);

  const out: Insertion[] = [];
  let dirty = false;
  events.forEach((e, i) => {
    if (e.order === RELOAD) {
      let next = i + 1;
      while (next < events.length && events[next].order === WRITE_BACK) next++;
      const used = next < events.length && events[next].order === CHARGE;
      if (used) out.push({ at: e.at, order: RELOAD, code: reload });
      dirty = false;
    } else if (e.order === CHARGE) {
      if (e.cost !== BOUNDARY) out.push({ at: e.at, order: CHARGE, code: charge(e.cost) });
      dirty = true;
    } else if (dirty) {
      out.push({ at: e.at, order: WRITE_BACK, code: writeBack });
      dirty = false;
    }
  });
  return out;
}

/** Number of locals a body declares (not counting parameters). */
function countLocals(bytes: Uint8Array, body: CodeBody): number {
  return skipLocals(new WasmReader(bytes, body.bodyStart, body.instrStart));
}

/** Writes a body with `insertions` spliced in, and one extra i64 local declared when `addedLocal` is set. */
function writeMeteredBody(w: WasmWriter, bytes: Uint8Array, body: CodeBody, insertions: Insertion[], addedLocal: number | undefined): void {
  insertions.sort((a, b) => a.at - b.at || a.order - b.order);
  const out = new WasmWriter();
  if (addedLocal === undefined) {
    out.bytes(bytes.subarray(body.bodyStart, body.instrStart));
  } else {
    const r = new WasmReader(bytes, body.bodyStart, body.instrStart);
    const groups = r.u32();
    out
      .u32(groups + 1)
      .bytes(bytes.subarray(r.pos, body.instrStart))
      .u32(1)
      .u8(0x7e);
  }
  let copied = body.instrStart;
  for (const insertion of insertions) {
    out.bytes(bytes.subarray(copied, insertion.at));
    out.bytes(insertion.code);
    copied = insertion.at;
  }
  out.bytes(bytes.subarray(copied, body.end));
  w.u32(out.length).bytes(out.finish());
}

/** The section `id` with `entry` appended to its vector (a new one-entry section if there is none). */
function appendToVector(info: ModuleInfo, id: number, ...entries: Uint8Array[]): Uint8Array {
  const section = findSection(info, id);
  const w = new WasmWriter();
  if (!section) w.u32(entries.length);
  else {
    const r = new WasmReader(info.bytes, section.payloadStart, section.end);
    const count = r.u32();
    w.u32(count + entries.length).bytes(info.bytes.subarray(r.pos, section.end));
  }
  for (const entry of entries) w.bytes(entry);
  return encodeSection(id, w.finish());
}

/** The memory section with every memory's maximum lowered to `maxPages`, or undefined if no memory is defined. */
function capMemories(info: ModuleInfo, maxPages: number): Uint8Array | undefined {
  if (!Number.isSafeInteger(maxPages) || maxPages <= 0) {
    throw new InstrumentationError(`maxMemoryPages must be a positive whole number, got ${maxPages}`);
  }
  if (info.memories.length === 0) return undefined;
  const w = new WasmWriter().u32(info.memories.length);
  for (const memory of info.memories) {
    const limits = { ...memory.limits };
    if (limits.min > maxPages) throw new LimitExceeded("memoryPages", maxPages, limits.min);
    if (limits.max === undefined || limits.max > maxPages) limits.max = maxPages;
    writeLimits(w, limits);
  }
  return encodeSection(SectionId.memory, w.finish());
}

/** The module with `replaced` sections swapped in (or inserted at their place in section order). */
function assemble(info: ModuleInfo, replaced: Map<number, Uint8Array>): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [info.bytes.subarray(0, 8)];
  const pending = new Map(replaced);
  const flushBefore = (section: RawSection): void => {
    // New sections go right before the first existing one that must follow them.
    for (const [id, bytes] of [...pending].sort((a, b) => sectionOrder(a[0]) - sectionOrder(b[0]))) {
      if (findSection(info, id) === undefined && sectionOrder(id) < sectionOrder(section.id)) {
        parts.push(bytes);
        pending.delete(id);
      }
    }
  };
  for (const section of info.sections) {
    if (section.id !== SectionId.custom) flushBefore(section);
    const replacement = pending.get(section.id);
    if (section.id !== SectionId.custom && replacement) {
      parts.push(replacement);
      pending.delete(section.id);
    } else {
      parts.push(info.bytes.subarray(section.start, section.end));
    }
  }
  for (const [, bytes] of [...pending].sort((a, b) => sectionOrder(a[0]) - sectionOrder(b[0]))) parts.push(bytes);
  return concatBytes(parts);
}

// ---------------------------------------------------------------------------------------------
// Runtime helpers
// ---------------------------------------------------------------------------------------------

/** The fuel global of an instance of an instrumented module. */
export function fuelGlobal(instance: WebAssembly.Instance, exportName = FUEL_EXPORT): WebAssembly.Global {
  const global = instance.exports[exportName];
  if (!(global instanceof WebAssembly.Global)) {
    throw new InstrumentationError(`instance has no \`${exportName}\` global: the module was not instrumented with instrumentFuel`);
  }
  return global;
}

/** Remaining fuel (negative once exhausted). */
export function getFuel(instance: WebAssembly.Instance): bigint {
  return fuelGlobal(instance).value as bigint;
}

export function setFuel(instance: WebAssembly.Instance, fuel: number | bigint): void {
  const value = BigInt(fuel);
  if (value < 0n || value >= 2n ** 63n) throw new RangeError(`fuel must be between 0 and 2^63-1, got ${value}`);
  fuelGlobal(instance).value = value;
}

/** True once the instance ran out of fuel (and every further metered step will trap). */
export function isOutOfFuel(instance: WebAssembly.Instance): boolean {
  return getFuel(instance) < 0n;
}

export interface FuelRun<T> {
  result: T;
  /** Fuel the call consumed. */
  fuelUsed: number;
}

/**
 * Runs `fn` (which calls into `instance`) with `fuel` fuel. A trap caused by exhaustion becomes
 * `LimitExceeded("fuel")` (with the trap as its cause); any other error passes through unchanged.
 */
export function runWithFuel<T>(instance: WebAssembly.Instance, fuel: number, fn: () => T): FuelRun<T> {
  setFuel(instance, fuel);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    if (isOutOfFuel(instance)) {
      const exceeded = new LimitExceeded("fuel", fuel);
      (exceeded as { cause?: unknown }).cause = error;
      throw exceeded;
    }
    throw error;
  }
  return { result, fuelUsed: fuel - Number(getFuel(instance)) };
}
