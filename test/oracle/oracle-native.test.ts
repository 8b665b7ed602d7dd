// The native oracle and the proc-macro protocol, checked against rust-analyzer's real server:
// the FlatTree codec round-trips our token model (locally, and through the server and back via
// an echoing proc macro), ListMacros and ExpandMacro behave, and serde_derive expands.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { CURRENT_API_VERSION, decodeFlatTree, encodeFlatTree, FlatTreeError, ProtocolVersion, splitLiteralText } from "../../src/server/flat.js";
import {
  decodeRequestLine,
  decodeResponseLine,
  encodeRequestLine,
  encodeResponseLine,
  LineFramer,
  ProtocolError,
  type Request,
  type Response,
} from "../../src/server/protocol.js";
import type { Group, TokenStream, TokenTree } from "../../src/tokens/model.js";
import { printLiteral } from "../../src/tokens/print.js";
import { group, ident, lit, punct, richStream } from "./trees.js";
import { compareStreams, containsCompileError, printTokens } from "./compare.js";
import { buildNativeMacro, closeNativeOracle, expandNativeTokens, listNativeMacros, nativeApiVersion } from "./native.js";

const ECHO_CRATE = join(fileURLToPath(new URL("..", import.meta.url)), "oracle/native/echo-macros");

describe("FlatTree codec", () => {
  test("round-trips a rich stream, spans included", () => {
    const stream = richStream();
    const flat = encodeFlatTree(stream, { rootSpan: 1 });
    assert.deepEqual(decodeFlatTree(flat), stream);
    // The same through JSON text, as on the wire.
    assert.deepEqual(decodeFlatTree(JSON.parse(JSON.stringify(flat))), stream);
  });

  test("encodes the documented layout", () => {
    // The example of flat.rs's header, for version 6: `struct Foo "Foo" @{[0u32]}`-like shapes.
    const s = [
      { type: "ident", sym: "struct", isRaw: false, span: 0 },
      { type: "ident", sym: "Foo", isRaw: true, span: 0 },
      { type: "punct", ch: "@", joint: true, span: 0 },
      { type: "group", delimiter: "Brace", stream: [], span: { open: 0, close: 0, entire: 0 } },
    ] satisfies TokenStream;
    const flat = encodeFlatTree(s, { rootSpan: 9 });
    assert.deepEqual(flat, {
      subtree: [9, 9, 0, 0, 4, 0, 0, 2, 4, 4],
      literal: [],
      punct: [0, 64, 1],
      ident: [0, 0, 0, 0, 1, 1],
      token_tree: [3, 7, 2, 4],
      text: ["struct", "Foo"],
    });
  });

  test("a lone delimited group is the root; a lone None group is wrapped", () => {
    const brace = group("Brace", [ident("x")]);
    const flat = encodeFlatTree([brace], { rootSpan: 1 });
    assert.equal(flat.subtree.length, 5); // one subtree: the brace group itself is the root
    assert.equal(flat.subtree[2], 2);
    assert.deepEqual(decodeFlatTree(flat), [brace]);
    const none = group("None", [ident("y")]);
    assert.deepEqual(decodeFlatTree(encodeFlatTree([none], { rootSpan: 1 })), [none]);
    assert.deepEqual(decodeFlatTree(encodeFlatTree([], { rootSpan: 1 })), []);
  });

  test("older protocol versions: no close span, literal text, r# idents", () => {
    const stream = richStream();
    for (const version of [ProtocolVersion.ENCODE_CLOSE_SPAN, ProtocolVersion.RUST_ANALYZER_SPAN_SUPPORT]) {
      const flat = encodeFlatTree(stream, { rootSpan: 1, version });
      assert.ok(flat.text.includes("r#Foo"));
      assert.ok(flat.text.includes('r##"raw "quoted""##'));
      assert.deepEqual(decodeFlatTree(flat, { version }), stream, `version ${version}`);
    }
    const v1 = encodeFlatTree([group("Parenthesis", [ident("a")])], { rootSpan: 1, version: 1 });
    assert.equal(v1.subtree.length, 4);
    const back = decodeFlatTree(v1, { version: 1 });
    assert.equal((back[0] as Group).span.close, 0xffff_ffff);
  });

  test("literal text splits back into kind, symbol and suffix", () => {
    for (const t of richStream().flatMap(function all(t): TokenTree[] {
      return t.type === "group" ? t.stream.flatMap(all) : [t];
    })) {
      if (t.type !== "literal") continue;
      const parts = splitLiteralText(printLiteral(t));
      assert.deepEqual(parts, { kind: t.kind, hashes: t.hashes, symbol: t.symbol, suffix: t.suffix }, printLiteral(t));
    }
    assert.deepEqual(splitLiteralText("1f32"), { kind: "Integer", hashes: 0, symbol: "1", suffix: "f32" });
    assert.deepEqual(splitLiteralText("2."), { kind: "Float", hashes: 0, symbol: "2.", suffix: null });
    assert.equal(splitLiteralText("foo"), null);
    assert.equal(splitLiteralText('"open'), null);
  });

  test("rejects malformed trees with a FlatTreeError", () => {
    const good = encodeFlatTree(richStream(), { rootSpan: 1 });
    const bad = (patch: Partial<Record<keyof typeof good, unknown>>) => ({ ...good, ...patch }) as typeof good;
    assert.throws(() => decodeFlatTree(bad({ subtree: [] })), FlatTreeError);
    assert.throws(() => decodeFlatTree(bad({ punct: [1, 2] })), FlatTreeError);
    assert.throws(() => decodeFlatTree(bad({ text: [1] })), FlatTreeError);
    assert.throws(() => decodeFlatTree(bad({ token_tree: [0] })), FlatTreeError); // root contains itself
    assert.throws(() => decodeFlatTree(bad({ subtree: [1, 1, 7, 0, 0] })), FlatTreeError); // bad delimiter
    assert.throws(() => decodeFlatTree(bad({ subtree: [1, 1, 0, 0, 99999] })), FlatTreeError); // bad range
    assert.throws(() => decodeFlatTree(bad({ token_tree: good.token_tree.map((x) => ((x & 3) === 1 ? x + (500 << 2) : x)) })), FlatTreeError);
    assert.throws(() => decodeFlatTree(null as unknown as typeof good), FlatTreeError);
    assert.throws(() => encodeFlatTree([{ type: "ident", sym: "x", isRaw: false, span: -1 }], { rootSpan: 1 }), FlatTreeError);
    assert.throws(() => encodeFlatTree([{ type: "punct", ch: "==", joint: false, span: 1 }], { rootSpan: 1 }), FlatTreeError);
  });
});

