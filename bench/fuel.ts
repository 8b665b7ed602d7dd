// Fuel metering cost: instrumentation time, module growth, and the slowdown of compute-heavy
// wasm with vs without fuel.
//
//   node --import tsx bench/fuel.ts [--module path/to/macro.wasm ...]
//
// Adds serde_derive.wasm from the build prototype when it is present, and times real serde_derive
// expansions through the bridge (built with the test fixtures' builder; skipped if that fails).
import { existsSync, readFileSync } from "node:fs";
import { instrumentFuelDetailed, setFuel } from "../src/sandbox/fuel.js";
import { wat } from "../test/sandbox/fuel-wat.js";
import { loadMacroModule } from "../src/index.js";
import { macroWasm } from "../test/support/bridge-build.js";

const KERNELS = `
(module
  (memory 320)
  ;; Tight loop: xorshift mixing, the worst case for per-loop-header metering.
  (func (export "mix") (param $n i32) (result i32)
    (local $x i32) (local $i i32)
    (local.set $x (i32.const 2463534242))
    (loop $l
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
      (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $x))
  ;; Call-heavy: naive Fibonacci, a metering point per call.
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  ;; Memory and branches: sieve of Eratosthenes over n bytes, returns the prime count.
  (func (export "sieve") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $count i32)
    (memory.fill (i32.const 0) (i32.const 0) (local.get $n))
    (local.set $i (i32.const 2))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.load8_u (local.get $i)))
          (then
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (local.set $j (i32.mul (local.get $i) (local.get $i)))
            (block $inner_done
              (loop $inner
                (br_if $inner_done (i32.ge_u (local.get $j) (local.get $n)))
                (i32.store8 (local.get $j) (i32.const 1))
                (local.set $j (i32.add (local.get $j) (local.get $i)))
                (br $inner)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (local.get $count))
)`;

type Kernel = (n: number) => number;

