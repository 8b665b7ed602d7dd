// A small, strict reader/writer for the WebAssembly binary format.
//
// It exists so the sandbox can rewrite macro modules (fuel metering, memory caps) without a
// heavyweight dependency, and without re-encoding what it does not change: callers get byte
// ranges into the original module and copy them through untouched.
//
// Scope: the MVP plus every proposal rustc/LLVM can emit for wasm32 (multi-value, sign-ext,
// saturating truncation, bulk memory, reference types, SIMD + relaxed SIMD, tail calls,
// exception handling in both the legacy `try`/`catch` and the `try_table`/`exnref` encodings,
// threads/atomics, multi-memory, memory64, extended-const). GC types and instructions are
// refused: rustc never emits them, and mis-decoding one would mis-instrument the module.
// Anything not understood raises `WasmFormatError` naming the byte offset, never a guess.
//
// Browser-safe: only typed arrays.

import { MacroboxError } from "../errors.js";
import { ByteReader, ByteWriter } from "../bytes.js";

export class WasmFormatError extends MacroboxError {
  override name = "WasmFormatError";
  constructor(
    message: string,
    /** Byte offset in the module where the problem was found. */
    readonly offset: number,
  ) {
    super("wasm-format", `${message} (at byte offset ${offset}, 0x${offset.toString(16)})`);
  }
}

const hex = (n: number): string => `0x${n.toString(16).padStart(2, "0")}`;

// ---------------------------------------------------------------------------------------------
// Reading primitives
// ---------------------------------------------------------------------------------------------

/** A cursor over a byte range (src/bytes.ts). Every read checks bounds and LEB128 well-formedness. */
export class WasmReader extends ByteReader {
  fail(message: string, at = this.pos): never {
    throw new WasmFormatError(message, at);
  }

  protected override truncated(): never {
    this.fail("unexpected end of data");
  }

  /** Unsigned LEB128, at most 32 bits. */
  u32(): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.u8();
      if (shift === 28 && (byte & 0x70) !== 0) this.fail("u32 LEB128 overflows 32 bits", start);
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 28) this.fail("u32 LEB128 longer than 5 bytes", start);
    }
  }

  /** Unsigned LEB128 up to 64 bits, as a number (exact up to 2^53; used for memory64 sizes). */
  u64(): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.u8();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) this.fail("u64 LEB128 longer than 10 bytes", start);
    }
  }

  /** Signed LEB128 of at most `bits` bits, as a number (exact for bits <= 33 and small values). */
  signed(bits: number): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    const maxShift = Math.ceil(bits / 7) * 7;
    let byte: number;
    do {
      if (shift >= maxShift) this.fail(`s${bits} LEB128 too long`, start);
      byte = this.u8();
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    if (shift > bits && shift - 7 < bits) {
      // The unused high bits of the last byte must be a sign extension of the value.
      const usedBits = bits - (shift - 7);
      const rest = byte >> (usedBits - 1);
      if (rest !== 0 && rest !== 0x7f >> (usedBits - 1)) this.fail(`s${bits} LEB128 overflows`, start);
    }
    if (byte & 0x40) result -= 2 ** shift;
    return result;
  }

  s32(): number {
    return this.signed(32);
  }

  s33(): number {
    return this.signed(33);
  }

  /** Signed 64-bit LEB128 as a bigint (exact). */
  s64(): bigint {
    const start = this.pos;
    let result = 0n;
    let shift = 0n;
    let byte: number;
    do {
      if (shift >= 70n) this.fail("s64 LEB128 too long", start);
      byte = this.u8();
      result |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
    } while (byte & 0x80);
    if (byte & 0x40) result -= 1n << shift;
    return BigInt.asIntN(64, result);
  }

  /** Skips a LEB128 of at most `maxBytes` bytes without decoding it. */
  skipLeb(maxBytes: number): void {
    const start = this.pos;
    for (let i = 0; i < maxBytes; i++) if ((this.u8() & 0x80) === 0) return;
    this.fail(`LEB128 longer than ${maxBytes} bytes`, start);
  }

  /** A length-prefixed UTF-8 name. */
  name(): string {
    const len = this.u32();
    const at = this.pos;
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.take(len));
    } catch (e) {
      if (e instanceof WasmFormatError) throw e;
      this.fail("name is not valid UTF-8", at);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Value type codes (the single-byte forms). */
export const ValType = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
  funcref: 0x70,
  externref: 0x6f,
  exnref: 0x69,
} as const;

