// Granted capabilities served to a macro through WASI preview1: a read-only preopened directory
// (fd 3, "/", in which the crate directory appears at its real absolute path, `crateDir`, and
// nothing else does) and the visible environment variables: the granted ones and the package env
// (`PACKAGE_ENV` in capabilities.ts), with CARGO_MANIFEST_DIR the crate directory as the macro sees it.
//
// `WasiCapabilities` are those WASI functions for one instance, made by the expansion's
// `CapabilitySession` (grant.ts), which holds the grant and records reads, env vars and refusals.
//
// What the macro sees is what an OS would answer: EACCES ("Permission denied") for paths outside
// the grant, `..` escapes and symbolic links leading out of the granted paths; EROFS for any
// attempt to write, create or truncate; ENOENT for granted paths that do not exist; an
// environment holding only the visible variables (so `std::env::var` of anything else is
// `NotPresent`, as if unset).
//
// wasi-libc finds its preopens in a constructor (`__wasm_call_ctors`) by asking fd_prestat_get for
// fd 3, 4, ... until EBADF; paths are then resolved against the longest matching preopen. Ours is
// "/", stored as the empty prefix, so every path arrives here relative to fd 3 with its leading "/"
// stripped. When the module links wasi-libc's chdir (`LibcPaths.joinsRelativePaths`), wasi-libc
// first makes relative paths absolute against its current directory, which the host sets to
// `currentDir` (src/bridge/run-client.ts): a path then arrives absolute. Otherwise a relative and an
// absolute path look the same: one inside the crate directory is taken as absolute, anything else
// as relative to `currentDir`. Either way the result is checked against the grant (`check`): only
// the crate directory's granted paths are visible, `..` that climbs out of it is refused, and the
// directories on the way to it (its ancestors) can be passed through (stat, open to resolve beneath)
// but not listed or read, so that realpath and `metadata` of absolute paths inside a grant work.
// Symbolic links inside the grant whose text stays on that way show as links (`shownLink`).
//
// Browser-safe: no Node APIs here.

import { pathAbove, pathInside, readAllowed, readLeadsTo, resolveAbsolute, type DenialReason } from "./capabilities.js";
import { FsError, type FsEntry, type FsFileType } from "./fs.js";
import { Errno, type Wasi, type WasiExtension } from "./wasi.js";
import type { WasiFunction } from "./host-imports.js";
import type { CapabilitySession } from "./grant.js";

const E = Errno;
const FILETYPE: Record<FsFileType | "chardev" | "link", number> = { chardev: 2, directory: 3, file: 4, link: 7, other: 0 };
const LOOKUP_SYMLINK_FOLLOW = 1;
const OFLAGS_CREAT = 1,
  OFLAGS_DIRECTORY = 2,
  OFLAGS_EXCL = 4,
  OFLAGS_TRUNC = 8;
const FDFLAGS_APPEND = 1;
const RIGHT_FD_WRITE = 1n << 6n,
  RIGHT_FD_ALLOCATE = 1n << 8n,
  RIGHT_FD_FILESTAT_SET_SIZE = 1n << 22n,
  RIGHT_FD_DATASYNC = 1n;
const WRITE_RIGHTS = RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE | RIGHT_FD_DATASYNC;
const ALL_RIGHTS = (1n << 30n) - 1n;
const READ_RIGHTS = ALL_RIGHTS & ~WRITE_RIGHTS;
const PREOPEN_FD = 3;
/** Fuel units for a file system lookup (realpath, stat, open: system calls, tens of microseconds). */
const FS_LOOKUP_COST = 20_000;
/** Largest file served (read whole at open): bigger ones are EFBIG. A macro's memory is smaller anyway. */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;
/** Longest path a macro may pass (PATH_MAX): longer ones are ENAMETOOLONG, never decoded. */
export const MAX_PATH_BYTES = 4096;

/**
 * A directory the macro may pass through but not list (see `check`): one of the crate directory's
 * ancestors (`path` null), or the crate directory itself when nothing in it can be read (nothing
 * granted, or no `fs`; `path` "").
 * `reason`: the refusal a listing gets.
 */
