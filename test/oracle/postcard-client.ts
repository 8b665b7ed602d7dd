// A client of the bidirectional postcard format ("bidirectional-postcard-prototype") for tests:
// spawns a proc-macro server (rust-analyzer's native one or macrobox's), sends one request frame at
// a time, answers the sub-requests the server sends while it expands with a handler the test owns,
// records them, and returns the response frame.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

import { decodeBidirectionalFrame, encodeBidirectionalFrame, FrameSplitter, type SubRequest, type SubResponse } from "../../src/server/postcard.js";
import type { Request, Response } from "../../src/server/protocol.js";

export interface PostcardExchange {
  /** The response frame as the server sent it (without its 0x00). */
  frame: Uint8Array;
  response: Response;
  /** The sub-requests the server sent before answering, in order. */
  subRequests: SubRequest[];
}

/** The answer to a sub-request: a sub-response, or raw bytes written as they are (a broken frame). */
export type SubRequestHandler = (sub: SubRequest) => SubResponse | Uint8Array;

const noClient: SubRequestHandler = () => ({ type: "Cancel", reason: "this test client answers no sub-requests" });

export class PostcardClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly splitter = new FrameSplitter();
  private readonly frames: Uint8Array[] = [];
  private waiting: ((f: Uint8Array) => void) | null = null;
  private exited: string | null = null;
  stderr = "";

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(command, [...args, "--format", "bidirectional-postcard-prototype"], {
      env: { ...process.env, RUST_ANALYZER_INTERNALS_DO_NOT_USE: "1", ...env },
    });
    this.child.stderr.on("data", (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-20_000)));
    this.child.stdout.on("data", (chunk: Buffer) => {
      for (const f of this.splitter.push(chunk)) {
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = null;
          w(f);
        } else this.frames.push(f);
      }
    });
    this.child.on("exit", (code, signal) => {
      this.exited = `exited (${code ?? signal}): ${this.stderr.slice(-2000)}`;
      this.waiting?.(new Uint8Array());
    });
  }

  private next(): Promise<Uint8Array> {
    const ready = this.frames.shift();
    if (ready) return Promise.resolve(ready);
    if (this.exited !== null) return Promise.reject(new Error(`the server ${this.exited}`));
    return new Promise((resolve, reject) => {
      this.waiting = (f) => (this.exited !== null && f.length === 0 ? reject(new Error(`the server ${this.exited}`)) : resolve(f));
    });
  }

  /** Writes raw bytes (a hand-made or broken frame). */
  writeRaw(bytes: Uint8Array): void {
    this.child.stdin.write(bytes);
  }

  /** Waits for the next frame that is a response, answering sub-requests on the way. */
  async response(onSub: SubRequestHandler = noClient): Promise<PostcardExchange> {
    const subRequests: SubRequest[] = [];
    for (;;) {
      const frame = await this.next();
      const msg = decodeBidirectionalFrame(frame);
      if (msg.type === "Response") return { frame, response: msg.response, subRequests };
      if (msg.type !== "SubRequest") throw new Error(`the server sent a ${msg.type} frame`);
      subRequests.push(msg.subRequest);
      const answer = onSub(msg.subRequest);
      this.child.stdin.write(answer instanceof Uint8Array ? answer : encodeBidirectionalFrame({ type: "SubResponse", subResponse: answer }));
    }
  }

  request(req: Request, onSub?: SubRequestHandler): Promise<PostcardExchange> {
    this.child.stdin.write(encodeBidirectionalFrame({ type: "Request", request: req }));
    return this.response(onSub);
  }

  close(): Promise<void> {
    if (this.exited !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.stdin.end();
    });
  }
}
