// The answer index: replies a shim may give without asking the host (shim-runtime.rs
// `macrobox_indexed` is the reader).
//
// An edit-compile loop expands every macro of the edited crate again, and a hit in the host's
// expansion cache still costs a round trip per macro (connect, two thread hand-offs, decoding the
// request, encoding the reply) where a native macro runs in rustc's own process. So for an
// expansion that asked nothing but its tokens (the host's `selfContained`: no position question,
// no source text, no file-system question, no refusal; and here: no grant of env vars, nothing
// printed, nothing tracked, no settings note), the host writes its reply into a directory next to
// its socket, under a key the shim can build from what it is about to send:
//
// - the module (content-addressed path), the crate, the macro, the current directory;
// - what decides the grants, and what the macro can see of the env without one:
//   MACROBOX_WORKSPACE, the package env (`PACKAGE_ENV`, each present one with its value), and the
//   real path of the crate directory;
// - the span table with each file's lines made relative to its first spanned line (columns as
//   they are): an item that moved keeps its key, as in the expansion cache (no position question
//   was asked, so nothing else about where it sits can matter; the reply names spans by the
//   shim's own indices);
// - the token bytes as sent.
//
// The grants themselves are a function of the user's settings file, the trust store and the
// workspace's settings file: the entry holds each one's version (inode, size, modification and
// change times; or absent), and the shim compares them before it answers, so a changed grant or
// trust asks the host again. With no env var granted the macro sees exactly the package env, and
// whatever it may read of the file system it did not ask for: the grants cannot change the reply.
//
// The file is named by the key's FNV-1a hash; it holds the key itself, which the shim compares
// byte for byte (a hash can be made to collide), the versions, then the reply. The directory is
// inside the socket's private directory (host-socket.ts: the user's own, 0700), which the shim
// verifies like the socket's; entries are written to a temporary name and renamed. A shim that
// finds no entry, a different key, a changed version or bytes it cannot decode asks the host,
// saying in its request that it reads this index (only then is the reply written: a shim told
// MACROBOX_SHIM_ANSWERS=off, or sent to another host by MACROBOX_HOST_SOCKET, never reads it).

import { closeSync, lstatSync, openSync, readdirSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ByteWriter } from "../bytes.js";
import { PACKAGE_ENV } from "../sandbox/capabilities.js";
import { trustStorePath, userSettingsPath } from "../node/trust.js";
import type { UserDirs } from "../node/index.js";
import { version } from "../version.js";
import { EXPANSION_CACHE_FORMAT } from "../host/cache.js";
import { fnv1a64, type ShimRequest } from "./protocol.js";
import { ensurePrivateDir } from "./host-socket.js";

/**
 * Bump when the key, the entry or the reply format changes: the directory's name changes with it
 * (as it does with the expansion cache's format, bumped when what an expansion returns changes,
 * and with macrobox's version).
 */
export const ANSWER_INDEX_FORMAT = 1;

/** The first string of every key (shim-runtime.rs writes the same). */
export const ANSWER_KEY_TAG = "macrobox-answer-1";

/**
 * At most this many bytes of entries are kept, the oldest out first (`pruneAnswers`): the socket's
 * directory is usually `$XDG_RUNTIME_DIR`, a tmpfs in memory. A reply over an eighth of it is not
 * indexed.
 */
export const ANSWER_INDEX_MAX_BYTES = 32 * 1024 * 1024;

/** A writer prunes the index after writing this many bytes (host.ts also prunes when it starts). */
const PRUNE_EVERY_BYTES = ANSWER_INDEX_MAX_BYTES / 4;

const KIND_CODES = { derive: 0, attr: 1, bang: 2 } as const;

/** The index of the host at `socket`: beside it, named by the format and macrobox's version. */
export function answersDir(socket: string): string {
  return `${socket.replace(/\.sock$/, "")}.answers-${ANSWER_INDEX_FORMAT}.${EXPANSION_CACHE_FORMAT}-${version}`;
}

/** The key of a request (shim-runtime.rs `macrobox_answer_key` builds the same bytes). */
export function answerKey(req: ShimRequest): Uint8Array {
  const w = new ByteWriter();
  w.str(ANSWER_KEY_TAG);
  w.str(req.module);
  w.str(req.crate);
  w.u8(KIND_CODES[req.kind]);
  w.str(req.name);
  w.str(req.cwd);
  const workspace = req.env.MACROBOX_WORKSPACE;
  if (workspace === undefined) w.u8(0);
  else w.u8(1).str(workspace);
  const packageEnv = [...PACKAGE_ENV].sort().filter((name) => req.env[name] !== undefined);
  w.u32le(packageEnv.length);
  for (const name of packageEnv) w.str(name).str(req.env[name]!);
  const real = realPathOrNull(req.env.CARGO_MANIFEST_DIR ?? req.cwd);
  if (real === null) w.u8(0);
  else w.u8(1).str(real);
  const bases = new Map<string, number>();
  for (const s of req.shimSpans) bases.set(s.file, Math.min(bases.get(s.file) ?? s.line, s.line));
  w.u32le(req.shimSpans.length);
  for (const s of req.shimSpans) {
    const base = bases.get(s.file)!;
    w.str(s.file);
    if (s.localFile === null) w.u8(0);
    else w.u8(1).str(s.localFile);
    // Wrapping as the shim's u32 arithmetic does (an end line above the start's is rustc's to give).
    w.u32le((s.line - base) >>> 0);
    w.u32le(s.column);
    w.u32le((s.endLine - base) >>> 0);
    w.u32le(s.endColumn);
  }
  w.bytes(req.body);
  return w.view().slice();
}

