// Fuel metering: instrumented modules validate, compute the same results, consume the same fuel
// on every run, and stop runaway loops/recursion with a trap the module's own handlers cannot
// catch; the memory cap makes memory.grow fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FUEL_EXPORT,
  InstrumentationError,
  getFuel,
  instrumentFuel,
  instrumentFuelDetailed,
  isOutOfFuel,
  runWithFuel,
  setFuel,
} from "../../src/sandbox/fuel.js";
import { LimitExceeded } from "../../src/sandbox/limits.js";
import { decodeAllBodies, parseModule, SectionId } from "../../src/wasm/binary.js";
import { instantiate, wabtValidate, wat } from "./fuel-wat.js";
import { macroWasm } from "../support/bridge-build.js";

const COMPUTE = `
(module
  (func $sum (export "sum") (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $inc (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $spin (export "spin") (loop $l (br $l)))
  (func $rec (export "rec") (param i32) (result i32) (call $rec (i32.add (local.get 0) (i32.const 1))))
)`;

type Fn = (...args: number[]) => number | bigint;
const fn = (instance: WebAssembly.Instance, name: string): Fn => instance.exports[name] as Fn;

const SWALLOW = `
(module
  (import "host" "boom" (func $boom))
  (func (export "swallowSpin") (result i32)
    (try (result i32)
      (do (loop $l (br $l)) (i32.const 0))
      (catch_all (i32.const 42))))
  (func (export "swallowDelegated") (result i32)
    (try $outer (result i32)
      (do (try (do (loop $l (br $l))) (delegate $outer)) (i32.const 0))
      (catch_all (i32.const 43))))
  (func (export "swallowHost") (result i32)
    (try (result i32)
      (do (call $boom) (i32.const 0))
      (catch_all (i32.const 42))))
  (func (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
)`;

const CONTROL = `
(module
  (tag $e (param i32))
  (func $thrower (param i32) (throw $e (local.get 0)))
  (func (export "mix") (param $x i32) (result i32)
    (local $r i32)
    (block $b2
      (block $b1
        (block $b0
          (br_table $b0 $b1 $b2 (i32.rem_u (local.get $x) (i32.const 3))))
        (local.set $r (i32.const 100))
        (br $b2))
      (local.set $r (i32.const 200)))
    (if (i32.and (local.get $x) (i32.const 1))
      (then (local.set $r (i32.add (local.get $r) (i32.const 1))))
      (else (local.set $r (i32.sub (local.get $r) (i32.const 1)))))
    (if (i32.eq (local.get $x) (i32.const 4)) (then (local.set $r (i32.const 4000))))
    (local.set $r (i32.add (local.get $r)
      (try (result i32)
        (do
          (if (i32.gt_u (local.get $x) (i32.const 10)) (then (call $thrower (local.get $x))))
          (i32.const 7))
        (catch $e (i32.mul (i32.const 2))))))
    (local.set $r (i32.add (local.get $r)
      (try $outer (result i32)
        (do
          (try (do (if (i32.gt_u (local.get $x) (i32.const 15)) (then (call $thrower (i32.const 1))))) (delegate $outer))
          (i32.const 0))
        (catch_all (i32.const 1000)))))
    (try (do (if (i32.gt_u (local.get $x) (i32.const 20)) (then (throw $e (i32.const 3)))))
      (catch $e (local.set $r (i32.add (local.get $r)))))
    (block (result i32 i32) (local.get $r) (local.get $x))
    (i32.add)
    (select (i32.const 1) (i32.const 2) (i32.const 0))
    (i32.add))
)`;

const MODES = ["local", "global"] as const;

