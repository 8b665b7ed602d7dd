// Our protocol server against rust-analyzer's: the same request lines go to
// rust-analyzer-proc-macro-srv running the echo-macros dylib and to the protocol session our
// server's worker runs (src/server/serve.ts `answerLine`) with a backend that behaves like
// echo-macros; the response lines must be byte-identical. This pins the encoder's layout (breadth-first subtrees,
// string interning order, field order) and the message shapes to the real server's.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { ProcMacroServerClient, spawnRustAnalyzerServer } from "../support/server-client.js";
import { decodeFlatTree, encodeFlatTree } from "../../src/server/flat.js";
import { decodeResponseLine, encodeRequestLine, encodeSpanDataTable, type Request } from "../../src/server/protocol.js";
import { decodeBidirectionalFrame, encodeBidirectionalFrame, FrameSplitter } from "../../src/server/postcard.js";
import { createServerSession, type ProcMacroBackend } from "../../src/server/serve.js";
import { crateKey, loadCorpus } from "../corpus/expand/load.js";
import { compareStreams } from "./compare.js";
import { CONFORMANCE_CRATES, crateLabel, idRequest, spanIds, spawnMacroboxServer } from "./server-requests.js";
import { forEachTree } from "../../src/tokens/walk.js";
import { buildNativeMacro, lexSource, oracleCacheDir, PROC_MACRO_SRV } from "./native.js";
import { group, ident, lit, punct, resetSpans, richStream } from "./trees.js";
import { buildModule } from "../support/build.js";

const HERE = fileURLToPath(new URL("..", import.meta.url));
const ECHO_CRATE = join(HERE, "oracle/native/echo-macros");

/** A backend that behaves like test/oracle/native/echo-macros. */
const ECHO_BACKEND: ProcMacroBackend = {
  spanModes: ["Id", "RustAnalyzer"],
  async listMacros() {
    return {
      ok: true,
      value: [
        { name: "echo", kind: "bang" },
        { name: "echo_attr", kind: "attr" },
        { name: "EchoDerive", kind: "derive" },
        { name: "panic_now", kind: "bang" },
        { name: "reparse", kind: "bang" },
      ],
    };
  },
  async expand(req) {
    switch (req.macroName) {
      case "echo":
      case "EchoDerive":
        return { ok: true, value: { output: req.body } };
      case "echo_attr":
        return { ok: true, value: { output: [...(req.attributes ?? []), ...req.body] } };
      case "panic_now":
        return { ok: false, error: "echo-macros: asked to panic" };
      default:
        return { ok: false, error: `proc-macro \`${req.macroName}\` is missing` };
    }
  },
};

