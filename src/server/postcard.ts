// rust-analyzer's second proc-macro protocol format, "bidirectional-postcard-prototype"
// (proc-macro-api/src/bidirectional_protocol/msg.rs and transport/postcard.rs of rustc 1.96):
// serde's postcard encoding of `BidirectionalMessage`, each message COBS-encoded and ended by a
// 0x00 byte. rust-analyzer uses it only when RUST_ANALYZER_USE_POSTCARD is set (and passes
// `--format bidirectional-postcard-prototype`); JSON lines stay the default. Unlike the JSON
// protocol, the server may interleave sub-requests (file names, source text, line/column...)
// while it expands, which the client answers with sub-responses.
//
// postcard: unsigned integers and lengths are LEB128 varints (usize as u64), strings are a length
// then UTF-8, Option is a 0/1 byte, enums are a varint variant index, structs and tuples are their
// fields in order, Result is the enum Ok = 0, Err = 1.
//
// Browser-safe: no Node APIs here.

import type { FlatTree } from "./flat.js";
import { WasmReader, WasmWriter, WasmFormatError } from "../wasm/binary.js";
import { ProtocolError, type ExpandMacroRequest, type MacroInfo, type MacroKind, type Request, type Response, type Result, type SpanMode } from "./protocol.js";

export type SubRequest =
  | { type: "FilePath"; fileId: number }
  | { type: "SourceText"; fileId: number; astId: number; start: number; end: number }
  | { type: "LocalFilePath"; fileId: number }
  | { type: "LineColumn"; fileId: number; astId: number; offset: number }
  | { type: "ByteRange"; fileId: number; astId: number; start: number; end: number }
  | { type: "SpanSource"; fileId: number; astId: number; start: number; end: number; ctx: number }
  | { type: "SpanParent"; fileId: number; astId: number; start: number; end: number; ctx: number };

export interface ParentSpan {
  fileId: number;
  astId: number;
  start: number;
  end: number;
  ctx: number;
}

export type SubResponse =
  | { type: "FilePathResult"; name: string }
  | { type: "SourceTextResult"; text: string | null }
  | { type: "LocalFilePathResult"; name: string | null }
  /** 1-based. */
  | { type: "LineColumnResult"; line: number; column: number }
  | { type: "ByteRangeResult"; start: number; end: number }
  | { type: "SpanSourceResult"; fileId: number; astId: number; start: number; end: number; ctx: number }
  | { type: "SpanParentResult"; parentSpan: ParentSpan | null }
  | { type: "Cancel"; reason: string };

export type BidirectionalMessage =
  | { type: "Request"; request: Request }
  | { type: "Response"; response: Response }
  | { type: "SubRequest"; subRequest: SubRequest }
  | { type: "SubResponse"; subResponse: SubResponse };

// ---- postcard primitives ----

// Varints are LEB128, so the bytes and varints are wasm/binary's reader and writer; what is
// postcard's own is the range checks and the messages.

class Writer {
  private readonly w = new WasmWriter();
  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new ProtocolError(`postcard: ${n} is not an unsigned integer`);
    this.w.u64(n);
  }
  u32(n: number): void {
    if (n > 0xffff_ffff) throw new ProtocolError(`postcard: ${n} does not fit a u32`);
    this.varint(n);
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.varint(b.length);
    this.w.bytes(b);
  }
  option<T>(v: T | null, f: (v: T) => void): void {
    if (v === null) this.w.u8(0);
    else {
      this.w.u8(1);
      f(v);
    }
  }
  vec<T>(xs: readonly T[], f: (x: T) => void): void {
    this.varint(xs.length);
    for (const x of xs) f(x);
  }
  done(): Uint8Array {
    return this.w.finish();
  }
}

class Reader {
  private readonly r: WasmReader;
  constructor(bytes: Uint8Array) {
    this.r = new WasmReader(bytes);
  }
  private fail(what: string): never {
    throw new ProtocolError(`postcard: ${what} at byte ${this.r.pos}`);
  }
  byte(): number {
    if (this.r.atEnd) this.fail("unexpected end of message");
    return this.r.u8();
  }
  varint(max = Number.MAX_SAFE_INTEGER): number {
    let n: number;
    try {
      n = this.r.u64(); // at most 10 bytes, like postcard's u64
    } catch (e) {
      if (!(e instanceof WasmFormatError)) throw e;
      this.fail(this.r.atEnd ? "unexpected end of message" : "varint too long");
    }
    if (n > max) this.fail(`integer ${n} out of range`);
    return n;
  }
  u32(): number {
    return this.varint(0xffff_ffff);
  }
  variant(names: readonly string[], what: string): string {
    const i = this.u32();
    const name = names[i];
    if (name === undefined) this.fail(`unknown ${what} variant ${i}`);
    return name;
  }
  str(): string {
    const n = this.varint();
    if (n > this.r.end - this.r.pos) this.fail("string runs past the end");
    const s = this.r.take(n);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(s);
    } catch {
      this.fail("string is not UTF-8");
    }
  }
  option<T>(f: () => T): T | null {
    const tag = this.byte();
    if (tag === 0) return null;
    if (tag === 1) return f();
    this.fail(`bad Option tag ${tag}`);
  }
  vec<T>(f: () => T): T[] {
    const n = this.varint();
    if (n > this.r.end - this.r.pos) this.fail(`sequence length ${n} exceeds the message`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(f());
    return out;
  }
  end(): void {
    if (!this.r.atEnd) this.fail(`${this.r.end - this.r.pos} trailing bytes`);
  }
}

