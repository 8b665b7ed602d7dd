// The host's half of the shim wire format (shim-runtime.rs is the other half): requests decoded
// into token streams over a span table with the user's real source files, replies encoded with
// every output span as an index into the shim's own span table plus the context to resolve at.

import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { type MacroKind, type SourceFile } from "../index.js";
import { parseLiteral, printLiteral } from "../tokens/index.js";
import { SpanTable } from "../bridge/spans.js";
import type { Delimiter, Span, TokenStream, TokenTree } from "../tokens/model.js";
import { ByteReader, ByteWriter } from "../bytes.js";
import { MacroboxError } from "../errors.js";
import { forEachTree } from "../tokens/index.js";

export const SHIM_PROTOCOL = "macrobox-shim-3";

export class ShimProtocolError extends MacroboxError {
  override name = "ShimProtocolError";
  constructor(message: string) {
    super("protocol", `malformed request from a macrobox shim: ${message}`);
  }
}

/** What the shim says about one of its spans (rustc's answers to the stable `Span` methods). */
export interface ShimSpan {
  file: string;
  localFile: string | null;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

type RawTree =
  | { t: "group"; delimiter: Delimiter; open: number; close: number; entire: number; stream: RawTree[] }
  | { t: "ident"; text: string; span: number }
  | { t: "punct"; ch: string; joint: boolean; span: number }
  | { t: "literal"; text: string; span: number };

export interface ShimRequest {
  module: string;
  crate: string;
  kind: MacroKind;
  name: string;
  cwd: string;
  env: Record<string, string>;
  /** The table the streams' spans belong to; `shimIndex` maps a table span back to the shim's index. */
  spans: SpanTable;
  /** The call site (the shim's span 0) in that table. */
  callSite: Span;
  input: TokenStream;
  args: TokenStream | undefined;
  toShim: SpanMapper;
  /** The spans as the shim sent them, and the request's tokens as bytes (the answer index's key: answers.ts). */
  shimSpans: readonly ShimSpan[];
  body: Uint8Array;
  /** Every span found its place in a readable local file (none in the virtual file of tokens without one). */
  placed: boolean;
  /** The shim reads the answer index of the host it was built for, and this host is that one: index the reply (answers.ts). */
  readsIndex: boolean;
}

const KINDS: MacroKind[] = ["derive", "attr", "bang"];
const DELIMITERS: Delimiter[] = ["Parenthesis", "Brace", "Bracket", "None"];

/** The request's reader (src/bytes.ts): u8, u32 little-endian, strings as a u32 byte count then UTF-8. */
class ShimReader extends ByteReader {
  fail(message: string): never {
    throw new ShimProtocolError(message);
  }

  protected override truncated(): never {
    this.fail("truncated");
  }

  stream(spanCount: number): RawTree[] {
    // Explicit stack: nesting is as deep as the user's source, and this must not overflow.
    const top: RawTree[] = [];
    const stack: { into: RawTree[]; left: number }[] = [{ into: top, left: this.u32le() }];
    const span = () => {
      const s = this.u32le();
      if (s >= spanCount) throw new ShimProtocolError(`span ${s} is not in the table`);
      return s;
    };
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      if (frame.left === 0) {
        stack.pop();
        continue;
      }
      frame.left--;
      const tag = this.u8();
      if (tag === 0) {
        const delimiter = DELIMITERS[this.u8()] ?? "None";
        const g: RawTree = { t: "group", delimiter, open: span(), close: span(), entire: span(), stream: [] };
        frame.into.push(g);
        stack.push({ into: g.stream, left: this.u32le() });
      } else if (tag === 1) frame.into.push({ t: "ident", text: this.str(), span: span() });
      else if (tag === 2) frame.into.push({ t: "punct", ch: String.fromCodePoint(this.u32le()), joint: this.u8() === 1, span: span() });
      else if (tag === 3) frame.into.push({ t: "literal", text: this.str(), span: span() });
      else throw new ShimProtocolError(`unknown token tag ${tag}`);
    }
    return top;
  }
}

/**
 * Decodes a request. Spans with a readable local file get their real location in it (so a macro
 * asking `line()` or `source_text()` gets rustc's answer); others get one-byte slots in a virtual file.
 */
