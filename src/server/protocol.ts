// rust-analyzer's proc-macro-srv protocol ("json-legacy"), as rustc 1.96's
// rust-analyzer-proc-macro-srv speaks it by default.
//
// Source of truth: src/tools/rust-analyzer/crates/proc-macro-api/src/legacy_protocol/msg.rs and
// proc-macro-srv-cli/src/main_loop.rs. Framing: one JSON value per line, in both directions.
// The client (rust-analyzer) sends `ApiVersionCheck`, then (server version >= 4) `SetConfig` asking
// for span mode `RustAnalyzer` and adopts whatever mode the reply names; then `ListMacros` and
// `ExpandMacro`. Wire shapes are serde's externally tagged enums:
//   {"ApiVersionCheck":{}}                      -> {"ApiVersionCheck":6}
//   {"SetConfig":{"span_mode":"Id"}}            -> {"SetConfig":{"span_mode":"Id"}}
//   {"ListMacros":{"dylib_path":"/x.so"}}       -> {"ListMacros":{"Ok":[["Serialize","CustomDerive"]]}}
//   {"ExpandMacro":{"lib":..,"env":[[k,v]],"current_dir":null,"macro_body":FlatTree,"macro_name":"S",
//     "attributes":null,"has_global_spans":{"def_site":0,"call_site":0,"mixed_site":0}}}
//                                               -> {"ExpandMacro":{"Ok":FlatTree}} | {"ExpandMacro":{"Err":"panic"}}
// In `RustAnalyzer` span mode the expansion request carries `span_data_table` and the reply is
// `ExpandMacroExtended` ({"tree":FlatTree,"span_data_table":[..]}); span ids index that table.
//
// The codec is symmetric (requests and responses both encode and decode) so the same module
// serves a client (the native oracle) and a server (macrobox answering rust-analyzer).
// Browser-safe: no Node APIs here.

import { assertFlatTree, CURRENT_API_VERSION, isU32, type FlatTree } from "./flat.js";
import { MacroboxError } from "../errors.js";
import type { MacroInfo as ModuleMacroInfo, MacroKind } from "../wasm/decls.js";

export type SpanMode = "Id" | "RustAnalyzer";

/** Our names for proc-macro kinds (src/wasm/decls.ts); on the wire: CustomDerive, Attr, FuncLike (alias Bang). */
export type { MacroKind };

export interface ExpnGlobals {
  defSite: number;
  callSite: number;
  mixedSite: number;
}

export interface ExpandMacroRequest {
  type: "ExpandMacro";
  /** Path of the proc-macro dylib (for macrobox: whatever names the macro module). */
  lib: string;
  env: [string, string][];
  currentDir: string | null;
  macroBody: FlatTree;
  /** Derive: the trait name; attribute and function-like macros: the macro's own name. */
  macroName: string;
  /** The attribute's arguments, for attribute macros only. */
  attributes: FlatTree | null;
  /** Span ids of def_site/call_site/mixed_site; sent from version 3 (HAS_GLOBAL_SPANS) on. */
  globals: ExpnGlobals | null;
  /** RustAnalyzer span mode only: 5 u32 per span (see decodeSpanDataTable). */
  spanDataTable: number[];
}

export type Request = { type: "ApiVersionCheck" } | { type: "ListMacros"; dylibPath: string } | ExpandMacroRequest | { type: "SetConfig"; spanMode: SpanMode };

export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

/** What the protocol says of a macro: no helper attributes (rust-analyzer reads those from the source). */
export type MacroInfo = Pick<ModuleMacroInfo, "name" | "kind">;

export type Response =
  | { type: "ApiVersionCheck"; version: number }
  | { type: "ListMacros"; result: Result<MacroInfo[], string> }
  /** The error is the panic message of the macro (or of the server). */
  | { type: "ExpandMacro"; result: Result<FlatTree, string> }
  | { type: "SetConfig"; spanMode: SpanMode }
  | { type: "ExpandMacroExtended"; result: Result<{ tree: FlatTree; spanDataTable: number[] }, string> };

export class ProtocolError extends MacroboxError {
  override name = "ProtocolError";
  constructor(message: string) {
    super("protocol", `proc-macro protocol: ${message}`);
  }
}

