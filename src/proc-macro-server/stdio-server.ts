// The proc-macro server's stdio framing (Node-only): the process rust-analyzer spawns reads
// requests on stdin and answers them on stdout, strictly in order. serveLines splits JSON lines,
// serveFrames postcard frames; both only move bytes, for the worker session that reads and answers
// the requests (expansion-worker.ts).

import type { Readable, Writable } from "node:stream";

import { FrameSplitter } from "../server/postcard.js";
import { encodeResponseLine, LineFramer } from "../server/protocol.js";
import { expansionError, expansionErrorFrame } from "../server/serve.js";
import type { ClientAnswer, FrameClient } from "./expansion-worker.js";

/** What serveFrames serves. */
export interface FrameSession {
  /** The answer to one frame (null: none); sub-requests reach the client through `client`. */
  frame(frame: Uint8Array, client: FrameClient): Promise<Uint8Array | null>;
  /** The client closed the connection. */
  end(): void;
}

export interface StdioOptions {
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
      onOversized: (length) => reply(async () => encodeResponseLine(expansionError("Id", oversized(length, max)))),
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
  const fail = (error: string) => output.write(expansionErrorFrame("Id", error));
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