// Abstract heap type shorthands that are also valid as single-byte reference value types.
const SHORT_REF_TYPES = new Set([0x70, 0x6f, 0x6e, 0x6d, 0x6c, 0x6b, 0x6a, 0x69, 0x71, 0x72, 0x73, 0x74]);

/** Reads a value type; returns its first byte (typed references 0x63/0x64 consume their heap type too). */
export function readValType(r: WasmReader): number {
  const at = r.pos;
  const code = r.u8();
  if (code >= 0x7b && code <= 0x7f) return code;
  if (SHORT_REF_TYPES.has(code)) return code;
  if (code === 0x63 || code === 0x64) {
    readHeapType(r);
    return code;
  }
  r.fail(`unknown value type ${hex(code)}`, at);
}

function readHeapType(r: WasmReader): void {
  const at = r.pos;
  const ht = r.s33();
  // Negative values are the abstract heap types (single bytes 0x69..0x74 read as s33).
  if (ht < 0 && !SHORT_REF_TYPES.has(ht + 0x80)) r.fail(`unknown heap type ${ht}`, at);
}

export interface FuncType {
  params: number[];
  results: number[];
}

/** A memory or table type's size bounds (the binary format's `limits`; not the sandbox's `Limits`). */
export interface SizeLimits {
  min: number;
  max: number | undefined;
  shared: boolean;
  /** memory64 / table64: sizes are u64. */
  is64: boolean;
}

export function readLimits(r: WasmReader): SizeLimits {
  const at = r.pos;
  const flags = r.u8();
  if (flags > 0x07) r.fail(`unknown limits flags ${hex(flags)}`, at);
  const is64 = (flags & 0x04) !== 0;
  const min = is64 ? r.u64() : r.u32();
  const max = flags & 0x01 ? (is64 ? r.u64() : r.u32()) : undefined;
  return { min, max, shared: (flags & 0x02) !== 0, is64 };
}

export function writeLimits(w: WasmWriter, limits: SizeLimits): void {
  w.u8((limits.max !== undefined ? 0x01 : 0) | (limits.shared ? 0x02 : 0) | (limits.is64 ? 0x04 : 0));
  w.u64(limits.min);
  if (limits.max !== undefined) w.u64(limits.max);
}

// ---------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------

export const SectionId = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Where each known section must appear: the order the spec requires (tag sits between memory and global). */
const SECTION_ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

export function sectionOrder(id: number): number {
  const order = SECTION_ORDER[id];
  if (order === undefined) throw new Error(`no order for section id ${id}`);
  return order;
}

export interface RawSection {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  /** Offset of the first payload byte (after the size). */
  payloadStart: number;
  /** Offset one past the last payload byte. */
  end: number;
  /** For custom sections: their name. */
  customName?: string;
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** Splits a module into its sections, checking the header, sizes and section order. */
export function readSections(bytes: Uint8Array): RawSection[] {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new WasmFormatError("not a WebAssembly module (bad magic number)", 0);
  }
  const version = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24);
  if (version !== 1) {
    throw new WasmFormatError(`unsupported WebAssembly binary version ${version} (components are not modules)`, 4);
  }
  const r = new WasmReader(bytes, 8);
  const sections: RawSection[] = [];
  let lastOrder = 0;
  while (!r.atEnd) {
    const start = r.pos;
    const id = r.u8();
    const size = r.u32();
    const payloadStart = r.pos;
    const end = payloadStart + size;
    if (end > bytes.length) r.fail(`section ${id} runs past the end of the module`, start);
    const section: RawSection = { id, start, payloadStart, end };
    if (id === SectionId.custom) {
      const nr = new WasmReader(bytes, payloadStart, end);
      section.customName = nr.name();
    } else {
      const order = SECTION_ORDER[id];
      if (order === undefined) r.fail(`unknown section id ${id}`, start);
      if (order <= lastOrder) r.fail(`section ${id} is out of order or duplicated`, start);
      lastOrder = order;
    }
    sections.push(section);
    r.pos = end;
  }
  return sections;
}

