// Where the cargo host's socket lives, and the checks that make it the user's own.
//
// The socket carries every expansion's request (all of rustc's env vars, secrets included) and the
// host's answer is compiled into the build: whoever can listen there, or rename the socket, owns
// the build. So the socket sits in a directory only the user can enter: `$XDG_RUNTIME_DIR/macrobox`
// when XDG_RUNTIME_DIR is the user's own (owned, 0700), else `<cache root>/run`. Never a shared
// directory such as /tmp, where another local user could create it first.
//
// Node has no SO_PEERCRED, so the host cannot ask who connected; the directory is the defence: a
// directory that is not a symbolic link, owned by this uid, mode 0700, lets no one else connect,
// bind, rename or plant a link. The host checks it before binding, every shim (shim-runtime.rs,
// the same rules) before connecting and before starting a host, and `macrobox patch` before
// baking the path into a shim.

import { lstatSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { cacheRoot } from "../node/cache-env.js";
import { MacroboxError, systemErrorReason } from "../errors.js";

/** sun_path holds 108 bytes on Linux, the last a NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

export class HostSocketError extends MacroboxError {
  override name = "HostSocketError";
  constructor(message: string) {
    super("host-socket", message);
  }
}

function euid(): number {
  return process.geteuid?.() ?? -1;
}

/**
 * The directories the host's socket may live in, best first: `$XDG_RUNTIME_DIR/macrobox` when
 * XDG_RUNTIME_DIR is set and is the user's own, then `<cache root>/run`.
 */
export function socketDirCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && runtime.startsWith("/") && privateDirProblem(runtime) === null) out.push(join(runtime, "macrobox"));
  out.push(join(cacheRoot(env), "run"));
  return out;
}

/**
 * The socket path for `name` (e.g. `host-<hash>.sock`): the first candidate directory where the
 * whole path fits in sun_path, created and verified. A path too long everywhere is an error
 * naming the directories and the way out.
 */
export function hostSocketPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const candidates = socketDirCandidates(env);
  for (const dir of candidates) {
    const path = join(dir, name);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) continue;
    ensurePrivateDir(dir);
    return path;
  }
  throw new HostSocketError(
    `the macrobox host's socket path would be longer than a Unix socket path may be (${MAX_SOCKET_PATH_BYTES} bytes) in every candidate directory (${candidates.map((d) => join(d, name)).join(", ")}): set MACROBOX_CACHE (or XDG_RUNTIME_DIR) to a shorter directory of your own`,
  );
}

/** What is wrong with `dir` as a private directory (null: nothing; it exists, is no link, is ours, mode 0700). */
export function privateDirProblem(dir: string): string | null {
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    return `cannot be inspected (${systemErrorReason(e)})`;
  }
  if (st.isSymbolicLink()) return "is a symbolic link";
  if (!st.isDirectory()) return "is not a directory";
  if (st.uid !== euid()) return `is owned by uid ${st.uid}, not by this user (uid ${euid()})`;
  if ((st.mode & 0o777) !== 0o700) return `has mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}, not 0700 (group or others could enter it)`;
  return null;
}

/**
 * Makes sure `dir` is a private directory of this user: created 0700 when absent (its parents
 * with the default mode), then verified by lstat, never trusted because it exists. Refuses a
 * directory that fails the checks (it is not repaired: someone else may have made it).
 */
export function ensurePrivateDir(dir: string): void {
  let exists = true;
  try {
    lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT")
      throw new HostSocketError(`the macrobox host's socket directory ${dir} cannot be inspected: ${(e as Error).message}`);
    exists = false;
  }
  if (!exists) {
    mkdirSync(dirname(dir), { recursive: true });
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      // Created meanwhile (another host or shim): verified below like any other.
      if ((e as NodeJS.ErrnoException).code !== "EEXIST")
        throw new HostSocketError(`cannot create the macrobox host's socket directory ${dir}: ${(e as Error).message}`);
    }
  }
  const problem = privateDirProblem(dir);
  if (problem !== null)
    throw new HostSocketError(
      `the macrobox host's socket directory ${dir} ${problem}: it must be a directory of your own with mode 0700. Remove it (or fix it: \`chmod 700\`) and build again`,
    );
}

/** The socket file at `path`, when present, must be a socket owned by this user. */
export function socketFileProblem(path: string): string | null {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return null;
  }
  if (!st.isSocket()) return `${path} is not a socket`;
  if (st.uid !== euid()) return `${path} is owned by uid ${st.uid}, not by this user (uid ${euid()})`;
  return null;
}
