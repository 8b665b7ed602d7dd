// The bridge host end to end: real proc-macro crates built to wasm, expanded through the bridge,
// checked against rustc running the same crates natively (the oracle for spans, literals, printing
// and diagnostics).

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { BRIDGE_ABI, loadMacroModule, type ExpandResult, type MacroModule } from "../../src/index.js";
import { SpanTable } from "../../src/bridge/spans.js";
import { tokenStreamFromStr, printTokenStream } from "../../src/tokens/index.js";
import type { TokenStream } from "../../src/tokens/model.js";
import { METHODS_1_96 } from "../../src/bridge/abi.js";
import { runClient, type RunOptions } from "../../src/bridge/run-client.js";
import { BridgeServer } from "../../src/bridge/server.js";
import { listProcMacros } from "../../src/wasm/decls.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { instrumentFuel } from "../../src/sandbox/fuel.js";
import { reusedInstanceCount } from "../../src/bridge/snapshot.js";
import { compileNative, FIXTURES, macroWasm, runNative, unescapeRustStr } from "../support/bridge-build.js";

let probe: MacroModule;
let probeBytes: Uint8Array;

before(async () => {
  probeBytes = await macroWasm("bridge-probe");
  probe = await loadMacroModule(probeBytes);
});

/** The probe's `every_method` over `"hello" x`, run directly with a bridge server of its own. */
async function runEveryMethod(module: WebAssembly.Module, runIndex: number, options: RunOptions = {}) {
  const spans = new SpanTable();
  const f = spans.addFile("in.rs", `"hello" x`);
  const expansion = spans.newExpansion(spans.span(f, 0, 9));
  const server = new BridgeServer({ spans, expansion });
  const input: TokenStream = [
    { type: "literal", kind: "Str", hashes: 0, symbol: "hello", suffix: null, span: spans.span(f, 0, 7) },
    { type: "ident", sym: "x", isRaw: false, span: spans.span(f, 8, 9) },
  ];
  return { server, run: await runClient(module, runIndex, server, expansion, [input], options) };
}

/** The value of the single string literal a probe macro returns. */
function stringOutput(r: ExpandResult): string {
  assert.equal(r.ok, true, r.error?.message);
  assert.equal(r.output!.length, 1);
  const lit = r.output![0];
  assert.ok(lit.type === "literal" && lit.kind === "Str", `expected a string literal, got ${r.text}`);
  return unescapeRustStr(lit.symbol);
}

/** Byte offsets of a macro invocation and its input inside a Rust file (for `source`). */
function locate(file: string, invocation: string, input: string) {
  const at = file.indexOf(invocation);
  assert.ok(at >= 0, `invocation ${invocation} not in file`);
  const lo = Buffer.byteLength(file.slice(0, at));
  const inputAt = invocation.indexOf(input);
  return {
    callSite: { lo, hi: lo + Buffer.byteLength(invocation) },
    inputOffset: lo + Buffer.byteLength(invocation.slice(0, inputAt)),
  };
}

/** The trees as a proc macro sees them: no spans, no printer-only spacing or doc-comment marks. */
function stripSpans(stream: TokenStream): unknown {
  return stream.map((t) => {
    if (t.type === "group") return { type: t.type, delimiter: t.delimiter, stream: stripSpans(t.stream) };
    const { span: _s, spacing: _p, ...rest } = t as typeof t & { spacing?: unknown; doc?: unknown };
    delete (rest as { doc?: unknown }).doc;
    return rest;
  });
}