for (const mode of MODES) {
  test(`[${mode}] instrumented module validates and exports the fuel global`, async () => {
    const original = await wat(COMPUTE);
    const result = instrumentFuelDetailed(original, { mode });
    assert.ok(WebAssembly.validate(result.wasm));
    await wabtValidate(result.wasm);
    assert.equal(result.functions, 5);
    assert.ok(result.meteringPoints >= 5, `expected a metering point per function at least, got ${result.meteringPoints}`);
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(result.wasm));
    assert.deepEqual(
      exports.find((e) => e.name === FUEL_EXPORT),
      { name: FUEL_EXPORT, kind: "global" },
    );
  });

  test(`[${mode}] with enough fuel, results are unchanged`, async () => {
    const original = instantiate(await wat(COMPUTE));
    const metered = instantiate(instrumentFuel(await wat(COMPUTE), { mode }));
    for (const n of [0, 1, 2, 10, 1000]) {
      assert.equal(runWithFuel(metered, 1e9, () => fn(metered, "sum")(n)).result, fn(original, "sum")(n));
    }
    for (const n of [0, 1, 5, 15]) {
      assert.equal(runWithFuel(metered, 1e9, () => fn(metered, "fib")(n)).result, fn(original, "fib")(n));
    }
  });

  test(`[${mode}] fuel used is exactly the instruction count of the segments entered`, async () => {
    const metered = instantiate(instrumentFuel(await wat(COMPUTE), { mode }));
    // local.get, i32.const, i32.add: 3 instructions; `end` is free.
    assert.equal(runWithFuel(metered, 100, () => fn(metered, "inc")(1)).fuelUsed, 3);
    // The loop body is one 14-instruction segment entered n+1 times; `local.get $acc` after the
    // loop is 1 more. `block`/`loop` markers are free.
    for (const n of [0, 1, 10, 500]) {
      assert.equal(runWithFuel(metered, 1e9, () => fn(metered, "sum")(n)).fuelUsed, 14 * (n + 1) + 1);
    }
  });

  test(`[${mode}] fuel use is deterministic across runs and instances`, async () => {
    const bytes = instrumentFuel(await wat(COMPUTE), { mode });
    const used = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const instance = instantiate(bytes);
      used.add(runWithFuel(instance, 1e9, () => fn(instance, "fib")(12)).fuelUsed);
      used.add(runWithFuel(instance, 1e9, () => fn(instance, "fib")(12)).fuelUsed);
    }
    assert.equal(used.size, 1, `fib(12) used different fuel: ${[...used]}`);
  });

  test(`[${mode}] an infinite loop stops with LimitExceeded at the same point every run`, async () => {
    const bytes = instrumentFuel(await wat(COMPUTE), { mode });
    const remaining = new Set<bigint>();
    for (let i = 0; i < 3; i++) {
      const instance = instantiate(bytes);
      assert.throws(
        () => runWithFuel(instance, 100_000, () => fn(instance, "spin")()),
        (e: unknown) => e instanceof LimitExceeded && e.limit === "fuel" && e.value === 100_000 && e.flag === "--fuel",
      );
      assert.ok(isOutOfFuel(instance));
      remaining.add(getFuel(instance));
    }
    // `br $l` costs 1 per iteration: the 100_001st iteration takes the fuel to -1 and traps.
    assert.deepEqual([...remaining], [-1n]);
  });

  test(`[${mode}] infinite recursion stops with LimitExceeded, not a stack overflow, at the same point`, async () => {
    const bytes = instrumentFuel(await wat(COMPUTE), { mode });
    const remaining = new Set<bigint>();
    for (let i = 0; i < 3; i++) {
      const instance = instantiate(bytes);
      assert.throws(() => runWithFuel(instance, 2_000, () => fn(instance, "rec")(0)), LimitExceeded);
      remaining.add(getFuel(instance));
    }
    assert.equal(remaining.size, 1);
    // Each call charges 4 (local.get, i32.const, i32.add, call) on entry: 2000 = 500 * 4, the 501st goes to -4.
    assert.deepEqual([...remaining], [-4n]);
  });

  test(`[${mode}] errors that are not fuel exhaustion pass through runWithFuel unchanged`, async () => {
    const instance = instantiate(instrumentFuel(await wat(`(module (func (export "trap") unreachable))`), { mode }));
    assert.throws(
      () => runWithFuel(instance, 1000, () => fn(instance, "trap")()),
      (e: unknown) => e instanceof WebAssembly.RuntimeError,
    );
    assert.ok(!isOutOfFuel(instance));
  });

  test(`[${mode}] exhaustion cannot be caught by the module's catch_all, even through delegate`, async () => {
    const bytes = instrumentFuel(await wat(SWALLOW), { mode });
    const instance = instantiate(bytes, { host: { boom: () => {} } });
    assert.throws(() => runWithFuel(instance, 10_000, () => fn(instance, "swallowSpin")()), LimitExceeded);
    assert.throws(() => runWithFuel(instance, 10_000, () => fn(instance, "swallowDelegated")()), LimitExceeded);
  });

  test(`[${mode}] exhaustion is sticky: every later metered step traps until fuel is reset`, async () => {
    const instance = instantiate(instrumentFuel(await wat(SWALLOW), { mode }), { host: { boom: () => {} } });
    assert.throws(() => runWithFuel(instance, 500, () => fn(instance, "swallowSpin")()), LimitExceeded);
    assert.throws(() => fn(instance, "inc")(1), WebAssembly.RuntimeError);
    assert.throws(() => fn(instance, "inc")(1), WebAssembly.RuntimeError);
    setFuel(instance, 10);
    assert.equal(fn(instance, "inc")(1), 2);
    assert.equal(getFuel(instance), 7n);
  });

  test(`[${mode}] the initial fuel bounds the start function too`, async () => {
    const bytes = await wat(`(module (func $s (loop $l (br $l))) (start $s))`);
    assert.throws(() => instantiate(instrumentFuel(bytes, { initialFuel: 1000, mode })), WebAssembly.RuntimeError);
    const ok = await wat(`(module (global $g (mut i32) (i32.const 0)) (func $s (global.set $g (i32.const 5))) (start $s)
      (func (export "g") (result i32) (global.get $g)))`);
    const instance = instantiate(instrumentFuel(ok, { initialFuel: 10, mode }));
    assert.equal(getFuel(instance), 8n); // i32.const, global.set
    assert.equal(fn(instance, "g")(), 5);
  });

  test(`[${mode}] branches, br_table, if/else, try/catch/delegate and multi-value behave the same`, async () => {
    const bytes = await wat(CONTROL);
    const original = instantiate(bytes);
    const metered = instantiate(instrumentFuel(bytes, { mode }));
    for (let x = 0; x < 25; x++) {
      const expected = fn(original, "mix")(x);
      const { result, fuelUsed } = runWithFuel(metered, 1e6, () => fn(metered, "mix")(x));
      assert.equal(result, expected, `mix(${x})`);
      assert.ok(fuelUsed > 10 && fuelUsed < 200, `mix(${x}) used ${fuelUsed}`);
    }
  });
}

