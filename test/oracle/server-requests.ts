// Request building shared by the proc-macro server differentials (json-legacy and postcard, Id and
// RustAnalyzer span modes): the conformance crates, their wasm modules, and ExpandMacro requests
// in either span mode.

import { mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "../../src/builder/build.js";
import { ProcMacroServerClient } from "../support/server-client.js";
import { decodeFlatTree, encodeFlatTree } from "../../src/server/flat.js";
import type { SubRequest, SubResponse } from "../../src/server/postcard.js";
import { encodeSpanDataTable, type Request, type Response, type SpanData } from "../../src/server/protocol.js";
import { isRootContext } from "../../src/server/ra-spans.js";
import type { TokenStream } from "../../src/tokens/model.js";
import { tokenStreamFromStr } from "../../src/tokens/parse.js";
import { forEachTree } from "../../src/tokens/walk.js";
import { crateKey, loadCorpus, type CorpusCase, type CrateRef } from "../corpus/expand/load.js";
import { compareStreams, splitNegativeLiterals } from "./compare.js";
import { oracleCacheDir } from "./native.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));

/** The crates the differential covers: serde_derive, thiserror-impl and the example crate. */
export const CONFORMANCE_CRATES = [
  { name: "serde_derive", version: "1.0.152" },
  { name: "thiserror-impl", version: "1.0.38" },
  { path: join(HERE, "../../examples/demo-macros") },
] as const;

/** Every crate of the expansion corpus (test/corpus/expand), once: the conformance crates and the real-world ones. */
export const CORPUS_CRATES: readonly CrateRef[] = [...new Map(loadCorpus().map((c) => [crateKey(c.crate), c.crate])).values()];

export function crateLabel(crate: CrateRef): string {
  return "path" in crate ? basename(crate.path) : crate.name;
}

/** The span-probe fixture (test/oracle/native/span-probe): macros asking every Span question. */
export const SPAN_PROBE = { path: join(HERE, "native/span-probe"), bootstrap: true } as const;

/** Its invocations: macro name and input (bang macros). */
export const SPAN_PROBE_CASES: readonly (readonly [string, string])[] = [
  ["probe", 'first (group, "lit")\n  \'life r#raw ident "top"\n  [x; 3] last'],
  ["probe", "{ one }"],
  ["probe", ""],
  ["quoted", "1, 2"],
  ["expanded", 'concat!("a", 1)'],
  ["expanded", '"plain"'],
  ["boom", ""],
  // The request's CARGO_PKG_NAME: the package env every macro sees, as natively.
  ["envs", ""],
];

/** Builds (once, cached) the crate's wasm module; returns its path. */
export async function conformanceWasm(crate: CrateRef): Promise<string> {
  const wasmPath = join(oracleCacheDir(), "conformance-wasm", `${crateKey(crate).replace(/[^A-Za-z0-9@._-]+/g, "_")}-server.wasm`);
  mkdirSync(dirname(wasmPath), { recursive: true });
  const built = await build({ crate: "path" in crate ? crate.path : `${crate.name}@${crate.version}`, output: wasmPath });
  return built.output;
}

/** An `Id`-mode ExpandMacro request: span ids are opaque (1 is the call site). */
export function idRequest(lib: string, macroName: string, body: TokenStream, attributes: TokenStream | null, extra: Partial<Request> = {}): Request {
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
export const ROOT_2021 = 0xffff_fefe - 2;
/** File 3, edition 2021 (bits 23..31). */
export const RA_FILE = 3 | (2 << 23);
const astId = (kind: number, index: number, hash: number) => (kind << 27) | (index << 16) | hash;
export const RA_ITEM = astId(2, 1, 0xbeef); // Struct
export const RA_OTHER = astId(12, 4, 0x1234); // Fn
export const RA_CALL = astId(13, 2, 0x0042); // MacroCall

/**
 * A `RustAnalyzer`-mode request: `input` (and `args`) lexed into tokens whose span ids index a
 * rust-analyzer span table of rust-analyzer's shape (editioned file id, hashed AST id,
 * anchor-relative ranges, root contexts), varied on purpose: part of the tokens hang on a second
 * anchor (joins across anchors fail), a few carry the fixup marker or a non-root context (join's
 * special cases). Throws when the input does not lex.
 */
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
    const anchor = i % 11 === 10 ? RA_OTHER : i % 17 === 16 ? 0 /* fixup marker */ : RA_ITEM;
    const ctx = i % 13 === 12 ? 0x2a : ROOT_2021;
    return add({ fileId: RA_FILE, astId: anchor, start: lo, end: hi, ctx });
  };
  const lex = (src: string): TokenStream => {
    const r = tokenStreamFromStr(src, span);
    if (!r.ok) throw new Error(r.error.message);
    return r.stream;
  };
  const body = lex(input);
  const attributes = args === null ? null : lex(args);
  const site = (ctx: number) => add({ fileId: RA_FILE, astId: RA_CALL, start: 0, end: 12, ctx });
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

/**
 * The conformance corpus's RustAnalyzer-mode requests for one crate: each case and macro it names,
 * with its request (inputs that do not lex are not protocol cases and are left out).
 */
export function corpusRaRequests(crate: CrateRef, dylib: string): Array<{ case: CorpusCase; name: string; req: Request }> {
  const out: Array<{ case: CorpusCase; name: string; req: Request }> = [];
  for (const c of loadCorpus().filter((c) => crateKey(c.crate) === crateKey(crate))) {
    for (const name of c.macros) {
      try {
        out.push({ case: c, name, req: raRequest(dylib, name, c.input, c.kind === "attr" ? (c.args ?? "") : null) });
      } catch {
        // does not lex
      }
    }
  }
  return out;
}

/** `--module` arguments of `macrobox-proc-macro-srv` mapping each crate's dylib name to its wasm module. */
export async function moduleArgs(crates: ReadonlyArray<CrateRef>): Promise<string[]> {
  const args: string[] = [];
  for (const crate of crates) {
    const name = "path" in crate ? basename(crate.path).replace(/-/g, "_") : crate.name.replace(/-/g, "_");
    args.push("--module", `${name}=${await conformanceWasm(crate)}`);
  }
  return args;
}

/**
 * `macrobox-proc-macro-srv` itself (from sources: src/cli/srv-run.ts), json-legacy, with the
 * crates' modules mapped and the expansion cache off: what the differentials compare against the
 * native server, the executable rust-analyzer runs (its worker thread, memo and stdout writes).
 */
export async function spawnMacroboxServer(crates: ReadonlyArray<CrateRef>): Promise<ProcMacroServerClient> {
  return new ProcMacroServerClient({
    command: process.execPath,
    args: ["--import", "tsx", join(HERE, "../../src/cli/srv-run.ts"), ...(await moduleArgs(crates))],
    env: { MACROBOX_EXPANSION_CACHE: "off" },
  });
}

/** Every span id of a stream in order: a group's open and close, then its contents. */
export function spanIds(stream: TokenStream): number[] {
  const out: number[] = [];
  forEachTree(stream, (t) => {
    if (t.type === "group") out.push(t.span.open, t.span.close);
    else out.push(t.span);
  });
  return out;
}

/**
 * The client's side of the span questions: one source file (id 3) whose text is the request's
 * input; every anchor starts at a fixed offset of it. Answers depend only on the question.
 */
export function spanWorld(text: string): (sub: SubRequest) => SubResponse {
  const base = (astId: number) => (astId === RA_ITEM ? 0 : astId === RA_OTHER ? 2 : astId === RA_CALL ? 1 : 3);
  const file = (fileId: number) => `/ws/src/file${fileId & 0x7f_ffff}.rs`;
  return (sub) => {
    switch (sub.type) {
      case "FilePath":
        return { type: "FilePathResult", name: file(sub.fileId) };
      case "LocalFilePath":
        return { type: "LocalFilePathResult", name: sub.fileId === (RA_FILE & 0x7f_ffff) ? file(sub.fileId) : null };
      case "SourceText": {
        const lo = base(sub.astId) + sub.start;
        const hi = base(sub.astId) + sub.end;
        return { type: "SourceTextResult", text: hi <= text.length && lo <= hi ? text.slice(lo, hi) : null };
      }
      case "LineColumn": {
        const before = text.slice(0, base(sub.astId) + sub.offset).split("\n");
        return { type: "LineColumnResult", line: before.length, column: before[before.length - 1].length + 1 };
      }
      case "ByteRange":
        return { type: "ByteRangeResult", start: base(sub.astId) + sub.start, end: base(sub.astId) + sub.end };
      case "SpanSource":
        // A span from a macro's expansion comes from the call; a root span is its own source.
        return isRootContext(sub.ctx)
          ? { type: "SpanSourceResult", fileId: sub.fileId, astId: sub.astId, start: sub.start, end: sub.end, ctx: sub.ctx }
          : { type: "SpanSourceResult", fileId: RA_FILE, astId: RA_CALL, start: 0, end: 12, ctx: ROOT_2021 };
      case "SpanParent":
        return {
          type: "SpanParentResult",
          parentSpan: isRootContext(sub.ctx) ? null : { fileId: RA_FILE, astId: RA_CALL, start: 1, end: 5, ctx: ROOT_2021 },
        };
    }
  };
}

/**
 * Whether two expansion responses differ only in negative number literals the macro made: one
 * literal (`-5i64`) in rust-analyzer's server, `-` and `5i64` on the literal's span in ours, as in
 * rustc (our reference for what a stream holds): same trees once split, same span ids and tables.
 */
export function sameOnceSplit(native: Response, ours: Response): boolean {
  const parts = (r: Response) =>
    r.type === "ExpandMacro" && r.result.ok
      ? { tree: r.result.value, table: [] as readonly unknown[] }
      : r.type === "ExpandMacroExtended" && r.result.ok
        ? { tree: r.result.value.tree, table: r.result.value.spanDataTable }
        : null;
  const a = parts(native);
  const b = parts(ours);
  if (a === null || b === null || native.type !== ours.type || JSON.stringify(a.table) !== JSON.stringify(b.table)) return false;
  const theirs = decodeFlatTree(a.tree);
  const split = splitNegativeLiterals(theirs);
  if (JSON.stringify(split) === JSON.stringify(theirs)) return false; // no negative literal: a real difference
  const mine = decodeFlatTree(b.tree);
  return compareStreams(mine, split) === null && JSON.stringify(spanIds(mine)) === JSON.stringify(spanIds(split));
}