/** Median time of `repeats` runs after one warm-up. */
function time(run: () => void, repeats: number): number {
  run(); // warm up (tier-up)
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

function fmt(ms: number): string {
  return `${ms.toFixed(1).padStart(8)} ms`;
}

async function main(): Promise<void> {
  const modulePaths = process.argv.slice(2).filter((a) => a !== "--module");
  const serde = "/tmp/proto/target/wasm32-macro/release/serde_derive.wasm";
  if (modulePaths.length === 0 && existsSync(serde)) modulePaths.push(serde);

  console.log("instrumentation (median of 5):");
  for (const path of modulePaths) {
    const bytes = new Uint8Array(readFileSync(path));
    let result = instrumentFuelDetailed(bytes);
    const ms = time(() => {
      result = instrumentFuelDetailed(bytes);
    }, 5);
    const compileStart = performance.now();
    new WebAssembly.Module(bytes);
    const compilePlain = performance.now() - compileStart;
    const compileMeteredStart = performance.now();
    new WebAssembly.Module(result.wasm);
    const compileMetered = performance.now() - compileMeteredStart;
    const growth = ((result.wasm.length / bytes.length - 1) * 100).toFixed(1);
    console.log(
      `  ${path.split("/").pop()}: ${fmt(ms)}  ${result.functions} functions, ${result.meteringPoints} metering points, ` +
        `${bytes.length} -> ${result.wasm.length} bytes (+${growth}%); ` +
        `WebAssembly.Module ${compilePlain.toFixed(1)} ms plain, ${compileMetered.toFixed(1)} ms metered`,
    );
  }

  // Plain and both metered variants run interleaved, best of 9 each: this machine is shared, and
  // interleaving keeps background load from favouring one side.
  const plainBytes = await wat(KERNELS);
  const variants = [
    { label: "plain", bytes: plainBytes },
    { label: "local", bytes: instrumentFuelDetailed(plainBytes, { mode: "local" }).wasm },
    { label: "global", bytes: instrumentFuelDetailed(plainBytes, { mode: "global" }).wasm },
  ].map((v) => ({ ...v, instance: new WebAssembly.Instance(new WebAssembly.Module(v.bytes)) }));

  console.log("\nslowdown with fuel (best of 9, interleaved):");
  console.log(`  ${"kernel".padEnd(17)} ${variants.map((v) => v.label.padStart(11)).join("")}   slowdown local / global   fuel used`);
  for (const [name, n] of [
    ["mix", 50_000_000],
    ["fib", 32],
    ["sieve", 20_000_000],
  ] as const) {
    const results = new Set(
      variants.map((v) => {
        if (v.label !== "plain") setFuel(v.instance, 2n ** 62n);
        return (v.instance.exports[name] as Kernel)(n);
      }),
    );
    if (results.size !== 1) throw new Error(`${name}: results differ with fuel: ${[...results]}`);
    const best = variants.map(() => Infinity);
    for (let round = 0; round < 10; round++) {
      variants.forEach((v, i) => {
        if (v.label !== "plain") setFuel(v.instance, 2n ** 62n);
        const start = performance.now();
        (v.instance.exports[name] as Kernel)(n);
        const ms = performance.now() - start;
        if (round > 0) best[i] = Math.min(best[i], ms); // round 0 warms up
      });
    }
    const used = 2n ** 62n - (variants[1].instance.exports.__macrobox_fuel as WebAssembly.Global).value;
    console.log(
      `  ${`${name}(${n})`.padEnd(17)} ${best.map(fmt).join("")}   ` +
        `${(best[1] / best[0]).toFixed(2)}x / ${(best[2] / best[0]).toFixed(2)}x`.padEnd(26) +
        `${used}`,
    );
  }
}

/**
 * Real expansions through the bridge, metered vs plain (a fresh instance each, as the bridge does).
 * "first" is the first expansion after loading: it includes the engine's lazy compilation of every
 * function it touches, which grows with the metered bodies' size. "steady" is the best of 30 once
 * the engine has tiered up.
 */
async function serdeExpansions(): Promise<void> {
  let wasm: Uint8Array;
  try {
    wasm = await macroWasm("serde_derive");
  } catch (e) {
    console.log(`\nserde_derive expansions: skipped (cannot build serde_derive: ${(e as Error).message.split("\n")[0]})`);
    return;
  }
  const inputs = [
    ["Serialize", "struct Point { x: i32, y: i32 }"],
    ["Deserialize", "struct Point { x: i32, y: i32 }"],
    ["Serialize", `#[serde(rename_all = "camelCase")]\nenum Shape { Circle { radius_m: f64 }, Square(u32), #[serde(skip)] Nothing }`],
  ] as const;
  console.log("\nserde_derive expansions through the bridge:");
  console.log(
    `  ${"".padEnd(24)} ${"first plain".padStart(12)} ${"first metered".padStart(14)} ${"steady plain".padStart(13)} ${"steady metered".padStart(15)}`,
  );
  for (const [name, input] of inputs) {
    const modules = [await loadMacroModule(wasm, { meter: false }), await loadMacroModule(wasm)];
    const first = [0, 0];
    const best = [Infinity, Infinity];
    for (let round = 0; round < 31; round++) {
      for (const [i, m] of modules.entries()) {
        const start = performance.now();
        const r = await m.expand({ kind: "derive", name, input });
        const ms = performance.now() - start;
        if (!r.ok) throw new Error(`${name} failed: ${r.error?.message}`);
        if (round === 0) first[i] = ms;
        else best[i] = Math.min(best[i], ms);
      }
    }
    const label = `${name} ${input.includes("enum") ? "enum" : "Point"}`;
    console.log(`  ${label.padEnd(24)} ${fmt(first[0]).padStart(12)} ${fmt(first[1]).padStart(14)} ${fmt(best[0]).padStart(13)} ${fmt(best[1]).padStart(15)}`);
  }
}

main()
  .then(serdeExpansions)
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