// ---- COBS framing ----

/** COBS-encodes `data` and appends the 0x00 frame end, as postcard's `to_allocvec_cobs`. */
export function cobsEncode(data: Uint8Array): Uint8Array {
  const out: number[] = [0];
  let codeAt = 0;
  let code = 1;
  for (const b of data) {
    if (b === 0) {
      out[codeAt] = code;
      codeAt = out.length;
      out.push(0);
      code = 1;
    } else {
      out.push(b);
      code++;
      if (code === 0xff) {
        out[codeAt] = code;
        codeAt = out.length;
        out.push(0);
        code = 1;
      }
    }
  }
  out[codeAt] = code;
  out.push(0);
  return Uint8Array.from(out);
}

/** Decodes one COBS frame (with or without its 0x00 end). */
export function cobsDecode(frame: Uint8Array): Uint8Array {
  const end = frame.indexOf(0) < 0 ? frame.length : frame.indexOf(0);
  const out: number[] = [];
  let i = 0;
  while (i < end) {
    const code = frame[i++];
    if (i + code - 1 > end) throw new ProtocolError("COBS: block runs past the frame end");
    for (let j = 1; j < code; j++) out.push(frame[i++]);
    if (code < 0xff && i < end) out.push(0);
  }
  return Uint8Array.from(out);
}

/**
 * Splits incoming bytes into COBS frames (each without its 0x00). A frame growing past `maxBytes`
 * is dropped, up to its terminating 0x00, and reported to `onOversized` (the server answers it with
 * an error instead of holding it in memory).
 */
export class FrameSplitter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private dropping = false;

  constructor(private readonly options: { maxBytes?: number; onOversized?: (bytes: number) => void } = {}) {}

  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    const max = this.options.maxBytes ?? Infinity;
    let from = 0;
    while (from <= chunk.length) {
      const zero = chunk.indexOf(0, from);
      const end = zero < 0 ? chunk.length : zero;
      if (!this.dropping && end > from) {
        this.pending.push(chunk.subarray(from, end));
        this.pendingBytes += end - from;
        if (this.pendingBytes > max) {
          this.dropping = true;
          this.pending = [];
        }
      } else if (this.dropping) this.pendingBytes += end - from;
      if (zero < 0) break;
      if (this.dropping) this.options.onOversized?.(this.pendingBytes);
      else {
        const frame = new Uint8Array(this.pendingBytes);
        let at = 0;
        for (const piece of this.pending) {
          frame.set(piece, at);
          at += piece.length;
        }
        frames.push(frame);
      }
      this.pending = [];
      this.pendingBytes = 0;
      this.dropping = false;
      from = zero + 1;
    }
    return frames;
  }
}

// ---- messages ----

const MESSAGE = ["Request", "Response", "SubRequest", "SubResponse"] as const;
const REQUEST = ["ListMacros", "ExpandMacro", "ApiVersionCheck", "SetConfig"] as const;
const RESPONSE = ["ListMacros", "ExpandMacro", "ApiVersionCheck", "SetConfig", "ExpandMacroExtended"] as const;
const KIND: readonly MacroKind[] = ["derive", "attr", "bang"]; // CustomDerive, Attr, Bang
const SPAN_MODE: readonly SpanMode[] = ["Id", "RustAnalyzer"];
const SUB_REQUEST = ["FilePath", "SourceText", "LocalFilePath", "LineColumn", "ByteRange", "SpanSource", "SpanParent"] as const;
const SUB_RESPONSE = [
  "FilePathResult",
  "SourceTextResult",
  "LocalFilePathResult",
  "LineColumnResult",
  "ByteRangeResult",
  "SpanSourceResult",
  "SpanParentResult",
  "Cancel",
] as const;

function writeFlatTree(w: Writer, t: FlatTree): void {
  for (const xs of [t.subtree, t.literal, t.punct, t.ident, t.token_tree]) w.vec(xs, (x) => w.u32(x));
  w.vec(t.text, (s) => w.str(s));
}