// ---------------------------------------------------------------------------------------------
// Module structure
// ---------------------------------------------------------------------------------------------

export type ExternKind = "func" | "table" | "memory" | "global" | "tag";
const EXTERN_KINDS: ExternKind[] = ["func", "table", "memory", "global", "tag"];

export interface Import {
  module: string;
  name: string;
  kind: ExternKind;
  /** func/tag: type index. */
  typeIndex?: number;
  /** table/memory: limits. */
  limits?: SizeLimits;
  /** global: value type and mutability. */
  valType?: number;
  mutable?: boolean;
}

export interface Export {
  name: string;
  kind: ExternKind;
  index: number;
}

export interface Memory {
  limits: SizeLimits;
  /** Byte range of this memory's limits inside the memory section. */
  start: number;
  end: number;
}

export interface CodeBody {
  /** Offset of the body's size LEB. */
  start: number;
  /** Offset of the first locals byte (after the size). */
  bodyStart: number;
  /** Offset of the first instruction (after the locals). */
  instrStart: number;
  /** One past the body's final `end`. */
  end: number;
}

export interface ModuleInfo {
  bytes: Uint8Array;
  sections: RawSection[];
  types: FuncType[];
  imports: Import[];
  /** Type index of every function the module defines (not imported). */
  functionTypes: number[];
  tables: SizeLimits[];
  memories: Memory[];
  /** Number of globals the module defines (not imported). */
  definedGlobals: number;
  /** Whether each defined global is mutable, in index order (after the imported ones). */
  globalMutability: boolean[];
  tags: number[];
  exports: Export[];
  start: number | undefined;
  codeBodies: CodeBody[];
  importedFunctions: number;
  importedGlobals: number;
  importedMemories: number;
}

export function findSection(info: { sections: RawSection[] }, id: number): RawSection | undefined {
  return info.sections.find((s) => s.id === id);
}

function readVec<T>(r: WasmReader, item: (r: WasmReader, i: number) => T): T[] {
  const count = r.u32();
  if (count > r.end - r.pos) r.fail(`vector length ${count} exceeds the remaining bytes`);
  const out: T[] = [];
  for (let i = 0; i < count; i++) out.push(item(r, i));
  return out;
}

function expectEnd(r: WasmReader, what: string): void {
  if (r.pos !== r.end) r.fail(`${what} section has ${r.end - r.pos} trailing bytes`);
}