test("a JS exception from an import IS caught by the module's catch_all (why fuel traps instead)", async () => {
  const instance = instantiate(await wat(SWALLOW), {
    host: {
      boom: () => {
        throw new Error("out of fuel");
      },
    },
  });
  assert.equal(fn(instance, "swallowHost")(), 42);
});

test("local and global mode charge exactly the same fuel", async () => {
  const control = await wat(CONTROL);
  const compute = await wat(COMPUTE);
  const [local, global] = MODES.map((mode) => ({
    control: instantiate(instrumentFuel(control, { mode })),
    compute: instantiate(instrumentFuel(compute, { mode })),
  }));
  for (let x = 0; x < 25; x++) {
    const used = [local, global].map((m) => runWithFuel(m.control, 1e6, () => fn(m.control, "mix")(x)).fuelUsed);
    assert.equal(used[0], used[1], `mix(${x})`);
  }
  for (const n of [0, 3, 12]) {
    const used = [local, global].map((m) => runWithFuel(m.compute, 1e9, () => fn(m.compute, "fib")(n)).fuelUsed);
    assert.equal(used[0], used[1], `fib(${n})`);
  }
  for (const fuel of [1, 7, 100, 1001]) {
    const left = [local, global].map((m) => {
      assert.throws(() => runWithFuel(m.compute, fuel, () => fn(m.compute, "rec")(0)), LimitExceeded);
      return getFuel(m.compute);
    });
    assert.equal(left[0], left[1], `rec with ${fuel} fuel`);
  }
});

const MEMORY = `(module (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`;

test("memory.grow beyond the cap returns -1", async () => {
  const instance = instantiate(instrumentFuel(await wat(MEMORY), { maxMemoryPages: 4 }));
  const grow = fn(instance, "grow");
  assert.equal(grow(2), 1);
  assert.equal(grow(2), -1);
  assert.equal(grow(1), 3);
  assert.equal(grow(1), -1);
  assert.equal((instance.exports.memory as WebAssembly.Memory).buffer.byteLength, 4 * 65536);
  const uncapped = instantiate(instrumentFuel(await wat(MEMORY)));
  assert.equal(fn(uncapped, "grow")(8), 1);
});

test("the cap never raises a smaller declared maximum, and a minimum above it is refused", async () => {
  const small = parseModule(instrumentFuel(await wat(`(module (memory 1 2))`), { maxMemoryPages: 4 }));
  assert.equal(small.memories[0].limits.max, 2);
  assert.throws(
    () => instrumentFuel(new Uint8Array(0)),
    (e: unknown) => e instanceof Error && /magic/.test(e.message),
  );
  await assert.rejects(
    async () => instrumentFuel(await wat(`(module (memory 10))`), { maxMemoryPages: 4 }),
    (e: unknown) => e instanceof LimitExceeded && e.limit === "memoryPages" && e.value === 4 && e.used === 10 && /--memory/.test(e.message),
  );
});