interface Passage {
  path: string | null;
  reason: DenialReason;
}

type OpenFd =
  | { kind: "file"; path: string; data: Uint8Array; pos: number }
  // `path`: relative to the crate directory; `abs`: where the macro sees it (absent for the crate's own entries: crateDir/path).
  | { kind: "dir"; path: string; entries: FsEntry[] | null; granted: boolean; abs?: string; passage?: Passage };

/**
 * What `check` found: a file or directory of the crate to serve (`realPath`: where it leads, links
 * followed), or a directory to pass through.
 */
type Checked = { type: FsFileType; size: number; realPath?: string; passage?: Passage };

/** The preview1 functions a grant serves (`WasiCapabilities.extension` has exactly these). */
const CAPABILITY_FUNCTION_NAMES = [
  "environ_sizes_get",
  "environ_get",
  "fd_prestat_get",
  "fd_prestat_dir_name",
  "fd_fdstat_get",
  "fd_read",
  "fd_pread",
  "fd_seek",
  "fd_tell",
  "fd_close",
  "fd_filestat_get",
  "fd_advise",
  "fd_readdir",
  "path_open",
  "path_filestat_get",
  "path_readlink",
] as const satisfies readonly WasiFunction[];
type CapabilityFunction = (typeof CAPABILITY_FUNCTION_NAMES)[number];
export const CAPABILITY_FUNCTIONS: ReadonlySet<WasiFunction> = new Set(CAPABILITY_FUNCTION_NAMES);

/** The preview1 functions of one instance. */
export class WasiCapabilities {
  private readonly fds = new Map<number, OpenFd>();
  private nextFd = PREOPEN_FD + 1;
  private readonly maxOpen: number;

  constructor(
    private readonly session: CapabilitySession,
    private readonly wasi: Wasi,
  ) {
    // "/" is the crate directory itself, or the first directory on the way to it (see `check`).
    const root: OpenFd = { kind: "dir", path: "", entries: null, granted: false, abs: "/" };
    if (session.crateDir !== "/") root.passage = { path: null, reason: "outside" };
    this.fds.set(PREOPEN_FD, root);
    this.maxOpen = session.grant.maxOpenFiles ?? 64;
  }

  extension(): WasiExtension {
    const w = this.wasi;
    const std = (fd: number) => fd <= 2;
    const functions: Record<CapabilityFunction, (...args: never[]) => number> = {
      environ_sizes_get: (count: number, size: number) => this.environSizes(count, size),
      environ_get: (environ: number, buf: number) => this.environGet(environ, buf),
      fd_prestat_get: (fd: number, ptr: number) => this.prestatGet(fd, ptr),
      fd_prestat_dir_name: (fd: number, ptr: number, len: number) => this.prestatDirName(fd, ptr, len),
      fd_fdstat_get: (fd: number, ptr: number) => (std(fd) ? w.fd_fdstat_get(fd, ptr) : this.fdstatGet(fd, ptr)),
      fd_read: (fd: number, iovs: number, n: number, nread: number) => (std(fd) ? w.fd_read(fd, iovs, n, nread) : this.read(fd, iovs, n, nread, null)),
      fd_pread: (fd: number, iovs: number, n: number, offset: bigint, nread: number) => (std(fd) ? E.SPIPE : this.read(fd, iovs, n, nread, offset)),
      fd_seek: (fd: number, offset: bigint, whence: number, out: number) => (std(fd) ? w.fd_seek(fd, offset, whence, out) : this.seek(fd, offset, whence, out)),
      fd_tell: (fd: number, out: number) => (std(fd) ? E.SPIPE : this.seek(fd, 0n, 1, out)),
      fd_close: (fd: number) => (std(fd) ? w.fd_close(fd) : this.close(fd)),
      fd_filestat_get: (fd: number, buf: number) => this.fdFilestat(fd, buf),
      fd_advise: (fd: number) => (std(fd) || this.fds.has(fd) ? E.SUCCESS : E.BADF),
      fd_readdir: (fd: number, buf: number, len: number, cookie: bigint, used: number) => this.readdir(fd, buf, len, cookie, used),
      path_open: (
        fd: number,
        _dirflags: number,
        ptr: number,
        len: number,
        oflags: number,
        rightsBase: bigint,
        _rightsInh: bigint,
        fdflags: number,
        out: number,
      ) => this.pathOpen(fd, ptr, len, oflags, rightsBase, fdflags, out),
      path_filestat_get: (fd: number, flags: number, ptr: number, len: number, buf: number) => this.pathFilestat(fd, flags, ptr, len, buf),
      path_readlink: (fd: number, ptr: number, len: number, buf: number, bufLen: number, used: number) => this.pathReadlink(fd, ptr, len, buf, bufLen, used),
    };
    return { functions };
  }