/** Parses the module's structure: everything the instrumenters need, with byte ranges for copying. */
export function parseModule(bytes: Uint8Array): ModuleInfo {
  const sections = readSections(bytes);
  const info: ModuleInfo = {
    bytes,
    sections,
    types: [],
    imports: [],
    functionTypes: [],
    tables: [],
    memories: [],
    definedGlobals: 0,
    globalMutability: [],
    tags: [],
    exports: [],
    start: undefined,
    codeBodies: [],
    importedFunctions: 0,
    importedGlobals: 0,
    importedMemories: 0,
  };
  for (const s of sections) {
    const r = new WasmReader(bytes, s.payloadStart, s.end);
    switch (s.id) {
      case SectionId.type:
        info.types = readVec(r, readFuncType);
        expectEnd(r, "type");
        break;
      case SectionId.import:
        info.imports = readVec(r, readImport);
        expectEnd(r, "import");
        break;
      case SectionId.function:
        info.functionTypes = readVec(r, (r) => r.u32());
        expectEnd(r, "function");
        break;
      case SectionId.table:
        info.tables = readVec(r, readTable);
        expectEnd(r, "table");
        break;
      case SectionId.memory:
        info.memories = readVec(r, (r) => {
          const start = r.pos;
          const limits = readLimits(r);
          return { limits, start, end: r.pos };
        });
        expectEnd(r, "memory");
        break;
      case SectionId.tag:
        info.tags = readVec(r, readTagType);
        expectEnd(r, "tag");
        break;
      case SectionId.global:
        info.globalMutability = readVec(r, (r) => {
          readValType(r);
          const mutable = readMutability(r);
          skipConstExpr(r);
          return mutable;
        });
        info.definedGlobals = info.globalMutability.length;
        expectEnd(r, "global");
        break;
      case SectionId.export:
        info.exports = readVec(r, (r) => {
          const name = r.name();
          const kind = readExternKind(r);
          return { name, kind, index: r.u32() };
        });
        expectEnd(r, "export");
        break;
      case SectionId.start:
        info.start = r.u32();
        expectEnd(r, "start");
        break;
      case SectionId.code:
        info.codeBodies = readVec(r, (r) => {
          const start = r.pos;
          const size = r.u32();
          const bodyStart = r.pos;
          const end = bodyStart + size;
          if (end > r.end) r.fail("function body runs past the code section", start);
          r.pos = bodyStart;
          const br = new WasmReader(bytes, bodyStart, end);
          skipLocals(br);
          r.pos = end;
          return { start, bodyStart, instrStart: br.pos, end };
        });
        expectEnd(r, "code");
        break;
      default:
        // Custom, element, data, data count: copied through as bytes by the writers.
        break;
    }
  }
  if (info.functionTypes.length !== info.codeBodies.length) {
    throw new WasmFormatError(
      `function section declares ${info.functionTypes.length} functions but the code section has ${info.codeBodies.length} bodies`,
      findSection(info, SectionId.code)?.start ?? 8,
    );
  }
  for (const imp of info.imports) {
    if (imp.kind === "func") info.importedFunctions++;
    else if (imp.kind === "global") info.importedGlobals++;
    else if (imp.kind === "memory") info.importedMemories++;
  }
  return info;
}

function readFuncType(r: WasmReader): FuncType {
  const at = r.pos;
  const form = r.u8();
  if (form !== 0x60) {
    // 0x4e rec, 0x50/0x4f sub, 0x5f struct, 0x5e array: GC types, which rustc never emits.
    r.fail(`unsupported type form ${hex(form)} (only function types are supported; GC types are not)`, at);
  }
  const params = readVec(r, readValType);
  const results = readVec(r, readValType);
  return { params, results };
}

function readExternKind(r: WasmReader): ExternKind {
  const at = r.pos;
  const k = r.u8();
  const kind = EXTERN_KINDS[k];
  if (kind === undefined) r.fail(`unknown external kind ${hex(k)}`, at);
  return kind;
}

function readMutability(r: WasmReader): boolean {
  const at = r.pos;
  const m = r.u8();
  if (m > 1) r.fail(`bad global mutability ${hex(m)}`, at);
  return m === 1;
}

function readTable(r: WasmReader): SizeLimits {
  const at = r.pos;
  if (r.bytes[r.pos] === 0x40) {
    // Table with an explicit initialiser: 0x40 0x00 tabletype expr.
    r.skip(1);
    if (r.u8() !== 0) r.fail("bad table initialiser prefix", at);
    readValType(r);
    const limits = readLimits(r);
    skipConstExpr(r);
    return limits;
  }
  readValType(r);
  return readLimits(r);
}

function readTagType(r: WasmReader): number {
  const at = r.pos;
  if (r.u8() !== 0) r.fail("unknown tag attribute", at);
  return r.u32();
}

