// The wasm binary reader/writer: LEB128, section splitting, the instruction decoder across every
// proposal rustc can emit, and clear refusals of what it does not understand.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WasmReader, WasmWriter, InstructionReader, WasmFormatError, decodeAllBodies, parseModule, readSections } from "../../src/wasm/binary.js";
import { SNAPSHOT_EXPORT, SNAPSHOT_GLOBAL_PREFIX, instrumentFuelDetailed } from "../../src/sandbox/fuel.js";
import { wabtValidate, wat } from "./fuel-wat.js";

test("LEB128 round-trips at the edges", () => {
  for (const n of [0, 1, 63, 64, 127, 128, 255, 16383, 16384, 2 ** 31, 0xffffffff]) {
    const bytes = new WasmWriter().u32(n).finish();
    assert.equal(new WasmReader(bytes).u32(), n);
  }
  for (const n of [0n, 1n, -1n, 63n, 64n, -64n, -65n, 2n ** 31n, -(2n ** 31n), 2n ** 63n - 1n, -(2n ** 63n)]) {
    const bytes = new WasmWriter().s64(n).finish();
    assert.equal(new WasmReader(bytes).s64(), n, `s64 ${n}`);
    if (n >= -(2n ** 31n) && n < 2n ** 31n) assert.equal(new WasmReader(bytes).s32(), Number(n), `s32 ${n}`);
  }
  assert.equal(new WasmReader(new WasmWriter().u64(2 ** 40 + 3).finish()).u64(), 2 ** 40 + 3);
});

test("malformed LEB128 is refused with its offset", () => {
  assert.throws(() => new WasmReader(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).u32(), WasmFormatError);
  assert.throws(() => new WasmReader(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x1f])).u32(), /overflows/);
  assert.throws(() => new WasmReader(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x4f])).s32(), /overflows/);
  assert.throws(() => new WasmReader(new Uint8Array([0x80])).u32(), /unexpected end.*offset 1/);
  assert.equal(new WasmReader(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x7f])).s32(), -1);
});

test("section splitting checks the header, sizes and order", () => {
  assert.throws(() => readSections(new Uint8Array([1, 2, 3])), /bad magic/);
  assert.throws(() => readSections(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0])), /version/);
  const header = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  assert.throws(() => readSections(new Uint8Array([...header, 1, 10, 0])), /runs past the end/);
  assert.throws(() => readSections(new Uint8Array([...header, 3, 1, 0, 1, 1, 0])), /out of order/);
  assert.throws(() => readSections(new Uint8Array([...header, 14, 0])), /unknown section id 14/);
  assert.deepEqual(readSections(new Uint8Array(header)), []);
});

