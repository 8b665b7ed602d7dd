// A worker thread of the cargo host (host.ts starts one per core, at most): expands the requests
// the main thread hands it, one at a time, and posts each reply back. The main thread keeps the
// sockets, the bounds and the idle clock; a worker holds its own loaded modules (host-expand.ts).

import { parentPort, workerData } from "node:worker_threads";
import type { UserDirs } from "../node/index.js";
import { HostExpander } from "./host-expand.js";

/** What the main thread sends: one request's bytes, and the settings notes already shown. */
export interface HostJob {
  id: number;
  request: Uint8Array;
  shown: string[];
}

/** What a worker answers. */
export interface HostJobDone {
  id: number;
  reply: Uint8Array;
  notes: string[];
  /** Why the request got an error reply (for the host's log). */
  error?: string;
  /** The expansion was answered from the expansion cache (for the host's log). */
  fromCache: boolean;
}

const port = parentPort!;
const data = workerData as { dirs: UserDirs; answers: string | null };
const expander = new HostExpander(data.dirs, data.answers);
port.on("message", (job: HostJob) => {
  void expander.reply(job.request, new Set(job.shown)).then(({ reply, notes, error, fromCache }) => {
    const done: HostJobDone = { id: job.id, reply, notes, fromCache: fromCache === true, ...(error !== undefined ? { error } : {}) };
    // Copied, not transferred: a small Buffer shares Node's pool with others.
    port.postMessage(done);
  });
});
