// A shim-like client of the cargo host (src/patch/host.ts) for tests and benchmarks: encodes a
// request as a shim does (src/patch/shim-runtime.rs, `macrobox-shim-3`), sends it on a connection
// of its own, and returns the reply's bytes; starts a host process from sources.

import { spawn, type ChildProcess } from "node:child_process";
import { createConnection } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { parseTokenStream } from "../../src/index.js";
import { printLiteral } from "../../src/tokens/print.js";
import { SHIM_PROTOCOL } from "../../src/patch/protocol.js";
import type { TokenStream } from "../../src/tokens/model.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const KINDS = { derive: 0, attr: 1, bang: 2 } as const;
const DELIMITERS = { Parenthesis: 0, Brace: 1, Bracket: 2, None: 3 } as const;

class Writer {
  private readonly parts: Buffer[] = [];
  u8(v: number): void {
    this.parts.push(Buffer.from([v]));
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u32(b.length);
    this.parts.push(b);
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface ShimCall {
  module: string;
  crate: string;
  kind: keyof typeof KINDS;
  name: string;
  /** The macro's input as source text (doc comments are rustc's `#[doc]` attributes in a real shim: leave them out). */
  input: string;
  args?: string;
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Where the input is in a real file, as rustc tells a shim: every span then names `localFile` with
   * its line and column there (the input starts at byte `inputAt` of `text`, the file's contents;
   * the call site is bytes `callSite` of it, the input's range by default).
   */
  source?: { localFile: string; text: string; inputAt: number; callSite?: [number, number] };
}

/** Line and char column (1-based) of byte `at` of `text`. */
function lineColumn(text: Buffer, at: number): [number, number] {
  const before = text.subarray(0, at).toString("utf8");
  const lineStart = before.lastIndexOf("\n") + 1;
  return [before.split("\n").length, [...before.slice(lineStart)].length + 1];
}

/**
 * The request bytes a shim would send for `call` (length prefix included); every token gets a span
 * of its own, in no local file, or where it is in `call.source`.
 */
export function encodeShimRequest(call: ShimCall): Buffer {
  // Each span: [lo, hi] in the source file's bytes (null: no source).
  const ranges: Array<[number, number] | null> = [];
  const source = call.source && { ...call.source, bytes: Buffer.from(call.source.text, "utf8") };
  ranges.push(source ? (source.callSite ?? [source.inputAt, source.inputAt + Buffer.byteLength(call.input)]) : null); // 0: the call site
  const body = new Writer();
  const span = (lexed: number) => {
    body.u32(ranges.length);
    ranges.push(source ? lexedRanges[lexed] : null);
  };
  let lexedRanges: Array<[number, number]> = [];
  const stream = (s: TokenStream) => {
    body.u32(s.length);
    for (const t of s) {
      if (t.type === "group") {
        body.u8(0);
        body.u8(DELIMITERS[t.delimiter]);
        span(t.span.open);
        span(t.span.close);
        span(t.span.entire);
        stream(t.stream);
      } else if (t.type === "ident") {
        body.u8(1);
        body.str(t.isRaw ? `r#${t.sym}` : t.sym);
        span(t.span);
      } else if (t.type === "punct") {
        body.u8(2);
        body.u32(t.ch.codePointAt(0)!);
        body.u8(t.joint ? 1 : 0);
        span(t.span);
      } else {
        body.u8(3);
        body.str(printLiteral(t));
        span(t.span);
      }
    }
  };
  const lex = (src: string, at: number): TokenStream => {
    lexedRanges = [];
    const r = parseTokenStream(src, (lo: number, hi: number) => lexedRanges.push([at + lo, at + hi]) - 1);
    if (!r.ok) throw new Error(`does not lex: ${r.error.message}`);
    return r.stream;
  };
  stream(lex(call.input, source?.inputAt ?? 0));
  if (call.args === undefined) body.u8(0);
  else {
    if (source) throw new Error("encodeShimRequest: attribute arguments with a source are not supported");
    body.u8(1);
    stream(lex(call.args, 0));
  }
  const head = new Writer();
  head.str(SHIM_PROTOCOL);
  head.str(call.module);
  head.str(call.crate);
  head.u8(KINDS[call.kind]);
  head.str(call.name);
  head.str(call.cwd ?? "/tmp");
  const env = Object.entries(call.env ?? { CARGO_PKG_NAME: "app", CARGO_CRATE_NAME: "app" });
  head.u32(env.length);
  for (const [k, v] of env) {
    head.str(k);
    head.str(v);
  }
  head.u32(ranges.length);
  for (const [i, range] of ranges.entries()) {
    head.str("src/lib.rs");
    if (source && range) {
      head.u8(1);
      head.str(source.localFile);
      for (const v of [...lineColumn(source.bytes, range[0]), ...lineColumn(source.bytes, range[1])]) head.u32(v);
    } else {
      head.u8(0);
      for (const v of [1, i + 1, 1, i + 2]) head.u32(v);
    }
  }
  // Whether the client reads the host's answer index (src/patch/answers.ts): these clients do not.
  body.u8(0);
  const message = Buffer.concat([head.bytes(), body.bytes()]);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(message.length);
  return Buffer.concat([prefix, message]);
}

/** Sends one request on a connection of its own; the whole reply (until the host closes). */
export function shimExchange(socket: string, request: Buffer): Promise<Buffer> {
  return new Promise((answer, fail) => {
    const c = createConnection(socket);
    const chunks: Buffer[] = [];
    c.on("data", (d: Buffer) => chunks.push(d));
    c.on("error", fail);
    c.on("close", () => answer(Buffer.concat(chunks)));
    c.write(request);
  });
}

/** The reply's kind byte (0 output, 1 panic, 2 error): after the length prefix, stdout and stderr. */
export function replyKind(reply: Buffer): number {
  let at = 4;
  for (let i = 0; i < 2; i++) at += 4 + reply.readUInt32LE(at);
  return reply[at];
}

/** A host process from sources on `socket` (in a private directory), once it listens. */
export async function startHostProcess(
  socket: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), join(REPO, "src/patch/host-main.ts"), "--socket", socket, ...args], {
    env,
    cwd,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  for (let i = 0; !/listening on/.test(log); i++) {
    if (i > 600 || child.exitCode !== null) throw new Error(`the host did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, log: () => log };
}