// A body per proposal; every instruction with immediates the decoder must skip correctly.
const EVERYTHING = `
(module
  (type $sig (func (param i32) (result i32)))
  (import "env" "f" (func $imported (param i32) (result i32)))
  (import "env" "g" (global $ig i32))
  (import "env" "h" (global $mg (mut i32)))
  (memory $m 1 2)
  (table $t 4 funcref)
  (table $t2 2 externref)
  (global $g (mut i64) (i64.const -5))
  (global $gc i32 (global.get $ig))
  (tag $e (param i32 i64))
  (elem $el func $mvp)
  (data $d "abcdef")
  (func $mvp (param $x i32) (result i32)
    (local $l i64) (local $f f32) (local $d f64)
    (local.set $l (i64.const 0x7fffffffffffffff))
    (local.set $f (f32.const 1.5))
    (local.set $d (f64.const -2.25))
    (drop (i64.load32_u offset=12 align=2 (i32.const 8)))
    (i64.store16 offset=70000 (i32.const 0) (local.get $l))
    (drop (memory.size))
    (drop (memory.grow (i32.const 0)))
    (block $out (result i32)
      (br_table $out $out (i32.const 3) (local.get $x)))
    (drop)
    (drop (call_indirect (type $sig) (i32.const 1) (i32.const 0)))
    (drop (select (result i64) (i64.const 1) (i64.const 2) (local.get $x)))
    (drop (select (i32.const 1) (i32.const 2) (local.get $x)))
    (global.set $g (i64.extend32_s (global.get $g)))
    (drop (i32.extend8_s (i32.const 200)))
    (drop (i64.trunc_sat_f64_s (local.get $d)))
    (drop (i32.trunc_sat_f32_u (local.get $f)))
    (local.get $x))
  (func $bulk (param i32)
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 2))
    (data.drop $d)
    (memory.copy (i32.const 0) (i32.const 2) (i32.const 2))
    (memory.fill (i32.const 0) (i32.const 7) (i32.const 4))
    (table.init $t $el (i32.const 0) (i32.const 0) (i32.const 1))
    (elem.drop $el)
    (table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 1))
    (drop (table.grow $t (ref.null func) (i32.const 1)))
    (drop (table.size $t2))
    (table.fill $t (i32.const 0) (ref.func $mvp) (i32.const 1))
    (table.set $t2 (i32.const 0) (ref.null extern))
    (drop (ref.is_null (table.get $t (i32.const 0)))))
  (func $simd (param i32) (result i32)
    (local $v v128)
    (local.set $v (v128.const i32x4 1 2 3 4))
    (local.set $v (i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31 (local.get $v) (local.get $v)))
    (local.set $v (i32x4.replace_lane 3 (local.get $v) (i32.const 9)))
    (local.set $v (v128.load offset=16 (i32.const 0)))
    (local.set $v (v128.load8_lane offset=1 5 (i32.const 0) (local.get $v)))
    (v128.store64_lane 1 (i32.const 0) (local.get $v))
    (local.set $v (v128.load32_zero (i32.const 0)))
    (local.set $v (i16x8.q15mulr_sat_s (local.get $v) (local.get $v)))
    (local.set $v (i32x4.dot_i16x8_s (local.get $v) (local.get $v)))
    (local.set $v (f64x2.promote_low_f32x4 (local.get $v)))
    (local.set $v (i32x4.relaxed_trunc_f32x4_s (local.get $v)))
    (local.set $v (f32x4.relaxed_madd (local.get $v) (local.get $v) (local.get $v)))
    (i32x4.extract_lane 2 (local.get $v)))
  (func $atomics (param i32) (result i32)
    (atomic.fence)
    (drop (i32.atomic.rmw.add offset=4 (i32.const 0) (i32.const 1)))
    (drop (i64.atomic.rmw32.cmpxchg_u (i32.const 8) (i64.const 1) (i64.const 2)))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
    (i32.atomic.load (i32.const 0)))
  (func $eh (param $x i32) (result i32)
    (try $outer (result i32)
      (do
        (try (do (throw $e (local.get $x) (i64.const 1))) (delegate $outer))
        (i32.const 0))
      (catch $e (drop))
      (catch_all
        (try (do (nop)) (catch_all (rethrow 1)))
        (i32.const 1))))
  (func $tail (param i32) (result i32)
    (if (local.get 0) (then (return_call $imported (local.get 0))))
    (return_call_indirect (type $sig) (local.get 0) (i32.const 0)))
  (func $multi (param i32 i32) (result i32 i32)
    local.get 0
    local.get 1
    loop $l (param i32 i32) (result i32 i32)
      global.get $mg
      br_if $l
    end)
)`;

test("decodes every proposal's immediates; instrumenting them keeps the module valid", async () => {
  const bytes = await wat(EVERYTHING);
  const info = parseModule(bytes);
  assert.equal(info.importedFunctions, 1);
  assert.equal(info.importedGlobals, 2);
  assert.equal(info.definedGlobals, 2);
  assert.equal(info.tags.length, 1);
  assert.equal(info.memories[0].limits.max, 2);
  const count = decodeAllBodies(info);
  for (const mode of ["local", "global"] as const) {
    const result = instrumentFuelDetailed(bytes, { mode });
    // wabt validates with every proposal (Node cannot run relaxed SIMD); a mis-decoded immediate
    // would put a metering sequence inside an instruction and fail here.
    await wabtValidate(result.wasm);
    const after = parseModule(result.wasm);
    assert.equal(decodeAllBodies(after), count + result.insertedInstructions, mode);
    assert.equal(after.definedGlobals, 3);
    assert.equal(result.globalIndex, 4);
  }
});

test("the instruction reader exposes labels and indices", async () => {
  const bytes = await wat(`(module (func $a) (func (param i32)
    (block (block (br_table 0 1 0 (local.get 0))))
    (call $a) (br_if 0 (local.get 0))))`);
  const info = parseModule(bytes);
  const body = info.codeBodies[1];
  const ins = new InstructionReader(bytes, body.instrStart, body.end);
  const seen: string[] = [];
  while (ins.next()) {
    if (ins.opcode === 0x0e) seen.push(`br_table ${ins.labels.join(",")}`);
    if (ins.opcode === 0x10) seen.push(`call ${ins.index}`);
    if (ins.opcode === 0x0d) seen.push(`br_if ${ins.index}`);
  }
  assert.deepEqual(seen, ["br_table 0,1,0", "call 0", "br_if 0"]);
});