/** The files whose versions the grants of this request are decided by (host-expand.ts `loadGrants`). */
export function grantFiles(dirs: UserDirs, req: ShimRequest): string[] {
  const workspace = resolve(req.env.MACROBOX_WORKSPACE ?? req.cwd);
  return [userSettingsPath(dirs), trustStorePath(dirs), join(workspace, "macrobox.toml"), join(workspace, "Cargo.toml")];
}

/** A file's version as the shim computes it (`macrobox_file_version`): `-` when it cannot be stat'ed. */
export function answerFileVersion(path: string): string {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return "-";
  }
}

/** The entry's file name: the key's FNV-1a hash in hex. */
export function answerFileName(key: Uint8Array): string {
  return fnv1a64(key).toString(16).padStart(16, "0");
}

/** An entry: the key, the grant files' versions, then the reply's payload (unframed). */
export function encodeAnswer(key: Uint8Array, versions: ReadonlyArray<readonly [string, string]>, reply: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.u32le(key.length).bytes(key);
  w.u32le(versions.length);
  for (const [path, v] of versions) w.str(path).str(v);
  w.bytes(reply);
  return w.view().slice();
}

/** Writes entries into the index directory (made private here when absent). */
export class AnswerIndex {
  private ready = false;
  private sincePrune = 0;

  constructor(readonly dir: string) {}

  /**
   * Writes the entry for `req` (its reply framed as sent). The grant files are stat'ed after the
   * decision that produced the reply: a change in between makes the entry miss, never lie.
   * Failures are ignored: the index is only a shortcut.
   */
  write(dirs: UserDirs, req: ShimRequest, framedReply: Uint8Array): void {
    try {
      if (!this.ready) {
        ensurePrivateDir(this.dir);
        this.ready = true;
      }
      const key = answerKey(req);
      const versions = grantFiles(dirs, req).map((p) => [p, answerFileVersion(p)] as const);
      const entry = encodeAnswer(key, versions, framedReply.subarray(4));
      if (entry.length > ANSWER_INDEX_MAX_BYTES / 8) return;
      const path = join(this.dir, answerFileName(key));
      const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
      // Not synced: a file cut short by a crash does not decode, and the shim then asks the host.
      const fd = openSync(tmp, "wx", 0o600);
      try {
        writeSync(fd, entry);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      this.sincePrune += entry.length;
      if (this.sincePrune > PRUNE_EVERY_BYTES) {
        this.sincePrune = 0;
        pruneAnswers(this.dir);
      }
    } catch {
      // a full disk, a directory that is not ours: the shim asks the host, as without the index
    }
  }
}

/**
 * Keeps the index within `maxBytes` (oldest entries out first, down to three quarters of it) and
 * removes the indexes of other formats and versions of the same host, and temporary files left by
 * a host that died mid-write.
 */
export function pruneAnswers(dir: string, maxBytes = ANSWER_INDEX_MAX_BYTES): void {
  const parent = dirname(dir);
  const stem = basename(dir).replace(/\.answers-.*$/, ".answers-");
  try {
    for (const name of readdirSync(parent)) {
      if (name.startsWith(stem) && name !== basename(dir)) rmSync(join(parent, name), { recursive: true, force: true });
    }
  } catch {
    // no socket directory yet
  }
  let entries: { path: string; size: number; mtime: number }[];
  try {
    entries = readdirSync(dir).map((name) => {
      const path = join(dir, name);
      const st = lstatSync(path);
      return { path, size: st.size, mtime: st.mtimeMs };
    });
  } catch {
    return;
  }
  // A temporary file is an entry being written (left alone), or one a host died writing (removed).
  const now = Date.now();
  for (const e of entries) if (e.path.includes(".tmp-") && now - e.mtime > 60_000) unlinkQuietly(e.path);
  entries = entries.filter((e) => !e.path.includes(".tmp-"));
  let total = entries.reduce((n, e) => n + e.size, 0);
  if (total <= maxBytes) return;
  entries.sort((a, b) => a.mtime - b.mtime);
  for (const e of entries) {
    if (total <= (maxBytes * 3) / 4) break;
    unlinkQuietly(e.path);
    total -= e.size;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

function realPathOrNull(path: string): string | null {
  try {
    return realpathSync.native(path);
  } catch {
    return null;
  }
}