describe("our protocol server answers like rust-analyzer's", () => {
  let dylib = "";
  let native: ProcMacroServerClient;
  const ours = createServerSession(ECHO_BACKEND);
  before(() => {
    dylib = buildNativeMacro({ path: ECHO_CRATE });
    native = spawnRustAnalyzerServer(PROC_MACRO_SRV);
  });
  after(() => native.close());

  async function same(req: Request): Promise<string> {
    const line = encodeRequestLine(req);
    const [a, b] = await Promise.all([native.requestLine(line), ours.answerLine(line.trimEnd())]);
    assert.equal(b.response.trimEnd(), a);
    return a;
  }

  test("version check, span mode, macro list", async () => {
    assert.equal(await same({ type: "ApiVersionCheck" }), '{"ApiVersionCheck":6}');
    assert.equal(await same({ type: "SetConfig", spanMode: "Id" }), '{"SetConfig":{"span_mode":"Id"}}');
    await same({ type: "ListMacros", dylibPath: dylib });
  });

  test("Id mode expansions: bang, attribute, derive, nested and empty streams, panics", async () => {
    resetSpans();
    await same(idRequest(dylib, "echo", richStream(), null));
    await same(idRequest(dylib, "echo", [], null));
    await same(idRequest(dylib, "echo", [group("Brace", [ident("only")])], null));
    await same(idRequest(dylib, "echo", [group("None", [ident("a"), group("None", [punct("+")])])], null));
    await same(
      idRequest(
        dylib,
        "echo_attr",
        [ident("fn"), ident("f"), group("Parenthesis", []), group("Brace", [])],
        [ident("x"), punct("="), lit("Integer", "1", "u8")],
      ),
    );
    await same(idRequest(dylib, "EchoDerive", [ident("struct"), ident("S"), punct(";")], null));
    const panic = await same(idRequest(dylib, "panic_now", [], null));
    assert.match(panic, /"Err":"echo-macros: asked to panic"/);
  });

  test("RustAnalyzer span mode: ExpandMacroExtended with the span data table", async () => {
    assert.equal(await same({ type: "SetConfig", spanMode: "RustAnalyzer" }), '{"SetConfig":{"span_mode":"RustAnalyzer"}}');
    // Span ids index the table; every id the trees use must exist, and entries must be distinct
    // (the native server keeps them in an IndexSet).
    resetSpans(3);
    const body = richStream();
    const attrs = [ident("k"), punct("="), lit("Str", "v")];
    const table = encodeSpanDataTable(Array.from({ length: 200 }, (_, i) => ({ fileId: 7, astId: 0, start: i * 2, end: i * 2 + 1, ctx: 0 })));
    const res = await same(idRequest(dylib, "echo_attr", body, attrs, { spanDataTable: table } as Partial<Request>));
    assert.match(res, /^\{"ExpandMacroExtended":\{"Ok":\{"tree":/);
    assert.equal(await same({ type: "SetConfig", spanMode: "Id" }), '{"SetConfig":{"span_mode":"Id"}}');
  });
});

describe("server session", () => {
  const session = createServerSession({
    async listMacros() {
      throw new Error("no such module");
    },
    async expand() {
      return { ok: true, value: { output: [{ type: "punct", ch: "==", joint: false, span: 0 }] } };
    },
  });

  test("backend exceptions and bad output become error responses, not crashes", async () => {
    assert.deepEqual(await session.handle({ type: "ListMacros", dylibPath: "/x" }), {
      type: "ListMacros",
      result: { ok: false, error: "macrobox: no such module" },
    });
    const res = await session.handle(idRequest("/x", "m", [], null));
    assert.equal(res.type, "ExpandMacro");
    assert.ok(res.type === "ExpandMacro" && !res.result.ok && /cannot encode/.test(res.result.error));
  });

  const answer = async (line: string) => (await session.answerLine(line)).response;

  test("bad request lines get an error answer", async () => {
    assert.match(await answer("{nonsense"), /"Err":"macrobox: proc-macro protocol: bad JSON line/);
    assert.match(
      await answer(
        '{"ExpandMacro":{"lib":"x","env":[],"current_dir":null,"macro_body":{"subtree":[0,0,9,0,0],"literal":[],"punct":[],"ident":[],"token_tree":[],"text":[]},"macro_name":"m","attributes":null}}',
      ),
      /bad request: FlatTree/,
    );
  });

  test("span mode falls back to Id when the backend lacks RustAnalyzer mode", async () => {
    assert.deepEqual(await session.handle({ type: "SetConfig", spanMode: "RustAnalyzer" }), { type: "SetConfig", spanMode: "Id" });
    assert.equal(session.spanMode, "Id");
  });
});

describe("our server with the wasm backend expands like rust-analyzer's with the native dylib", () => {
  let native: ProcMacroServerClient;
  before(() => {
    native = spawnRustAnalyzerServer(PROC_MACRO_SRV);
  });
  after(() => native.close());

  for (const crate of CONFORMANCE_CRATES) {
    test(`${crateLabel(crate)}: corpus cases through the protocol`, async (t) => {
      const dylib = buildNativeMacro(crate);
      // The client names the native dylib; our server maps that name to the wasm module.
      const ours = await spawnMacroboxServer([crate]);
      t.after(() => ours.close());
      const key = crateKey(crate);
      const cases = loadCorpus().filter((c) => crateKey(c.crate) === key);
      assert.ok(cases.length > 10);

      const list = encodeRequestLine({ type: "ListMacros", dylibPath: dylib });
      const nativeList = decodeResponseLine(await native.requestLine(list));
      const ourList = decodeResponseLine(await ours.requestLine(list));
      assert.ok(nativeList.type === "ListMacros" && ourList.type === "ListMacros" && nativeList.result.ok && ourList.result.ok);
      assert.deepEqual(new Set(ourList.result.value.map((m) => `${m.kind} ${m.name}`)), new Set(nativeList.result.value.map((m) => `${m.kind} ${m.name}`)));

      const failures: string[] = [];
      let inputSpansKept = 0;
      for (const c of cases) {
        for (const name of c.macros) {
          const body = lexSource(c.input);
          const args = c.kind === "attr" ? lexSource(c.args ?? "") : null;
          const line = encodeRequestLine(idRequest(dylib, name, body, args));
          const a = decodeResponseLine(await native.requestLine(line));
          const b = decodeResponseLine(await ours.requestLine(line));
          if (a.type !== "ExpandMacro" || b.type !== "ExpandMacro") {
            failures.push(`${c.id}: response types ${a.type} / ${b.type}`);
            continue;
          }
          if (!a.result.ok || !b.result.ok) {
            if (a.result.ok !== b.result.ok)
              failures.push(`${c.id} ${name}: native ${a.result.ok ? "ok" : a.result.error}, ours ${b.result.ok ? "ok" : b.result.error}`);
            continue;
          }
          const na = decodeFlatTree(a.result.value);
          const nb = decodeFlatTree(b.result.value);
          const diff = c.usesToString ? null : compareStreams(nb, na);
          if (diff !== null) failures.push(`${c.id} ${name}: ${diff}`);
          // Span ids too: input tokens keep theirs, generated tokens get the same global ids.
          const spansA = spanIds(na);
          const spansB = spanIds(nb);
          const at = spansA.findIndex((s, i) => s !== spansB[i]);
          if (at >= 0 || spansA.length !== spansB.length) failures.push(`${c.id} ${name}: span #${at} differs: native ${spansA[at]}, ours ${spansB[at]}`);
          // Tokens the macro passed through keep the client's span ids.
          const inputIds = new Set<number>();
          forEachTree(body, (t) => {
            if (t.type !== "group") inputIds.add(t.span);
          });
          forEachTree(nb, (t) => {
            if (t.type !== "group" && inputIds.has(t.span)) inputSpansKept++;
          });
        }
      }
      assert.deepEqual(failures, []);
      assert.ok(inputSpansKept > 0, "no input span survived the round trip");
    });
  }
});

describe("macrobox as a proc-macro server process", () => {
  const LAUNCHER = join(HERE, "oracle/native/macrobox-server.ts");
  let wasm = "";
  before(async () => {
    wasm = join(oracleCacheDir(), "conformance-wasm", "demo-macros-process.wasm");
    mkdirSync(dirname(wasm), { recursive: true });
    await buildModule({ crate: join(HERE, "../examples/demo-macros"), output: wasm });
  });

  test("maps rust-analyzer's dylib path to the wasm module and expands", async () => {
    const srv = new ProcMacroServerClient({
      command: process.execPath,
      args: ["--import", "tsx", LAUNCHER, "--format", "json-legacy"],
      env: { MACROBOX_TEST_MODULES: JSON.stringify({ demo_macros: wasm }) },
    });
    try {
      assert.equal(await srv.apiVersion(), 6);
      assert.equal(await srv.setSpanMode("RustAnalyzer"), "RustAnalyzer");
      assert.equal(await srv.setSpanMode("Id"), "Id");
      const lib = "/work/target/debug/deps/libdemo_macros-0123456789abcdef.so";
      const listed = await srv.listMacros(lib);
      assert.ok(listed.ok);
      assert.deepEqual(listed.value.map((m) => `${m.kind} ${m.name}`).sort(), ["attr route", "bang sql", "derive Describe"]);
      const body = lexSource("struct P { x: u8, #[describe(skip)] y: u8 }");
      const res = await srv.expand({
        lib,
        env: [],
        currentDir: null,
        macroBody: encodeFlatTree(body, { rootSpan: 1 }),
        macroName: "Describe",
        attributes: null,
        globals: { defSite: 0, callSite: 1, mixedSite: 2 },
        spanDataTable: [],
      });
      assert.ok(res.ok, res.ok ? "" : res.error);
      const printed = decodeFlatTree(res.value)
        .map((t) => (t.type === "ident" ? t.sym : ""))
        .join(" ");
      assert.match(printed, /impl P/);
      const missing = await srv.listMacros("/elsewhere/libunknown-0123456789abcdef.so");
      // Not mapped: the executable looks for the crate behind the dylib, and says why there is none.
      assert.ok(!missing.ok && /is not a dylib cargo built in a workspace's target directory/.test(missing.error), missing.ok ? "" : missing.error);
    } finally {
      await srv.close();
    }
  });

  test("answers --version, serves the postcard format, refuses unknown formats", async () => {
    const { execFileSync, spawnSync } = await import("node:child_process");
    assert.match(execFileSync(process.execPath, ["--import", "tsx", LAUNCHER, "--version"], { encoding: "utf8" }), /macrobox-proc-macro-srv/);
    const refused = spawnSync(process.execPath, ["--import", "tsx", LAUNCHER, "--format", "xml"], { encoding: "utf8", input: "" });
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /unsupported protocol format/);
    // Postcard: a version check and a macro list, as frames.
    const lib = "/t/libdemo_macros-0123456789abcdef.so";
    const input = Buffer.concat([
      encodeBidirectionalFrame({ type: "Request", request: { type: "ApiVersionCheck" } }),
      encodeBidirectionalFrame({ type: "Request", request: { type: "ListMacros", dylibPath: lib } }),
    ]);
    const run = spawnSync(process.execPath, ["--import", "tsx", LAUNCHER, "--format", "bidirectional-postcard-prototype"], {
      input,
      env: { ...process.env, MACROBOX_TEST_MODULES: JSON.stringify({ demo_macros: wasm }) },
    });
    assert.equal(run.status, 0, run.stderr.toString());
    const frames = new FrameSplitter().push(run.stdout);
    assert.equal(frames.length, 2);
    assert.deepEqual(decodeBidirectionalFrame(frames[0]), { type: "Response", response: { type: "ApiVersionCheck", version: 6 } });
    const list = decodeBidirectionalFrame(frames[1]);
    assert.ok(list.type === "Response" && list.response.type === "ListMacros" && list.response.result.ok);
    assert.equal(list.response.result.value.length, 3);
  });
});
