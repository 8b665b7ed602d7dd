// `RustAnalyzer` span mode against rust-analyzer's own server: the expansion corpus's cases of every
// crate (serde_derive, thiserror-impl, the example crate and the real-world crates of
// test/corpus/expand) go, as json-legacy lines in RustAnalyzer span mode, to rust-analyzer-proc-macro-srv running the native dylib and to macrobox-proc-macro-srv
// with the wasm module (the executable rust-analyzer runs). The response lines must be identical:
// same trees, same span data table, so every span
// of the output (tokens passed through, joined, sub-spanned, resolved at another span, the
// call/def/mixed sites) maps back exactly as natively.
//
// The span data is rust-analyzer's shape (editioned file id, hashed AST id, anchor-relative ranges,
// root contexts), varied on purpose: part of the tokens hang on a second anchor (joins across
// anchors fail), a few carry the fixup marker or a non-root context (join's special cases).
//
// The span-probe fixture asks every Span question; without a client (json-legacy) the native
// server answers each with a constant, and so must we.
//
// Where rustc and rust-analyzer's server disagree, rustc is our reference: cases whose macro
// prints tokens with `to_string` and parses the text again (rust-analyzer prints differently from
// rustc) are compared on their span tables and span ids only, not the token text; a negative number
// literal a macro makes (`Literal::i64_suffixed(-5)`) is two trees in rustc, `-` and `5i64` on the
// literal's span, but one literal in rust-analyzer's server: such a response must be the native one
// once split so.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ProcMacroServerClient, spawnRustAnalyzerServer } from "../support/server-client.js";
import { decodeFlatTree } from "../../src/server/flat.js";
import { decodeResponseLine, encodeRequestLine } from "../../src/server/protocol.js";
import { buildNativeMacro, PROC_MACRO_SRV } from "./native.js";
import {
  CORPUS_CRATES,
  corpusRaRequests,
  crateLabel,
  raRequest,
  sameOnceSplit,
  spanIds,
  spawnMacroboxServer,
  SPAN_PROBE,
  SPAN_PROBE_CASES,
} from "./server-requests.js";

describe("RustAnalyzer span mode: our server maps spans as rust-analyzer's does", { timeout: 10 * 60_000 }, () => {
  let native: ProcMacroServerClient;
  before(() => {
    native = spawnRustAnalyzerServer(PROC_MACRO_SRV);
  });
  after(() => native.close());

  for (const crate of CORPUS_CRATES) {
    test(`${crateLabel(crate)}: corpus cases, spans included`, async (t) => {
      const dylib = buildNativeMacro(crate);
      const ours = await spawnMacroboxServer([crate]);
      t.after(() => ours.close());
      const config = encodeRequestLine({ type: "SetConfig", spanMode: "RustAnalyzer" });
      assert.equal(await native.requestLine(config), '{"SetConfig":{"span_mode":"RustAnalyzer"}}');
      assert.equal(await ours.requestLine(config), '{"SetConfig":{"span_mode":"RustAnalyzer"}}');

      const requests = corpusRaRequests(crate, dylib);
      assert.ok(requests.length >= 2, `${requests.length} requests`);
      const failures: string[] = [];
      let compared = 0;
      for (const { case: c, name, req } of requests) {
        const line = encodeRequestLine(req);
        const a = await native.requestLine(line);
        const b = await ours.requestLine(line);
        compared++;
        if (a === b) continue;
        const ra = decodeResponseLine(a);
        const rb = decodeResponseLine(b);
        if (!c.usesToString && sameOnceSplit(ra, rb)) continue;
        if (!c.usesToString || ra.type !== "ExpandMacroExtended" || rb.type !== "ExpandMacroExtended" || !ra.result.ok || !rb.result.ok) {
          let at = 0;
          while (a[at] === b[at]) at++;
          if (process.env.RA_DEBUG) {
            const ta = a.slice(a.indexOf('"span_data_table"'));
            const tb = b.slice(b.indexOf('"span_data_table"'));
            failures.push(`tables:\n  ${ta}\n  ${tb}`);
          }
          failures.push(
            `${c.id} ${name}: from byte ${at}:\n  native ${a.slice(Math.max(0, at - 80), at + 200)}\n  ours   ${b.slice(Math.max(0, at - 80), at + 200)}`,
          );
          continue;
        }
        // rustc's printing, not rust-analyzer's, is our reference for these: compare the spans only.
        const table = (r: typeof ra) => (r.type === "ExpandMacroExtended" && r.result.ok ? r.result.value.spanDataTable : []);
        if (JSON.stringify(table(ra)) !== JSON.stringify(table(rb))) failures.push(`${c.id} ${name}: span tables differ`);
        const sa = new Set(spanIds(decodeFlatTree(ra.result.value.tree)));
        const sb = new Set(spanIds(decodeFlatTree(rb.result.value.tree)));
        if (JSON.stringify([...sa].sort()) !== JSON.stringify([...sb].sort())) failures.push(`${c.id} ${name}: span ids used differ`);
      }
      assert.deepEqual(failures, []);
      assert.equal(compared, requests.length);
    });
  }

  test("span-probe: every span question, answered without a client (json-legacy has no sub-requests)", async (t) => {
    const dylib = buildNativeMacro(SPAN_PROBE);
    const ours = await spawnMacroboxServer([SPAN_PROBE]);
    t.after(() => ours.close());
    const config = encodeRequestLine({ type: "SetConfig", spanMode: "RustAnalyzer" });
    assert.equal(await native.requestLine(config), await ours.requestLine(config));
    for (const [name, input] of SPAN_PROBE_CASES) {
      const line = encodeRequestLine(raRequest(dylib, name, input, null));
      assert.equal(await ours.requestLine(line), await native.requestLine(line), `${name}!(${input})`);
    }
  });
});
