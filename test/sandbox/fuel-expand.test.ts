// Fuel on a real macro, end to end through the bridge: serde_derive built to wasm expands the same
// with and without metering, and its fuel use is deterministic: the least fuel that suffices for
// an input is the same on every run, and one unit less fails with the fuel limit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadMacroModule, type MacroModule } from "../../src/index.js";
import { macroWasm } from "../support/bridge-build.js";

const ITEMS = [
  `struct Point { x: i32, y: i32 }`,
  `#[serde(rename_all = "camelCase")]\nenum Shape { Circle { radius_m: f64 }, Square(u32), #[serde(skip)] Nothing }`,
  `struct Wrapper<'a, T: Clone>(&'a [T], #[serde(default)] Option<String>);`,
];

async function expandWithFuel(serde: MacroModule, name: string, input: string, fuel: number) {
  return serde.expand({ kind: "derive", name, input, limits: { fuel } });
}

test("serde_derive expands identically with and without fuel metering", async () => {
  const wasm = await macroWasm("serde_derive");
  const metered = await loadMacroModule(wasm);
  const plain = await loadMacroModule(wasm, { meter: false });
  assert.equal(metered.metered, true);
  assert.equal(plain.metered, false);
  let succeeded = 0;
  for (const input of ITEMS) {
    for (const name of ["Serialize", "Deserialize"]) {
      const a = await metered.expand({ kind: "derive", name, input });
      const b = await plain.expand({ kind: "derive", name, input });
      // Same outcome either way, failures included: metering must not change what a macro does.
      assert.deepEqual([a.ok, a.text, a.error], [b.ok, b.text, b.error], `${name} on ${input}`);
      if (a.ok) succeeded++;
    }
  }
  assert.ok(succeeded >= 4, `only ${succeeded} expansions succeeded`);
});

test("serde_derive's fuel use is deterministic: the least sufficient fuel is the same every run", async () => {
  const serde = await loadMacroModule(await macroWasm("serde_derive"));
  const input = ITEMS[1];
  const ok = async (fuel: number) => (await expandWithFuel(serde, "Serialize", input, fuel)).ok;
  // Binary search the least fuel that succeeds.
  let lo = 1; // fails
  let hi = 1_000_000_000; // succeeds
  assert.equal(await ok(hi), true);
  assert.equal(await ok(lo), false);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await ok(mid)) hi = mid;
    else lo = mid;
  }
  const least = hi;
  assert.ok(least > 10_000, `implausibly little fuel: ${least}`);
  for (let run = 0; run < 3; run++) {
    assert.equal(await ok(least), true, `run ${run}: ${least} fuel no longer suffices`);
    const short = await expandWithFuel(serde, "Serialize", input, least - 1);
    assert.equal(short.ok, false, `run ${run}: ${least - 1} fuel now suffices`);
    assert.equal(short.error?.kind, "limit");
    assert.equal(short.error?.limit, "fuel");
    assert.match(short.error!.message, /--fuel/);
  }
});
