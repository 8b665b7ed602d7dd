// Runs a proc-macro server session over a process's stdin/stdout (Node-only): the process
// rust-analyzer spawns as its proc-macro server. Requests are answered strictly in order.
// serveStdio and servePostcardStdio run a session on this thread; serveLines and serveFrames move
// bytes for a session that reads requests itself (the server's worker: expansion-worker.ts).

import type { Readable, Writable } from "node:stream";

import { errorMessage } from "../errors.js";
import {
  decodeBidirectionalFrame,
  encodeBidirectionalFrame,
  FrameSplitter,
  type BidirectionalMessage,
  type SubRequest,
  type SubResponse,
} from "../server/postcard.js";
import { encodeResponseLine, LineFramer } from "../server/protocol.js";
import { createServerSession, type ProcMacroBackend, type SessionOptions } from "../server/serve.js";
import type { ClientAnswer, FrameClient } from "./expansion-worker.js";

/** What serveFrames serves. */
export interface FrameSession {
  /** The answer to one frame (null: none); sub-requests reach the client through `client`. */
  frame(frame: Uint8Array, client: FrameClient): Promise<Uint8Array | null>;
  /** The client closed the connection. */
  end(): void;
}

export interface StdioOptions {
  /** The protocol session's options (the response memo). */
  session?: SessionOptions;
  input?: Readable;
  output?: Writable;
  /** Where lines that are not requests are reported (default: ignored, like the native server). */
  onNoise?: (line: string) => void;
  /** A message longer than this is dropped unread and answered with an error (default 512 MiB). */
  maxMessageBytes?: number;
}

const DEFAULT_MAX_MESSAGE = 512 * 1024 * 1024;

function oversized(bytes: number, max: number): string {
  return `macrobox: proc-macro protocol: a message of ${bytes} bytes or more is over the ${max}-byte limit; it was not read`;
}

/** Serves until end of input (or an empty line, which the native server also treats as the end). */
export function serveStdio(backend: ProcMacroBackend, options: StdioOptions = {}): Promise<void> {
  const session = createServerSession(backend, options.session);
  return serveLines((line) => session.handleLine(line), options);
}

/**
 * The JSON line loop: each request line (without its newline) to `answer`, the answers written in
 * order. An answer of null was written to stdout by whoever made it (the server's worker): each
 * write here has reached the output before the next line is answered.
 */