describe("loading", () => {
  test("lists the module's macros with kinds and helper attributes, and its bridge ABI", () => {
    const byName = new Map(probe.macros.map((m) => [m.name, m]));
    assert.deepEqual(byName.get("echo"), { kind: "bang", name: "echo", helpers: [] });
    assert.deepEqual(byName.get("attr_echo"), { kind: "attr", name: "attr_echo", helpers: [] });
    assert.deepEqual(byName.get("Probe"), { kind: "derive", name: "Probe", helpers: ["probe"] });
    // As many as the fixture declares.
    const src = readFileSync(join(FIXTURES, "bridge-probe/src/lib.rs"), "utf8");
    assert.equal(probe.macros.length, src.match(/^#\[proc_macro(_attribute|_derive)?\b/gm)!.length);
    assert.equal(probe.abi.bridgeAbi, BRIDGE_ABI);
    assert.equal(probe.abi.source, "macrobox-section");
  });

  test("a module built for another bridge is refused with the versions the host knows", async () => {
    const other = replaceCustomSection(probeBytes, "macrobox", JSON.stringify({ format: 1, rustc: "rustc 1.80.0 (x)", bridgeAbi: "rustc-1.80/0123456789ab" }));
    await assert.rejects(loadMacroModule(other), (e: Error) => e.message.includes("rustc-1.80/0123456789ab") && e.message.includes(BRIDGE_ABI));
  });

  test("a wasm module that is not a macro module is refused", async () => {
    await assert.rejects(loadMacroModule(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), /cannot tell which proc_macro bridge|not a proc-macro module/);
  });
});

describe("expansion", () => {
  const ITEM = "struct S<'a> { x: Vec<u8>, y: &'a str, z: [u8; 3] } // c\nfn f() -> i32 { -1 + 2.5e3 as i32 }";

  test("echo returns the input tokens, spans and all", async () => {
    const r = await probe.expand({ kind: "bang", name: "echo", input: ITEM });
    assert.equal(r.ok, true, r.error?.message);
    const table = new SpanTable();
    const lexed = tokenStreamFromStr(ITEM, () => table.dummy);
    assert.ok(lexed.ok);
    assert.deepEqual(stripSpans(r.output!), stripSpans(lexed.stream));
    assert.equal(r.text, printTokenStream(lexed.stream));
    // Spans survive the round trip: the first token is `struct` at 1:1.
    const first = r.output![0];
    assert.deepEqual(r.spans.location(first.type === "group" ? first.span.entire : first.span), {
      file: "<macro input>",
      lo: 0,
      hi: 6,
      line: 1,
      column: 1,
      endLine: 1,
      endColumn: 7,
      text: "struct",
    });
  });

  test("rebuild takes every tree apart and puts it back together identically", async () => {
    const a = await probe.expand({ kind: "bang", name: "echo", input: ITEM });
    const b = await probe.expand({ kind: "bang", name: "rebuild", input: ITEM });
    assert.equal(b.ok, true, b.error?.message);
    assert.deepEqual(stripSpans(b.output!), stripSpans(a.output!));
  });

  test("token stream input with spans from the caller's table", async () => {
    const spans = new SpanTable();
    const f = spans.addFile("x.rs", "hello");
    const input: TokenStream = [{ type: "ident", sym: "hello", isRaw: false, span: spans.span(f, 0, 5) }];
    const r = await probe.expand({ kind: "bang", name: "echo", input, spans });
    assert.equal(r.ok, true, r.error?.message);
    assert.deepEqual(r.output, input);
    const bad = await probe.expand({ kind: "bang", name: "echo", input: [{ type: "ident", sym: "x", isRaw: false, span: 12345 }], spans });
    assert.equal(bad.error?.kind, "input");
  });

  test("derive and attribute macros (args then item), compared with rustc", async () => {
    const d = await probe.expand({ kind: "derive", name: "Probe", input: "#[probe] struct Foo { x: u8 }" });
    assert.equal(d.ok, true, d.error?.message);
    assert.match(d.text!, /impl\s+Foo\s*\{\s*pub\s+const\s+PROBE\s*:\s*&\s*'static\s+str\s*=\s*"Foo"\s*;\s*\}/);

    const main = `#[bridge_probe::attr_echo(a, b = 1, "s" ::c)]\nfn f() {}\nfn main() { f(); println!("{}", ARGS); }\n`;
    const native = runNative("bridge-probe", "bridge_probe", main).stdout.trim();
    const a = await probe.expand({ kind: "attr", name: "attr_echo", args: `a, b = 1, "s" ::c`, input: "fn f() {}" });
    assert.equal(a.ok, true, a.error?.message);
    const out = a.output!;
    const lit = out[out.length - 2];
    assert.ok(lit.type === "literal");
    assert.equal(unescapeRustStr(lit.symbol), native, "the attribute arguments printed like rustc prints them");
  });

  test("spans: lines, char columns and byte ranges match rustc's", async () => {
    const input = `a + b(1, "é" c)\n  [x::y] 'life 0x1F_u8 r#"raw"# #[doc] //! inner?\n  é::<T>`;
    const invocation = `bridge_probe::spans!(${input})`;
    const main = `fn main() {\n    println!("{}", ${invocation});\n}\n`;
    const native = runNative("bridge-probe", "bridge_probe", main).stdout.trimEnd();
    const r = await probe.expand({ kind: "bang", name: "spans", input, fileName: "main.rs", source: { text: main, ...locate(main, invocation, input) } });
    assert.equal(stringOutput(r), native);
  });

  test("derive input (doc comments, helper attributes) as rustc hands it over", async () => {
    const item = `/// Doc "quoted" #\n#[tokens(x = 1)]\nstruct Foo { /** block */ x: &'static str, y: [u8; 2] }`;
    const main = `#[derive(bridge_probe::Tokens)]\n${item}\nfn main() { print!("{}", Foo::TOKENS); }\n`;
    const native = runNative("bridge-probe", "bridge_probe", main).stdout;
    const at = Buffer.byteLength(main.slice(0, main.indexOf(item)));
    const r = await probe.expand({ kind: "derive", name: "Tokens", input: item, fileName: "main.rs", source: { text: main, inputOffset: at } });
    assert.equal(r.ok, true, r.error?.message);
    const lit = r.output!.at(-1)!;
    assert.ok(lit.type === "group");
    const value = lit.stream.find((t) => t.type === "literal");
    assert.ok(value?.type === "literal");
    const [ours, oursText] = unescapeRustStr(value.symbol).split("\n---\n");
    const [theirs, theirsText] = native.split("\n---\n");
    assert.equal(ours, theirs);
    assert.equal(oursText, theirsText, "the item printed like rustc prints it");
  });

  test("attribute arguments and item as rustc hands them over", async () => {
    const args = `a = "b", c::d(1)`;
    const item = `/// fn doc\n#[inline]\nfn g() -> u8 { 1 }`;
    const main = `#[bridge_probe::attr_tokens(${args})]\n${item}\nfn main() { g(); print!("{}", ATTR_TOKENS); }\n`;
    const native = runNative("bridge-probe", "bridge_probe", main).stdout;
    const byte = (s: string) => Buffer.byteLength(main.slice(0, main.indexOf(s)));
    const r = await probe.expand({
      kind: "attr",
      name: "attr_tokens",
      args,
      input: item,
      fileName: "main.rs",
      source: { text: main, inputOffset: byte(item), argsOffset: byte(args) },
    });
    assert.equal(r.ok, true, r.error?.message);
    const value = r.output!.at(-2)!;
    assert.ok(value.type === "literal");
    assert.deepEqual(unescapeRustStr(value.symbol).split("\n---\n"), native.split("\n---\n"));
  });

  test("every bridge method, compared line by line with rustc", async () => {
    const input = `"hello" é 1.5f32 x`;
    const invocation = `bridge_probe::every_method!(${input})`;
    const main = `fn main() {\n    println!("{}", ${invocation});\n}\n`;
    const native = runNative("bridge-probe", "bridge_probe", main);
    const r = await probe.expand({
      kind: "bang",
      name: "every_method",
      input,
      fileName: "main.rs",
      source: { text: main, localPath: "main.rs", ...locate(main, invocation, input) },
    });
    const ours = stringOutput(r).split("\n");
    const theirs = native.stdout.trimEnd().split("\n");
    // Where rustc reads its own crate metadata (spans saved while compiling the macro crate), a
    // wasm module has nothing to read: see span_recover_proc_macro_span in src/bridge/methods.ts.
    const skip = (l: string) => l.startsWith("save_recover_same_loc");
    assert.deepEqual(
      ours.filter((l) => !skip(l)),
      theirs.filter((l) => !skip(l)),
    );

    // The warning and its note, where rustc puts them.
    assert.equal(r.diagnostics.length, 1);
    const w = r.diagnostics[0];
    assert.equal(w.level, "warning");
    assert.equal(w.message, "probe warning");
    const loc = (s: { file: string; line: number; column: number }) => ` --> ${s.file}:${s.line}:${s.column}`;
    assert.ok(native.compileStderr.includes(`warning: probe warning\n${loc(w.spans[0])}`), native.compileStderr);
    assert.equal(w.children[0].message, "probe note");
    assert.ok(native.compileStderr.includes(`note: probe note\n${loc(w.children[0].spans[0])}`), native.compileStderr);
    assert.deepEqual(r.trackedEnv, [{ name: "MACROBOX_PROBE_VAR", value: null }]);
    assert.deepEqual(r.trackedPaths, ["probe/tracked.txt"]);
  });

  test("an instance kept for reuse holds nothing of the run that left it", async () => {
    // Kept until the next run under the same snapshot, an idle instance that still reached its last
    // run's HostSide (and so the bridge server, its handle store, every token tree of the expansion)
    // kept all of that alive: per snapshot, up to 16 per module, and in the young generation's
    // collections, which then promoted it (DEVELOPERS.md, "What outlives an expansion").
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const module = await WebAssembly.compile(instrumentFuel(probeBytes));
    const decl = (await listProcMacros(module)).find((d) => d.name === "every_method")!;
    const warmStart = { key: "", replay: () => {} };
    /** One run with a bridge server of its own; a weak reference to that server. */
    const run = async (): Promise<WeakRef<BridgeServer>> => {
      const { server, run } = await runEveryMethod(module, decl.run, { warmStart });
      assert.equal(run.outcome.kind, "ok");
      return new WeakRef(server);
    };
    await run(); // takes the snapshot
    await run(); // starts from it, in an instance then kept
    const before = reusedInstanceCount(module);
    const last = await run(); // in the kept instance, which is kept again
    assert.equal(reusedInstanceCount(module) - before, 1, "the last run reused the kept instance");
    await new Promise((resolve) => setImmediate(resolve)); // a WeakRef holds its target to the end of the job
    gc();
    assert.equal(last.deref(), undefined, "the last run's bridge server is still reachable");
  });

  test("every_method reaches all 32 bridge methods", async () => {
    const module = await WebAssembly.compile(probeBytes as BufferSource);
    const decl = (await listProcMacros(module)).find((d) => d.name === "every_method")!;
    const { server, run } = await runEveryMethod(module, decl.run);
    assert.equal(run.outcome.kind, "ok");
    assert.deepEqual(
      METHODS_1_96.filter((m) => !server.calls.has(m)),
      [],
    );
    assert.deepEqual(server.errors, []);
  });

  test("expand_expr: literals and rustc's context-free built-in macros, compared with rustc", async () => {
    const input = `1; -2.5f32; true; "s"; (1); concat!("a", 1, 2.5, true, -3, 'c', "é\\n", 0x10u8, 1_000, r"raw",);
      stringify!(a + b::<c>(d, "e")); line!(); column!(); file!(); 1 + 2; - - 1; concat!();
      concat!("x", concat!("y", 1u8), line!()); b"x"; env!("MACROBOX_TEST_ENV"); 'q'; 2.5e3`;
    const invocation = `bridge_probe::expand_exprs!(${input})`;
    const main = `fn main() {\n    println!("{}", ${invocation});\n}\n`;
    process.env.MACROBOX_TEST_ENV = "from env";
    const native = runNative("bridge-probe", "bridge_probe", main).stdout.trimEnd();
    delete process.env.MACROBOX_TEST_ENV;
    const r = await probe.expand({
      kind: "bang",
      name: "expand_exprs",
      input,
      fileName: "main.rs",
      source: { text: main, ...locate(main, invocation, input) },
      env: (name) => (name === "MACROBOX_TEST_ENV" ? "from env" : null),
    });
    assert.equal(stringOutput(r), native);
    assert.deepEqual(r.trackedEnv, [{ name: "MACROBOX_TEST_ENV", value: "from env" }]);
  });

  test("error diagnostics fail the expansion, with rustc's locations", async () => {
    const input = `\n  first second`;
    const invocation = `bridge_probe::errors!(${input})`;
    const main = `fn main() {\n    ${invocation};\n}\n`;
    const native = compileNative("bridge-probe", "bridge_probe", main);
    assert.notEqual(native.status, 0, "rustc rejects the program");
    const r = await probe.expand({ kind: "bang", name: "errors", input, fileName: "main.rs", source: { text: main, ...locate(main, invocation, input) } });
    assert.equal(r.ok, false);
    assert.equal(r.error?.kind, "diagnostics");
    assert.equal(r.diagnostics.length, 1);
    const e = r.diagnostics[0];
    assert.deepEqual([e.level, e.message, e.spans[0].text, e.spans[0].line, e.spans[0].column], ["error", "probe error", "first", 3, 3]);
    assert.deepEqual(
      e.children.map((c) => [c.level, c.message]),
      [["help", "probe help"]],
    );
    assert.ok(native.stderr.includes(`error: probe error\n --> main.rs:${e.spans[0].line}:${e.spans[0].column}`), native.stderr);
    assert.ok(native.stderr.includes("= help: probe help"), native.stderr);
  });

  test("quote! works (span save/recover on the client side)", async () => {
    const r = await probe.expand({ kind: "bang", name: "quoted", input: "" });
    assert.equal(r.ok, true, r.error?.message);
    assert.match(r.text!, /let\s+quoted_ident\s*=\s*"q"\s*;/);
  });

  test("stdout and stderr are captured; the environment is denied unless the policy allows", async () => {
    const r = await probe.expand({ kind: "bang", name: "io", input: "" });
    assert.equal(stringOutput(r), "env=false tracked=None");
    assert.equal(r.stdout, "hello from stdout\n");
    assert.equal(r.stderr, "hello from stderr\n");
    assert.deepEqual(r.trackedEnv, [{ name: "MACROBOX_PROBE", value: null }]);
    assert.deepEqual(r.trackedPaths, ["some/file.txt"]);
    const allowed = await probe.expand({ kind: "bang", name: "io", input: "", env: (n) => (n === "MACROBOX_PROBE" ? "yes" : null) });
    assert.equal(stringOutput(allowed), `env=false tracked=Some("yes")`);
    assert.deepEqual(allowed.trackedEnv, [{ name: "MACROBOX_PROBE", value: "yes" }]);
  });

  test("expansion is deterministic", async () => {
    const a = await probe.expand({ kind: "bang", name: "every_method", input: "x 1" });
    const b = await probe.expand({ kind: "bang", name: "every_method", input: "x 1" });
    assert.equal(a.text, b.text);
    assert.deepEqual(a.diagnostics, b.diagnostics);
  });
});

describe("failures", () => {
  test("a panic gives rustc's error with the message as help, and the next expansion works", async () => {
    const r = await probe.expand({ kind: "bang", name: "panics", input: "a b" });
    assert.equal(r.ok, false);
    assert.equal(r.error?.kind, "panic");
    assert.ok(r.error?.message.includes("boom: a b"));
    const last = r.diagnostics[r.diagnostics.length - 1];
    assert.equal(last.level, "error");
    assert.equal(last.message, "proc macro panicked");
    assert.deepEqual(
      last.children.map((c) => [c.level, c.message]),
      [["help", "message: boom: a b"]],
    );
    assert.equal(last.spans[0].text, "a b");
    assert.equal(r.stderr, "", "the panic hook stays quiet during expansion, as in rustc");
    const next = await probe.expand({ kind: "bang", name: "echo", input: "ok" });
    assert.equal(next.ok, true);
  });

  test("a panic with a non-string payload has no help message", async () => {
    const r = await probe.expand({ kind: "bang", name: "panics_any", input: "" });
    assert.equal(r.error?.kind, "panic");
    assert.deepEqual(r.diagnostics.at(-1)!.children, []);
  });

  test("a trap is an error, not a crash, and the next expansion works", async () => {
    const r = await probe.expand({ kind: "bang", name: "traps", input: "" });
    assert.equal(r.ok, false);
    assert.equal(r.error?.kind, "trap");
    assert.match(r.error!.message, /unreachable/);
    const next = await probe.expand({ kind: "bang", name: "echo", input: "still alive" });
    assert.equal(next.text, "still alive");
  });

  test("an unknown macro name or kind is an error listing what the module has", async () => {
    const r = await probe.expand({ kind: "bang", name: "nope", input: "" });
    assert.equal(r.error?.kind, "unknown-macro");
    assert.match(r.error!.message, /bang echo/);
    const k = await probe.expand({ kind: "derive", name: "echo", input: "struct S;" });
    assert.equal(k.error?.kind, "unknown-macro");
  });

  test("input that does not lex is an input error with a location", async () => {
    const r = await probe.expand({ kind: "bang", name: "echo", input: "a\n  ) b", fileName: "bad.rs" });
    assert.equal(r.error?.kind, "input");
    assert.match(r.error!.message, /bad\.rs:2:3/);
  });
});

describe("limits", () => {
  test("fuel stops a runaway macro deterministically, and the next expansion works", async () => {
    assert.equal(probe.metered, true);
    const r = await probe.expand({ kind: "bang", name: "spins", input: "", limits: { fuel: 5_000_000 } });
    assert.equal(r.error?.kind, "limit");
    assert.equal(r.error?.limit, "fuel");
    assert.match(r.error!.message, /--fuel/);
    const next = await probe.expand({ kind: "bang", name: "echo", input: "fine" });
    assert.equal(next.text, "fine");
  });

  test("memory cap: an allocation beyond it is a memoryPages limit error", async () => {
    const small = await loadMacroModule(probeBytes, { limits: { memoryPages: 64 } }); // 4 MiB
    const ok = await small.expand({ kind: "bang", name: "hog", input: "1" });
    assert.equal(ok.ok, true, ok.error?.message);
    const r = await small.expand({ kind: "bang", name: "hog", input: "8" });
    assert.equal(r.error?.kind, "limit");
    assert.equal(r.error?.limit, "memoryPages");
  });

  test("token handles, output size and captured output are bounded", async () => {
    const handles = await probe.expand({ kind: "bang", name: "every_method", input: "a b c", limits: { tokenHandles: 4 } });
    assert.equal(handles.error?.limit, "tokenHandles");
    const output = await probe.expand({ kind: "bang", name: "echo", input: "abc def ghi", limits: { outputBytes: 5 } });
    assert.equal(output.error?.limit, "outputBytes");
    const captured = await probe.expand({ kind: "bang", name: "io", input: "", limits: { capturedOutputBytes: 10 } });
    assert.equal(captured.error?.limit, "capturedOutputBytes");
    assert.equal(captured.stdout, "", "nothing past the limit is kept");
    const invalid = await probe.expand({ kind: "bang", name: "echo", input: "x", limits: { fuel: -1 } });
    assert.equal(invalid.error?.kind, "input");
  });
});

describe("serde_derive", () => {
  test("#[derive(Serialize)] and #[derive(Deserialize)] expand", async () => {
    const serde = await loadMacroModule(await macroWasm("serde_derive"));
    assert.deepEqual(
      serde.macros.map((m) => [m.kind, m.name, m.helpers]),
      [
        ["derive", "Serialize", ["serde"]],
        ["derive", "Deserialize", ["serde"]],
      ],
    );
    const item = `#[serde(rename_all = "camelCase")]\nstruct Point { x_pos: i32, #[serde(default)] y: Option<String> }`;
    const s = await serde.expand({ kind: "derive", name: "Serialize", input: item });
    assert.equal(s.ok, true, s.error?.message);
    assert.match(s.text!, /impl\s+_serde\s*::\s*Serialize\s+for\s+Point/);
    assert.match(s.text!, /"xPos"/);
    const d = await serde.expand({ kind: "derive", name: "Deserialize", input: item });
    assert.equal(d.ok, true, d.error?.message);
    assert.match(d.text!, /Deserialize\s*<\s*'de\s*>\s+for\s+Point/);
    // Large inputs: many requests, buffers growing on both sides. (Regression: host pages grown
    // before the module's first malloc became heap; see HostSide.warmUp.)
    const fields = Array.from({ length: 64 }, (_, i) => `field_${i}: Vec<Option<(u8, String)>>`).join(", ");
    const wide = await serde.expand({ kind: "derive", name: "Deserialize", input: `struct Wide { ${fields} }` });
    assert.equal(wide.ok, true, wide.error?.message);
    for (let i = 0; i < 64; i++) assert.ok(wide.text!.includes(`"field_${i}"`), `field_${i}`);
    // A serde error is a compile_error! in the output, like natively.
    const bad = await serde.expand({ kind: "derive", name: "Serialize", input: `struct P { #[serde(nonsense)] x: u8 }` });
    assert.equal(bad.ok, true);
    assert.match(bad.text!, /compile_error/);
  });
});

/** The module with every custom section `name` replaced by one holding `content`. */
function replaceCustomSection(wasm: Uint8Array, name: string, content: string): Uint8Array {
  const parts: Uint8Array[] = [wasm.subarray(0, 8)];
  let pos = 8;
  const leb = (): number => {
    let r = 0;
    let s = 0;
    for (;;) {
      const b = wasm[pos++];
      r += (b & 0x7f) * 2 ** s;
      if (!(b & 0x80)) return r;
      s += 7;
    }
  };
  const enc = (n: number) => {
    const o: number[] = [];
    do {
      let b = n & 0x7f;
      n = Math.floor(n / 128);
      if (n) b |= 0x80;
      o.push(b);
    } while (n);
    return o;
  };
  while (pos < wasm.length) {
    const start = pos;
    const id = wasm[pos++];
    const size = leb();
    const end = pos + size;
    if (id === 0) {
      const len = leb();
      if (new TextDecoder().decode(wasm.subarray(pos, pos + len)) === name) {
        pos = end;
        continue;
      }
    }
    pos = end;
    parts.push(wasm.subarray(start, end));
  }
  const nameBytes = new TextEncoder().encode(name);
  const body = [...enc(nameBytes.length), ...nameBytes, ...new TextEncoder().encode(content)];
  parts.push(new Uint8Array([0, ...enc(body.length), ...body]));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
