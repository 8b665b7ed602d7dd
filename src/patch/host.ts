// The macrobox host the shims talk to: one Node process per socket, started by the first shim
// that finds no host, serving every rustc of the build (and of later builds) until it has been
// idle for a while. Each connection carries one expansion (shim-runtime.rs, protocol.ts).

import { existsSync, rmSync, statSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { dirname, isAbsolute, resolve } from "node:path";
import { loadMacroModule, type MacroModule } from "../index.js";
import { isPackageEnv } from "../sandbox/capabilities.js";
import { grantFor, loadGrants, type UserDirs } from "../node/index.js";
import { expansionSandbox } from "../node/expansion-sandbox.js";
import { pendingHint } from "../node/trust.js";
import { readModuleFile } from "../node/module-file.js";
import { ensurePrivateDir, HostSocketError, socketFileProblem } from "./host-socket.js";
import { moduleHash, nodeCaches } from "../node/disk-cache.js";
import { decodeRequest, encodeReply, type ShimRequest } from "./protocol.js";
import { withTracking } from "./tracking.js";
import { errorMessage } from "../errors.js";

/** How long the host waits for a connection before it exits. */
export const DEFAULT_IDLE_MS = 60_000;
/**
 * The largest request (and reply) on the socket: 256 MiB, far above any expansion (the request
 * holds rustc's env and the input's tokens and spans). `MACROBOX_HOST_MAX_MESSAGE` (bytes) sets it,
 * for the host and the shims alike (shim-runtime.rs reads the same variable).
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/**
 * How long a connection may send nothing while its request is incomplete (30 s; a shim writes its
 * whole request at once): a connection left open would otherwise keep the host, and its memory, forever.
 * `MACROBOX_HOST_READ_TIMEOUT_MS` sets it.
 */
export const DEFAULT_READ_TIMEOUT_MS = 30_000;
const PANIC_TITLES = ["proc macro panicked", "proc-macro derive panicked", "custom attribute panicked"];

export interface HostOptions {
  socket: string;
  idleMs?: number;
  /** A request whose length prefix is over this gets an error reply and the connection is closed. */
  maxMessageBytes?: number;
  /** A connection that sends nothing for this long before its request is complete is closed. */
  readTimeoutMs?: number;
  log?: (line: string) => void;
  /**
   * The user's directories (whose grants and trust store count): never taken from this process's
   * environment, which rustc passed on and a repository's `.cargo/config.toml` `[env]` can set.
   */
  dirs: UserDirs;
}

export async function runHost(options: HostOptions): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const caches = nodeCaches(process.env, { dirs: options.dirs });
  const limits = { maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, readTimeoutMs: options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS };
  const modules = new Map<string, Promise<MacroModule>>();
  const load = (path: string): Promise<MacroModule> => {
    let m = modules.get(path);
    if (m === undefined) {
      // A regular file within the bound, whatever path a shim names.
      const bytes = readModuleFile(path);
      m = loadMacroModule(bytes, { moduleCache: caches.moduleCache, expansionCache: caches.expansionCache ?? undefined, moduleHash: moduleHash(bytes) });
      m.catch(() => modules.delete(path));
      modules.set(path, m);
    }
    return m;
  };

  let active = 0;
  let timer: NodeJS.Timeout | null = null;
  const server = createServer((conn) => {
    active++;
    if (timer) clearTimeout(timer);
    serveConnection(conn, load, log, limits, options.dirs).finally(() => {
      active--;
      if (active === 0) armIdle();
    });
  });
  const armIdle = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      log("idle: exiting");
      server.close();
      try {
        unlinkSync(options.socket);
      } catch {
        // already gone
      }
    }, idleMs);
  };

  // The directory is the only guard of who may connect (Node cannot ask the peer's uid): host-socket.ts.
  ensurePrivateDir(dirname(options.socket));
  const problem = socketFileProblem(options.socket);
  if (problem !== null) throw new HostSocketError(`the macrobox host's socket ${problem}: remove it and build again`);
  await listen(server, options.socket);
  log(`listening on ${options.socket} (pid ${process.pid})`);
  armIdle();
  await new Promise<void>((done) => server.on("close", done));
}

/** Listens on the socket; a stale socket file is removed, a live host makes this one exit (exit code 0). */
async function listen(server: ReturnType<typeof createServer>, socket: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((ok, fail) => {
        server.once("error", fail);
        server.listen(socket, () => {
          server.off("error", fail);
          ok();
        });
      });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt > 0) throw e;
      if (await isAlive(socket)) process.exit(0); // another host answers: the shim connects to it
      // Stale; another host starting at the same time may have removed it already.
      rmSync(socket, { force: true });
    }
  }
}

function isAlive(socket: string): Promise<boolean> {
  return new Promise((answer) => {
    const c = createConnection(socket);
    c.once("connect", () => {
      c.destroy();
      answer(true);
    });
    c.once("error", () => answer(false));
  });
}