  // ---- memory helpers ----

  private mem(): WebAssembly.Memory | null {
    return this.wasi.boundMemory();
  }

  private ok(ptr: number, len: number): boolean {
    const m = this.mem();
    return m !== null && ptr >= 0 && len >= 0 && ptr + len <= m.buffer.byteLength;
  }

  private view(): DataView {
    return new DataView(this.mem()!.buffer);
  }

  private str(ptr: number, len: number): string | null {
    if (!this.ok(ptr, len)) return null;
    return new TextDecoder("utf-8", { fatal: false }).decode(new Uint8Array(this.mem()!.buffer, ptr, len));
  }

  // ---- environment ----

  private environBytes(): Uint8Array[] {
    const enc = new TextEncoder();
    return this.session.environment().map(([k, v]) => enc.encode(`${k}=${v}\0`));
  }

  private environSizes(countPtr: number, sizePtr: number): number {
    if (!this.ok(countPtr, 4) || !this.ok(sizePtr, 4)) return E.FAULT;
    const vars = this.environBytes();
    this.view().setUint32(countPtr, vars.length, true);
    this.view().setUint32(
      sizePtr,
      vars.reduce((n, b) => n + b.length, 0),
      true,
    );
    return E.SUCCESS;
  }

  private environGet(environPtr: number, bufPtr: number): number {
    const vars = this.environBytes();
    const total = vars.reduce((n, b) => n + b.length, 0);
    if (!this.ok(environPtr, 4 * vars.length) || !this.ok(bufPtr, total)) return E.FAULT;
    const v = this.view();
    let at = bufPtr;
    vars.forEach((b, i) => {
      v.setUint32(environPtr + 4 * i, at, true);
      new Uint8Array(this.mem()!.buffer, at, b.length).set(b);
      at += b.length;
    });
    this.session.environRead();
    return E.SUCCESS;
  }

  // ---- the preopen ----

  private prestatGet(fd: number, ptr: number): number {
    if (fd !== PREOPEN_FD || !this.fds.has(fd)) return E.BADF;
    if (!this.ok(ptr, 8)) return E.FAULT;
    const v = this.view();
    v.setUint32(ptr, 0, true); // tag: dir (u8, padded)
    v.setUint32(ptr + 4, 1, true); // name length
    return E.SUCCESS;
  }

  // The preopen is "/": absolute paths reach it (wasi-libc stores it as the empty prefix, as it would ".").

  private prestatDirName(fd: number, ptr: number, len: number): number {
    if (fd !== PREOPEN_FD || !this.fds.has(fd)) return E.BADF;
    if (len < 1 || !this.ok(ptr, 1)) return E.FAULT;
    this.view().setUint8(ptr, "/".charCodeAt(0));
    return E.SUCCESS;
  }

  // ---- opening ----

