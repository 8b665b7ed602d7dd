// Unit tests of the bridge host's parts: the rpc encoding, ABI detection, the span table, the WASI
// layer, and the server's dispatch fed hand-made requests (forged handles, bad bytes).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  abiRelease,
  BRIDGE_ABI,
  BridgeAbiError,
  bridgeAbiForRustc,
  checkBridgeAbi,
  detectModuleAbi,
  KNOWN_BRIDGE_ABIS,
  METHODS_1_96,
  type Method,
} from "../../src/bridge/abi.js";
import { assembleReexportModule } from "../../src/bridge/host-side.js";
import { BridgeDecodeError, BridgeReader, BridgeWriter } from "../../src/bridge/rpc.js";
import { bool, diagnostic, literal, method, option, span, streamRef, tokenTree, usize, type BridgeDiagnostic } from "../../src/bridge/codec.js";
import { HandleStore } from "../../src/bridge/handles.js";
import { BridgeMethods } from "../../src/bridge/methods.js";
import { bindTable, BridgeServer } from "../../src/bridge/server.js";
import { RUSTC_1_96 } from "../../src/bridge/versions/rustc-1.96.js";
import { IntKeyIndex, SpanTable } from "../../src/bridge/spans.js";
import { Errno, Wasi, WasiExit, wasiImportsFor } from "../../src/sandbox/wasi.js";
import { unsupportedImportsMessage, WASI_PREVIEW1 } from "../../src/sandbox/host-imports.js";
import { MacroModuleError } from "../../src/wasm/decls.js";
import { readFileSync } from "node:fs";

const MOD_RS = "/usr/src/rustc-1.96.0/library/proc_macro/src/bridge/mod.rs";
const WASI_CRATE_BINDINGS = "/usr/src/rustc-1.96.0/library/vendor/wasi-0.11.1+wasi-snapshot-preview1/src/lib_generated.rs";