export function serveLines(answer: (line: string) => Promise<string | null>, options: StdioOptions = {}): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  let ended = false;
  let chain = Promise.resolve();
  const reply = (next: () => Promise<string | null>) => {
    chain = chain.then(async () => {
      const text = await next();
      if (text !== null) await new Promise((written) => output.write(text, written));
    });
  };
  const framer = new LineFramer(
    (line) => {
      if (line === "") ended = true;
      else options.onNoise?.(line);
    },
    {
      // Characters, not bytes: a bound on memory all the same.
      maxLength: max,
      onOversized: (length) => reply(async () => encodeResponseLine({ type: "ExpandMacro", result: { ok: false, error: oversized(length, max) } })),
    },
  );
  return new Promise((resolve, reject) => {
    input.setEncoding("utf8");
    input.on("data", (chunk: string) => {
      for (const line of framer.push(chunk)) {
        if (ended) break;
        reply(() => answer(line));
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
 * The postcard loop of a session that reads frames itself (the worker session): each frame to
 * `session.frame`, its answer written in order; while the session waits for the client's answer
 * to a sub-request, the next frame is that answer.
 */
export function serveFrames(session: FrameSession, options: StdioOptions = {}): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  let chain = Promise.resolve();
  let deliver: ((answer: ClientAnswer) => void) | null = null;
  const client: FrameClient = {
    send: (frame) => output.write(frame),
    expectAnswer: (d) => {
      deliver = d;
    },
  };
  const hand = (answer: ClientAnswer) => {
    const d = deliver;
    deliver = null;
    d?.(answer);
  };
  const fail = (error: string) => output.write(encodeBidirectionalFrame({ type: "Response", response: { type: "ExpandMacro", result: { ok: false, error } } }));
  const splitter = new FrameSplitter({
    maxBytes: max,
    onOversized: (bytes) => {
      if (deliver) hand({ type: "refused", reason: oversized(bytes, max) });
      else chain = chain.then(() => void fail(oversized(bytes, max)));
    },
  });
  return new Promise((resolve, reject) => {
    input.on("data", (chunk: Buffer) => {
      for (const frame of splitter.push(chunk)) {
        if (deliver) hand({ type: "frame", frame });
        else
          chain = chain.then(async () => {
            const out = await session.frame(frame, client);
            if (out !== null) output.write(out);
          });
      }
    });
    const finish = () => {
      session.end();
      hand({ type: "closed" });
      chain.then(resolve, reject);
    };
    input.on("end", finish);
    input.on("close", finish);
    input.on("error", reject);
  });
}

/**
 * Serves the postcard format (`--format bidirectional-postcard-prototype`) until end of input.
 * Requests are answered in order; while an expansion runs, the macro's span questions go out as
 * SubRequest frames and the client's SubResponse frames come back to it. A frame that cannot be
 * read, or that is not a request, gets an error response and the session goes on.
 */
export function servePostcardStdio(backend: ProcMacroBackend, options: StdioOptions = {}): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const session = createServerSession(backend, options.session);
  const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  let chain = Promise.resolve();
  let waiting: ((r: SubResponse) => void) | null = null;
  let closed = false;
  const send = (msg: BidirectionalMessage) => output.write(encodeBidirectionalFrame(msg));
  const fail = (error: string) => send({ type: "Response", response: { type: "ExpandMacro", result: { ok: false, error } } });
  const settle = (r: SubResponse) => {
    const w = waiting;
    waiting = null;
    w?.(r);
  };
  const askClient = (sub: SubRequest): Promise<SubResponse> =>
    new Promise((resolve) => {
      if (closed) return resolve({ type: "Cancel", reason: "the client closed the connection" });
      waiting = resolve;
      send({ type: "SubRequest", subRequest: sub });
    });
  const splitter = new FrameSplitter({
    maxBytes: max,
    onOversized: (bytes) => {
      if (waiting) settle({ type: "Cancel", reason: oversized(bytes, max) });
      else chain = chain.then(() => void fail(oversized(bytes, max)));
    },
  });
  return new Promise((resolve, reject) => {
    input.on("data", (chunk: Buffer) => {
      for (const frame of splitter.push(chunk)) {
        let msg: BidirectionalMessage;
        try {
          msg = decodeBidirectionalFrame(frame);
        } catch (e) {
          const error = `macrobox: ${errorMessage(e)}`;
          if (waiting) settle({ type: "Cancel", reason: `proc-macro IPC error: ${error}` });
          else chain = chain.then(() => void fail(error));
          continue;
        }
        if (msg.type === "SubResponse") {
          // An answer nobody asked for is ignored, like noise on the JSON channel.
          settle(msg.subResponse);
          continue;
        }
        if (waiting) {
          settle({ type: "Cancel", reason: `proc-macro IPC error: expected SubResponse, got ${msg.type}` });
          if (msg.type !== "Request") continue;
        }
        if (msg.type !== "Request") {
          const type = msg.type;
          chain = chain.then(() => void fail(`macrobox: proc-macro protocol: expected a Request frame, got ${type}`));
          continue;
        }
        const request = msg.request;
        chain = chain.then(async () => {
          let response;
          try {
            response = await session.handle(request, { askClient });
          } catch (e) {
            fail(`macrobox: ${errorMessage(e)}`);
            return;
          }
          send({ type: "Response", response });
        });
      }
    });
    const finish = () => {
      closed = true;
      settle({ type: "Cancel", reason: "the client closed the connection" });
      chain.then(resolve, reject);
    };
    input.on("end", finish);
    input.on("close", finish);
    input.on("error", reject);
  });
}