function readFlatTree(r: Reader): FlatTree {
  const u32s = () => r.vec(() => r.u32());
  return { subtree: u32s(), literal: u32s(), punct: u32s(), ident: u32s(), token_tree: u32s(), text: r.vec(() => r.str()) };
}

function writeResult<T>(w: Writer, res: Result<T, string>, ok: (v: T) => void): void {
  if (res.ok) {
    w.varint(0);
    ok(res.value);
  } else {
    w.varint(1);
    w.str(res.error);
  }
}

function readResult<T>(r: Reader, ok: () => T): Result<T, string> {
  return r.variant(["Ok", "Err"], "Result") === "Ok" ? { ok: true, value: ok() } : { ok: false, error: r.str() };
}

function writeRequest(w: Writer, req: Request): void {
  w.varint(REQUEST.indexOf(req.type));
  switch (req.type) {
    case "ListMacros":
      w.str(req.dylibPath);
      return;
    case "ApiVersionCheck":
      return;
    case "SetConfig":
      w.varint(SPAN_MODE.indexOf(req.spanMode));
      return;
    case "ExpandMacro": {
      w.str(req.lib);
      w.vec(req.env, ([k, v]) => {
        w.str(k);
        w.str(v);
      });
      w.option(req.currentDir, (d) => w.str(d));
      writeFlatTree(w, req.macroBody);
      w.str(req.macroName);
      w.option(req.attributes, (t) => writeFlatTree(w, t));
      const g = req.globals ?? { defSite: 0, callSite: 0, mixedSite: 0 };
      w.varint(g.defSite);
      w.varint(g.callSite);
      w.varint(g.mixedSite);
      w.vec(req.spanDataTable, (x) => w.u32(x));
    }
  }
}

function readRequest(r: Reader): Request {
  switch (r.variant(REQUEST, "Request")) {
    case "ListMacros":
      return { type: "ListMacros", dylibPath: r.str() };
    case "ApiVersionCheck":
      return { type: "ApiVersionCheck" };
    case "SetConfig":
      return { type: "SetConfig", spanMode: r.variant(SPAN_MODE, "SpanMode") as SpanMode };
    default: {
      const lib = r.str();
      const env = r.vec((): [string, string] => [r.str(), r.str()]);
      const currentDir = r.option(() => r.str());
      const macroBody = readFlatTree(r);
      const macroName = r.str();
      const attributes = r.option(() => readFlatTree(r));
      const globals = { defSite: r.varint(), callSite: r.varint(), mixedSite: r.varint() };
      const spanDataTable = r.vec(() => r.u32());
      const req: ExpandMacroRequest = { type: "ExpandMacro", lib, env, currentDir, macroBody, macroName, attributes, globals, spanDataTable };
      return req;
    }
  }
}

function writeResponse(w: Writer, res: Response): void {
  w.varint(RESPONSE.indexOf(res.type));
  switch (res.type) {
    case "ListMacros":
      writeResult(w, res.result, (ms) =>
        w.vec(ms, (m) => {
          w.str(m.name);
          w.varint(KIND.indexOf(m.kind));
        }),
      );
      return;
    case "ExpandMacro":
      writeResult(w, res.result, (t) => writeFlatTree(w, t));
      return;
    case "ApiVersionCheck":
      w.u32(res.version);
      return;
    case "SetConfig":
      w.varint(SPAN_MODE.indexOf(res.spanMode));
      return;
    case "ExpandMacroExtended":
      writeResult(w, res.result, (v) => {
        writeFlatTree(w, v.tree);
        w.vec(v.spanDataTable, (x) => w.u32(x));
      });
  }
}

function readResponse(r: Reader): Response {
  switch (r.variant(RESPONSE, "Response")) {
    case "ListMacros":
      return {
        type: "ListMacros",
        result: readResult(r, () => r.vec((): MacroInfo => ({ name: r.str(), kind: r.variant(KIND, "ProcMacroKind") as MacroKind }))),
      };
    case "ExpandMacro":
      return { type: "ExpandMacro", result: readResult(r, () => readFlatTree(r)) };
    case "ApiVersionCheck":
      return { type: "ApiVersionCheck", version: r.u32() };
    case "SetConfig":
      return { type: "SetConfig", spanMode: r.variant(SPAN_MODE, "SpanMode") as SpanMode };
    default:
      return { type: "ExpandMacroExtended", result: readResult(r, () => ({ tree: readFlatTree(r), spanDataTable: r.vec(() => r.u32()) })) };
  }
}