describe("protocol messages", () => {
  const tree = encodeFlatTree(richStream(), { rootSpan: 1 });
  const requests: Request[] = [
    { type: "ApiVersionCheck" },
    { type: "ListMacros", dylibPath: "/x/libm.so" },
    { type: "SetConfig", spanMode: "RustAnalyzer" },
    {
      type: "ExpandMacro",
      lib: "/x/libm.so",
      env: [["CARGO_PKG_NAME", "m"]],
      currentDir: "/x",
      macroBody: tree,
      macroName: "Serialize",
      attributes: null,
      globals: { defSite: 0, callSite: 1, mixedSite: 2 },
      spanDataTable: [],
    },
    {
      type: "ExpandMacro",
      lib: "/x/libm.so",
      env: [],
      currentDir: null,
      macroBody: tree,
      macroName: "attr",
      attributes: tree,
      globals: null,
      spanDataTable: [1, 2, 3, 4, 5],
    },
  ];
  const responses: Response[] = [
    { type: "ApiVersionCheck", version: 6 },
    { type: "SetConfig", spanMode: "Id" },
    {
      type: "ListMacros",
      result: {
        ok: true,
        value: [
          { name: "a", kind: "derive" },
          { name: "b", kind: "attr" },
          { name: "c", kind: "bang" },
        ],
      },
    },
    { type: "ListMacros", result: { ok: false, error: "cannot load" } },
    { type: "ExpandMacro", result: { ok: true, value: tree } },
    { type: "ExpandMacro", result: { ok: false, error: "boom" } },
    { type: "ExpandMacroExtended", result: { ok: true, value: { tree, spanDataTable: [0, 0, 1, 2, 0] } } },
  ];

  test("requests and responses round-trip through their JSON lines", () => {
    for (const r of requests) {
      const line = encodeRequestLine(r);
      assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"));
      assert.deepEqual(decodeRequestLine(line), r);
    }
    for (const r of responses) assert.deepEqual(decodeResponseLine(encodeResponseLine(r)), r);
  });

  test("wire shapes are serde's", () => {
    assert.equal(encodeRequestLine({ type: "ApiVersionCheck" }), '{"ApiVersionCheck":{}}\n');
    assert.equal(encodeRequestLine({ type: "SetConfig", spanMode: "Id" }), '{"SetConfig":{"span_mode":"Id"}}\n');
    assert.equal(encodeResponseLine(responses[2]), '{"ListMacros":{"Ok":[["a","CustomDerive"],["b","Attr"],["c","FuncLike"]]}}\n');
    // The older kind name is still accepted, like serde's alias.
    assert.deepEqual(decodeResponseLine('{"ListMacros":{"Ok":[["m","Bang"]]}}'), {
      type: "ListMacros",
      result: { ok: true, value: [{ name: "m", kind: "bang" }] },
    });
    const expand = JSON.parse(encodeRequestLine(requests[3])) as { ExpandMacro: Record<string, unknown> };
    assert.deepEqual(Object.keys(expand.ExpandMacro).sort(), ["attributes", "current_dir", "env", "has_global_spans", "lib", "macro_body", "macro_name"]);
  });

  test("bad messages give ProtocolError", () => {
    for (const line of [
      "not json",
      "{}",
      '{"A":1,"B":2}',
      '{"Nope":{}}',
      '{"ListMacros":{}}',
      '{"ExpandMacro":{"lib":1}}',
      '{"SetConfig":{"span_mode":"X"}}',
    ]) {
      assert.throws(() => decodeRequestLine(line), ProtocolError, line);
    }
    assert.throws(() => decodeResponseLine('{"ExpandMacro":{"Ok":{"subtree":[1]}}}'), ProtocolError);
    assert.throws(() => decodeResponseLine('{"ApiVersionCheck":-1}'), ProtocolError);
  });

  test("the line framer splits chunks and sets noise aside", () => {
    const noise: string[] = [];
    const framer = new LineFramer((l) => noise.push(l));
    assert.deepEqual(framer.push('{"a":'), []);
    assert.deepEqual(framer.push('1}\ndebug print\n{"b":2}\r\n{"c"'), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(noise, ["debug print"]);
    assert.equal(framer.rest, '{"c"');
  });
});

describe("native oracle (rust-analyzer-proc-macro-srv)", () => {
  let serde = "";
  let echo = "";
  before(() => {
    serde = buildNativeMacro({ name: "serde_derive", version: "1.0.152" });
    echo = buildNativeMacro({ path: ECHO_CRATE });
  });
  after(() => closeNativeOracle());

  test("speaks the current protocol version", async () => {
    assert.equal(await nativeApiVersion(), CURRENT_API_VERSION);
  });

  test("ListMacros of serde_derive lists Serialize and Deserialize", async () => {
    const macros = await listNativeMacros(serde);
    assert.deepEqual(macros.map((m) => `${m.kind} ${m.name}`).sort(), ["derive Deserialize", "derive Serialize"]);
    const echoes = await listNativeMacros(echo);
    assert.deepEqual(echoes.map((m) => `${m.kind} ${m.name}`).sort(), ["attr echo_attr", "bang echo", "bang panic_now", "bang reparse", "derive EchoDerive"]);
  });

  test("a missing dylib is an error, not a crash", async () => {
    await assert.rejects(listNativeMacros("/nonexistent/libnothing.so"), /ListMacros/);
  });

  test("serde Serialize expands to an impl", async () => {
    // struct Point { x: i32 }
    const input = [ident("struct"), ident("Point"), group("Brace", [ident("x"), punct(":"), ident("i32")])];
    const res = await expandNativeTokens({ dylib: serde, kind: "derive", name: "Serialize", input });
    assert.ok(res.ok, res.ok ? "" : res.error);
    assert.ok(res.output.length > 0);
    const printed = printTokens(res.output);
    assert.match(printed, /\bimpl\b/);
    assert.match(printed, /Serialize for Point/);
    assert.ok(!containsCompileError(res.output));
  });

  test("serde on a union reports compile_error!", async () => {
    const input = [ident("union"), ident("U"), group("Brace", [ident("a"), punct(":"), ident("u8")])];
    const res = await expandNativeTokens({ dylib: serde, kind: "derive", name: "Deserialize", input });
    assert.ok(res.ok);
    assert.ok(containsCompileError(res.output), printTokens(res.output));
  });

  test("the rich stream round-trips through the server and an echo macro, spans included", async () => {
    const stream = richStream();
    const res = await expandNativeTokens({ dylib: echo, kind: "bang", name: "echo", input: stream });
    assert.ok(res.ok, res.ok ? "" : res.error);
    assert.deepEqual(res.output, stream);
  });

  test("attribute arguments travel separately", async () => {
    const args = [ident("a"), punct("="), lit("Integer", "1")];
    const item = [ident("fn"), ident("f"), group("Parenthesis", []), group("Brace", [])];
    const res = await expandNativeTokens({ dylib: echo, kind: "attr", name: "echo_attr", input: item, args });
    assert.ok(res.ok, res.ok ? "" : res.error);
    assert.deepEqual(res.output, [...args, ...item]);
  });

  test("a panicking macro gives ok:false with its message", async () => {
    const res = await expandNativeTokens({ dylib: echo, kind: "bang", name: "panic_now", input: [] });
    assert.equal(res.ok, false);
    assert.match(res.ok ? "" : res.error, /asked to panic/);
  });

  test("an unknown macro name gives ok:false", async () => {
    const res = await expandNativeTokens({ dylib: echo, kind: "bang", name: "no_such_macro", input: [] });
    assert.equal(res.ok, false);
  });
});

describe("compareStreams", () => {
  test("equal streams compare equal whatever their spans", () => {
    const a = richStream();
    const b = richStream(); // same tokens, fresh spans
    assert.notDeepEqual(a, b);
    assert.equal(compareStreams(a, b), null);
  });

  test("reports the first difference with its path", () => {
    const a = richStream();
    const b = richStream();
    const brace = b[8] as Group;
    (brace.stream[2] as Group).stream[2] = { type: "literal", kind: "Integer", symbol: "0x10", suffix: "u32", hashes: 0, span: 0 };
    assert.equal(compareStreams(a, b), "[8].group[2].group[2]: literal Integer 0x10usize vs literal Integer 0x10u32");
    const c = richStream();
    (c[2] as Extract<TokenTree, { type: "ident" }>).sym = "enum";
    assert.equal(compareStreams(a, c), "[2]: ident struct vs ident enum");
    const d = richStream();
    (d[4] as Extract<TokenTree, { type: "punct" }>).joint = true;
    assert.match(compareStreams(a, d)!, /^\[4\]: punct < vs punct < \(joint\)/);
    const e = richStream();
    (e[1] as Group).delimiter = "Parenthesis";
    assert.match(compareStreams(a, e)!, /^\[1\]: group Bracket/);
    assert.match(compareStreams(a, a.slice(0, -1))!, /^\[\d+\]: only left has group Parenthesis/);
    assert.match(compareStreams([], [ident("x")])!, /^\[0\]: only right has ident x/);
    const f = richStream();
    (f[3] as Extract<TokenTree, { type: "ident" }>).isRaw = false;
    assert.equal(compareStreams(a, f), "[3]: ident r#Foo vs ident Foo");
  });

  test("containsCompileError finds compile_error! at any depth", () => {
    assert.ok(containsCompileError([group("Brace", [ident("compile_error"), punct("!"), group("Brace", [lit("Str", "x")])])]));
    assert.ok(!containsCompileError([ident("compile_error"), punct(";")]));
    assert.ok(!containsCompileError(richStream()));
  });
});

describe("server client robustness", () => {
  test("a server that dies fails its requests with the exit status and stderr", async () => {
    const { ProcMacroServerClient } = await import("../support/server-client.js");
    const dead = new ProcMacroServerClient({ command: "/bin/sh", args: ["-c", "echo broken >&2; exit 3"] });
    await assert.rejects(dead.apiVersion(), /exited with code 3: broken/);
    await assert.rejects(dead.apiVersion(), /exited with code 3/);
    const missing = new ProcMacroServerClient({ command: "/nonexistent/server" });
    await assert.rejects(missing.apiVersion(), /ENOENT|exited/);
  });

  test("rust-analyzer's server refuses to run without its internals variable", async () => {
    const { ProcMacroServerClient } = await import("../support/server-client.js");
    const srv = new ProcMacroServerClient({ command: "/usr/libexec/rust-analyzer-proc-macro-srv", env: { RUST_ANALYZER_INTERNALS_DO_NOT_USE: undefined } });
    await assert.rejects(srv.apiVersion(), /exited with code 122/);
  });
});
