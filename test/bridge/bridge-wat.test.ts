// The bridge host driving hand-written wasm clients (no Rust involved): a client that forges a
// handle, one that returns a buffer pointing outside memory, one that calls proc_exit. The host
// answers each with a clean error and keeps working.

import assert from "node:assert/strict";
import { test } from "node:test";
import { BRIDGE_ABI, loadMacroModule } from "../../src/index.js";
import { METHODS_1_96 } from "../../src/bridge/abi.js";
import { wat } from "../sandbox/fuel-wat.js";

/**
 * A macro module with one bang macro `m` whose `run(sret, config)` is `body`. The ProcMacro table
 * is laid out by hand (src/wasm/decls.ts describes it): slice at 1000 -> entry at 1024
 * { tag 2 (Bang), name "m" at 1100, handle_counters 1200, run = table index 1 }.
 */
function client(body: string, imports = ""): Promise<Uint8Array> {
  return wat(`(module
    ${imports}
    (type $dispatch (func (param i32 i32 i32)))
    (memory (export "memory") 2)
    (table (export "__indirect_function_table") 2 funcref)
    (elem (i32.const 1) $run)
    (global (export "__rustc_proc_macro_decls_0123__") i32 (i32.const 1000))
    (data (i32.const 1000) "\\00\\04\\00\\00\\01\\00\\00\\00")
    (data (i32.const 1024) "\\02\\00\\00\\00\\4c\\04\\00\\00\\01\\00\\00\\00\\b0\\04\\00\\00\\01\\00\\00\\00")
    (data (i32.const 1100) "m")
    (func $run (param $sret i32) (param $config i32) (local $data i32)
      ${body}))`);
}

/** Writes a request (tag + u32 handle) into the input buffer and forwards dispatch's answer as the result. */
const FORGE = `
  (local.set $data (i32.load (local.get $config)))
  (i32.store8 (local.get $data) (i32.const ${METHODS_1_96.indexOf("ts_clone")}))
  (i32.store (i32.add (local.get $data) (i32.const 1)) (i32.const 999))
  (i32.store offset=4 (local.get $config) (i32.const 5))
  (call_indirect (type $dispatch)
    (local.get $sret) (i32.load offset=24 (local.get $config)) (local.get $config)
    (i32.load offset=20 (local.get $config)))`;

test("a client forging a token stream handle gets rustc's use-after-free error; it is reported as a bridge error", async () => {
  const mod = await loadMacroModule(await client(FORGE), { assumeBridgeAbi: BRIDGE_ABI });
  assert.deepEqual(mod.macros, [{ kind: "bang", name: "m", helpers: [] }]);
  const r = await mod.expand({ kind: "bang", name: "m", input: "x" });
  assert.equal(r.ok, false);
  assert.equal(r.error?.kind, "bridge");
  assert.match(r.error!.message, /use-after-free in `proc_macro` handle/);
  const again = await mod.expand({ kind: "bang", name: "m", input: "x" });
  assert.equal(again.error?.kind, "bridge");
});

/** A request of `len` bytes at the input buffer (tag `ts_clone`, then handle 999 in memory after it), sent through `bufPtr` (default: the config's buffer). */
const request = (len: number | string, bufPtr = "(local.get $config)") => `
  (local.set $data (i32.load (local.get $config)))
  (i32.store8 (local.get $data) (i32.const ${METHODS_1_96.indexOf("ts_clone")}))
  (i32.store (i32.add (local.get $data) (i32.const 1)) (i32.const 999))
  (i32.store offset=4 (local.get $config) (i32.const ${len}))
  (call_indirect (type $dispatch)
    (local.get $sret) (i32.load offset=24 (local.get $config)) ${bufPtr}
    (i32.load offset=20 (local.get $config)))`;

test("the server reads a request in the client's memory only within the request's own length", async () => {
  // The handle's bytes follow the tag in memory, but the request says it is one byte long: a
  // server reading past its end would find them and answer use-after-free instead.
  const mod = await loadMacroModule(await client(request(1)), { assumeBridgeAbi: BRIDGE_ABI });
  const r = await mod.expand({ kind: "bang", name: "m", input: "x" });
  assert.equal(r.error?.kind, "bridge");
  assert.match(r.error!.message, /truncated bridge message: needed 4 byte\(s\)/);
  // The whole request: the same bytes are read, and the forged handle is refused as before.
  const whole = await loadMacroModule(await client(request(5)), { assumeBridgeAbi: BRIDGE_ABI });
  assert.match((await whole.expand({ kind: "bang", name: "m", input: "x" })).error!.message, /use-after-free in `proc_macro` handle/);
});