async function serveConnection(
  conn: Socket,
  load: (path: string) => Promise<MacroModule>,
  log: (line: string) => void,
  limits: { maxMessageBytes: number; readTimeoutMs: number },
  dirs: UserDirs,
): Promise<void> {
  const request = await new Promise<Buffer | { refused: string } | null>((done) => {
    let header = Buffer.alloc(0);
    let body: Buffer | null = null;
    let size = 0;
    conn.setTimeout(limits.readTimeoutMs, () => {
      log(`closed a connection that sent nothing for ${limits.readTimeoutMs} ms`);
      conn.destroy();
      done(null);
    });
    conn.on("data", (chunk: Buffer) => {
      if (body === null) {
        header = Buffer.concat([header, chunk]);
        if (header.length < 4) return;
        const expected = header.readUInt32LE(0);
        if (expected > limits.maxMessageBytes) {
          conn.pause();
          done({ refused: `a request of ${expected} bytes is over the host's bound of ${limits.maxMessageBytes} bytes (MACROBOX_HOST_MAX_MESSAGE)` });
          return;
        }
        body = Buffer.allocUnsafe(expected);
        chunk = header.subarray(4);
      }
      const take = Math.min(chunk.length, body.length - size);
      chunk.copy(body, size, 0, take);
      size += take;
      if (size === body.length) {
        conn.pause();
        done(body);
      }
    });
    conn.on("error", () => done(null));
    conn.on("end", () => done(null));
  });
  if (request === null) return;
  // The expansion may take long; the client waits for it (its own timeout bounds the wait).
  conn.setTimeout(0);
  let reply: Buffer;
  if ("refused" in request) {
    log(`refused: ${request.refused}`);
    reply = encodeReply({ kind: "error", message: `macrobox: ${request.refused}` }, { stdout: "", stderr: "" }, null);
  } else {
    try {
      reply = await expandRequest(decodeRequest(request), load, dirs);
    } catch (e) {
      log(`error: ${errorMessage(e)}`);
      reply = encodeReply({ kind: "error", message: `macrobox: ${errorMessage(e)}` }, { stdout: "", stderr: "" }, null);
    }
  }
  if ("refused" in request) {
    // The client may still be writing the rest: read and drop it (never kept) for up to the read
    // timeout, so that the close does not reset the connection before the client reads the reply.
    await new Promise<void>((done) => {
      const cutoff = setTimeout(() => conn.destroy(), limits.readTimeoutMs);
      conn.on("close", () => {
        clearTimeout(cutoff);
        done();
      });
      conn.on("data", () => {});
      conn.resume();
      conn.end(reply);
    });
    return;
  }
  await new Promise<void>((done) => {
    conn.on("close", () => done());
    conn.end(reply, () => {
      conn.destroy();
      done();
    });
  });
}

/** Settings notes already shown by this host: each once (every expansion of a build would repeat them), and again in a failure. */
const shownNotes = new Set<string>();

async function expandRequest(req: ShimRequest, load: (path: string) => Promise<MacroModule>, dirs: UserDirs): Promise<Buffer> {
  const module = await load(req.module);
  const crate = module.crate?.name ?? req.crate;
  // Grants come from the user (src/node/trust.ts): the workspace's request (`macrobox.toml` or
  // `[workspace.metadata.macrobox]`, in the directory the patch names in MACROBOX_WORKSPACE) once
  // trusted, for a crate being compiled whose real path lies inside it; the macro sees that crate.
  const workspace = req.env.MACROBOX_WORKSPACE ?? req.cwd;
  const decision = loadGrants({ dirs, cwd: workspace, crateDir: req.env.CARGO_MANIFEST_DIR ?? req.cwd });
  const hint = pendingHint(decision, crate);
  const sandbox = expansionSandbox({
    crate,
    declared: module.declared,
    granted: grantFor(decision.grants, crate),
    env: req.env,
    currentDir: req.cwd,
    ...(hint !== undefined ? { hint } : {}),
  });
  const result = await module.expand({ kind: req.kind, name: req.name, input: req.input, args: req.args, spans: req.spans, sandbox });
  const settingsNotes = decision.notes.filter((n) => result.output === undefined || !shownNotes.has(n));
  for (const n of settingsNotes) shownNotes.add(n);
  const notes = [...settingsNotes, ...result.denials.map((d) => d.note)].map((n) => `note: macrobox: ${n}\n`).join("");
  const printed = { stdout: result.stdout, stderr: result.stderr + notes };
  if (result.output === undefined) {
    const err = result.error!;
    if (err.kind === "panic") {
      const title = PANIC_TITLES.find((t) => err.message === t || err.message.startsWith(`${t}: `));
      // rustc prints a panic without a message as "proc macro panicked" with no help line; an
      // empty payload is the closest a shim can panic with.
      const message = title === undefined ? err.message : err.message.slice(title.length + 2);
      return encodeReply({ kind: "panic", message }, printed, null);
    }
    return encodeReply({ kind: "error", message: `macrobox: ${crate}: ${err.message}` }, printed, null);
  }
  const trackedFiles = new Set<string>();
  for (const read of result.reads) {
    const path = isAbsolute(read) ? read : resolve(sandbox.crateDir ?? req.cwd, read);
    try {
      if (statSync(path).isFile()) trackedFiles.add(path);
    } catch {
      // gone since: nothing to track
    }
  }
  // The package env is cargo's own: cargo rebuilds the crate when it changes.
  const trackedEnv = new Set<string>(result.trackedEnv.map((e) => e.name).filter((name) => !isPackageEnv(name)));
  for (const name of sandbox.granted.env) if (!/[*?[]/.test(name) && !isPackageEnv(name)) trackedEnv.add(name);
  const { output } = withTracking(req.kind, result.output, [...trackedFiles].sort(), [...trackedEnv].sort(), req.callSite);
  return encodeReply({ kind: "output", output }, printed, req.toShim);
}

export function socketExists(socket: string): boolean {
  return existsSync(socket);
}