export { CURRENT_API_VERSION };

// ---- JSON <-> messages ----

const KIND_TO_WIRE: Record<MacroKind, string> = { derive: "CustomDerive", attr: "Attr", bang: "FuncLike" };
const WIRE_TO_KIND: Record<string, MacroKind> = { CustomDerive: "derive", Attr: "attr", FuncLike: "bang", Bang: "bang" };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function resultToWire<T>(result: Result<T, string>, value: (v: T) => Json): Json {
  return result.ok ? { Ok: value(result.value) } : { Err: result.error };
}

/** The request as the JSON value serde writes. */
export function requestToJson(req: Request): Json {
  switch (req.type) {
    case "ApiVersionCheck":
      return { ApiVersionCheck: {} };
    case "ListMacros":
      return { ListMacros: { dylib_path: req.dylibPath } };
    case "SetConfig":
      return { SetConfig: { span_mode: req.spanMode } };
    case "ExpandMacro": {
      const body: { [key: string]: Json } = {
        lib: req.lib,
        env: req.env,
        current_dir: req.currentDir,
        macro_body: req.macroBody as unknown as Json,
        macro_name: req.macroName,
        attributes: req.attributes as unknown as Json,
      };
      // serde skips these when unset (`skip_serializing_if`), so absent and default are the same.
      if (req.globals !== null) {
        body.has_global_spans = { def_site: req.globals.defSite, call_site: req.globals.callSite, mixed_site: req.globals.mixedSite };
      }
      if (req.spanDataTable.length > 0) body.span_data_table = req.spanDataTable;
      return { ExpandMacro: body };
    }
  }
}

