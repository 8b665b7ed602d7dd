// The differential in the bidirectional postcard format: the same request stream goes, as postcard
// frames, to rust-analyzer's native rust-analyzer-proc-macro-srv (running the native dylibs) and to
// the macrobox-proc-macro-srv process (running the wasm modules), in `Id` and in `RustAnalyzer`
// span mode. The response frames must be byte-identical (trees and span data tables), and the
// sub-requests each server sends while it expands (what a macro asks about spans) must be the same
// sequence. This test is the client: it answers every sub-request the same deterministic way for
// both servers, from a source text it owns.
//
// Requests: listing and expanding the expansion corpus's cases of every crate (serde_derive,
// thiserror-impl, the example crate and the real-world crates; as test/oracle/oracle-ra-spans.test.ts
// does in json-legacy), and the span-probe
// fixture (test/oracle/native/span-probe), whose macros ask every Span question there is.
//
// Where rustc and rust-analyzer's server disagree, the native server is followed for what is
// protocol behaviour (what is asked of the client, the span tables); for token text printed with
// `to_string` and parsed again (rust-analyzer prints differently from rustc) rustc stays the
// reference, so those cases are compared on their span tables and span ids only.
//
// A negative number literal a macro makes (`Literal::i64_suffixed(-5)`) is two trees in rustc, `-`
// and `5i64` on the literal's span, and in macrobox; one literal in rust-analyzer's server: such a
// response must be the native one once split so (`sameOnceSplit`).
//
// Known disagreements with rustc, where the native server's behaviour is what a client sees and so
// what macrobox's server does too:
// - `Span::save_span` / `recover_proc_macro_span` (proc_macro::quote!'s spans): rustc recovers the
//   spans quote! saved in the macro crate's metadata; rust-analyzer's server answers 0 and the call
//   site.
// - `TokenStream::expand_expr`: rustc expands literals and built-in macros; rust-analyzer's server
//   returns the stream unchanged.
// - In `Id` mode every span question gets a constant (file "", line/column 1, byte range 0..0,
//   join = the first span, start/end/resolved_at = the call site): rustc answers from the source.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { decodeFlatTree } from "../../src/server/flat.js";
import type { SubResponse } from "../../src/server/postcard.js";
import type { Request, Response, SpanMode } from "../../src/server/protocol.js";
import { buildNativeMacro, PROC_MACRO_SRV } from "./native.js";
import { PostcardClient, type PostcardExchange, type SubRequestHandler } from "./postcard-client.js";
import {
  CORPUS_CRATES,
  conformanceWasm,
  moduleArgs,
  crateLabel,
  corpusRaRequests,
  spanIds,
  raRequest,
  sameOnceSplit,
  SPAN_PROBE,
  SPAN_PROBE_CASES,
  spanWorld,
} from "./server-requests.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The differences between two exchanges ("" when equal). */
function difference(a: PostcardExchange, b: PostcardExchange, textMayDiffer: boolean): string {
  if (JSON.stringify(a.subRequests) !== JSON.stringify(b.subRequests)) {
    return `sub-requests differ:\n  native ${JSON.stringify(a.subRequests).slice(0, 1500)}\n  ours   ${JSON.stringify(b.subRequests).slice(0, 1500)}`;
  }
  if (Buffer.from(a.frame).equals(Buffer.from(b.frame))) return "";
  const ra = a.response;
  const rb = b.response;
  const tree = (r: Response) =>
    r.type === "ExpandMacro" && r.result.ok ? r.result.value : r.type === "ExpandMacroExtended" && r.result.ok ? r.result.value.tree : null;
  const table = (r: Response) => (r.type === "ExpandMacroExtended" && r.result.ok ? r.result.value.spanDataTable : []);
  const ta = tree(ra);
  const tb = tree(rb);
  if (textMayDiffer && ra.type === rb.type && ta !== null && tb !== null) {
    // rustc's printing, not rust-analyzer's, is our reference for these: compare the spans only.
    if (JSON.stringify(table(ra)) !== JSON.stringify(table(rb))) return "span tables differ";
    const sa = [...new Set(spanIds(decodeFlatTree(ta)))].sort();
    const sb = [...new Set(spanIds(decodeFlatTree(tb)))].sort();
    return JSON.stringify(sa) === JSON.stringify(sb) ? "" : "span ids used differ";
  }
  // rustc, our reference for what a stream holds, splits a negative literal the macro made; rust-analyzer's server does not.
  if (!textMayDiffer && sameOnceSplit(ra, rb)) return "";
  const ja = JSON.stringify(ra);
  const jb = JSON.stringify(rb);
  let at = 0;
  while (ja[at] === jb[at]) at++;
  return `responses differ from character ${at}:\n  native ${ja.slice(Math.max(0, at - 100), at + 300)}\n  ours   ${jb.slice(Math.max(0, at - 100), at + 300)}`;
}