export function decodeRequest(bytes: Uint8Array): ShimRequest {
  const r = new ShimReader(bytes);
  if (r.str() !== SHIM_PROTOCOL) throw new ShimProtocolError(`not ${SHIM_PROTOCOL} (a shim from another macrobox version: run \`macrobox patch\` again)`);
  const module = r.str();
  const crate = r.str();
  const kind = KINDS[r.u8()];
  if (kind === undefined) throw new ShimProtocolError("unknown macro kind");
  const name = r.str();
  const cwd = r.str();
  const env: Record<string, string> = {};
  for (let n = r.u32le(); n > 0; n--) {
    const k = r.str();
    env[k] = r.str();
  }
  const shimSpans: ShimSpan[] = [];
  for (let n = r.u32le(); n > 0; n--) {
    const file = r.str();
    const localFile = r.u8() === 1 ? r.str() : null;
    shimSpans.push({ file, localFile, line: r.u32le(), column: r.u32le(), endLine: r.u32le(), endColumn: r.u32le() });
  }
  if (shimSpans.length === 0) throw new ShimProtocolError("no call site span");
  const bodyStart = r.pos;
  const input = r.stream(shimSpans.length);
  const args = r.u8() === 1 ? r.stream(shimSpans.length) : undefined;
  const bodyEnd = r.pos;
  const readsIndex = r.u8() === 1;

  const spans = new SpanTable();
  const toShim = new SpanMapper(spans);
  const files = new Map<string, SourceFile | null>();
  const fileFor = (s: ShimSpan): SourceFile | null => {
    if (s.localFile === null) return null;
    if (!files.has(s.localFile)) {
      // rustc names a file as it was given on its command line: relative (a workspace member's,
      // cargo runs rustc in the workspace root) means relative to rustc's directory, never the host's,
      // which serves every workspace and may hold a file of the same name.
      const path = isAbsolute(s.localFile) ? s.localFile : isAbsolute(cwd) ? resolve(cwd, s.localFile) : null;
      let text: string | null = null;
      try {
        if (path !== null) text = readFileSync(path, "utf8");
      } catch {
        text = null;
      }
      files.set(s.localFile, text === null ? null : spans.addFile(s.file, text, { localPath: s.localFile }));
    }
    return files.get(s.localFile)!;
  };
  const located: (Span | null)[] = shimSpans.map((s) => {
    const f = fileFor(s);
    if (f === null) return null;
    const lo = offsetOf(f, s.line, s.column);
    const hi = offsetOf(f, s.endLine, s.endColumn);
    return lo === null || hi === null || hi < lo ? null : spans.span(f, lo, hi);
  });
  const unplaced = located.filter((s) => s === null).length;
  const virtual = unplaced > 0 ? spans.addFile("<macrobox: tokens without a source file>", " ".repeat(unplaced * 2)) : null;
  let slot = 0;
  const table: Span[] = located.map((s) => {
    if (s !== null) return s;
    const at = slot++ * 2;
    return spans.span(virtual!, at, at + 1);
  });
  table.forEach((s, i) => toShim.add(s, i));

  return {
    module,
    crate,
    kind,
    name,
    cwd,
    env,
    spans,
    callSite: table[0],
    input: toTokens(input, table),
    args: args && toTokens(args, table),
    toShim,
    shimSpans,
    body: bytes.subarray(bodyStart, bodyEnd),
    placed: unplaced === 0,
    readsIndex,
  };
}

/**
 * FNV-1a, 64 bits: the hash shim-runtime.rs recomputes with std alone (`macrobox_fnv`). In 16-bit
 * limbs, so that it costs no allocation per byte (the answer index hashes whole requests).
 */
export function fnv1a64(bytes: Uint8Array): bigint {
  let a0 = 0x2325;
  let a1 = 0x8422;
  let a2 = 0x9ce4;
  let a3 = 0xcbf2;
  // The prime is 2^40 + 0x1b3: limbs 0x1b3, 0, 0x100, 0.
  for (let i = 0; i < bytes.length; i++) {
    a0 ^= bytes[i];
    const t0 = a0 * 0x1b3;
    const t1 = a1 * 0x1b3 + (t0 >>> 16);
    const t2 = a2 * 0x1b3 + a0 * 0x100 + (t1 >>> 16);
    const t3 = a3 * 0x1b3 + a1 * 0x100 + (t2 >>> 16);
    a0 = t0 & 0xffff;
    a1 = t1 & 0xffff;
    a2 = t2 & 0xffff;
    a3 = t3 & 0xffff;
  }
  return (BigInt(a3) << 48n) | (BigInt(a2) << 32n) | (BigInt(a1) << 16n) | BigInt(a0);
}

/** Byte offset of 1-based line and char column in the file, or null when outside it. */
function offsetOf(f: SourceFile, line: number, column: number): number | null {
  const start = f.lineStarts[line - 1];
  if (start === undefined || column < 1) return null;
  let at = start;
  for (let chars = 1; chars < column; chars++) {
    if (at >= f.bytes.length || f.bytes[at] === 0x0a) return null;
    at++;
    while (at < f.bytes.length && (f.bytes[at] & 0xc0) === 0x80) at++;
  }
  return at;
}

