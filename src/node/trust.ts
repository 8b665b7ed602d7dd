// Who grants (Node): the user, never the code. As with Deno's permissions, `direnv allow` and
// `mise trust`, what a repository says about itself is a request until the user agrees to it.
//
// Grants and settings come from, in this order of precedence for settings (grants add up):
//   1. the command line: --allow-env, --allow-read (env globs honoured here only), --remote-cache;
//   2. the environment (MACROBOX_REMOTE_CACHE, MACROBOX_REMOTE_CACHE_READ_ONLY: settings.ts);
//   3. a file the user names (`--config <file>`), taken as the user's own;
//   4. the repository's settings file (its macrobox.toml, else `[workspace.metadata.macrobox]` in
//      its Cargo.toml): a request, honoured only once `macrobox trust <dir>` recorded that file by
//      real path and sha256 of its bytes in `<data>/trust.json`; an edit asks again;
//   5. the user's file `<config>/macrobox.toml` (`$XDG_CONFIG_HOME/macrobox/macrobox.toml`, default
//      `~/.config/macrobox/`): top-level settings, and grants scoped to a workspace by its real path,
//      `[workspace."/home/me/src/app".grants.<crate>]`. A top-level `[grants.<crate>]` there is
//      refused: it would grant any crate of that name anywhere, and a hostile repository chooses
//      its crates' names.
// A repository's grants, and the user's workspace-scoped ones, hold for a crate only when the real
// path of the crate being compiled lies inside the real path of that workspace (so a committed
// symlink as a crate directory gets nothing). Env globs in any file are left out with a note.
// Files not owned by the user (or root), group- or world-writable, or in a directory that another
// user could write (the file's own directory, and every ancestor up to `/`, except that an ancestor
// with the sticky bit set, such as /tmp, is accepted: there another user cannot rename or remove
// our subdirectory) are ignored with a note, as ssh treats authorized_keys.
//
// The user's directories are passed in (`UserDirs`): long-lived processes (the cargo host, started
// from within rustc, whose environment a repository's `.cargo/config.toml` `[env]` can set) must
// not take XDG_* from the environment they were started with. `userDirs()` is the one place that
// reads XDG_CONFIG_HOME / XDG_DATA_HOME / HOME.

import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";

import { CapabilityError, crateKey, parseGrantFlags, pathInside } from "../sandbox/capabilities.js";
import { byFileVersion, fileVersion, formatOf, readSettingsFile, settingsFile, type BuildGrants, type Grants, type SettingsFile } from "./grants.js";
import { systemErrorReason } from "../errors.js";

/** The user's macrobox directories: where their own settings file and their trust store live. */
export interface UserDirs {
  /** `$XDG_CONFIG_HOME/macrobox` (default `~/.config/macrobox`): holds macrobox.toml. */
  config: string;
  /** `$XDG_DATA_HOME/macrobox` (default `~/.local/share/macrobox`): holds trust.json. */
  data: string;
}

/** The user's directories from an environment (the one reader of XDG_CONFIG_HOME, XDG_DATA_HOME and HOME). */
export function userDirs(env: NodeJS.ProcessEnv = process.env): UserDirs {
  const home = env.HOME !== undefined && isAbsolute(env.HOME) ? env.HOME : homedir();
  // The XDG spec: a relative value is invalid and is ignored.
  const base = (value: string | undefined, fallback: string) => (value !== undefined && isAbsolute(value) ? value : join(home, fallback));
  return { config: join(base(env.XDG_CONFIG_HOME, ".config"), "macrobox"), data: join(base(env.XDG_DATA_HOME, ".local/share"), "macrobox") };
}

export function userSettingsPath(dirs: UserDirs): string {
  return join(dirs.config, "macrobox.toml");
}

