// The OS sandbox every cargo call of a module build runs in (bubblewrap).
//
// Why: building a macro crate runs its build script and its dependencies' build scripts as native
// code, and rustc bakes whatever `include_str!`/`env!`/`option_env!` name into the module. A crate
// from an untrusted repository must see nothing of the user's: so cargo runs in a fresh mount
// namespace holding only an allowlist of paths (the toolchain, the registry, the build's own cache
// parts; read-only except cargo's outputs), with no network (`--unshare-all`), a fresh `/tmp`, an
// empty `HOME` and an allowlisted environment (`--clearenv`). Everything is bound at the same path
// inside as outside: cargo and rustc hash paths into `-C metadata` and embed them, and modules must be
// the same bytes with or without the sandbox. The one exception, for the same reason: a build of a
// crate that is not a registry crate writes a target directory and CARGO_HOME of its own, shown where
// every build sees the shared ones (`writableAt`).
//
// `osSandbox()` says whether bubblewrap can run here (a trial run, once per process: it may be
// missing, or user namespaces may be off). `MACROBOX_BWRAP` names the bwrap binary; tests set it to
// a path that does not exist to see what a machine without the sandbox does.

import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readlinkSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, relative, resolve } from "node:path";

export type OsSandboxStatus = { available: true; bwrap: string } | { available: false; bwrap: string; reason: string };

let status: OsSandboxStatus | null = null;

/** Whether bubblewrap works here: a trial run of `true` in the same kind of sandbox, cached per process. */
export function osSandbox(): OsSandboxStatus {
  if (status !== null) return status;
  const bwrap = process.env.MACROBOX_BWRAP || "bwrap";
  const trueBinary = ["/usr/bin/true", "/bin/true"].find((p) => existsSync(p)) ?? "true";
  const argv = sandboxedCommand([trueBinary], { readOnly: [], writable: [], env: {}, cwd: "/" }, bwrap);
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 30_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === "ENOENT";
    status = { available: false, bwrap, reason: missing ? `${bwrap} not found (Debian package bubblewrap)` : `${bwrap}: ${r.error.message}` };
  } else if (r.status !== 0) {
    status = { available: false, bwrap, reason: `${bwrap} fails to start a sandbox here: ${(r.stderr ?? "").trim() || `exit status ${r.status}`}` };
  } else status = { available: true, bwrap };
  return status;
}

export interface SandboxSpec {
  /** Paths visible read-only, each at its own path (with what it resolves to, if a symlink). */
  readOnly: string[];
  /** Paths visible writable, each at its own path; they must exist. */
  writable: string[];
  /**
   * Directories visible writable at another path (`at`, which must exist outside too): a build's
   * own target directory shown where every build sees its target directory (build.ts, trust domains).
   */
  writableAt?: Array<{ source: string; at: string }>;
  /** The whole environment inside (nothing else is passed). */
  env: Record<string, string>;
  cwd: string;
}

/** The home directory inside: an empty tmpfs, the only `HOME` a build sees. */
export const SANDBOX_HOME = "/home/macrobox-build";

/** What the base system contributes: the toolchain's binaries and libraries, and the few /etc files they read. */
export const SYSTEM_READ_ONLY = ["/usr", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives"];
/** Top-level directories that are (on merged-/usr systems) symlinks into /usr, or else directories to bind. */
const SYSTEM_TOP = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/**
 * `argv` wrapped in bubblewrap: the command line to spawn. Mounts go in order of depth, so a path
 * bound inside another bound path lands on top of it; when some bound path contains the user's
 * home, the home is hidden by a tmpfs at its depth and what lies under it is bound back.
 */
export function sandboxedCommand(argv: string[], spec: SandboxSpec, bwrap = osSandbox().bwrap): string[] {
  const args = sandboxBaseArgs();
  type Mount = { path: string; source: string; kind: "ro" | "rw" | "tmpfs" };
  const mounts: Mount[] = [];
  const home = realHome();
  const add = (path: string, kind: "ro" | "rw", from = path) => {
    if (!isAbsolute(path) || !existsSync(path) || !existsSync(from)) return;
    const real = realpathSync(path);
    const source = realpathSync(from);
    // Already visible read-only through a bound parent (a binary in /usr/bin), unless the home's tmpfs will hide it.
    const hidden = home !== null && within(real, home);
    if (kind === "ro" && !hidden && mounts.some((m) => m.kind === "ro" && within(real, m.path) && within(resolve(path), m.path))) return;
    mounts.push({ path: real, source, kind });
    // A symlinked path (the sysroot's `rust` -> the sources) is also bound where it is named, unless a parent bind already shows the link.
    if (resolve(path) !== real && !mounts.some((m) => m.path !== real && within(resolve(path), m.path))) mounts.push({ path: resolve(path), source, kind });
  };
  for (const p of SYSTEM_READ_ONLY) add(p, "ro");
  for (const p of spec.readOnly) add(p, "ro");
  for (const p of spec.writable) add(p, "rw");
  for (const { source, at } of spec.writableAt ?? []) add(at, "rw", source);
  if (home !== null && mounts.some((m) => m.kind !== "tmpfs" && within(home, m.path))) mounts.push({ path: home, source: home, kind: "tmpfs" });
  const depth = (p: string) => p.split("/").filter(Boolean).length;
  // Stable by depth: same-depth mounts keep their order (writable after read-only); of two mounts
  // of one path, the later wins.
  mounts.sort((a, b) => depth(a.path) - depth(b.path));
  const ordered: Mount[] = [];
  for (const m of mounts) {
    const same = ordered.findIndex((o) => o.path === m.path);
    if (same >= 0) ordered.splice(same, 1);
    ordered.push(m);
  }
  for (const m of ordered) {
    if (m.kind === "tmpfs") args.push("--tmpfs", m.path);
    else args.push(m.kind === "ro" ? "--ro-bind" : "--bind", m.source, m.path);
  }
  args.push("--tmpfs", SANDBOX_HOME);
  for (const [key, value] of Object.entries({ HOME: SANDBOX_HOME, ...spec.env })) args.push("--setenv", key, value);
  args.push("--chdir", spec.cwd, "--", ...argv);
  return [bwrap, ...args];
}

/**
 * The flags every sandbox starts with, before its mounts: no namespaces shared (no network), a
 * clean environment, a fresh /proc, /dev and /tmp, and the system's top-level directories. The
 * cargo patch's build-script launcher (src/patch/build-scripts.ts) bakes these in.
 */
export function sandboxBaseArgs(): string[] {
  const args = ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"];
  for (const top of SYSTEM_TOP) {
    let st;
    try {
      st = lstatSync(top);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push("--symlink", readlinkSync(top), top);
    else if (st.isDirectory()) args.push("--ro-bind", top, top);
  }
  return args;
}

function within(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

export function realHome(): string | null {
  for (const h of [process.env.HOME, homedir()]) {
    if (!h || !isAbsolute(h) || h === "/") continue;
    try {
      return realpathSync(h);
    } catch {
      // a HOME that does not exist hides nothing
    }
  }
  return null;
}