  /**
   * The path `fd` + `path` names: where the macro sees it (`abs`), and where that is in the crate
   * directory (`path`, relative; null when outside it). `dotdot`: it climbed with `..`.
   */
  private target(fd: number, ptr: number, len: number): { path: string | null; abs: string; dotdot: boolean } | number {
    const dir = this.fds.get(fd);
    if (!dir) return E.BADF;
    if (dir.kind !== "dir") return E.NOTDIR;
    if (len > MAX_PATH_BYTES) return E.NAMETOOLONG;
    if (!this.wasi.charge(FS_LOOKUP_COST + len)) return E.NOSPC;
    const asked = this.str(ptr, len);
    if (asked === null) return E.FAULT;
    const s = this.session;
    if (asked.includes("\0")) return { path: null, abs: asked, dotdot: false };
    let r = resolveAbsolute(dir.abs ?? s.absolute(dir.path), asked);
    if (fd === PREOPEN_FD && !s.libc.joinsRelativePaths && pathInside(s.crateDir, r.abs) === null) {
      // A relative path wasi-libc did not make absolute (it looks the same as an absolute one).
      r = resolveAbsolute(s.currentDir, asked);
    }
    return { path: pathInside(s.crateDir, r.abs), abs: r.abs, dotdot: r.dotdot };
  }

  /**
   * Checks a read of `t` against the grant and the file system; returns what it is, or the errno
   * (recording the denial). The one place deciding what a path gives the macro.
   *
   * The directories on the way to the crate directory (its ancestors, and the crate directory
   * itself when nothing in it can be read) are passages: they stat as directories (a fixed stat,
   * like every stat here) and open as directories to resolve paths beneath, so that realpath, which
   * looks at each component of a path, and `metadata`/`read_dir` of absolute paths inside a grant
   * work as natively. Listing one is refused, like a Unix directory with search but no read
   * permission (mode 0711): a listing showing only the way down would differ from native without a
   * word, a refusal comes with a note. Nothing is read from them: the crate directory's real path
   * is known (CARGO_MANIFEST_DIR), so its ancestors exist and are directories.
   */
  private check(t: { path: string | null; abs: string; dotdot: boolean }, wantDir: boolean): Checked | number {
    const s = this.session;
    const { path, abs } = t;
    if (path === null) {
      const reason = t.dotdot ? "escape" : "outside";
      if (pathAbove(s.crateDir, abs)) return { type: "directory", size: 0, passage: { path: null, reason } };
      s.denyRead(null, abs, reason);
      return E.ACCES;
    }
    const g = s.grant.granted;
    const fs = s.grant.fs;
    const granted = readAllowed(g, path) || readLeadsTo(g, path);
    if (!granted || !fs) {
      const reason = granted ? "no-root" : s.readReason(path);
      if (path === "") return { type: "directory", size: 0, passage: { path, reason } };
      s.denyRead(path, abs, reason);
      return E.ACCES;
    }
    let st;
    try {
      st = fs.stat(path);
    } catch (e) {
      if (e instanceof FsError && e.fsCode === "OUTSIDE") {
        s.denyRead(path, abs, "symlink");
        return E.ACCES;
      }
      if (readAllowed(g, path)) s.recordRead(path); // a granted path that does not exist (yet)
      return fsErrno(e);
    }
    const allowedAt = (p: string) => readAllowed(g, p) || (st.type === "directory" && readLeadsTo(g, p));
    if (!allowedAt(path) || (st.type !== "directory" && !readAllowed(g, path))) {
      s.denyRead(path, abs, s.readReason(path));
      return E.ACCES;
    }
    if (st.realPath !== path && !allowedAt(st.realPath)) {
      s.denyRead(path, abs, "symlink");
      return E.ACCES;
    }
    if (wantDir && st.type !== "directory") return E.NOTDIR;
    // Devices, pipes and sockets could block the host or never end: only files and directories.
    if (st.type === "other") return E.ACCES;
    return st;
  }