/** The response as the JSON value serde writes. */
export function responseToJson(res: Response): Json {
  switch (res.type) {
    case "ApiVersionCheck":
      return { ApiVersionCheck: res.version };
    case "SetConfig":
      return { SetConfig: { span_mode: res.spanMode } };
    case "ListMacros":
      return { ListMacros: resultToWire(res.result, (ms) => ms.map((m) => [m.name, KIND_TO_WIRE[m.kind]])) };
    case "ExpandMacro":
      return { ExpandMacro: resultToWire(res.result, (tree) => tree as unknown as Json) };
    case "ExpandMacroExtended":
      return {
        ExpandMacroExtended: resultToWire(res.result, (v) => ({ tree: v.tree as unknown as Json, span_data_table: v.spanDataTable })),
      };
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Splits serde's externally tagged enum `{"Variant": payload}`. */
function variant(value: unknown, what: string): [string, unknown] {
  if (!isObject(value)) throw new ProtocolError(`${what} must be a JSON object`);
  const keys = Object.keys(value);
  if (keys.length !== 1) throw new ProtocolError(`${what} must have exactly one variant key, got ${JSON.stringify(keys)}`);
  return [keys[0], value[keys[0]]];
}

function str(value: unknown, what: string): string {
  if (typeof value !== "string") throw new ProtocolError(`${what} must be a string`);
  return value;
}

function u32(value: unknown, what: string): number {
  if (!isU32(value)) {
    throw new ProtocolError(`${what} must be a u32`);
  }
  return value;
}

function flatTree(value: unknown, what: string): FlatTree {
  try {
    assertFlatTree(value);
  } catch (e) {
    throw new ProtocolError(`${what}: ${(e as Error).message}`);
  }
  return value;
}

function u32Array(value: unknown, what: string): number[] {
  if (value === undefined) return []; // `#[serde(default)]`
  if (!Array.isArray(value)) throw new ProtocolError(`${what} must be an array`);
  // The entry's name is built only for the error: a span data table has thousands of entries.
  const out = new Array<number>(value.length);
  for (let i = 0; i < value.length; i++) {
    const x: unknown = value[i];
    out[i] = isU32(x) ? x : u32(x, `${what}[${i}]`);
  }
  return out;
}

function spanMode(value: unknown): SpanMode {
  // ServerConfig is `#[serde(default)]`: a missing span_mode means Id.
  const mode = isObject(value) ? (value.span_mode ?? "Id") : undefined;
  if (mode !== "Id" && mode !== "RustAnalyzer") throw new ProtocolError(`bad span_mode ${JSON.stringify(mode)}`);
  return mode;
}

function resultFromWire<T>(value: unknown, what: string, ok: (v: unknown) => T): Result<T, string> {
  const [tag, payload] = variant(value, what);
  if (tag === "Ok") return { ok: true, value: ok(payload) };
  if (tag === "Err") return { ok: false, error: str(payload, `${what}.Err`) };
  throw new ProtocolError(`${what} must be Ok or Err, got ${tag}`);
}

/** Reads a request from its parsed JSON value. */
export function requestFromJson(value: unknown): Request {
  const [tag, p] = variant(value, "request");
  switch (tag) {
    case "ApiVersionCheck":
      return { type: "ApiVersionCheck" };
    case "ListMacros":
      if (!isObject(p)) throw new ProtocolError("ListMacros payload must be an object");
      return { type: "ListMacros", dylibPath: str(p.dylib_path, "ListMacros.dylib_path") };
    case "SetConfig":
      return { type: "SetConfig", spanMode: spanMode(p) };
    case "ExpandMacro": {
      if (!isObject(p)) throw new ProtocolError("ExpandMacro payload must be an object");
      if (!Array.isArray(p.env)) throw new ProtocolError("ExpandMacro.env must be an array");
      const env = p.env.map((pair, i): [string, string] => {
        if (!Array.isArray(pair) || pair.length !== 2) throw new ProtocolError(`ExpandMacro.env[${i}] must be a [key, value] pair`);
        return [str(pair[0], `ExpandMacro.env[${i}][0]`), str(pair[1], `ExpandMacro.env[${i}][1]`)];
      });
      let globals: ExpnGlobals | null = null;
      if (p.has_global_spans !== undefined) {
        const g = p.has_global_spans;
        if (!isObject(g)) throw new ProtocolError("ExpandMacro.has_global_spans must be an object");
        globals = {
          defSite: u32(g.def_site, "def_site"),
          callSite: u32(g.call_site, "call_site"),
          mixedSite: u32(g.mixed_site, "mixed_site"),
        };
      }
      return {
        type: "ExpandMacro",
        lib: str(p.lib, "ExpandMacro.lib"),
        env,
        currentDir: p.current_dir === null || p.current_dir === undefined ? null : str(p.current_dir, "ExpandMacro.current_dir"),
        macroBody: flatTree(p.macro_body, "ExpandMacro.macro_body"),
        macroName: str(p.macro_name, "ExpandMacro.macro_name"),
        attributes: p.attributes === null || p.attributes === undefined ? null : flatTree(p.attributes, "ExpandMacro.attributes"),
        globals,
        spanDataTable: u32Array(p.span_data_table, "ExpandMacro.span_data_table"),
      };
    }
    default:
      throw new ProtocolError(`unknown request ${JSON.stringify(tag)}`);
  }
}

/** Reads a response from its parsed JSON value. */
export function responseFromJson(value: unknown): Response {
  const [tag, p] = variant(value, "response");
  switch (tag) {
    case "ApiVersionCheck":
      return { type: "ApiVersionCheck", version: u32(p, "ApiVersionCheck") };
    case "SetConfig":
      return { type: "SetConfig", spanMode: spanMode(p) };
    case "ListMacros":
      return {
        type: "ListMacros",
        result: resultFromWire(p, "ListMacros", (list) => {
          if (!Array.isArray(list)) throw new ProtocolError("ListMacros.Ok must be an array");
          return list.map((entry, i): MacroInfo => {
            if (!Array.isArray(entry) || entry.length !== 2) throw new ProtocolError(`ListMacros.Ok[${i}] must be a [name, kind] pair`);
            const kind = WIRE_TO_KIND[str(entry[1], `ListMacros.Ok[${i}][1]`)];
            if (kind === undefined) throw new ProtocolError(`ListMacros.Ok[${i}] has unknown kind ${JSON.stringify(entry[1])}`);
            return { name: str(entry[0], `ListMacros.Ok[${i}][0]`), kind };
          });
        }),
      };
    case "ExpandMacro":
      return { type: "ExpandMacro", result: resultFromWire(p, "ExpandMacro", (tree) => flatTree(tree, "ExpandMacro.Ok")) };
    case "ExpandMacroExtended":
      return {
        type: "ExpandMacroExtended",
        result: resultFromWire(p, "ExpandMacroExtended", (v) => {
          if (!isObject(v)) throw new ProtocolError("ExpandMacroExtended.Ok must be an object");
          return { tree: flatTree(v.tree, "ExpandMacroExtended.Ok.tree"), spanDataTable: u32Array(v.span_data_table, "span_data_table") };
        }),
      };
    default:
      throw new ProtocolError(`unknown response ${JSON.stringify(tag)}`);
  }
}

// ---- framing: newline-delimited JSON ----

/** One message as a line, newline included. */
export function encodeRequestLine(req: Request): string {
  return JSON.stringify(requestToJson(req)) + "\n";
}

export function encodeResponseLine(res: Response): string {
  return JSON.stringify(responseToJson(res)) + "\n";
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (e) {
    throw new ProtocolError(`bad JSON line: ${(e as Error).message}`);
  }
}

export function decodeRequestLine(line: string): Request {
  return requestFromJson(parseLine(line));
}

export function decodeResponseLine(line: string): Response {
  return responseFromJson(parseLine(line));
}

/**
 * Splits an incoming character stream into message lines. Like rust-analyzer's reader, lines that
 * do not start with `{` are not messages (macros that print to stdout corrupt the channel with
 * them) and are handed to `onNoise` instead; an empty line means end of input to the Rust side,
 * so it is reported as noise too rather than as a message.
 */
export class LineFramer {
  private pending = "";
  /** Dropping the rest of a line that grew past `maxLength`. */
  private dropping = false;
  private dropped = 0;

  constructor(
    private readonly onNoise: (line: string) => void = () => {},
    private readonly options: { maxLength?: number; onOversized?: (length: number) => void } = {},
  ) {}

  /** Feeds a chunk; returns the complete message lines it finished. */
  push(chunk: string): string[] {
    const lines: string[] = [];
    const max = this.options.maxLength ?? Infinity;
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", from);
      const piece = chunk.slice(from, nl < 0 ? chunk.length : nl);
      if (this.dropping) this.dropped += piece.length;
      else if (this.pending.length + piece.length > max) {
        this.dropping = true;
        this.dropped = this.pending.length + piece.length;
        this.pending = "";
      } else this.pending += piece;
      if (nl < 0) break;
      from = nl + 1;
      if (this.dropping) {
        this.options.onOversized?.(this.dropped);
        this.dropping = false;
        this.dropped = 0;
        continue;
      }
      let line = this.pending;
      this.pending = "";
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line.startsWith("{")) lines.push(line);
      else this.onNoise(line);
    }
    return lines;
  }

  /** Whatever came after the last newline. */
  get rest(): string {
    return this.pending;
  }
}

