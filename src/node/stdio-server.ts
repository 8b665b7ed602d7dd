// Runs a proc-macro server session over a process's stdin/stdout (Node-only): the process
// rust-analyzer spawns as its proc-macro server. Requests are answered strictly in order.

import type { Readable, Writable } from "node:stream";

import { decodeBidirectionalFrame, encodeBidirectionalFrame, FrameSplitter } from "../server/postcard.js";
import { LineFramer, ProtocolError } from "../server/protocol.js";
import { createServerSession, type ProcMacroBackend, type SessionOptions } from "../server/serve.js";

export interface StdioOptions {
  /** The protocol session's options (the response memo). */
  session?: SessionOptions;
  input?: Readable;
  output?: Writable;
  /** Where lines that are not requests are reported (default: ignored, like the native server). */
  onNoise?: (line: string) => void;
}

/** Serves until end of input (or an empty line, which the native server also treats as the end). */
export function serveStdio(backend: ProcMacroBackend, options: StdioOptions = {}): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const session = createServerSession(backend, options.session);
  let ended = false;
  const framer = new LineFramer((line) => {
    if (line === "") ended = true;
    else options.onNoise?.(line);
  });
  let chain = Promise.resolve();
  return new Promise((resolve, reject) => {
    input.setEncoding("utf8");
    input.on("data", (chunk: string) => {
      for (const line of framer.push(chunk)) {
        if (ended) break;
        chain = chain.then(async () => {
          output.write(await session.handleLine(line));
        });
      }
      if (ended) input.destroy();
    });
    const finish = () => chain.then(resolve, reject);
    input.on("end", finish);
    input.on("close", finish);
    input.on("error", reject);
  });
}

/**
 * Serves the postcard format (`--format bidirectional-postcard-prototype`) until end of input.
 * Our backends never need sub-requests, so only Request frames are answered; a frame that is not
 * a request, or cannot be read, ends the session like a protocol error ends the native server.
 */
export function servePostcardStdio(backend: ProcMacroBackend, options: StdioOptions = {}): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const session = createServerSession(backend, options.session);
  const splitter = new FrameSplitter();
  let chain = Promise.resolve();
  return new Promise((resolve, reject) => {
    input.on("data", (chunk: Buffer) => {
      for (const frame of splitter.push(chunk)) {
        chain = chain.then(async () => {
          const msg = decodeBidirectionalFrame(frame);
          if (msg.type !== "Request") throw new ProtocolError(`expected a Request frame, got ${msg.type}`);
          const response = await session.handle(msg.request);
          output.write(encodeBidirectionalFrame({ type: "Response", response }));
        });
        chain.catch((e: Error) => {
          input.destroy();
          reject(e);
        });
      }
    });
    const finish = () => chain.then(resolve, reject);
    input.on("end", finish);
    input.on("close", finish);
    input.on("error", reject);
  });
}
