// Expansion requests as rust-analyzer sends them, for the differential server tests (the same
// request goes to the native rust-analyzer-proc-macro-srv and to macrobox's server).

import { encodeFlatTree } from "../../src/server/flat.js";
import { encodeSpanDataTable, type Request, type SpanData } from "../../src/server/protocol.js";
import { parseTokenStream } from "../../src/tokens/parse.js";
import type { TokenStream } from "../../src/tokens/model.js";

/** An `Id`-mode expansion request: span ids are the tokens' own; globals 0/1/2. */
export function expandRequest(lib: string, macroName: string, body: TokenStream, attributes: TokenStream | null, extra: Partial<Request> = {}): Request {
  return {
    type: "ExpandMacro",
    lib,
    env: [["CARGO_PKG_NAME", "echo"]],
    currentDir: "/tmp",
    macroBody: encodeFlatTree(body, { rootSpan: 1 }),
    macroName,
    attributes: attributes === null ? null : encodeFlatTree(attributes, { rootSpan: 1 }),
    globals: { defSite: 0, callSite: 1, mixedSite: 2 },
    spanDataTable: [],
    ...extra,
  } as Request;
}

/** `SyntaxContext::root(Edition2021)`: MAX_ID (u32::MAX - 0xFF - 1) minus the edition. */
const ROOT_2021 = 0xffff_fefe - 2;
/** File 3, edition 2021 (bits 23..31). */
const FILE = 3 | (2 << 23);
const astId = (kind: number, index: number, hash: number) => (kind << 27) | (index << 16) | hash;
const ITEM = astId(2, 1, 0xbeef); // Struct
const OTHER = astId(12, 4, 0x1234); // Fn
const CALL = astId(13, 2, 0x0042); // MacroCall

/** Lexes `src` into tokens whose span ids index a rust-analyzer span table. */
export function raRequest(lib: string, macroName: string, input: string, args: string | null, extra: Partial<Request> = {}): Request {
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
    ...extra,
  } as Request;
}