describe("postcard format: macrobox-proc-macro-srv answers like rust-analyzer-proc-macro-srv", { timeout: 10 * 60_000 }, () => {
  let native: PostcardClient;
  let ours: PostcardClient;
  const dylibs = new Map<string, string>();

  before(async () => {
    const modules: string[] = [];
    for (const crate of CORPUS_CRATES) dylibs.set(crateLabel(crate), buildNativeMacro(crate));
    modules.push(...(await moduleArgs(CORPUS_CRATES)));
    dylibs.set("span-probe", buildNativeMacro(SPAN_PROBE));
    modules.push("--module", `span_probe=${await conformanceWasm(SPAN_PROBE)}`);
    native = new PostcardClient(PROC_MACRO_SRV, []);
    ours = new PostcardClient(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/srv-run.ts"), ...modules], { MACROBOX_EXPANSION_CACHE: "off" });
  });
  after(async () => {
    await native.close();
    await ours.close();
  });

  async function both(req: Request, onSub: SubRequestHandler = spanWorld("")): Promise<[PostcardExchange, PostcardExchange]> {
    const a = await native.request(req, onSub);
    const b = await ours.request(req, onSub);
    return [a, b];
  }

  async function setMode(mode: SpanMode) {
    const [a, b] = await both({ type: "SetConfig", spanMode: mode });
    assert.deepEqual(a.response, { type: "SetConfig", spanMode: mode });
    assert.equal(difference(a, b, false), "");
  }

  for (const mode of ["Id", "RustAnalyzer"] as const) {
    for (const crate of CORPUS_CRATES) {
      test(`${mode} mode, ${crateLabel(crate)}: list and corpus expansions`, async () => {
        await setMode(mode);
        const dylib = dylibs.get(crateLabel(crate))!;
        const [la, lb] = await both({ type: "ListMacros", dylibPath: dylib });
        assert.ok(la.response.type === "ListMacros" && la.response.result.ok);
        assert.equal(difference(la, lb, false), "");
        const requests = corpusRaRequests(crate, dylib);
        assert.ok(requests.length >= 2, `${requests.length} requests`);
        const failures: string[] = [];
        let compared = 0;
        for (const { case: c, name, req } of requests) {
          const [a, b] = await both(req, spanWorld(c.input));
          compared++;
          const diff = difference(a, b, c.usesToString);
          if (diff !== "") failures.push(`${c.id} ${name}: ${diff}`);
        }
        assert.deepEqual(failures, []);
        assert.equal(compared, requests.length);
      });
    }
  }

  for (const mode of ["Id", "RustAnalyzer"] as const) {
    test(`${mode} mode, span-probe: span questions, their sub-requests and answers`, async () => {
      await setMode(mode);
      const dylib = dylibs.get("span-probe")!;
      const failures: string[] = [];
      let asked = 0;
      for (const [name, input] of SPAN_PROBE_CASES) {
        const [a, b] = await both(raRequest(dylib, name, input, null), spanWorld(input));
        asked += a.subRequests.length;
        if (name === "probe" && input.includes("lit")) {
          // The answers reached the macro: the client's file name and source text, a literal's subspan.
          const r = a.response;
          const tree = r.type === "ExpandMacro" && r.result.ok ? r.result.value : r.type === "ExpandMacroExtended" && r.result.ok ? r.result.value.tree : null;
          assert.ok(tree !== null);
          const texts = JSON.stringify(decodeFlatTree(tree));
          const expected =
            mode === "Id"
              ? ['file=\\\\\\"\\\\\\" local=None text=None line=1', "subspan file"]
              : ["/ws/src/file3.rs", 'text=Some(\\\\\\"first\\\\\\")', "subspan file"];
          for (const e of expected) assert.ok(texts.includes(e), `${e} not in ${texts.slice(0, 600)}`);
        }
        const diff = difference(a, b, false);
        if (diff !== "") failures.push(`${name}!(${input}): ${diff}`);
      }
      assert.deepEqual(failures, []);
      // Id mode never asks the client; RustAnalyzer mode asks every kind of question.
      if (mode === "Id") assert.equal(asked, 0);
      else assert.ok(asked > 50, `${asked} sub-requests`);
    });
  }

  test("RustAnalyzer mode: a span table with repeated entries is read as the native server's IndexSet", async () => {
    await setMode("RustAnalyzer");
    const dylib = dylibs.get("span-probe")!;
    const input = "a (b c) d";
    const req = raRequest(dylib, "probe", input, null);
    assert.ok(req.type === "ExpandMacro");
    // A repeat of entry 0 right after it: the ids the trees use still index the table without repeats.
    const table = [...req.spanDataTable.slice(0, 5), ...req.spanDataTable.slice(0, 5), ...req.spanDataTable.slice(5)];
    const [a, b] = await both({ ...req, spanDataTable: table }, spanWorld(input));
    assert.ok(a.response.type === "ExpandMacroExtended" && a.response.result.ok);
    assert.equal(difference(a, b, false), "");
  });

  test("RustAnalyzer mode: a client that cancels a sub-request, or answers with a broken frame, fails that expansion only, alike", async () => {
    await setMode("RustAnalyzer");
    const dylib = dylibs.get("span-probe")!;
    const cancel = (): SubResponse => ({ type: "Cancel", reason: "the test client cancels" });
    const [a, b] = await both(raRequest(dylib, "probe", "x", null), cancel);
    assert.ok(a.response.type === "ExpandMacroExtended" && !a.response.result.ok);
    assert.equal(difference(a, b, false), "");
    // A frame that is no message at all in place of the answer: the same, and the next request is served.
    const [e, f] = await both(raRequest(dylib, "probe", "x", null), () => Uint8Array.from([3, 0xff, 0xff, 0]));
    assert.ok(e.response.type === "ExpandMacroExtended" && !e.response.result.ok);
    assert.equal(difference(e, f, false), "");
    const [c, d] = await both(raRequest(dylib, "ok", "", null));
    assert.ok(c.response.type === "ExpandMacroExtended" && c.response.result.ok);
    assert.equal(difference(c, d, false), "");
  });
});