function readImport(r: WasmReader): Import {
  const module = r.name();
  const name = r.name();
  const kind = readExternKind(r);
  switch (kind) {
    case "func":
      return { module, name, kind, typeIndex: r.u32() };
    case "table": {
      readValType(r);
      return { module, name, kind, limits: readLimits(r) };
    }
    case "memory":
      return { module, name, kind, limits: readLimits(r) };
    case "global": {
      const valType = readValType(r);
      return { module, name, kind, valType, mutable: readMutability(r) };
    }
    case "tag":
      return { module, name, kind, typeIndex: readTagType(r) };
  }
}

/** Skips a function body's local declarations, leaving the reader at the first instruction. */
export function skipLocals(r: WasmReader): number {
  let total = 0;
  const groups = r.u32();
  for (let i = 0; i < groups; i++) {
    const at = r.pos;
    total += r.u32();
    if (total > 50_000) r.fail("function declares more than 50000 locals", at);
    readValType(r);
  }
  return total;
}

/** Skips a constant expression (global initialisers, segment offsets) up to and including its `end`. */
export function skipConstExpr(r: WasmReader): void {
  const ins = new InstructionReader(r.bytes, r.pos, r.end);
  for (;;) {
    if (!ins.next()) r.fail("constant expression has no end");
    if (ins.opcode === Op.end) break;
  }
  r.pos = ins.pos;
}

// ---------------------------------------------------------------------------------------------
// Instructions
// ---------------------------------------------------------------------------------------------

/** Single-byte opcodes the instrumenters care about by name. */
export const Op = {
  unreachable: 0x00,
  nop: 0x01,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  try: 0x06,
  catch: 0x07,
  throw: 0x08,
  rethrow: 0x09,
  throw_ref: 0x0a,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  call: 0x10,
  call_indirect: 0x11,
  return_call: 0x12,
  return_call_indirect: 0x13,
  call_ref: 0x14,
  return_call_ref: 0x15,
  delegate: 0x18,
  catch_all: 0x19,
  try_table: 0x1f,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  global_get: 0x23,
  global_set: 0x24,
  i32_const: 0x41,
  i64_const: 0x42,
  i64_sub: 0x7d,
  i64_lt_s: 0x53,
  ref_func: 0xd2,
  br_on_null: 0xd4,
  br_on_non_null: 0xd6,
  prefix_gc: 0xfb,
  prefix_misc: 0xfc,
  prefix_simd: 0xfd,
  prefix_atomic: 0xfe,
} as const;

// SIMD sub-opcodes (0xfd prefix) that do not exist; everything else up to 0xff, and relaxed
// SIMD 0x100..0x113, does. Cross-checked against wabt's decoder.
const SIMD_HOLES = new Set([0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb, 0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee]);

/**
 * Decodes instructions one at a time, exposing the current one through its fields (no allocation
 * per instruction: function bodies of a real macro module hold hundreds of thousands).
 */
export class InstructionReader {
  /** Offset of the current instruction's opcode. */
  offset = 0;
  /** Offset one past the current instruction (= start of the next). */
  pos: number;
  /** First byte of the current instruction (the prefix for 0xfb..0xfe). */
  opcode = 0;
  /** Sub-opcode for prefixed instructions, -1 otherwise. */
  sub = -1;
  /**
   * The first index immediate: the label of br/br_if/delegate/rethrow/br_on_*, the function of
   * call/return_call/ref.func, the type of call_indirect, the tag of throw/catch, the local or
   * global of *.get/set. -1 when there is none.
   */
  index = -1;
  /** br_table targets (default last) and try_table catch labels; empty otherwise. */
  readonly labels: number[] = [];
  private readonly r: WasmReader;

  constructor(bytes: Uint8Array, start: number, end: number) {
    this.r = new WasmReader(bytes, start, end);
    this.pos = start;
  }