const SUB_REQUEST_FIELDS: Record<SubRequest["type"], readonly string[]> = {
  FilePath: ["fileId"],
  SourceText: ["fileId", "astId", "start", "end"],
  LocalFilePath: ["fileId"],
  LineColumn: ["fileId", "astId", "offset"],
  ByteRange: ["fileId", "astId", "start", "end"],
  SpanSource: ["fileId", "astId", "start", "end", "ctx"],
  SpanParent: ["fileId", "astId", "start", "end", "ctx"],
};
const SPAN_FIELDS = ["fileId", "astId", "start", "end", "ctx"] as const;

function writeSubRequest(w: Writer, req: SubRequest): void {
  w.varint(SUB_REQUEST.indexOf(req.type));
  for (const f of SUB_REQUEST_FIELDS[req.type]) w.u32((req as unknown as Record<string, number>)[f]);
}

function readSubRequest(r: Reader): SubRequest {
  const type = r.variant(SUB_REQUEST, "SubRequest") as SubRequest["type"];
  const out: Record<string, unknown> = { type };
  for (const f of SUB_REQUEST_FIELDS[type]) out[f] = r.u32();
  return out as unknown as SubRequest;
}

function writeSubResponse(w: Writer, res: SubResponse): void {
  w.varint(SUB_RESPONSE.indexOf(res.type));
  switch (res.type) {
    case "FilePathResult":
      w.str(res.name);
      return;
    case "SourceTextResult":
      w.option(res.text, (t) => w.str(t));
      return;
    case "LocalFilePathResult":
      w.option(res.name, (t) => w.str(t));
      return;
    case "LineColumnResult":
      w.u32(res.line);
      w.u32(res.column);
      return;
    case "ByteRangeResult":
      w.varint(res.start);
      w.varint(res.end);
      return;
    case "SpanSourceResult":
      for (const f of SPAN_FIELDS) w.u32(res[f]);
      return;
    case "SpanParentResult":
      w.option(res.parentSpan, (p) => {
        for (const f of SPAN_FIELDS) w.u32(p[f]);
      });
      return;
    case "Cancel":
      w.str(res.reason);
  }
}

function readSpan(r: Reader): ParentSpan {
  return { fileId: r.u32(), astId: r.u32(), start: r.u32(), end: r.u32(), ctx: r.u32() };
}

function readSubResponse(r: Reader): SubResponse {
  switch (r.variant(SUB_RESPONSE, "SubResponse")) {
    case "FilePathResult":
      return { type: "FilePathResult", name: r.str() };
    case "SourceTextResult":
      return { type: "SourceTextResult", text: r.option(() => r.str()) };
    case "LocalFilePathResult":
      return { type: "LocalFilePathResult", name: r.option(() => r.str()) };
    case "LineColumnResult":
      return { type: "LineColumnResult", line: r.u32(), column: r.u32() };
    case "ByteRangeResult":
      return { type: "ByteRangeResult", start: r.varint(), end: r.varint() };
    case "SpanSourceResult":
      return { type: "SpanSourceResult", ...readSpan(r) };
    case "SpanParentResult":
      return { type: "SpanParentResult", parentSpan: r.option(() => readSpan(r)) };
    default:
      return { type: "Cancel", reason: r.str() };
  }
}

/** A message's postcard bytes (not yet COBS-framed). */
export function encodeBidirectional(msg: BidirectionalMessage): Uint8Array {
  const w = new Writer();
  w.varint(MESSAGE.indexOf(msg.type));
  switch (msg.type) {
    case "Request":
      writeRequest(w, msg.request);
      break;
    case "Response":
      writeResponse(w, msg.response);
      break;
    case "SubRequest":
      writeSubRequest(w, msg.subRequest);
      break;
    case "SubResponse":
      writeSubResponse(w, msg.subResponse);
      break;
  }
  return w.done();
}

export function decodeBidirectional(bytes: Uint8Array): BidirectionalMessage {
  const r = new Reader(bytes);
  let msg: BidirectionalMessage;
  switch (r.variant(MESSAGE, "BidirectionalMessage")) {
    case "Request":
      msg = { type: "Request", request: readRequest(r) };
      break;
    case "Response":
      msg = { type: "Response", response: readResponse(r) };
      break;
    case "SubRequest":
      msg = { type: "SubRequest", subRequest: readSubRequest(r) };
      break;
    default:
      msg = { type: "SubResponse", subResponse: readSubResponse(r) };
  }
  r.end();
  return msg;
}

/** A message as it goes on the wire: postcard, COBS, 0x00. */
export function encodeBidirectionalFrame(msg: BidirectionalMessage): Uint8Array {
  return cobsEncode(encodeBidirectional(msg));
}

/** One wire frame (with or without its 0x00) back to a message. */
export function decodeBidirectionalFrame(frame: Uint8Array): BidirectionalMessage {
  return decodeBidirectional(cobsDecode(frame));
}