describe("abi", () => {
  test("the 1.96 table is with_api! in rustc 1.96's mod.rs: names in order, argument and result types", () => {
    const src = readFileSync(MOD_RS, "utf8");
    const body = src.slice(src.indexOf("macro_rules! with_api"), src.indexOf("pub(crate) struct Methods"));
    const signatures = [...body.matchAll(/fn (\w+)\(([^)]*)\)\s*(?:->\s*([^;]+))?;/g)].map((m) => ({
      name: m[1],
      args: splitTopLevel(m[2]).map((arg) => arg.slice(arg.indexOf(":") + 1).trim()),
      ret: m[3] === undefined ? "()" : m[3].replace(/\s+/g, " ").trim(),
    }));
    assert.equal(signatures.length, 32);
    assert.deepEqual(
      RUSTC_1_96.methods.map((m) => ({ name: m.name, args: m.args.map((a) => a.rust), ret: m.ret.rust })),
      signatures,
    );
    assert.deepEqual(
      signatures.map((s) => s.name),
      [...METHODS_1_96],
    );
    assert.deepEqual(KNOWN_BRIDGE_ABIS, [RUSTC_1_96.abi]);
    assert.equal(BRIDGE_ABI, RUSTC_1_96.abi);
  });

  test("every method of the 1.96 table has an implementation taking its arguments; a mismatch names the method", () => {
    const bound = bindTable(RUSTC_1_96, BridgeMethods.prototype);
    assert.deepEqual(
      bound.map((m) => m.name),
      [...METHODS_1_96],
    );
    for (const m of bound) assert.equal(m.impl.length, m.args.length, m.name);
    const extra = { abi: "test/extra", methods: [...RUSTC_1_96.methods, method("ts_frobnicate", [streamRef], bool)] };
    assert.throws(() => bindTable(extra, BridgeMethods.prototype), /test\/extra: method ts_frobnicate has no implementation/);
    const arity = { abi: "test/arity", methods: [method("span_join", [span], option(span))] };
    assert.throws(() => bindTable(arity, BridgeMethods.prototype), /method span_join takes 1 argument\(s\) on the wire, its implementation 2/);
    const twice = { abi: "test/twice", methods: [method("span_line", [span], usize), method("span_line", [span], usize)] };
    assert.throws(() => bindTable(twice, BridgeMethods.prototype), /span_line is listed twice/);
  });

  test("a server is built for the module's bridge: a release-only id resolves, an unknown one is refused", () => {
    const spans = new SpanTable();
    const expansion = spans.newExpansion(spans.span(spans.addFile("a.rs", "x"), 0, 1));
    assert.equal(new BridgeServer({ spans, expansion }).bridgeAbi, BRIDGE_ABI);
    assert.equal(new BridgeServer({ spans, expansion, bridgeAbi: abiRelease(BRIDGE_ABI) }).bridgeAbi, BRIDGE_ABI);
    assert.throws(
      () => new BridgeServer({ spans, expansion, bridgeAbi: "rustc-1.80/0123456789ab" }),
      (e: Error) => e instanceof BridgeAbiError && e.message.includes(BRIDGE_ABI),
    );
  });

  test("bridge ABI ids from rustc versions", () => {
    assert.equal(bridgeAbiForRustc("1.96.0 (ac68faa20 2026-05-25)"), "rustc-1.96");
    assert.equal(bridgeAbiForRustc("rustc 1.80.1 (3f5fd8dd4 2024-08-06)"), "rustc-1.80");
    assert.equal(bridgeAbiForRustc("nonsense"), null);
  });

  test("a module's macrobox section decides; unknown bridges are refused, naming the known ones", () => {
    const meta = (json: string) => new WebAssembly.Module(moduleWithCustomSection("macrobox", json));
    const ok = detectModuleAbi(meta(JSON.stringify({ rustc: "rustc 1.96.0", bridgeAbi: BRIDGE_ABI })));
    assert.deepEqual(ok, { bridgeAbi: BRIDGE_ABI, rustc: "rustc 1.96.0", source: "macrobox-section" });
    checkBridgeAbi(ok);

    const old = detectModuleAbi(meta(JSON.stringify({ rustc: "rustc 1.80.0", bridgeAbi: "rustc-1.80/0123456789ab" })));
    assert.throws(
      () => checkBridgeAbi(old),
      (e: Error) => e instanceof BridgeAbiError && e.message.includes("rustc-1.80/0123456789ab") && e.message.includes(KNOWN_BRIDGE_ABIS[0]),
    );
    // Same release, different bridge sources (a nightly that changed the bridge): refused too.
    const changed = detectModuleAbi(meta(JSON.stringify({ rustc: "rustc 1.96.0", bridgeAbi: "rustc-1.96/ffffffffffff" })));
    assert.throws(() => checkBridgeAbi(changed), BridgeAbiError);
    assert.throws(() => detectModuleAbi(meta("{not json")), BridgeAbiError);
  });

  test("without a macrobox section: producers section by release, else refused unless assumed", () => {
    const producers = (rustc: string) => {
      const enc = (s: string) => [s.length, ...new TextEncoder().encode(s)];
      return new WebAssembly.Module(moduleWithCustomSection("producers", new Uint8Array([1, ...enc("processed-by"), 1, ...enc("rustc"), ...enc(rustc)])));
    };
    const byRelease = detectModuleAbi(producers("1.96.0 (ac68faa20 2026-05-25)"));
    assert.equal(byRelease.bridgeAbi, "rustc-1.96");
    assert.equal(byRelease.source, "producers-section");
    checkBridgeAbi(byRelease);
    assert.throws(() => checkBridgeAbi(detectModuleAbi(producers("1.70.0 (x)"))), /rustc-1\.70.*this host serves/);

    const bare = new WebAssembly.Module(moduleWithCustomSection("other", "x"));
    assert.throws(() => detectModuleAbi(bare), /assumeBridgeAbi/);
    assert.equal(detectModuleAbi(bare, BRIDGE_ABI).source, "assumed");
  });
});