function toTokens(raw: RawTree[], table: Span[]): TokenStream {
  const top: TokenTree[] = [];
  const queue: { from: RawTree[]; into: TokenTree[] }[] = [{ from: raw, into: top }];
  for (let q = 0; q < queue.length; q++) {
    const { from, into } = queue[q];
    for (const t of from) {
      if (t.t === "group") {
        const inner: TokenTree[] = [];
        queue.push({ from: t.stream, into: inner });
        into.push({ type: "group", delimiter: t.delimiter, stream: inner, span: { open: table[t.open], close: table[t.close], entire: table[t.entire] } });
      } else if (t.t === "ident") {
        const isRaw = t.text.startsWith("r#");
        into.push({ type: "ident", sym: isRaw ? t.text.slice(2) : t.text, isRaw, span: table[t.span] });
      } else if (t.t === "punct") into.push({ type: "punct", ch: t.ch, joint: t.joint, span: table[t.span] });
      else {
        const lit = parseLiteral(t.text, table[t.span]);
        if (!lit.ok) throw new ShimProtocolError(`literal ${JSON.stringify(t.text)}: ${lit.error}`);
        into.push(lit.literal);
      }
    }
  }
  return top;
}

const CTXT_AS_IS = 0;
const CTXT_CALL_SITE = 1;
const CTXT_MIXED_SITE = 2;

/**
 * Maps spans of the host's table to the shim's: a span at an input token's location is that
 * token's span (first token there), resolved at the call or mixed site when the macro made it
 * so; anything else is the call site (index 0) in that context.
 */
export class SpanMapper {
  private readonly byLocation = new Map<string, number>();
  private readonly byStart = new Map<string, number>();
  private readonly mapped = new Map<Span, [number, number]>();
  constructor(private readonly spans: SpanTable) {}

  add(span: Span, index: number): void {
    const d = this.spans.data(span);
    const key = `${d.file}:${d.lo}:${d.hi}`;
    if (!this.byLocation.has(key)) this.byLocation.set(key, index);
    if (!this.byStart.has(`${d.file}:${d.lo}`)) this.byStart.set(`${d.file}:${d.lo}`, index);
  }

  map(span: Span): [number, number] {
    // An output repeats a few spans (the call site's, the mixed site's) thousands of times: each is mapped once.
    let mapped = this.mapped.get(span);
    if (mapped === undefined) {
      mapped = this.mapOnce(span);
      this.mapped.set(span, mapped);
    }
    return mapped;
  }

  private mapOnce(span: Span): [number, number] {
    if (!this.spans.has(span)) return [0, CTXT_CALL_SITE];
    const d = this.spans.data(span);
    const kind = this.spans.context(d.ctxt).kind;
    const ctxt = kind === "root" ? CTXT_AS_IS : kind === "call_site" ? CTXT_CALL_SITE : CTXT_MIXED_SITE;
    const at = this.byLocation.get(`${d.file}:${d.lo}:${d.hi}`) ?? (kind === "root" ? this.byStart.get(`${d.file}:${d.lo}`) : undefined);
    if (at === undefined) return [0, kind === "root" ? CTXT_CALL_SITE : ctxt];
    return [at, ctxt];
  }
}

export type ShimReply = { kind: "output"; output: TokenStream } | { kind: "panic"; message: string } | { kind: "error"; message: string };

/** The reply, framed (u32 LE length first). */
export function encodeReply(reply: ShimReply, printed: { stdout: string; stderr: string }, toShim: SpanMapper | null): Buffer {
  const w = new ByteWriter();
  w.str(printed.stdout);
  w.str(printed.stderr);
  if (reply.kind !== "output") {
    w.u8(reply.kind === "panic" ? 1 : 2);
    w.str(reply.message);
  } else {
    w.u8(0);
    const span = (s: Span) => {
      const [at, ctxt] = toShim!.map(s);
      w.u32le(at);
      w.u8(ctxt);
    };
    // Depth first, in order: a group's header (with its length), then its contents.
    w.u32le(reply.output.length);
    forEachTree(reply.output, (t) => {
      if (t.type === "group") {
        w.u8(0);
        w.u8(DELIMITERS.indexOf(t.delimiter));
        span(t.span.entire);
        w.u32le(t.stream.length);
      } else if (t.type === "ident") {
        w.u8(1);
        w.str(t.isRaw ? `r#${t.sym}` : t.sym);
        span(t.span);
      } else if (t.type === "punct") {
        w.u8(2);
        w.u32le(t.ch.codePointAt(0)!);
        w.u8(t.joint ? 1 : 0);
        span(t.span);
      } else {
        w.u8(3);
        w.str(printLiteral(t));
        span(t.span);
      }
    });
  }
  const payload = w.view();
  const framed = Buffer.alloc(4 + payload.length);
  framed.writeUInt32LE(payload.length, 0);
  framed.set(payload, 4);
  return framed;
}