/** A module with one function `() -> ()` whose body is `code` (without the final end). */
function moduleWithBody(code: number[]): Uint8Array {
  const body = [0, ...code, 0x0b];
  const codeSection = [1, body.length, ...body];
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, codeSection.length, ...codeSection]);
}

test("unknown opcodes are refused, naming the opcode and offset", () => {
  const cases: [number[], RegExp][] = [
    [[0x27], /unknown opcode 0x27 \(at byte offset 23/],
    [[0xfd, 0x9a, 0x01], /unknown SIMD instruction 0xfd 154/],
    [[0xfc, 0x12], /unknown instruction 0xfc 18/],
    [[0xfb, 0x00], /GC/],
    [[0xfe, 0x04], /unknown atomic instruction/],
    [[0x1f, 0x40, 0x01, 0x07, 0x00], /unknown try_table catch kind 0x07/],
  ];
  for (const [code, message] of cases) {
    const bytes = moduleWithBody(code);
    assert.throws(() => decodeAllBodies(parseModule(bytes)), message, `body ${code.map((b) => b.toString(16))}`);
    assert.throws(() => instrumentFuelDetailed(bytes), WasmFormatError);
  }
});

test("structurally broken bodies are refused, not mis-instrumented", () => {
  assert.throws(() => instrumentFuelDetailed(moduleWithBody([0x02, 0x40])), /ends inside a block/);
  assert.throws(() => instrumentFuelDetailed(moduleWithBody([0x0b, 0x01])), /after its final end/);
  assert.throws(() => instrumentFuelDetailed(moduleWithBody([0x0c, 0x05])), /branch to label 5 outside/);
  assert.throws(() => instrumentFuelDetailed(moduleWithBody([0x05])), /`else` outside an `if`/);
  // A body whose last i64.const LEB runs past the body's declared size.
  const truncated = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 5, 1, 3, 0, 0x42, 0x80]);
  assert.throws(() => instrumentFuelDetailed(truncated), /unexpected end of data \(at byte offset 25/);
});

test("try_table bodies are decoded and metered in global mode (handlers land on plain labels)", () => {
  // block; try_table (catch_all 0 -> the block) nop end; end
  const bytes = moduleWithBody([0x02, 0x40, 0x1f, 0x40, 0x01, 0x02, 0x00, 0x01, 0x0b, 0x0b]);
  const count = decodeAllBodies(parseModule(bytes));
  const result = instrumentFuelDetailed(bytes, { mode: "local" });
  // Entry segment (nop) and the join after the block the catch targets (empty: not metered).
  assert.equal(result.meteringPoints, 1);
  assert.equal(result.insertedInstructions, 10);
  assert.equal(decodeAllBodies(parseModule(result.wasm)), count + 10);
});

test("GC type definitions are refused", () => {
  const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 3, 1, 0x5f, 0]);
  assert.throws(() => parseModule(bytes), /unsupported type form 0x5f/);
});

test("only a module whose whole state is one memory and its exported globals is marked snapshot-able", async () => {
  const exportsOf = async (body: string) =>
    WebAssembly.Module.exports(new WebAssembly.Module(instrumentFuelDetailed(await wat(`(module ${body})`)).wasm)).map((e) => e.name);
  const one = await exportsOf(`(memory (export "memory") 1) (global $g (mut i32) (i32.const 0)) (func (global.set $g (i32.const 1)))`);
  assert.ok(one.includes(SNAPSHOT_EXPORT), one.join());
  assert.ok(one.includes(`${SNAPSHOT_GLOBAL_PREFIX}0`), one.join());
  // A second memory is state the host neither snapshots nor writes back (wabt's text format has one
  // memory: the memory section `1 × {min 1}` is rewritten as `2 × {min 1}`).
  const oneMemory = await wat(`(module (memory (export "memory") 1))`);
  const at = Buffer.from(oneMemory).indexOf(Buffer.from([0x05, 0x03, 0x01, 0x00, 0x01]));
  assert.ok(at > 0);
  const twoMemories = new Uint8Array([...oneMemory.subarray(0, at), 0x05, 0x05, 0x02, 0x00, 0x01, 0x00, 0x01, ...oneMemory.subarray(at + 5)]);
  // (Node's V8 refuses to compile a second memory; the marker is for engines that do not.)
  const two = parseModule(instrumentFuelDetailed(twoMemories).wasm).exports.map((e) => e.name);
  assert.ok(two.includes("memory") && !two.includes(SNAPSHOT_EXPORT), two.join());
  const tableSet = await exportsOf(`(memory (export "memory") 1) (table 1 funcref) (func (table.set (i32.const 0) (ref.null func)))`);
  assert.ok(!tableSet.includes(SNAPSHOT_EXPORT), tableSet.join());
});