// ---- RustAnalyzer span mode: the span data table ----

/** rust-analyzer's `span::Span` as the protocol flattens it. */
export interface SpanData {
  /** EditionedFileId as u32 (file index and edition packed). */
  fileId: number;
  /** ErasedFileAstId raw value (hashed since version 6). */
  astId: number;
  start: number;
  end: number;
  /** SyntaxContext as u32. */
  ctx: number;
}

export function decodeSpanDataTable(table: number[]): SpanData[] {
  if (table.length % 5 !== 0) throw new ProtocolError(`span data table length ${table.length} is not a multiple of 5`);
  const spans: SpanData[] = [];
  for (let i = 0; i < table.length; i += 5) {
    spans.push({ fileId: table[i], astId: table[i + 1], start: table[i + 2], end: table[i + 3], ctx: table[i + 4] });
  }
  return spans;
}

export function encodeSpanDataTable(spans: SpanData[]): number[] {
  const out = new Array<number>(spans.length * 5);
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    out[i * 5] = s.fileId;
    out[i * 5 + 1] = s.astId;
    out[i * 5 + 2] = s.start;
    out[i * 5 + 3] = s.end;
    out[i * 5 + 4] = s.ctx;
  }
  return out;
}

export { KIND_TO_WIRE as MACRO_KIND_TO_WIRE };