test("instrumentation is a pure function of its input: same bytes in, same bytes out", async () => {
  const bytes = await wat(CONTROL);
  for (const mode of MODES) {
    const a = instrumentFuel(bytes, { mode, maxMemoryPages: 10 });
    const b = instrumentFuel(bytes.slice(), { mode, maxMemoryPages: 10 });
    assert.deepEqual(Buffer.from(a), Buffer.from(b));
  }
});

test("the fuel global can be exported under another name", async () => {
  const instance = instantiate(instrumentFuel(await wat(COMPUTE), { exportName: "fuel", initialFuel: 123n }));
  assert.equal((instance.exports.fuel as WebAssembly.Global).value, 123n);
  assert.equal(instance.exports[FUEL_EXPORT], undefined);
});

test("bad options are refused with clear errors", async () => {
  const bytes = await wat(COMPUTE);
  assert.throws(() => instrumentFuel(bytes, { initialFuel: 1.5 }), /whole number/);
  assert.throws(() => instrumentFuel(bytes, { initialFuel: -1 }), /between 0 and 2\^63-1/);
  assert.throws(() => instrumentFuel(bytes, { maxMemoryPages: 0 }), /positive whole number/);
  assert.throws(() => instrumentFuel(bytes, { mode: "fast" as never }), /unknown fuel mode/);
  const instance = instantiate(instrumentFuel(bytes));
  assert.throws(() => setFuel(instance, -5), RangeError);
  assert.throws(
    () => getFuel(instantiate(bytes)),
    (e: unknown) => e instanceof InstrumentationError && /not instrumented/.test(e.message),
  );
});

test("instrumenting twice is refused with a clear error", async () => {
  const once = instrumentFuel(await wat(COMPUTE));
  assert.throws(
    () => instrumentFuel(once),
    (e: unknown) => e instanceof InstrumentationError && /already instrumented/.test(e.message),
  );
});

test("modules without global or export sections get them in the right place", async () => {
  const bytes = await wat(`(module (type (func)) (func (type 0) nop) (memory 1) (data (i32.const 0) "hi"))`);
  const info = parseModule(bytes);
  assert.ok(!info.sections.some((s) => s.id === SectionId.global || s.id === SectionId.export));
  const out = instrumentFuel(bytes);
  assert.ok(WebAssembly.validate(out));
  const ids = parseModule(out)
    .sections.filter((s) => s.id !== 0)
    .map((s) => s.id);
  assert.deepEqual(ids, [1, 3, 5, 6, 7, 10, 11]);
  assert.equal(getFuel(instantiate(out)) > 0n, true);
});

test("custom sections (names) are copied through byte for byte", async () => {
  const bytes = await wat(`(module (func $named (export "f") (param $p i32) (result i32) (local.get $p)))`);
  const custom = (b: Uint8Array): string[] =>
    parseModule(b)
      .sections.filter((s) => s.id === 0)
      .map((s) => Buffer.from(b.subarray(s.start, s.end)).toString("hex"));
  assert.equal(custom(bytes).length, 1);
  assert.deepEqual(custom(instrumentFuel(bytes)), custom(bytes));
});

test("the real serde_derive.wasm instruments, validates and re-decodes", { timeout: 10 * 60_000 }, async () => {
  // Built by `macrobox build` (uninstrumented: what loading instruments).
  const original = await macroWasm("serde_derive");
  const before = parseModule(original);
  const originalCount = decodeAllBodies(before);
  const global = instrumentFuelDetailed(original, { maxMemoryPages: 4096, mode: "global" });
  assert.ok(WebAssembly.validate(global.wasm), "instrumented serde_derive (global mode) does not validate");
  assert.equal(decodeAllBodies(parseModule(global.wasm)), originalCount + global.insertedInstructions);
  const result = instrumentFuelDetailed(original, { maxMemoryPages: 4096 });
  assert.equal(result.meteringPoints, global.meteringPoints);
  assert.ok(WebAssembly.validate(result.wasm), "instrumented serde_derive does not validate");
  const after = parseModule(result.wasm);
  // Every body must decode again to its end, with exactly the instructions added.
  assert.equal(decodeAllBodies(after), originalCount + result.insertedInstructions);
  assert.equal(after.codeBodies.length, before.codeBodies.length);
  assert.equal(after.memories[0].limits.max, 4096);
  const customs = (info: typeof before) =>
    info.sections.filter((s) => s.id === 0).map((s) => Buffer.from(info.bytes.subarray(s.start, s.end)).toString("base64"));
  assert.deepEqual(customs(after), customs(before));
  assert.ok(WebAssembly.Module.exports(new WebAssembly.Module(result.wasm)).some((e) => e.name === FUEL_EXPORT));
});