  /** Decodes the next instruction; false at the end of the range. */
  next(): boolean {
    const r = this.r;
    r.pos = this.pos;
    if (r.atEnd) return false;
    this.offset = r.pos;
    this.sub = -1;
    this.index = -1;
    this.labels.length = 0;
    const op = r.u8();
    this.opcode = op;
    switch (op) {
      case 0x00:
      case 0x01:
      case 0x05:
      case 0x0a:
      case 0x0b:
      case 0x0f:
      case 0x19:
      case 0x1a:
      case 0x1b:
      case 0xd1:
      case 0xd3:
      case 0xd5:
        break;
      case 0x02:
      case 0x03:
      case 0x04:
      case 0x06:
        this.blockType();
        break;
      case 0x07:
      case 0x08:
      case 0x09:
      case 0x0c:
      case 0x0d:
      case 0x10:
      case 0x12:
      case 0x14:
      case 0x15:
      case 0x18:
      case 0x20:
      case 0x21:
      case 0x22:
      case 0x23:
      case 0x24:
      case 0x25:
      case 0x26:
      case 0xd2:
      case 0xd4:
      case 0xd6:
        this.index = r.u32();
        break;
      case 0x0e: {
        const n = r.u32();
        if (n > r.end - r.pos) r.fail("br_table has more targets than bytes");
        for (let i = 0; i <= n; i++) this.labels.push(r.u32());
        break;
      }
      case 0x11:
      case 0x13:
        this.index = r.u32();
        r.u32(); // table
        break;
      case 0x1c: {
        const n = r.u32();
        for (let i = 0; i < n; i++) readValType(r);
        break;
      }
      case 0x1f: {
        this.blockType();
        const n = r.u32();
        if (n > r.end - r.pos) r.fail("try_table has more catches than bytes");
        for (let i = 0; i < n; i++) {
          const at = r.pos;
          const kind = r.u8();
          if (kind === 0x00 || kind === 0x01)
            r.u32(); // tag
          else if (kind !== 0x02 && kind !== 0x03) r.fail(`unknown try_table catch kind ${hex(kind)}`, at);
          this.labels.push(r.u32());
        }
        break;
      }
      case 0x41:
        r.s32();
        break;
      case 0x42:
        r.skipLeb(10);
        break;
      case 0x43:
        r.skip(4);
        break;
      case 0x44:
        r.skip(8);
        break;
      case 0x3f:
      case 0x40:
        r.u32(); // memory index
        break;
      case 0xd0:
        readHeapType(r);
        break;
      case Op.prefix_misc:
        this.misc();
        break;
      case Op.prefix_simd:
        this.simd();
        break;
      case Op.prefix_atomic:
        this.atomic();
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) this.memarg();
        else if (op >= 0x45 && op <= 0xc4) {
          // Numeric instructions (including sign extension 0xc0..0xc4): no immediates.
        } else if (op === Op.prefix_gc) {
          const sub = r.u32();
          r.fail(`unsupported GC instruction 0xfb ${sub} (GC is not supported)`, this.offset);
        } else r.fail(`unknown opcode ${hex(op)}`, this.offset);
    }
    this.pos = r.pos;
    return true;
  }

  /** A readable name for the current opcode, for messages. */
  describe(): string {
    return this.sub >= 0 ? `${hex(this.opcode)} ${this.sub}` : hex(this.opcode);
  }

  private blockType(): void {
    const r = this.r;
    const b = r.bytes[r.pos];
    if (b === 0x40) {
      r.pos++;
      return;
    }
    if (b !== undefined && ((b >= 0x7b && b <= 0x7f) || SHORT_REF_TYPES.has(b) || b === 0x63 || b === 0x64)) {
      readValType(r);
      return;
    }
    const at = r.pos;
    if (r.s33() < 0) r.fail("bad block type", at);
  }

  private memarg(): void {
    const r = this.r;
    const at = r.pos;
    const align = r.u32();
    if (align & 0x40)
      r.u32(); // multi-memory: explicit memory index
    else if (align >= 0x40) r.fail(`bad memory alignment ${align}`, at);
    r.skipLeb(10); // offset: u32, or u64 for memory64
  }

  private misc(): void {
    const r = this.r;
    const sub = r.u32();
    this.sub = sub;
    switch (sub) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
      case 6:
      case 7:
        break; // saturating truncation
      case 8: // memory.init data mem
        this.index = r.u32();
        r.u32();
        break;
      case 9: // data.drop
      case 11: // memory.fill mem
      case 13: // elem.drop
      case 15: // table.grow
      case 16: // table.size
      case 17: // table.fill
        this.index = r.u32();
        break;
      case 10: // memory.copy mem mem
      case 12: // table.init elem table
      case 14: // table.copy table table
        this.index = r.u32();
        r.u32();
        break;
      default:
        r.fail(`unknown instruction 0xfc ${sub}`, this.offset);
    }
  }

  private simd(): void {
    const r = this.r;
    const sub = r.u32();
    this.sub = sub;
    if (sub <= 0x0b || sub === 0x5c || sub === 0x5d)
      this.memarg(); // loads, stores, load_zero
    else if (sub === 0x0c || sub === 0x0d)
      r.skip(16); // v128.const, i8x16.shuffle
    else if (sub >= 0x15 && sub <= 0x22)
      r.skip(1); // extract/replace lane
    else if (sub >= 0x54 && sub <= 0x5b) {
      this.memarg(); // load/store lane
      r.skip(1);
    } else if (sub > 0x113 || SIMD_HOLES.has(sub)) r.fail(`unknown SIMD instruction 0xfd ${sub}`, this.offset);
  }

  private atomic(): void {
    const r = this.r;
    const sub = r.u32();
    this.sub = sub;
    if (sub === 0x03) {
      if (r.u8() !== 0) r.fail("atomic.fence expects a zero byte", this.offset);
    } else if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) this.memarg();
    else r.fail(`unknown atomic instruction 0xfe ${sub}`, this.offset);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/** Accumulates bytes (src/bytes.ts); LEB128 encoders for the sizes and indices a rewriter emits. */