  private pathOpen(fd: number, ptr: number, len: number, oflags: number, rightsBase: bigint, fdflags: number, out: number): number {
    const t = this.target(fd, ptr, len);
    if (typeof t === "number") return t;
    if (!this.ok(out, 4)) return E.FAULT;
    if (
      (oflags & (OFLAGS_CREAT | OFLAGS_TRUNC | OFLAGS_EXCL)) !== 0 ||
      (BigInt.asUintN(64, rightsBase) & WRITE_RIGHTS) !== 0n ||
      (fdflags & FDFLAGS_APPEND) !== 0
    ) {
      this.session.denyRead(t.path, t.abs, "write");
      return E.ROFS;
    }
    const st = this.check(t, (oflags & OFLAGS_DIRECTORY) !== 0);
    if (typeof st === "number") return st;
    if (this.fds.size >= this.maxOpen) return E.MFILE;
    let entry: OpenFd;
    if (st.passage) {
      entry = { kind: "dir", path: t.path ?? "", entries: null, granted: false, abs: t.abs, passage: st.passage };
    } else if (st.type === "directory") {
      entry = { kind: "dir", path: t.path!, entries: null, granted: readAllowed(this.session.grant.granted, t.path!) };
    } else {
      let data: Uint8Array;
      if (st.size > MAX_FILE_BYTES) return E.FBIG;
      if (!this.wasi.charge(st.size)) return E.NOSPC;
      try {
        data = this.session.grant.fs!.readFile(t.path!);
      } catch (e) {
        return fsErrno(e);
      }
      entry = { kind: "file", path: t.path!, data, pos: 0 };
    }
    // A passage is not read: nothing to record.
    if (!st.passage) this.session.recordRead(t.path || ".");
    const newFd = this.nextFd++;
    this.fds.set(newFd, entry);
    this.view().setUint32(out, newFd, true);
    return E.SUCCESS;
  }

  private close(fd: number): number {
    return this.fds.delete(fd) ? E.SUCCESS : E.BADF;
  }

  // ---- reading ----

