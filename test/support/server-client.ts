// A client for a proc-macro-srv process (rust-analyzer's, or any server speaking the same
// json-legacy protocol). Node-only: it spawns the process.
//
// The protocol is strictly sequential (one request, one response), so requests are queued and
// answered in order; a dead process fails every pending and later request with its stderr.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

import {
  decodeResponseLine,
  encodeRequestLine,
  LineFramer,
  ProtocolError,
  type ExpandMacroRequest,
  type MacroInfo,
  type Request,
  type Response,
  type Result,
  type SpanMode,
} from "../../src/server/protocol.js";
import type { FlatTree } from "../../src/server/flat.js";

export interface SpawnOptions {
  /** Executable of the server. */
  command: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  /** The server's working directory (default this process's). */
  cwd?: string;
}

interface Pending {
  resolve: (line: string) => void;
  reject: (err: Error) => void;
}

export class ProcMacroServerClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly framer: LineFramer;
  private readonly pending: Pending[] = [];
  private exitError: Error | null = null;
  private stderr = "";
  /** Lines the server (or a macro) printed that were not messages. */
  readonly noise: string[] = [];

  constructor(options: SpawnOptions) {
    this.framer = new LineFramer((line) => {
      if (line !== "") this.noise.push(line);
    });
    this.child = spawn(options.command, options.args ?? [], {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout.setEncoding("utf8");
    this.child.stderr.setEncoding("utf8");
    this.child.stdout.on("data", (chunk: string) => {
      for (const line of this.framer.push(chunk)) this.deliver(line);
    });
    this.child.stderr.on("data", (chunk: string) => {
      // Keep the tail only: a chatty server must not grow memory without bound.
      this.stderr = (this.stderr + chunk).slice(-16_384);
    });
    this.child.on("error", (err) => this.fail(new Error(`proc-macro server ${options.command}: ${err.message}`)));
    this.child.on("close", (code, signal) => {
      const how = signal !== null ? `signal ${signal}` : `code ${String(code)}`;
      const tail = this.stderr.trim();
      this.fail(new Error(`proc-macro server exited with ${how}${tail === "" ? "" : `: ${tail}`}`));
    });
    // Writing to a dead process raises EPIPE here; `close` reports the real reason.
    this.child.stdin.on("error", () => {});
  }

  /** The last 16 KiB the server wrote to stderr (macrobox writes the sandbox's notes there). */
  get stderrTail(): string {
    return this.stderr;
  }

  private deliver(line: string): void {
    const waiter = this.pending.shift();
    if (waiter === undefined) {
      this.noise.push(line);
      return;
    }
    waiter.resolve(line);
  }

  private fail(err: Error): void {
    if (this.exitError === null) this.exitError = err;
    for (const waiter of this.pending.splice(0)) waiter.reject(err);
  }

  /** Sends one request and waits for its response. */
  async request(req: Request): Promise<Response> {
    return decodeResponseLine(await this.requestLine(encodeRequestLine(req)));
  }

  /** Sends one raw message line (newline included) and returns the raw response line. */
  requestLine(line: string): Promise<string> {
    if (this.exitError !== null) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(line);
    });
  }

  private async expect<T extends Response["type"]>(req: Request, type: T): Promise<Extract<Response, { type: T }>> {
    const res = await this.request(req);
    if (res.type !== type) throw new ProtocolError(`expected a ${type} response, got ${res.type}`);
    return res as Extract<Response, { type: T }>;
  }

  async apiVersion(): Promise<number> {
    return (await this.expect({ type: "ApiVersionCheck" }, "ApiVersionCheck")).version;
  }

  /** Asks for a span mode; returns the mode the server adopted. */
  async setSpanMode(spanMode: SpanMode): Promise<SpanMode> {
    return (await this.expect({ type: "SetConfig", spanMode }, "SetConfig")).spanMode;
  }

  async listMacros(dylibPath: string): Promise<Result<MacroInfo[], string>> {
    return (await this.expect({ type: "ListMacros", dylibPath }, "ListMacros")).result;
  }

  /** Expands in `Id` span mode; the error is the macro's panic message. */
  async expand(req: Omit<ExpandMacroRequest, "type">): Promise<Result<FlatTree, string>> {
    return (await this.expect({ type: "ExpandMacro", ...req }, "ExpandMacro")).result;
  }

  /** Closes stdin (the server exits at end of input) and waits for the process to end. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once("close", () => resolve());
      this.child.stdin.end();
    });
  }
}

/** Where rustc 1.96's bundled server lives on this machine (Debian's rust-analyzer layout). */
export const RUST_ANALYZER_PROC_MACRO_SRV = "/usr/libexec/rust-analyzer-proc-macro-srv";

/** Spawns rust-analyzer's proc-macro server (it refuses to start without its internals variable). */
export function spawnRustAnalyzerServer(command: string = RUST_ANALYZER_PROC_MACRO_SRV): ProcMacroServerClient {
  return new ProcMacroServerClient({ command, env: { RUST_ANALYZER_INTERNALS_DO_NOT_USE: "1" } });
}
