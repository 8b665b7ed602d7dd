// The proc-macro server's request loop, run by the thread that expands (expansion-worker-main.ts):
// it reads each request itself (blocking reads, message-reader.ts), answers it with the protocol
// session of src/server and writes the response, in order. A repeated, unchanged request line is
// answered from the memo. rust-analyzer's span questions (postcard) are asked in the middle of an
// expansion: the sub-request frame is written and the client's next frame read right there.
//
// The main thread only keeps the wall clock: `RequestTurn` says when a request is taken, paused
// (the client answering, a module being found) and answered, and whether the main thread answered
// it first (then nothing more is written here).

import { decodeBidirectionalFrame, encodeBidirectionalFrame, type BidirectionalMessage, type SubRequest, type SubResponse } from "../server/postcard.js";
import { encodeResponseLine, type Response, type SpanMode } from "../server/protocol.js";
import { expansionError, expansionErrorFrame, type ServerSession } from "../server/serve.js";
import { errorMessage, MacroboxError } from "../errors.js";
import type { ProtocolFormat } from "./arguments.js";
import type { ResponseMemo } from "./memo.js";
import { lineText, type MessageReader } from "./message-reader.js";

/** How a request's turn is kept with the thread that keeps the clock. */
export interface RequestTurn {
  /**
   * A message was taken: `request`, its bytes, to be answered (null: one answered without the
   * session, e.g. from the memo), read in `spanMode`.
   */
  begin(request: Uint8Array | null, spanMode: SpanMode): void;
  /** The clock stops (the client is asked, a module is found); false: the request was answered already. */
  pause(): boolean;
  /** It runs again. */
  resume(): void;
  /** The response may be written; false: the main thread answered it (nothing more is written here). */
  claim(): boolean;
  /** The response was written; the connection is now in `spanMode`. */
  finish(spanMode: SpanMode): void;
}

export interface RequestLoopOptions {
  format: ProtocolFormat;
  reader: MessageReader;
  write(bytes: Uint8Array | string): void;
  /** A line that is not a request (ignored, like the native server; reported). */
  noise(line: string): void;
  session(): ServerSession;
  memo: ResponseMemo | null;
  turn: RequestTurn;
  /** The bound the reader drops messages over (for its error). */
  maxMessageBytes: number;
}

/** The client was asked to stop the expansion (native: the expansion fails with the reason). */
class Cancelled extends MacroboxError {
  override name = "Cancelled";
  constructor(reason: string) {
    super("protocol", reason);
  }
}

/** Thrown out of a span question when the main thread answered the request meanwhile. */
class Stopped extends Error {}

export function oversizedError(bytes: number, max: number): string {
  return `macrobox: proc-macro protocol: a message of ${bytes} bytes or more is over the ${max}-byte limit; it was not read`;
}

const errorFrame = (error: string) => expansionErrorFrame("Id", error);
/** Marks that the client can be asked (the backend turns it into the synchronous span client). */
const askClient = () => Promise.reject(new Error("the span client asks synchronously"));

export class RequestLoop {
  /** A request that came instead of a sub-response: served right after the one it interrupted. */
  private interrupted: Uint8Array | null = null;
  private stopped = false;

  constructor(private readonly o: RequestLoopOptions) {}

  /** Serves until the client closes its end (or sends an empty line), or the main thread took a request over. */
  async run(): Promise<"closed" | "stopped"> {
    const { o } = this;
    for (;;) {
      const message = o.reader.next();
      if (message === null) return "closed";
      if (!(message instanceof Uint8Array)) {
        o.turn.begin(null, o.session().spanMode);
        const error = oversizedError(message.oversized, o.maxMessageBytes);
        o.write(o.format === "json-legacy" ? encodeResponseLine(expansionError("Id", error)) : errorFrame(error));
        continue;
      }
      if (o.format === "json-legacy") {
        const line = lineText(message);
        // The native server stops at an empty line.
        if (line === "") return "closed";
        if (!(await this.line(line, message))) return "stopped";
      } else if (!(await this.frame(message))) return "stopped";
    }
  }

  /** A JSON line (`bytes`: as it was read). */
  private async line(line: string, bytes: Uint8Array): Promise<boolean> {
    const { o } = this;
    const session = o.session();
    const mode = session.spanMode;
    if (!line.startsWith("{")) {
      o.turn.begin(null, mode);
      o.noise(line);
      return true;
    }
    const known = o.memo?.get(mode, line);
    if (known !== undefined) {
      o.turn.begin(null, mode);
      o.write(known);
      return true;
    }
    o.turn.begin(bytes, mode);
    const answer = await session.answerLine(line);
    if (!o.turn.claim()) return false;
    o.write(answer.response);
    o.turn.finish(session.spanMode);
    o.memo?.keep(mode, line, answer);
    return true;
  }

  private async frame(first: Uint8Array): Promise<boolean> {
    const { o } = this;
    o.turn.begin(first, o.session().spanMode);
    let out = await this.answerFrame(first);
    // A request that interrupted a sub-request is answered next, after the response it cut short.
    while (this.interrupted !== null && !this.stopped) {
      const next = this.interrupted;
      this.interrupted = null;
      const more = await this.answerFrame(next);
      if (more !== null) out = out === null ? more : Buffer.concat([out, more]);
    }
    if (this.stopped || !o.turn.claim()) return false;
    if (out !== null) o.write(out);
    o.turn.finish(o.session().spanMode);
    return true;
  }

  /**
   * One postcard frame: a request gets its response frame; a frame that cannot be read, or that is
   * not a request, an error response; a stray sub-response nothing.
   */
  private async answerFrame(frame: Uint8Array): Promise<Uint8Array | null> {
    let msg: BidirectionalMessage;
    try {
      msg = decodeBidirectionalFrame(frame);
    } catch (e) {
      return errorFrame(`macrobox: ${errorMessage(e)}`);
    }
    // An answer nobody asked for is ignored, like noise on the JSON channel.
    if (msg.type === "SubResponse") return null;
    if (msg.type !== "Request") return errorFrame(`macrobox: proc-macro protocol: expected a Request frame, got ${msg.type}`);
    let response: Response;
    try {
      response = await this.o.session().handle(msg.request, { askClient });
    } catch (e) {
      if (e instanceof Stopped) return null;
      return errorFrame(`macrobox: ${errorMessage(e)}`);
    }
    return encodeBidirectionalFrame({ type: "Response", response });
  }

  /** A span question, answered synchronously: the sub-request written, the client's next frame read. */
  ask(sub: SubRequest): SubResponse {
    const { o } = this;
    if (!o.turn.pause()) {
      this.stopped = true;
      throw new Stopped();
    }
    o.write(encodeBidirectionalFrame({ type: "SubRequest", subRequest: sub }));
    const next = o.reader.next();
    o.turn.resume();
    if (next === null) throw new Cancelled("the client closed the connection");
    if (!(next instanceof Uint8Array)) throw new Cancelled(oversizedError(next.oversized, o.maxMessageBytes));
    let msg: BidirectionalMessage;
    try {
      msg = decodeBidirectionalFrame(next);
    } catch (e) {
      throw new Cancelled(`proc-macro IPC error: macrobox: ${errorMessage(e)}`);
    }
    if (msg.type !== "SubResponse") {
      // A request is served after the expansion it cancels; anything else is dropped.
      if (msg.type === "Request") this.interrupted = next;
      throw new Cancelled(`proc-macro IPC error: expected SubResponse, got ${msg.type}`);
    }
    if (msg.subResponse.type === "Cancel") throw new Cancelled(msg.subResponse.reason);
    return msg.subResponse;
  }
}
