// The wall-clock backstop of the command line (Node only).
//
// A synchronous wasm call cannot be interrupted from its own thread, so fuel is the real bound on
// a macro. This watchdog is the backstop behind it: a small worker thread that, when an expansion
// outlives its deadline, prints why and ends the process. It is for one-shot commands
// (`macrobox expand`); a long-running host should run expansions in a Worker it can terminate.

import { Worker } from "node:worker_threads";

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { writeSync } = require("node:fs");
let timer = null;
parentPort.on("message", (m) => {
  clearTimeout(timer);
  if (m.type !== "arm") return;
  timer = setTimeout(() => {
    writeSync(2, m.message + "\\n");
    process.kill(process.pid, "SIGKILL");
  }, m.ms);
});
`;

export class Watchdog {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });

  constructor() {
    // The watchdog never keeps the process alive by itself.
    this.worker.unref();
  }

  /** Ends the process with `message` unless disarmed within `ms` milliseconds. */
  arm(ms: number, message: string): void {
    if (Number.isFinite(ms)) this.worker.postMessage({ type: "arm", ms, message });
  }

  disarm(): void {
    this.worker.postMessage({ type: "disarm" });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