describe("rpc", () => {
  test("fixed-width little-endian, usize is 4 bytes, strings length-prefixed, Option Some=0", () => {
    const w = new BridgeWriter();
    w.u8(7)
      .bool(true)
      .u32le(0x01020304)
      .usize(5)
      .str("hé")
      .option("x", (s) => w.str(s))
      .option(null, () => {});
    w.vec([1, 2], (n) => w.u32le(n));
    const bytes = w.finish();
    assert.deepEqual([...bytes], [7, 1, 4, 3, 2, 1, 5, 0, 0, 0, 3, 0, 0, 0, 0x68, 0xc3, 0xa9, 0, 1, 0, 0, 0, 0x78, 1, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
    const r = new BridgeReader(bytes);
    assert.equal(r.u8(), 7);
    assert.equal(r.bool(), true);
    assert.equal(r.u32le(), 0x01020304);
    assert.equal(r.usize(), 5);
    assert.equal(r.str(), "hé");
    assert.equal(
      r.option(() => r.str()),
      "x",
    );
    assert.equal(
      r.option(() => r.str()),
      null,
    );
    assert.deepEqual(
      r.vec(() => r.u32le()),
      [1, 2],
    );
    assert.equal(r.remaining, 0);
  });

  test("strings read back as written when the reader's table of recent short strings is full of others", () => {
    // Far more distinct short strings than the table has slots, so slots collide; same-length
    // strings that differ in one byte; each read twice, the second time from wherever the table
    // now points; and lengths on both sides of the short-string bound, non-ASCII included.
    const strings: string[] = [];
    for (let i = 0; i < 20_000; i++) strings.push(`f${i.toString(36)}`, `g${i.toString(36)}`);
    strings.push("", "a", "ab", "x".repeat(32), "x".repeat(31) + "y", "x".repeat(33), "é", `${"a".repeat(31)}é`);
    const w = new BridgeWriter();
    for (const s of strings) w.str(s);
    for (const s of [...strings].reverse()) w.str(s);
    const r = new BridgeReader(w.finish());
    for (const s of strings) assert.equal(r.str(), s);
    for (const s of [...strings].reverse()) assert.equal(r.str(), s);
    assert.equal(r.remaining, 0);
  });

  test("malformed bytes are BridgeDecodeErrors", () => {
    assert.throws(() => new BridgeReader(new Uint8Array([1, 2])).u32le(), BridgeDecodeError);
    assert.throws(() => new BridgeReader(new Uint8Array([9, 0, 0, 0, 1])).str(), BridgeDecodeError);
    assert.throws(() => new BridgeReader(new Uint8Array([0, 0, 0, 0])).handle(), BridgeDecodeError);
    assert.throws(() => new BridgeReader(new Uint8Array([2])).bool(), BridgeDecodeError);
    assert.throws(() => new BridgeReader(new Uint8Array([2, 0, 0, 0, 0xff, 0xfe])).str(), BridgeDecodeError);
    assert.throws(() => new BridgeReader(new Uint8Array([0xff, 0xff, 0xff, 0x7f])).vec(() => 0), BridgeDecodeError);
  });
});

describe("codecs", () => {
  const spans = new SpanTable();
  const f = spans.addFile("c.rs", "abc");
  const sp = spans.span(f, 0, 1);

  test("compound types read back what they write (trees through the handle store)", () => {
    const store = new HandleStore(spans);
    const inner = [{ type: "ident", sym: "x", isRaw: true, span: sp } as const];
    const trees = [
      { type: "group", delimiter: "Bracket", stream: inner, span: { open: sp, close: sp, entire: sp } },
      { type: "punct", ch: "#", joint: true, span: sp },
      { type: "literal", kind: "StrRaw", hashes: 2, symbol: "s", suffix: "u8", span: sp },
      { type: "literal", kind: "Integer", hashes: 0, symbol: "1", suffix: null, span: sp },
    ] as const;
    const w = new BridgeWriter();
    for (const t of trees) tokenTree.write(w, store, t);
    const d: BridgeDiagnostic = { level: "note", message: "m", spans: [sp, sp], children: [{ level: "help", message: "c", spans: [], children: [] }] };
    diagnostic.write(w, store, d);
    const r = new BridgeReader(w.finish());
    assert.deepEqual(
      trees.map(() => tokenTree.read(r, store)),
      trees,
    );
    assert.deepEqual(diagnostic.read(r, store), d);
    assert.equal(r.remaining, 0);
    assert.equal(store.liveStreams, 0, "reading the group took its stream back out of the store");
  });

  test("a literal with an unknown kind or a forged span is refused", () => {
    const store = new HandleStore(spans);
    assert.throws(() => literal.read(new BridgeReader(new Uint8Array([11])), store), /invalid LitKind tag 11/);
    const forged = new BridgeWriter().u8(0).str("a").u8(1).handle(987_654).finish();
    assert.throws(() => literal.read(new BridgeReader(forged), store), /use-after-free/);
  });
});

describe("span table", () => {
  const table = new SpanTable();
  const f = table.addFile("a.rs", "\uFEFFfn é() {\r\n  x\n}");
  // After normalisation: "fn é() {\n  x\n}" — é is 2 bytes.

  test("BOM and CRLF are normalised like rustc's source map", () => {
    assert.equal(f.text, "fn é() {\n  x\n}");
  });

  test("lines and char columns, 1-based", () => {
    const e = table.span(f, 3, 5); // é
    assert.equal(table.line(e), 1);
    assert.equal(table.column(e), 4);
    const paren = table.span(f, 5, 6);
    assert.equal(table.column(paren), 5); // é counts as one char
    const x = table.span(f, 12, 13);
    assert.deepEqual(table.location(x), { file: "a.rs", lo: 12, hi: 13, line: 2, column: 3, endLine: 2, endColumn: 4, text: "x" });
  });

  test("interning: same data, same handle; handles are non-zero", () => {
    const a = table.span(f, 0, 2);
    assert.equal(table.span(f, 0, 2), a);
    assert.ok(a > 0);
    assert.notEqual(table.span(f, 0, 3), a);
  });

  test("interning thousands of spans: each distinct span once, in order; every field tells spans apart", () => {
    const t = new SpanTable();
    const file = t.addFile("big.rs", "x".repeat(300));
    const first = new Map<string, number>();
    for (let lo = 0; lo < 100; lo++)
      for (let len = 0; len < 30; len++)
        for (const ctxt of [0, 1]) {
          const h = t.intern({ file: file.index, lo, hi: lo + len, ctxt });
          const key = `${lo}:${len}:${ctxt}`;
          if (!first.has(key)) assert.equal(h, t.size, `a new span gets the next handle (${key})`);
          first.set(key, first.get(key) ?? h);
          assert.equal(first.get(key), h);
        }
    assert.equal(t.size, 100 * 30 * 2 + 1); // and the dummy span
    for (const [key, h] of first) {
      const [lo, len, ctxt] = key.split(":").map(Number);
      assert.equal(t.intern({ file: file.index, lo, hi: lo + len, ctxt }), h);
      assert.deepEqual(t.data(h), { file: file.index, lo, hi: lo + len, ctxt });
    }
    assert.notEqual(t.intern({ file: -1, lo: 0, hi: 0, ctxt: 1 }), t.dummy);
    assert.equal(t.intern({ file: -1, lo: 0, hi: 0, ctxt: 0 }), t.dummy);
  });

  test("the span index tells apart keys whose hashes collide, by every field", () => {
    // A hash with only 4 values: every key shares its chain with a quarter of the others.
    const collide = (a: number, b: number, c: number, d: number, e: number) => (a + b + c + d + e) & 3;
    for (const width of [2, 4, 5] as const) {
      const index = new IntKeyIndex(width, collide);
      const keys: [number, number, number, number, number][] = [];
      for (let i = 0; i < 400; i++) {
        const k: [number, number, number, number, number] = [7, 0xffff_fff0, 3, 9, 11];
        k[i % width] += 1 + Math.floor(i / width); // keys differing from the base in one field
        keys.push(k);
      }
      keys.push([7, 0xffff_fff0, width >= 4 ? 3 : 0, width >= 4 ? 9 : 0, width === 5 ? 11 : 0]);
      keys.forEach((k, v) => index.set(v, ...k));
      keys.forEach((k, v) => assert.equal(index.get(...k), v, `width ${width}: key ${k.join(",")}`));
      index.set(1000, ...keys[5]);
      assert.equal(index.get(...keys[5]), 1000, "set replaces");
      assert.equal(index.get(1, 2, 3, 4, 5), -1);
    }
  });

  test("join needs one file; subspan follows rustc's bounds checks", () => {
    const g = table.addFile("b.rs", "abc");
    assert.equal(table.join(table.span(f, 0, 1), table.span(g, 0, 1)), null);
    const j = table.join(table.span(f, 0, 2), table.span(f, 12, 13))!;
    assert.deepEqual(table.byteRange(j), { start: 0, end: 13 });
    const s = table.span(g, 0, 3);
    assert.deepEqual(table.byteRange(table.subspan(s, { kind: "included", value: 1 }, { kind: "unbounded" })!), { start: 1, end: 3 });
    assert.deepEqual(table.byteRange(table.subspan(s, { kind: "excluded", value: 0 }, { kind: "included", value: 1 })!), { start: 1, end: 2 });
    assert.equal(table.subspan(s, { kind: "included", value: 2 }, { kind: "excluded", value: 2 }), null);
    assert.equal(table.subspan(s, { kind: "unbounded" }, { kind: "excluded", value: 4 }), null);
  });

  test("expansion contexts: parent is the invocation, source follows parents, debug like rustc", () => {
    const inv = table.span(f, 0, 8);
    const exp = table.newExpansion(inv);
    assert.equal(table.parent(exp.callSite), inv);
    assert.equal(table.parent(inv), null);
    assert.equal(table.source(exp.mixedSite), inv);
    assert.notEqual(exp.callSite, exp.defSite);
    assert.deepEqual(table.byteRange(exp.defSite), table.byteRange(inv));
    assert.match(table.debug(exp.callSite), /^#\d+ bytes\(0\.\.8\)$/);
    const g2 = table.addFile("c.rs", "zz");
    // Global positions: later files start after earlier ones.
    assert.match(table.debug(table.span(g2, 1, 2)), /^#0 bytes\((\d+)\.\.(\d+)\)$/);
    assert.notEqual(table.debug(table.span(g2, 1, 2)), "#0 bytes(1..2)");
    assert.equal(table.resolvedAt(inv, exp.callSite), exp.callSite);
  });

  test("unknown spans throw", () => {
    assert.throws(() => table.data(999_999), /unknown span/);
    assert.equal(table.has(0), false);
  });
});

describe("wasi", () => {
  function withMemory(options = {}) {
    const wasi = new Wasi(options);
    const memory = new WebAssembly.Memory({ initial: 1 });
    wasi.bindMemory(memory);
    return { wasi, memory, view: new DataView(memory.buffer) };
  }

  test("fd_write to stdout/stderr is captured and bounded; other fds are EBADF", () => {
    const { wasi, memory, view } = withMemory({ stdoutLimit: 5 });
    new Uint8Array(memory.buffer).set(new TextEncoder().encode("hello world"), 100);
    view.setUint32(0, 100, true);
    view.setUint32(4, 11, true);
    assert.equal(wasi.fd_write(1, 0, 1, 16), Errno.SUCCESS);
    assert.equal(view.getUint32(16, true), 11); // the module is told everything was written
    assert.equal(wasi.stdout.text(), "hello");
    assert.equal(wasi.stdout.truncated, true);
    assert.equal(wasi.fd_write(2, 0, 1, 16), Errno.SUCCESS);
    assert.equal(wasi.stderr.text(), "hello world");
    assert.equal(wasi.fd_write(3, 0, 1, 16), Errno.BADF);
    assert.equal(wasi.fd_write(1, 65530, 1, 16), Errno.FAULT);
  });

  test("past maxWrittenBytes, writes fail with ENOSPC and the limit is recorded", () => {
    const { wasi, memory, view } = withMemory({ maxWrittenBytes: 8 });
    new Uint8Array(memory.buffer).set(new TextEncoder().encode("12345"), 100);
    view.setUint32(0, 100, true);
    view.setUint32(4, 5, true);
    assert.equal(wasi.fd_write(1, 0, 1, 16), Errno.SUCCESS);
    assert.equal(wasi.fd_write(2, 0, 1, 16), Errno.NOSPC);
    assert.equal(wasi.limitExceeded?.limit, "capturedOutputBytes");
    assert.equal(wasi.fd_write(1, 0, 1, 16), Errno.NOSPC);
    assert.equal(wasi.stdout.text(), "12345");
    assert.equal(wasi.stderr.text(), "");
  });

  test("no environment, no preopens, no files; fixed clock and random stream", () => {
    const { wasi, view } = withMemory();
    assert.equal(wasi.environ_sizes_get(0, 4), Errno.SUCCESS);
    assert.deepEqual([view.getUint32(0, true), view.getUint32(4, true)], [0, 0]);
    assert.equal(wasi.fd_prestat_get(3, 0), Errno.BADF);
    assert.equal(wasi.path_open(3, 0, 0, 0), Errno.NOTCAPABLE);
    assert.equal(wasi.clock_time_get(0, 0n, 8), Errno.SUCCESS);
    assert.equal(view.getBigUint64(8, true), 946_684_800_000_000_000n);
    const a = withMemory();
    const b = withMemory();
    a.wasi.random_get(0, 32);
    b.wasi.random_get(0, 32);
    const bytesA = new Uint8Array(a.memory.buffer, 0, 32);
    assert.deepEqual(bytesA, new Uint8Array(b.memory.buffer, 0, 32));
    assert.ok(new Set(bytesA).size > 8, "the stream looks random");
    assert.throws(
      () => wasi.proc_exit(3),
      (e: unknown) => e instanceof WasiExit && e.exitCode === 3,
    );
  });

  test("imports cover what a module asks for; unknown preview1 functions answer ENOSYS; other modules refused", () => {
    const imports = [
      ["wasi_snapshot_preview1", "fd_write", 4],
      ["wasi_snapshot_preview1", "poll_oneoff", 4],
      ["wasi_snapshot_preview1", "path_unlink_file", 3],
    ] as const;
    const mod = new WebAssembly.Module(moduleImporting(imports.map(([m, n, a]) => [m, n, a])));
    const obj = wasiImportsFor(mod, new Wasi()).wasi_snapshot_preview1 as Record<string, (...a: number[]) => number>;
    assert.equal(obj.poll_oneoff(0, 0, 0, 0), Errno.NOSYS);
    assert.equal(obj.path_unlink_file(0, 0, 0), Errno.NOTCAPABLE);
    const bad = new WebAssembly.Module(moduleImporting([["env", "system", 1]]));
    assert.throws(() => wasiImportsFor(bad, new Wasi()), /env\.system/);
  });

  test("WASI_PREVIEW1 is exactly the preview1 functions rustc 1.96's vendored `wasi` crate imports, each with its answer", () => {
    // The crate's generated bindings: `pub fn <name>(argN: ...) -> i32;` in the extern block linked to wasi_snapshot_preview1.
    const generated = readFileSync(WASI_CRATE_BINDINGS, "utf8");
    const block = generated.slice(generated.indexOf('#[link(wasm_import_module = "wasi_snapshot_preview1")]'));
    const theirs = [...block.matchAll(/pub fn ([a-z_0-9]+)\(([^)]*)\)/g)].map((m) => [m[1], m[2].split(",").filter((a) => a.trim() !== "").length] as const);
    assert.ok(theirs.length > 40, `read ${theirs.length} functions from ${WASI_CRATE_BINDINGS}`);
    assert.deepEqual(Object.keys(WASI_PREVIEW1).sort(), theirs.map(([name]) => name).sort());
    // Imported all at once, each answers as its row says (the `host` ones are Wasi's methods).
    const mod = new WebAssembly.Module(moduleImporting(theirs.map(([name, arity]) => ["wasi_snapshot_preview1", name, arity])));
    const fns = wasiImportsFor(mod, new Wasi()).wasi_snapshot_preview1 as Record<string, (...a: number[]) => number>;
    for (const [name, row] of Object.entries(WASI_PREVIEW1)) {
      assert.equal(typeof fns[name], "function", name);
      if (row.answer === "not-capable") assert.equal(fns[name](0, 0, 0, 0, 0, 0, 0, 0, 0), Errno.NOTCAPABLE, name);
      if (row.answer === "nosys") assert.equal(fns[name](0, 0, 0, 0), Errno.NOSYS, name);
      if (row.answer === "host") assert.equal(typeof (Wasi.prototype as unknown as Record<string, unknown>)[name], "function", name);
    }
  });

  test("loading refuses exactly what `macrobox build` refuses, with the same message naming the import", () => {
    for (const [module, name, expected] of [
      ["env", "system", /env\.system \(function\): the host provides only `wasi_snapshot_preview1` functions/],
      ["wasi_snapshot_preview1", "fd_teleport", /wasi_snapshot_preview1\.fd_teleport \(function\): not a WASI preview1 function/],
    ] as const) {
      const mod = new WebAssembly.Module(moduleImporting([[module, name, 1]]));
      const message = unsupportedImportsMessage(mod);
      assert.match(message ?? "", expected);
      assert.throws(
        () => wasiImportsFor(mod, new Wasi()),
        (e) => e instanceof MacroModuleError && e.message === `the module ${message}`,
      );
    }
    const fine = new WebAssembly.Module(moduleImporting([["wasi_snapshot_preview1", "fd_write", 4]]));
    assert.equal(unsupportedImportsMessage(fine), null);
  });
});

describe("server dispatch", () => {
  function server() {
    const spans = new SpanTable();
    const f = spans.addFile("in.rs", "a b");
    const expansion = spans.newExpansion(spans.span(f, 0, 3));
    const s = new BridgeServer({ spans, expansion });
    const a = spans.span(f, 0, 1);
    return { s, spans, a, expansion };
  }
  const tag = (m: Method) => METHODS_1_96.indexOf(m);
  const request = (m: Method, body: (w: BridgeWriter) => void = () => {}) => {
    const w = new BridgeWriter().u8(tag(m));
    body(w);
    return w.finish();
  };
  const panicMessage = (bytes: Uint8Array) => {
    const r = new BridgeReader(bytes);
    assert.equal(r.u8(), 1, "Err");
    return r.option(() => r.str());
  };

  test("forged and dropped token stream handles are Err(PanicMessage), like rustc", () => {
    const { s, a } = server();
    assert.match(panicMessage(s.dispatch(request("ts_clone", (w) => w.handle(42))))!, /use-after-free/);
    const h = s.allocStream([{ type: "ident", sym: "x", isRaw: false, span: a }]);
    const ok = new BridgeReader(s.dispatch(request("ts_is_empty", (w) => w.handle(h))));
    assert.deepEqual([ok.u8(), ok.bool()], [0, false]);
    assert.deepEqual([...s.dispatch(request("ts_drop", (w) => w.handle(h)))], [0]);
    assert.match(panicMessage(s.dispatch(request("ts_drop", (w) => w.handle(h))))!, /use-after-free/);
    assert.equal(s.liveStreams, 0);
  });

  test("forged span handles, bad tags and truncated requests are errors, and the server keeps working", () => {
    const { s, a } = server();
    assert.match(panicMessage(s.dispatch(request("span_line", (w) => w.handle(9999))))!, /use-after-free/);
    assert.match(panicMessage(s.dispatch(new Uint8Array([200])))!, /unknown bridge method tag 200/);
    assert.match(panicMessage(s.dispatch(request("span_line", (w) => w.u8(1))))!, /truncated/);
    assert.match(panicMessage(s.dispatch(new Uint8Array([])))!, /truncated/);
    const punct = request("ts_from_token_tree", (w) => w.u8(1).u8("a".charCodeAt(0)).bool(false).handle(a));
    assert.match(panicMessage(s.dispatch(punct))!, /unsupported character/);
    assert.equal(s.errors.length, 5);
    const line = new BridgeReader(s.dispatch(request("span_line", (w) => w.handle(a))));
    assert.deepEqual([line.u8(), line.usize()], [0, 1]);
  });

  test("the dispatcher answers an unknown tag or a truncated request with Err(PanicMessage) and keeps serving", () => {
    const { s, a } = server();
    const lineOf = () => {
      const r = new BridgeReader(s.dispatch(request("span_line", (w) => w.handle(a))));
      return [r.u8(), r.usize(), r.remaining];
    };
    for (const unknown of [METHODS_1_96.length, 255]) {
      assert.equal(panicMessage(s.dispatch(new Uint8Array([unknown]))), `unknown bridge method tag ${unknown}`);
      assert.deepEqual(lineOf(), [0, 1, 0]);
    }
    // Every method takes arguments: its bare tag is a request cut short, and so is any proper prefix of a good one.
    for (const m of METHODS_1_96) {
      assert.match(panicMessage(s.dispatch(request(m)))!, /^truncated bridge message/, m);
      assert.deepEqual(lineOf(), [0, 1, 0], `serving after a truncated ${m}`);
    }
    const join = request("span_join", (w) => w.handle(a).handle(a));
    for (let len = 1; len < join.length; len++) assert.match(panicMessage(s.dispatch(join.subarray(0, len)))!, /^truncated/);
    assert.equal(new BridgeReader(s.dispatch(join)).u8(), 0);
    assert.equal(s.errors.length, 2 + METHODS_1_96.length + join.length - 1);
    // Calls count by tag, failed ones too: the good ones after each bad request, and the truncated span_line.
    assert.equal(s.calls.get("span_line"), 2 + METHODS_1_96.length + 1);
    assert.equal(s.calls.get("span_join"), 1 + join.length);
  });

  test("env reads go through the policy (deny by default) and are tracked", () => {
    const { s } = server();
    const r = new BridgeReader(s.dispatch(request("injected_env_var", (w) => w.str("HOME"))));
    assert.deepEqual([r.u8(), r.option(() => r.str())], [0, null]);
    s.dispatch(request("track_env_var", (w) => w.str("HOME").option(null, () => {})));
    s.dispatch(request("track_path", (w) => w.str("x/y")));
    assert.deepEqual(s.trackedEnv, [{ name: "HOME", value: null }]);
    assert.deepEqual(s.trackedPaths, ["x/y"]);

    const spans = new SpanTable();
    const f = spans.addFile("in.rs", "a");
    const allow = new BridgeServer({ spans, expansion: spans.newExpansion(spans.span(f, 0, 1)), env: (n) => (n === "K" ? "v" : null) });
    const r2 = new BridgeReader(allow.dispatch(request("injected_env_var", (w) => w.str("K"))));
    assert.deepEqual([r2.u8(), r2.option(() => r2.str())], [0, "v"]);
  });

  test("concatenation extends a stream in place only while nothing else holds it, and the token limit still counts", () => {
    const spans = new SpanTable();
    const f = spans.addFile("in.rs", "a b");
    const a = spans.span(f, 0, 1);
    const s = new BridgeServer({ spans, expansion: spans.newExpansion(spans.span(f, 0, 3)), maxStreamTokens: 9 });
    const ident = (w: BridgeWriter, sym: string) => w.u8(2).str(sym).bool(false).handle(a);
    const handleOf = (bytes: Uint8Array) => {
      const r = new BridgeReader(bytes);
      assert.equal(r.u8(), 0, "Ok");
      return r.handle();
    };
    const text = (h: number) => {
      const r = new BridgeReader(s.dispatch(request("ts_to_string", (w) => w.handle(h))));
      assert.equal(r.u8(), 0, "Ok");
      return r.str();
    };
    const clone = (h: number) => handleOf(s.dispatch(request("ts_clone", (w) => w.handle(h))));
    const push = (h: number, sym: string) => handleOf(s.dispatch(request("ts_concat_trees", (w) => ident(w.u8(0).handle(h).usize(1), sym))));
    const append = (h: number, more: number) => handleOf(s.dispatch(request("ts_concat_streams", (w) => w.u8(0).handle(h).usize(1).handle(more))));

    const input = [{ type: "ident" as const, sym: "x", isRaw: false, span: a }];
    const h1 = push(s.allocStream(input), "y");
    assert.equal(input.length, 1, "a stream the host gave is copied, never extended");
    const kept = clone(h1);
    const h2 = push(h1, "z");
    assert.equal(text(kept), "x y", "a clone does not see what is appended to its original");
    assert.equal(text(h2), "x y z");
    const h3 = push(push(h2, "u"), "v"); // the store's own stream: in place
    assert.equal(text(h3), "x y z u v");

    // A group's contents stay as they were when the group was made, whatever is appended to its stream later.
    const group = handleOf(s.dispatch(request("ts_from_token_tree", (w) => w.u8(0).u8(0).u8(0).handle(h3).handle(a).handle(a).handle(a))));
    const trees = new BridgeReader(s.dispatch(request("ts_into_trees", (w) => w.handle(clone(group)))));
    assert.deepEqual([trees.u8(), trees.usize(), trees.u8(), trees.u8(), trees.u8()], [0, 1, 0, 0, 0]);
    const inner = trees.handle();
    assert.equal(text(push(inner, "w")), "x y z u v w");
    assert.equal(text(group), "(x y z u v)");

    // 9 tokens at most: the limit counts streams extended in place as it counts copies.
    const nine = push(append(append(s.allocStream([]), clone(group)), kept), "t"); // 6 + 2 + 1
    assert.equal(text(nine), "(x y z u v) x y t");
    assert.equal(s.errors.length, 0);
    assert.match(panicMessage(s.dispatch(request("ts_concat_trees", (w) => ident(w.u8(0).handle(nine).usize(1), "s")))) ?? "", /outputBytes limit.*needed 10/);
    assert.equal(s.limitExceeded?.limit, "outputBytes");
  });
});

test("the re-export helper module is valid wasm and re-exports JS functions as wasm functions", () => {
  const calls: number[][] = [];
  const instance = new WebAssembly.Instance(new WebAssembly.Module(assembleReexportModule()), {
    h: { dispatch: (...a: number[]) => calls.push(a), reserve: () => {}, drop: () => {} },
  });
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  table.set(0, instance.exports.dispatch as Function);
  (table.get(0) as (a: number, b: number, c: number) => void)(1, 2, 3);
  assert.deepEqual(calls, [[1, 2, 3]]);
});

/** A Rust parameter list split at its top-level commas (not those inside `<...>`). */
function splitTopLevel(params: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of params.replace(/\s+/g, " ")) {
    if (ch === "<") depth++;
    if (ch === ">") depth--;
    if (ch === "," && depth === 0) {
      out.push(current.trim());
      current = "";
    } else current += ch;
  }
  if (current.trim() !== "") out.push(current.trim());
  return out;
}

// ---- tiny wasm builders for the tests above ----

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function moduleWithCustomSection(name: string, content: string | Uint8Array): Uint8Array<ArrayBuffer> {
  const body = [...leb(name.length), ...new TextEncoder().encode(name), ...(typeof content === "string" ? new TextEncoder().encode(content) : content)];
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, ...leb(body.length), ...body]);
}

function moduleImporting(imports: Array<readonly [string, string, number]>): Uint8Array<ArrayBuffer> {
  const str = (s: string) => [...leb(s.length), ...new TextEncoder().encode(s)];
  const types = [imports.length, ...imports.flatMap(([, , n]) => [0x60, n, ...Array(n).fill(0x7f), 1, 0x7f])];
  const imps = [imports.length, ...imports.flatMap(([m, n], i) => [...str(m), ...str(n), 0, i])];
  const section = (id: number, b: number[]) => [id, ...leb(b.length), ...b];
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...section(1, types), ...section(2, imps)]);
}