  private read(fd: number, iovs: number, iovsLen: number, nreadPtr: number, offset: bigint | null): number {
    const f = this.fds.get(fd);
    if (!f) return E.BADF;
    if (f.kind !== "file") return E.ISDIR;
    if (!this.ok(iovs, iovsLen * 8) || !this.ok(nreadPtr, 4)) return E.FAULT;
    const v = this.view();
    let pos = offset === null ? f.pos : Number(BigInt.asUintN(64, offset) > BigInt(f.data.length) ? BigInt(f.data.length) : offset);
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      const ptr = v.getUint32(iovs + 8 * i, true);
      const len = v.getUint32(iovs + 8 * i + 4, true);
      if (!this.ok(ptr, len)) return E.FAULT;
      const n = Math.max(0, Math.min(len, f.data.length - pos));
      if (!this.wasi.charge(n)) return E.NOSPC;
      new Uint8Array(this.mem()!.buffer, ptr, n).set(f.data.subarray(pos, pos + n));
      pos += n;
      total += n;
      if (n < len) break;
    }
    if (offset === null) f.pos = pos;
    v.setUint32(nreadPtr, total, true);
    return E.SUCCESS;
  }

  private seek(fd: number, offset: bigint, whence: number, out: number): number {
    const f = this.fds.get(fd);
    if (!f) return E.BADF;
    if (f.kind !== "file") return E.ISDIR;
    if (!this.ok(out, 8)) return E.FAULT;
    const base = whence === 0 ? 0n : whence === 1 ? BigInt(f.pos) : whence === 2 ? BigInt(f.data.length) : null;
    if (base === null) return E.INVAL;
    const pos = base + BigInt.asIntN(64, offset);
    if (pos < 0n || pos > BigInt(Number.MAX_SAFE_INTEGER)) return E.INVAL;
    f.pos = Number(pos);
    this.view().setBigUint64(out, pos, true);
    return E.SUCCESS;
  }

  // ---- metadata ----

  private fdstatGet(fd: number, ptr: number): number {
    const f = this.fds.get(fd);
    if (!f) return E.BADF;
    if (!this.ok(ptr, 24)) return E.FAULT;
    const v = this.view();
    v.setUint8(ptr, f.kind === "dir" ? FILETYPE.directory : FILETYPE.file);
    v.setUint16(ptr + 2, 0, true);
    // Directories pass on every right, so that wasi-libc asks path_open for the write rights a
    // write would need, and is told EROFS there (not a silent read-only open).
    v.setBigUint64(ptr + 8, f.kind === "dir" ? ALL_RIGHTS : READ_RIGHTS, true);
    v.setBigUint64(ptr + 16, f.kind === "dir" ? ALL_RIGHTS : 0n, true);
    return E.SUCCESS;
  }

  private writeFilestat(buf: number, path: string, type: number, size: number): number {
    if (!this.ok(buf, 64)) return E.FAULT;
    const v = this.view();
    for (let i = 0; i < 64; i += 8) v.setBigUint64(buf + i, 0n, true); // times: the epoch, always
    v.setBigUint64(buf + 8, inode(path), true);
    v.setUint8(buf + 16, type);
    v.setBigUint64(buf + 24, 1n, true);
    v.setBigUint64(buf + 32, BigInt(size), true);
    return E.SUCCESS;
  }

  private fdFilestat(fd: number, buf: number): number {
    if (fd <= 2) return this.writeFilestat(buf, `<fd ${fd}>`, FILETYPE.chardev, 0);
    const f = this.fds.get(fd);
    if (!f) return E.BADF;
    if (f.kind === "file") return this.writeFilestat(buf, f.path, FILETYPE.file, f.data.length);
    return this.writeFilestat(buf, f.passage?.path === null ? f.abs! : f.path, FILETYPE.directory, 0);
  }

  private pathFilestat(fd: number, flags: number, ptr: number, len: number, buf: number): number {
    const t = this.target(fd, ptr, len);
    if (typeof t === "number") return t;
    const st = this.check(t, false);
    if (typeof st === "number") return st;
    // An ancestor's inode is keyed by its absolute path (crate paths are relative: no collision).
    if (st.passage) return this.writeFilestat(buf, t.path ?? t.abs, FILETYPE.directory, 0);
    this.session.recordRead(t.path || ".");
    const link = (flags & LOOKUP_SYMLINK_FOLLOW) === 0 ? this.shownLink(t.path!, st.realPath!) : null;
    if (link !== null) return this.writeFilestat(buf, t.path!, FILETYPE.link, new TextEncoder().encode(link).length);
    return this.writeFilestat(buf, t.path!, FILETYPE[st.type], st.size);
  }

  /** readlink: a link's text where `shownLink` shows it; anything else the macro may see is "not a link" (EINVAL). */
  private pathReadlink(fd: number, ptr: number, len: number, buf: number, bufLen: number, usedPtr: number): number {
    const t = this.target(fd, ptr, len);
    if (typeof t === "number") return t;
    const st = this.check(t, false);
    if (typeof st === "number") return st;
    if (st.passage) return E.INVAL;
    this.session.recordRead(t.path || ".");
    const link = this.shownLink(t.path!, st.realPath!);
    if (link === null) return E.INVAL;
    if (!this.ok(buf, bufLen) || !this.ok(usedPtr, 4)) return E.FAULT;
    const bytes = new TextEncoder().encode(link).subarray(0, bufLen);
    new Uint8Array(this.mem()!.buffer, buf, bytes.length).set(bytes);
    this.view().setUint32(usedPtr, bytes.length, true);
    return E.SUCCESS;
  }

  /**
   * The text of the symbolic link at crate path `path` (which `check` allowed, leading to
   * `realPath`), when the macro may see it as a link: the text, walked from the link's directory
   * without following anything, passes only through granted directories, the directories on the
   * way to them and to the crate directory, and ends at a granted path leading where the link does.
   * Then lstat shows a link and readlink its text, so realpath gives the link's target as natively.
   * Otherwise (no link, or a text naming other places) null: the link shows as what it leads to, as
   * every stat that follows links does.
   */
  private shownLink(path: string, realPath: string): string | null {
    const s = this.session;
    const fs = s.grant.fs;
    if (!fs?.readlink || path === "") return null;
    let text: string | null;
    try {
      text = fs.readlink(path);
    } catch {
      return null;
    }
    if (text === null || text === "" || text.includes("\0") || text.length > MAX_PATH_BYTES) return null;
    const g = s.grant.granted;
    const visible = (abs: string) => {
      const rel = pathInside(s.crateDir, abs);
      return rel === null ? pathAbove(s.crateDir, abs) : readAllowed(g, rel) || readLeadsTo(g, rel);
    };
    const linkAbs = s.absolute(path);
    let at = text.startsWith("/") ? "/" : linkAbs.slice(0, linkAbs.lastIndexOf("/")) || "/";
    for (const seg of text.split("/")) {
      if (seg === "" || seg === ".") continue;
      at = seg === ".." ? at.slice(0, at.lastIndexOf("/")) || "/" : at === "/" ? `/${seg}` : `${at}/${seg}`;
      if (!visible(at)) return null;
    }
    const end = pathInside(s.crateDir, at);
    if (end === null || !readAllowed(g, end)) return null;
    try {
      return fs.stat(end).realPath === realPath ? text : null;
    } catch {
      return null;
    }
  }

  // ---- directories ----

  /** Whether entry `name` of crate directory `dir`, a symbolic link, shows as one (`shownLink`). */
  private entryIsShownLink(dir: string, name: string): boolean {
    const path = dir === "" ? name : `${dir}/${name}`;
    try {
      const st = this.session.grant.fs!.stat(path);
      return readAllowed(this.session.grant.granted, st.realPath) && this.shownLink(path, st.realPath) !== null;
    } catch {
      return false;
    }
  }

  private readdir(fd: number, buf: number, bufLen: number, cookie: bigint, usedPtr: number): number {
    const d = this.fds.get(fd);
    if (!d) return E.BADF;
    if (d.kind !== "dir") return E.NOTDIR;
    if (!this.ok(buf, bufLen) || !this.ok(usedPtr, 4)) return E.FAULT;
    if (!this.wasi.charge(bufLen)) return E.NOSPC;
    if (d.passage) {
      this.session.denyRead(d.passage.path, d.abs ?? this.session.absolute(d.path), d.passage.reason);
      return E.ACCES;
    }
    if (d.entries === null) {
      const s = this.session;
      if (!this.wasi.charge(FS_LOOKUP_COST)) return E.NOSPC;
      if (!s.grant.fs) return E.ACCES;
      let all: FsEntry[];
      try {
        all = s.grant.fs.readdir(d.path);
      } catch (e) {
        return fsErrno(e);
      }
      const g = s.grant.granted;
      const child = (name: string) => (d.path === "" ? name : `${d.path}/${name}`);
      // A directory that is only on the way to granted paths shows just those.
      d.entries = d.granted ? all : all.filter((e) => readAllowed(g, child(e.name)) || (e.type === "directory" && readLeadsTo(g, child(e.name))));
    }
    const enc = new TextEncoder();
    const out = new Uint8Array(this.mem()!.buffer, buf, bufLen);
    let used = 0;
    for (let i = Number(BigInt.asUintN(64, cookie)); i < d.entries.length && used < bufLen; i++) {
      const e = d.entries[i];
      const name = enc.encode(e.name);
      const rec = new Uint8Array(24 + name.length);
      const rv = new DataView(rec.buffer);
      rv.setBigUint64(0, BigInt(i + 1), true);
      rv.setBigUint64(8, inode(d.path === "" ? e.name : `${d.path}/${e.name}`), true);
      rv.setUint32(16, name.length, true);
      rv.setUint8(20, e.link === true && this.entryIsShownLink(d.path, e.name) ? FILETYPE.link : FILETYPE[e.type]);
      rec.set(name, 24);
      const n = Math.min(rec.length, bufLen - used);
      out.set(rec.subarray(0, n), used);
      used += n;
    }
    this.view().setUint32(usedPtr, used, true);
    return E.SUCCESS;
  }
}

function fsErrno(e: unknown): number {
  if (!(e instanceof FsError)) return E.IO;
  switch (e.fsCode) {
    case "ENOENT":
      return E.NOENT;
    case "ENOTDIR":
      return E.NOTDIR;
    case "EISDIR":
      return E.ISDIR;
    case "EACCES":
    case "OUTSIDE":
      return E.ACCES;
    case "EIO":
      return E.IO;
  }
}

/** A stable inode number for a path (FNV-1a): the same on every run. */
function inode(path: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(path)) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h;
}
