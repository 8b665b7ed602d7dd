// The postcard ("bidirectional-postcard-prototype") format against rust-analyzer's server:
// the same requests sent as postcard frames and as JSON lines must get the same answers, and
// every frame the server sends must re-encode to the very same bytes.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { spawnRustAnalyzerServer, type ProcMacroServerClient } from "../support/server-client.js";
import { encodeFlatTree } from "../../src/server/flat.js";
import {
  cobsDecode,
  cobsEncode,
  decodeBidirectional,
  decodeBidirectionalFrame,
  encodeBidirectional,
  encodeBidirectionalFrame,
  type BidirectionalMessage,
  type SubRequest,
  type SubResponse,
} from "../../src/server/postcard.js";
import { ProtocolError, type Request, type Response } from "../../src/server/protocol.js";
import { buildNativeMacro, lexSource, PROC_MACRO_SRV } from "./native.js";
import { PostcardClient } from "./postcard-client.js";
import { resetSpans, richStream } from "./trees.js";

const ECHO_CRATE = join(fileURLToPath(new URL("..", import.meta.url)), "oracle/native/echo-macros");

describe("COBS framing", () => {
  test("round-trips zeros, long runs and empty data", () => {
    const cases = [
      [],
      [0],
      [0, 0],
      [1, 2, 0, 3],
      Array.from({ length: 254 }, (_, i) => i + 1),
      Array.from({ length: 255 }, (_, i) => (i % 255) + 1),
      Array.from({ length: 1000 }, (_, i) => i % 256),
    ];
    for (const c of cases) {
      const data = Uint8Array.from(c);
      const framed = cobsEncode(data);
      assert.equal(framed[framed.length - 1], 0);
      assert.ok(!framed.subarray(0, -1).includes(0), "no zero inside a frame");
      assert.deepEqual(cobsDecode(framed), data);
    }
    assert.deepEqual([...cobsEncode(Uint8Array.from([0x11, 0x22, 0x00, 0x33]))], [3, 0x11, 0x22, 2, 0x33, 0]);
    assert.throws(() => cobsDecode(Uint8Array.from([5, 1, 0])), ProtocolError);
  });
});

describe("postcard messages", () => {
  const tree = encodeFlatTree(richStream(), { rootSpan: 1 });
  const messages: BidirectionalMessage[] = [
    { type: "Request", request: { type: "ApiVersionCheck" } },
    { type: "Request", request: { type: "SetConfig", spanMode: "RustAnalyzer" } },
    { type: "Request", request: { type: "ListMacros", dylibPath: "/x/libé.so" } },
    {
      type: "Request",
      request: {
        type: "ExpandMacro",
        lib: "/x",
        env: [["A", "b"]],
        currentDir: null,
        macroBody: tree,
        macroName: "m",
        attributes: tree,
        globals: { defSite: 0, callSite: 300, mixedSite: 2 },
        spanDataTable: [1, 2, 3, 4, 5],
      },
    },
    {
      type: "Response",
      response: {
        type: "ListMacros",
        result: {
          ok: true,
          value: [
            { name: "A", kind: "derive" },
            { name: "b", kind: "bang" },
          ],
        },
      },
    },
    { type: "Response", response: { type: "ExpandMacroExtended", result: { ok: false, error: "boom" } } },
    { type: "Response", response: { type: "ApiVersionCheck", version: 6 } },
    ...(
      [
        { type: "FilePath", fileId: 1 },
        { type: "SourceText", fileId: 1, astId: 2, start: 3, end: 4 },
        { type: "LineColumn", fileId: 1, astId: 2, offset: 70000 },
        { type: "SpanParent", fileId: 1, astId: 2, start: 3, end: 4, ctx: 5 },
      ] satisfies SubRequest[]
    ).map((subRequest): BidirectionalMessage => ({ type: "SubRequest", subRequest })),
    ...(
      [
        { type: "SourceTextResult", text: null },
        { type: "LocalFilePathResult", name: "/a.rs" },
        { type: "ByteRangeResult", start: 5, end: 2 ** 40 },
        { type: "SpanParentResult", parentSpan: { fileId: 1, astId: 2, start: 3, end: 4, ctx: 5 } },
        { type: "Cancel", reason: "stop" },
      ] satisfies SubResponse[]
    ).map((subResponse): BidirectionalMessage => ({ type: "SubResponse", subResponse })),
  ];

  test("every message round-trips", () => {
    for (const m of messages) {
      assert.deepEqual(decodeBidirectional(encodeBidirectional(m)), m);
      assert.deepEqual(decodeBidirectionalFrame(encodeBidirectionalFrame(m)), m);
    }
  });

  test("truncated or padded messages are ProtocolErrors", () => {
    const bytes = encodeBidirectional(messages[3]);
    assert.throws(() => decodeBidirectional(bytes.subarray(0, bytes.length - 3)), ProtocolError);
    assert.throws(() => decodeBidirectional(Uint8Array.from([...bytes, 7])), ProtocolError);
    assert.throws(() => decodeBidirectional(Uint8Array.from([9])), ProtocolError);
  });
});

describe("postcard against rust-analyzer-proc-macro-srv", () => {
  let dylib = "";
  let postcard: PostcardClient;
  let json: ProcMacroServerClient;
  before(() => {
    dylib = buildNativeMacro({ path: ECHO_CRATE });
    postcard = new PostcardClient(PROC_MACRO_SRV, []);
    json = spawnRustAnalyzerServer(PROC_MACRO_SRV);
  });
  after(async () => {
    await postcard.close();
    await json.close();
  });

  async function same(req: Request): Promise<Response> {
    const { frame } = await postcard.request(req);
    const msg = decodeBidirectionalFrame(frame);
    assert.equal(msg.type, "Response");
    assert.deepEqual([...cobsEncode(encodeBidirectional(msg))], [...frame, 0], "re-encoding gives the server's bytes");
    const viaJson = await json.request(req);
    const res = (msg as Extract<BidirectionalMessage, { type: "Response" }>).response;
    assert.deepEqual(res, viaJson);
    return res;
  }

  test("version check, span mode, list, expansions and panics agree with the JSON protocol", async () => {
    assert.deepEqual(await same({ type: "ApiVersionCheck" }), { type: "ApiVersionCheck", version: 6 });
    await same({ type: "SetConfig", spanMode: "Id" });
    await same({ type: "ListMacros", dylibPath: dylib });
    resetSpans();
    const base = { lib: dylib, env: [] as [string, string][], currentDir: null, globals: { defSite: 0, callSite: 1, mixedSite: 2 }, spanDataTable: [] };
    await same({ type: "ExpandMacro", ...base, macroName: "echo", macroBody: encodeFlatTree(richStream(), { rootSpan: 1 }), attributes: null });
    const big = lexSource('fn f() { let s = "' + "x".repeat(600) + '"; }');
    await same({
      type: "ExpandMacro",
      ...base,
      macroName: "echo_attr",
      macroBody: encodeFlatTree(big, { rootSpan: 1 }),
      attributes: encodeFlatTree(lexSource("a = 1"), { rootSpan: 1 }),
    });
    const panic = await same({ type: "ExpandMacro", ...base, macroName: "panic_now", macroBody: encodeFlatTree([], { rootSpan: 1 }), attributes: null });
    assert.ok(panic.type === "ExpandMacro" && !panic.result.ok);
  });
});