test("a request buffer, or its header, outside memory is a bridge error", async () => {
  for (const body of [request("0x7fffff00"), request(5, "(i32.const 0x7ffffff0)")]) {
    const mod = await loadMacroModule(await client(body), { assumeBridgeAbi: BRIDGE_ABI });
    const r = await mod.expand({ kind: "bang", name: "m", input: "x" });
    assert.equal(r.error?.kind, "bridge");
    assert.match(r.error!.message, /outside memory/);
    // The host keeps working.
    assert.equal((await mod.expand({ kind: "bang", name: "m", input: "x" })).error?.kind, "bridge");
  }
});

test("a result buffer pointing outside memory is a bridge error", async () => {
  const body = `
    (i32.store (local.get $sret) (i32.const 0x7ffffff0))
    (i32.store offset=4 (local.get $sret) (i32.const 100))`;
  const mod = await loadMacroModule(await client(body), { assumeBridgeAbi: BRIDGE_ABI });
  const r = await mod.expand({ kind: "bang", name: "m", input: "" });
  assert.equal(r.error?.kind, "bridge");
  assert.match(r.error!.message, /outside memory/);
});

test("a response that would run past the end of memory is a bridge error, whatever capacity the client claims", async () => {
  // The request's 5 bytes are the last of memory and its buffer claims 2 GiB of room; the answer
  // (a use-after-free panic message) is longer than 5 bytes. Then the client returns a malformed
  // result of its own: a host that wrote what fits and went on would end with that error instead.
  const body = `
    (local.set $data (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 5)))
    (i32.store8 (local.get $data) (i32.const ${METHODS_1_96.indexOf("ts_clone")}))
    (i32.store (i32.add (local.get $data) (i32.const 1)) (i32.const 999))
    (i32.store (local.get $config) (local.get $data))
    (i32.store offset=4 (local.get $config) (i32.const 5))
    (i32.store offset=8 (local.get $config) (i32.const 0x7fffffff))
    (call_indirect (type $dispatch)
      (local.get $sret) (i32.load offset=24 (local.get $config)) (local.get $config)
      (i32.load offset=20 (local.get $config)))
    (i32.store8 (i32.const 2000) (i32.const 7))
    (i32.store (local.get $sret) (i32.const 2000))
    (i32.store offset=4 (local.get $sret) (i32.const 1))`;
  const mod = await loadMacroModule(await client(body), { assumeBridgeAbi: BRIDGE_ABI });
  const r = await mod.expand({ kind: "bang", name: "m", input: "x" });
  assert.equal(r.error?.kind, "bridge");
  assert.match(r.error!.message, /outside memory/);
});

test("a malformed result is a bridge error", async () => {
  // A result of one byte, 7: not a Result tag.
  const body = `
    (local.set $data (i32.load (local.get $config)))
    (i32.store8 (local.get $data) (i32.const 7))
    (i32.store (local.get $sret) (local.get $data))
    (i32.store offset=4 (local.get $sret) (i32.const 1))`;
  const mod = await loadMacroModule(await client(body), { assumeBridgeAbi: BRIDGE_ABI });
  const r = await mod.expand({ kind: "bang", name: "m", input: "" });
  assert.equal(r.error?.kind, "bridge");
  assert.match(r.error!.message, /malformed result.*Result tag 7/);
});

test("proc_exit ends the expansion with an error", async () => {
  const imports = `(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))`;
  const mod = await loadMacroModule(await client(`(call $exit (i32.const 3))`, imports), { assumeBridgeAbi: BRIDGE_ABI });
  const r = await mod.expand({ kind: "bang", name: "m", input: "" });
  assert.equal(r.error?.kind, "exit");
  assert.match(r.error!.message, /proc_exit\(3\)/);
});

test("a module importing anything but WASI is refused at load, naming the import", async () => {
  const imports = `(import "env" "system" (func $sys (param i32)))`;
  await assert.rejects(loadMacroModule(await client(`(call $sys (i32.const 0))`, imports), { assumeBridgeAbi: BRIDGE_ABI }), /env\.system/);
});