export class WasmWriter extends ByteWriter {
  /** Unsigned LEB128 of a non-negative integer up to 2^53. */
  u64(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot encode ${n} as an unsigned LEB128`);
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n !== 0) b |= 0x80;
      this.u8(b);
    } while (n !== 0);
    return this;
  }

  u32(n: number): this {
    if (n > 0xffffffff) throw new RangeError(`${n} does not fit in a u32`);
    return this.u64(n);
  }

  /** Signed LEB128 of a 64-bit integer. */
  s64(value: bigint | number): this {
    let v = BigInt.asIntN(64, BigInt(value));
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.u8(b);
        return this;
      }
      this.u8(b | 0x80);
    }
  }

  name(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    return this.u32(utf8.length).bytes(utf8);
  }
}

/** Encodes a section: id, payload size, payload. */
export function encodeSection(id: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  return new WasmWriter().u8(id).u32(payload.length).bytes(payload).finish();
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Decodes every instruction of every function body, throwing on anything not understood. */
export function decodeAllBodies(info: ModuleInfo): number {
  let count = 0;
  for (const body of info.codeBodies) {
    const ins = new InstructionReader(info.bytes, body.instrStart, body.end);
    let depth = 1;
    while (ins.next()) {
      count++;
      const op = ins.opcode;
      if (op === Op.block || op === Op.loop || op === Op.if || op === Op.try || op === Op.try_table) depth++;
      else if (op === Op.end || op === Op.delegate) {
        depth--;
        if (depth === 0 && ins.pos !== body.end) {
          throw new WasmFormatError("function body continues after its final end", ins.pos);
        }
      }
    }
    if (depth !== 0) throw new WasmFormatError("function body ends inside a block", body.end);
  }
  return count;
}