export function trustStorePath(dirs: UserDirs): string {
  return join(dirs.data, "trust.json");
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function realPathOr(path: string): string {
  try {
    // The C library's realpath: one call, where Node's own walks every component with lstat
    // (asked for every expansion of the cargo host and the proc-macro server).
    return realpathSync.native(path);
  } catch {
    return resolve(path);
  }
}

// ---------------------------------------------------------------------------------------------
// Whether a file may be believed at all: owned by us or root, and nobody else can change it.

function myUid(): number | null {
  return process.getuid?.() ?? null;
}

/**
 * Why a file may have been written by someone other than the user (null: it may not have).
 * `path` is resolved to its real path first; the file and its directory must be owned by the user
 * or root and not group- or world-writable; every further ancestor likewise, except that a
 * sticky one (/tmp) is accepted.
 */
export function unsafeFileReason(path: string): string | null {
  const uid = myUid();
  if (uid === null) return null; // no owners to compare (not a Unix)
  const real = realPathOr(path);
  const owned = (st: { uid: number }) => st.uid === uid || st.uid === 0;
  let st;
  try {
    st = statSync(real);
  } catch (e) {
    return `${real} cannot be read (${systemErrorReason(e)})`;
  }
  if (!st.isFile()) return `${real} is not a regular file`;
  if (!owned(st)) return `${real} is owned by uid ${st.uid}, not by you (uid ${uid}) or root`;
  if ((st.mode & 0o022) !== 0) return `${real} is writable by its group or by others (mode ${octal(st.mode)})`;
  for (let dir = dirname(real), own = true; ; dir = dirname(dir), own = false) {
    const d = lstatSync(dir);
    if (!owned(d)) return `${dir}, a directory above ${real}, is owned by uid ${d.uid}, not by you (uid ${uid}) or root`;
    if ((d.mode & 0o022) !== 0 && (own || (d.mode & 0o1000) === 0)) {
      return `${dir}, ${own ? "the directory of" : "a directory above"} ${real}, is writable by its group or by others (mode ${octal(d.mode)}), so another user could have put the file there`;
    }
    if (dirname(dir) === dir) return null;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

// ---------------------------------------------------------------------------------------------
// The trust store: which repository settings files the user agreed to, by real path and sha256.

export interface TrustEntry {
  /** The settings file's real path. */
  path: string;
  /** sha256 of its bytes when trusted. */
  sha256: string;
  /** When (ISO 8601). */
  trustedAt: string;
}

const stores = new Map<string, { version: string; value: TrustEntry[] }>();

/** The trust store's entries; none when there is no store. Throws CapabilityError for one that is not ours or does not parse. */
export function readTrustStore(dirs: UserDirs): TrustEntry[] {
  const path = trustStorePath(dirs);
  if (!existsSync(path)) return [];
  return byFileVersion(stores, path, (p) => {
    const unsafe = unsafeFileReason(p);
    if (unsafe !== null) throw new CapabilityError(`the trust store is not used: ${unsafe}`);
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(p, "utf8"));
    } catch (e) {
      throw new CapabilityError(`${p}: not a macrobox trust store (${(e as Error).message}); remove it and trust again`);
    }
    const entries = (doc as { trusted?: unknown }).trusted;
    if (!Array.isArray(entries) || entries.some((e) => typeof e?.path !== "string" || typeof e?.sha256 !== "string" || typeof e?.trustedAt !== "string")) {
      throw new CapabilityError(`${p}: not a macrobox trust store (expected {"trusted": [{path, sha256, trustedAt}]}); remove it and trust again`);
    }
    return entries as TrustEntry[];
  });
}

/** Writes the store atomically (a fresh 0600 file renamed over it), in a 0700 directory. */
export function writeTrustStore(dirs: UserDirs, entries: readonly TrustEntry[]): void {
  mkdirSync(dirs.data, { recursive: true, mode: 0o700 });
  const path = trustStorePath(dirs);
  const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
  const fd = openSync(temp, "wx", 0o600);
  try {
    writeSync(fd, JSON.stringify({ trusted: entries }, null, 2) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}

/** Whether the file at real path `path` with content hash `sha256` is trusted. */
export function isTrusted(dirs: UserDirs, path: string, sha256: string): boolean {
  return readTrustStore(dirs).some((e) => e.path === path && e.sha256 === sha256);
}

// ---------------------------------------------------------------------------------------------
// What a settings file asks, for `macrobox trust` and for notes.

/** One line per thing a settings file asks (grants per crate, settings), and what of it is ignored. */
export function describeRequest(file: SettingsFile): string[] {
  const lines: string[] = [];
  for (const [crate, g] of file.grants) {
    const parts = [...(g.env.length ? [`env = ${JSON.stringify(g.env)}`] : []), ...(g.read.length ? [`read = ${JSON.stringify(g.read)}`] : [])];
    lines.push(`grants.${crate}: ${parts.length ? parts.join(", ") : "nothing"}`);
  }
  if (file.remoteCache !== undefined) lines.push(`remote-cache = ${JSON.stringify(file.remoteCache)} (module and expansion cache traffic goes there)`);
  if (file.readOnly !== undefined) lines.push(`remote-cache-read-only = ${file.readOnly}`);
  return lines;
}

function asksAnything(file: SettingsFile): boolean {
  return file.grants.size > 0 || file.remoteCache !== undefined || file.readOnly !== undefined || file.ignored.length > 0;
}

// ---------------------------------------------------------------------------------------------
// The policy.

export interface GrantQuery {
  dirs: UserDirs;
  /** The repository's settings file (a request; null: none). */
  repoFile: string | null;
  /** The crate being compiled (its directory); repository and workspace-scoped grants hold only inside their workspace. */
  crateDir: string | null;
  /** `--config`: a file the user names, taken as theirs. */
  config?: string;
  allowEnv?: readonly string[];
  allowRead?: readonly string[];
}

/** A repository's request that is not in effect: what it asks and the command that would grant it. */
export interface PendingRequest {
  file: string;
  workspace: string;
  grants: Grants;
  /** "`macrobox trust /ws` would grant what /ws/macrobox.toml asks" */
  command: string;
}

export interface GrantDecision {
  grants: Grants;
  /** The remote cache the files that count set (the last of: the user's file, a trusted request, `--config`), and where. */
  remoteCache?: { url: string; where: string };
  remoteCacheReadOnly?: boolean;
  /** What was left out and why, one sentence each (untrusted or unsafe files, env globs in files, a crate outside its workspace). */
  notes: string[];
  /** The repository's request, when untrusted (its grants are not in `grants`). */
  pending: PendingRequest | null;
}

/** The user's grants and settings for an expansion (see the top of this file). Throws CapabilityError for a file that says something wrong. */
export function decideGrants(q: GrantQuery): GrantDecision {
  const grants: Grants = new Map();
  const notes: string[] = [];
  let pending: PendingRequest | null = null;
  let remoteCache: GrantDecision["remoteCache"];
  let remoteCacheReadOnly: boolean | undefined;
  const realCrate = q.crateDir === null ? null : realPathOr(q.crateDir);
  const setRemote = (file: SettingsFile, where: string) => {
    if (file.remoteCache !== undefined) remoteCache = { url: file.remoteCache, where };
    if (file.readOnly !== undefined) remoteCacheReadOnly = file.readOnly;
  };

  // 5. The user's own file.
  const userFile = userSettingsPath(q.dirs);
  if (existsSync(userFile)) {
    const unsafe = unsafeFileReason(userFile);
    if (unsafe !== null) notes.push(`${userFile} is ignored: ${unsafe}`);
    else {
      const file = readSettingsFile(userFile, "user");
      notes.push(...file.ignored);
      setRemote(file, `remote-cache in ${userFile}`);
      for (const [dir, scoped] of file.workspaces) {
        if (realCrate !== null && pathInside(realPathOr(dir), realCrate) !== null) mergeGrants(grants, scoped);
      }
    }
  }

  // 4. The repository's request.
  if (q.repoFile !== null && existsSync(q.repoFile)) {
    const real = realPathOr(q.repoFile);
    const workspace = dirname(real);
    const unsafe = unsafeFileReason(real);
    if (unsafe !== null) notes.push(`${real} is ignored: ${unsafe}`);
    else {
      const file = readSettingsFile(real, formatOf(real));
      if (asksAnything(file)) {
        if (!isTrusted(q.dirs, real, file.sha256)) {
          const command = `\`macrobox trust ${workspace}\` would grant what ${real} asks`;
          const changed = readTrustStore(q.dirs).some((e) => e.path === real);
          notes.push(
            `${real} asks for ${describeRequest(file).join("; ") || "nothing"}, and is not in effect: ` +
              `${changed ? "it changed since you trusted it" : "you have not trusted it"}; ${command} (\`macrobox trust --show ${workspace}\` shows it first)`,
          );
          pending = { file: real, workspace, grants: file.grants, command };
        } else {
          notes.push(...file.ignored);
          setRemote(file, `remote-cache in ${real}`);
          if (file.grants.size > 0) {
            if (realCrate !== null && pathInside(workspace, realCrate) !== null) mergeGrants(grants, file.grants);
            else if (realCrate !== null) {
              notes.push(
                `the grants of ${real} are not applied: the crate being compiled, ${q.crateDir}${realCrate !== q.crateDir ? ` (real path ${realCrate})` : ""}, lies outside that workspace`,
              );
            }
          }
        }
      }
    }
  }

  // 3. A file the user names.
  if (q.config !== undefined) {
    const path = resolve(q.config);
    const file = readSettingsFile(path, formatOf(path));
    notes.push(...file.ignored);
    setRemote(file, `remote-cache in ${path}`);
    mergeGrants(grants, file.grants);
  }

  // 1. Flags.
  parseGrantFlags("env", q.allowEnv ?? [], grants);
  parseGrantFlags("read", q.allowRead ?? [], grants);
  return { grants, notes, pending, ...(remoteCache ? { remoteCache } : {}), ...(remoteCacheReadOnly !== undefined ? { remoteCacheReadOnly } : {}) };
}

function mergeGrants(into: Grants, from: Grants): void {
  for (const [crate, g] of from) {
    const have = into.get(crate) ?? { env: [], read: [] };
    into.set(crate, { env: [...have.env, ...g.env], read: [...have.read, ...g.read] });
  }
}

/**
 * The sentence a denial note ends with when an untrusted request asks for this crate: the command
 * that would grant it (src/sandbox's `SandboxGrant.hint`); undefined otherwise.
 */
export function pendingHint(decision: GrantDecision, crate: string): string | undefined {
  return decision.pending?.grants.has(crateKey(crate)) ? decision.pending.command : undefined;
}

/**
 * What a decision for `repoFile` depends on besides the request (the file, the user's file, the
 * trust store, by version): a memoised answer holds while this stays the same.
 */
export function decisionState(dirs: UserDirs, repoFile: { path: string; version: string } | null): string {
  const version = (p: string) => `${p}\0${fileVersion(p)}`;
  // The workspace's file comes with the version it was found with (one stat fewer per expansion).
  const repo = repoFile === null ? "" : `${repoFile.path}\0${repoFile.version}`;
  return [repo, version(userSettingsPath(dirs)), version(trustStorePath(dirs))].join("\0");
}

/**
 * The user's grants for the CLI: the settings file of `cwd` (macrobox.toml, else Cargo.toml) as
 * the repository's request, `--config`, the user's file and the flags.
 */
export function loadGrants(sources: {
  dirs: UserDirs;
  cwd?: string;
  crateDir?: string | null;
  config?: string;
  allowEnv?: readonly string[];
  allowRead?: readonly string[];
}): GrantDecision {
  const cwd = resolve(sources.cwd ?? process.cwd());
  return decideGrants({
    dirs: sources.dirs,
    repoFile: settingsFile(cwd),
    crateDir: sources.crateDir === undefined ? cwd : sources.crateDir,
    config: sources.config,
    allowEnv: sources.allowEnv,
    allowRead: sources.allowRead,
  });
}

/**
 * The user's build grants for a workspace (`macrobox patch`): `[workspace."<dir>".build-grants.<package>]`
 * of the user's own file, for every workspace entry whose real path holds the workspace's (a
 * directory key is resolved against that entry's directory). A repository's own files never grant
 * a build script anything (a package's `[package.metadata.macrobox.build]` is only a request;
 * `macrobox trust` does not cover it). Which package a grant reaches is build-scripts.ts's business.
 */
export function loadBuildGrants(dirs: UserDirs, workspaceRoot: string): { grants: BuildGrants; notes: string[]; file: string } {
  const file = userSettingsPath(dirs);
  const grants: BuildGrants = [];
  if (!existsSync(file)) return { grants, notes: [], file };
  const unsafe = unsafeFileReason(file);
  if (unsafe !== null) return { grants, notes: [`${file} is ignored: ${unsafe}`], file };
  const root = realPathOr(workspaceRoot);
  const settings = readSettingsFile(file, "user");
  const notes: string[] = [];
  for (const [dir, scoped] of settings.buildWorkspaces) {
    if (pathInside(realPathOr(dir), root) === null) continue;
    grants.push(...scoped);
    notes.push(...settings.buildIgnored.filter((n) => n.includes(`[workspace.${JSON.stringify(dir)}]`)));
  }
  return { grants, notes, file };
}

// ---------------------------------------------------------------------------------------------
// `macrobox trust`.

/** The repository settings file `macrobox trust <dir>` is about: its macrobox.toml, else its Cargo.toml (or `dir` itself when it names a file). */
export function requestFile(dir: string): string {
  const file = isFile(dir) ? resolve(dir) : settingsFile(resolve(dir));
  if (file === null) throw new CapabilityError(`${resolve(dir)} has no macrobox.toml or Cargo.toml to trust`);
  return realPathOr(file);
}

export interface TrustReport {
  file: string;
  sha256: string;
  /** What it asks, one line each (`describeRequest`). */
  asks: string[];
  /** What it asks that is ignored even when trusted (env globs). */
  ignored: string[];
}

/** Reads what a repository asks, refusing a file another user could have written. */
export function showRequest(dir: string): TrustReport {
  const file = requestFile(dir);
  const unsafe = unsafeFileReason(file);
  if (unsafe !== null) throw new CapabilityError(`${file} cannot be trusted: ${unsafe}`);
  const parsed = readSettingsFile(file, formatOf(file));
  return { file, sha256: parsed.sha256, asks: describeRequest(parsed), ignored: parsed.ignored };
}

/** Records a repository's settings file as trusted (replacing an earlier record of the same path). */
export function trust(dirs: UserDirs, dir: string): TrustReport {
  const report = showRequest(dir);
  const entries = readTrustStore(dirs).filter((e) => e.path !== report.file);
  entries.push({ path: report.file, sha256: report.sha256, trustedAt: new Date().toISOString() });
  writeTrustStore(dirs, entries);
  return report;
}

/** Removes the records of a directory's settings files (or of the file `dir` names), by real path, whether or not the file is still there; returns what was removed. */
export function revokeTrust(dirs: UserDirs, dir: string): TrustEntry[] {
  const real = realPathOr(dir);
  const entries = readTrustStore(dirs);
  const removed = entries.filter((e) => dirname(e.path) === real || e.path === real);
  if (removed.length > 0)
    writeTrustStore(
      dirs,
      entries.filter((e) => !removed.includes(e)),
    );
  return removed;
}

/** Each trusted file, and whether it is still as trusted ("trusted"), edited since ("changed") or gone ("missing"). */
export function listTrust(dirs: UserDirs): Array<TrustEntry & { status: "trusted" | "changed" | "missing" }> {
  return readTrustStore(dirs).map((e) => {
    if (!existsSync(e.path)) return { ...e, status: "missing" as const };
    try {
      return { ...e, status: readSettingsFile(e.path, formatOf(e.path)).sha256 === e.sha256 ? ("trusted" as const) : ("changed" as const) };
    } catch {
      return { ...e, status: "changed" as const };
    }
  });
}
