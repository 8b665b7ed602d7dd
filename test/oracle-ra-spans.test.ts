// `RustAnalyzer` span mode against rust-analyzer's own server: the conformance corpus's cases for
// serde_derive, thiserror-impl and the example crate go, as json-legacy lines in RustAnalyzer span
// mode, to rust-analyzer-proc-macro-srv running the native dylib and to our session with the wasm
// backend. The response lines must be identical: same trees, same span data table, so every span
// of the output (tokens passed through, joined, sub-spanned, resolved at another span, the
// call/def/mixed sites) maps back exactly as natively.
//
// The span data is rust-analyzer's shape (editioned file id, hashed AST id, anchor-relative ranges,
// root contexts), varied on purpose: part of the tokens hang on a second anchor (joins across
// anchors fail), a few carry the fixup marker or a non-root context (join's special cases).
//
// Where rustc and rust-analyzer's server disagree, rustc is our reference: cases whose macro
// prints tokens with `to_string` and parses the text again (rust-analyzer prints differently from
// rustc) are compared on their span tables and span ids only, not the token text.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { ProcMacroServerClient, spawnRustAnalyzerServer } from "../src/node/server-client.js";
import { build } from "../src/builder/build.js";
import { loadMacroModule } from "../src/index.js";
import { decodeFlatTree, encodeFlatTree } from "../src/server/flat.js";
import { decodeResponseLine, encodeRequestLine, encodeSpanDataTable, type Request, type SpanData } from "../src/server/protocol.js";
import { createServerSession } from "../src/server/serve.js";
import { createWasmBackend } from "../src/server/wasm-backend.js";
import { parseTokenStream } from "../src/tokens/parse.js";
import type { TokenStream } from "../src/tokens/model.js";
import { crateKey, loadCorpus } from "./corpus/expand/load.js";
import { buildNativeMacro, oracleCacheDir, PROC_MACRO_SRV } from "./oracle/native.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** `SyntaxContext::root(Edition2021)`: MAX_ID (u32::MAX - 0xFF - 1) minus the edition. */
const ROOT_2021 = 0xffff_fefe - 2;
/** File 3, edition 2021 (bits 23..31). */
const FILE = 3 | (2 << 23);
const astId = (kind: number, index: number, hash: number) => (kind << 27) | (index << 16) | hash;
const ITEM = astId(2, 1, 0xbeef); // Struct
const OTHER = astId(12, 4, 0x1234); // Fn
const CALL = astId(13, 2, 0x0042); // MacroCall

/** Lexes `src` into tokens whose span ids index a rust-analyzer span table. */
function raRequest(lib: string, macroName: string, input: string, args: string | null): Request {
  // rust-analyzer keeps the table as an IndexSet: equal spans share one entry.
  const table: SpanData[] = [];
  const known = new Map<string, number>();
  const add = (d: SpanData) => {
    const key = JSON.stringify(d);
    let id = known.get(key);
    if (id === undefined) {
      id = table.push(d) - 1;
      known.set(key, id);
    }
    return id;
  };
  let n = 0;
  const span = (lo: number, hi: number) => {
    const i = n++;
    const anchor = i % 11 === 10 ? OTHER : i % 17 === 16 ? 0 /* fixup marker */ : ITEM;
    const ctx = i % 13 === 12 ? 0x2a : ROOT_2021;
    return add({ fileId: FILE, astId: anchor, start: lo, end: hi, ctx });
  };
  const lex = (src: string): TokenStream => {
    const r = parseTokenStream(src, span);
    if (!r.ok) throw new Error(r.error.message);
    return r.stream;
  };
  const body = lex(input);
  const attributes = args === null ? null : lex(args);
  const site = (ctx: number) => add({ fileId: FILE, astId: CALL, start: 0, end: 12, ctx });
  const globals = { callSite: site(0x100), defSite: site(0x101), mixedSite: site(0x102) };
  return {
    type: "ExpandMacro",
    lib,
    env: [["CARGO_PKG_NAME", "app"]],
    currentDir: "/tmp",
    macroBody: encodeFlatTree(body, { rootSpan: globals.callSite }),
    macroName,
    attributes: attributes === null ? null : encodeFlatTree(attributes, { rootSpan: globals.callSite }),
    globals,
    spanDataTable: encodeSpanDataTable(table),
  };
}

describe("RustAnalyzer span mode: our server maps spans as rust-analyzer's does", { timeout: 10 * 60_000 }, () => {
  const crates = [
    { name: "serde_derive", version: "1.0.152" },
    { name: "thiserror-impl", version: "1.0.38" },
    { path: join(HERE, "../examples/demo-macros") },
  ] as const;
  let native: ProcMacroServerClient;
  before(() => {
    native = spawnRustAnalyzerServer(PROC_MACRO_SRV);
  });
  after(() => native.close());

  for (const crate of crates) {
    test(`${"path" in crate ? "demo-macros" : crate.name}: corpus cases, spans included`, async () => {
      const dylib = buildNativeMacro(crate);
      const wasmPath = join(oracleCacheDir(), "conformance-wasm", `${crateKey(crate).replace(/[^A-Za-z0-9@._-]+/g, "_")}-server.wasm`);
      mkdirSync(dirname(wasmPath), { recursive: true });
      const built = await build({ crate: "path" in crate ? crate.path : `${crate.name}@${crate.version}`, output: wasmPath });
      const module = await loadMacroModule(readFileSync(built.output));
      const session = createServerSession(createWasmBackend({ loadModule: async () => module }));
      const config = encodeRequestLine({ type: "SetConfig", spanMode: "RustAnalyzer" });
      assert.equal(await native.requestLine(config), '{"SetConfig":{"span_mode":"RustAnalyzer"}}');
      assert.equal(await session.handleLine(config.slice(0, -1)), '{"SetConfig":{"span_mode":"RustAnalyzer"}}\n');

      const cases = loadCorpus().filter((c) => crateKey(c.crate) === crateKey(crate));
      assert.ok(cases.length > 10);
      const failures: string[] = [];
      let compared = 0;
      for (const c of cases) {
        for (const name of c.macros) {
          let req: Request;
          try {
            req = raRequest(dylib, name, c.input, c.kind === "attr" ? (c.args ?? "") : null);
          } catch {
            continue; // inputs that do not lex are not protocol cases
          }
          const line = encodeRequestLine(req);
          const a = await native.requestLine(line);
          const b = (await session.handleLine(line.slice(0, -1))).slice(0, -1);
          compared++;
          if (a === b) continue;
          const ra = decodeResponseLine(a);
          const rb = decodeResponseLine(b);
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
          const spansOf = (tree: TokenStream, out: number[] = []): number[] => {
            for (const t of tree) {
              if (t.type === "group") {
                out.push(t.span.open, t.span.close);
                spansOf(t.stream, out);
              } else out.push(t.span);
            }
            return out;
          };
          const table = (r: typeof ra) => (r.type === "ExpandMacroExtended" && r.result.ok ? r.result.value.spanDataTable : []);
          if (JSON.stringify(table(ra)) !== JSON.stringify(table(rb))) failures.push(`${c.id} ${name}: span tables differ`);
          const sa = new Set(spansOf(decodeFlatTree(ra.result.value.tree)));
          const sb = new Set(spansOf(decodeFlatTree(rb.result.value.tree)));
          if (JSON.stringify([...sa].sort()) !== JSON.stringify([...sb].sort())) failures.push(`${c.id} ${name}: span ids used differ`);
        }
      }
      assert.deepEqual(failures, []);
      assert.ok(compared > 10);
    });
  }
});
