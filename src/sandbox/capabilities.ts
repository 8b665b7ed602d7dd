// Capabilities: what a macro crate declares it needs (`[package.metadata.macrobox]` in its
// Cargo.toml, recorded in the module's metadata) and what the user grants it (command line,
// macrobox.toml). An explicit grant is honoured whether or not the crate declares it (no crate on
// the registry declares anything), and is shown as "beyond what the crate declares"
// (`describeGrant`); a wildcard grant (`*`) stands for what the crate declares, no more.
// Everything not granted is denied, but for the package env (`PACKAGE_ENV`): what cargo sets about
// the crate being compiled, which every macro sees.
//
//   env  = ["DATABASE_URL", "MYMACRO_*"]    environment variable names (`*` matches any run of chars)
//   read = ["migrations", "*.sql"]           paths relative to the manifest dir of the crate being
//                                            compiled: a pattern grants the files it matches and
//                                            everything under a directory it matches. Globs: `*`
//                                            and `?` within one path segment, `**` any segments.
//
// Browser-safe: no Node APIs here.

import { MacroboxError, type Diagnostic } from "../errors.js";

export interface Capabilities {
  env: string[];
  read: string[];
}

export const NO_CAPABILITIES: Readonly<Capabilities> = Object.freeze({ env: [], read: [] });

/** Why an access was refused. */
export type DenialReason =
  | "undeclared" // not granted, and the crate does not declare it either
  | "not-granted" // declared, but the user did not grant it
  | "environ" // declared, not granted, and the macro may have looked for it in its environment
  | "escape" // the path leaves the crate directory (`..`)
  | "outside" // an absolute path outside the crate directory
  | "symlink" // a symlink leads outside the granted roots
  | "write" // the macro asked to write, create or truncate: reads only
  | "no-root" // the host gave the expansion no directory to read from
  | "more"; // the list of refusals is full: this one and any later ones are not listed

export interface CapabilityDenial {
  /** The macro crate that asked. */
  crate: string;
  kind: "env" | "read";
  /** The variable name, or the path the macro asked for (absolute, as resolved against its current directory). */
  name: string;
  reason: DenialReason;
  /** For files: the pattern to grant (relative to the crate directory); absent when it cannot be granted. */
  grant?: string;
  /** For files: what the macro was told, by its Linux name (`EACCES`, `EROFS`). */
  errno?: LinuxErrno;
  /** The message to show the user, naming the capability to grant. */
  note: string;
}

/** What a grant or declaration says that is not acceptable. */
export class CapabilityError extends MacroboxError {
  override name = "CapabilityError";
  constructor(message: string) {
    super("capability", message);
  }
}

/** Why a grant cannot be honoured: `exceeding` lists the malformed items, `message` names them. */
export interface GrantError {
  kind: "grant";
  message: string;
  exceeding: Capabilities;
}

/** In the one public result shape; on failure the last diagnostic is the error (grants have no spans). */
export type GrantResult =
  { ok: true; grant: Capabilities; beyond: Capabilities; diagnostics: Diagnostic[] } | { ok: false; error: GrantError; diagnostics: Diagnostic[] };

/**
 * The capabilities a crate gets: what is granted, with `"*"` standing for everything declared of
 * that kind. Explicit grants are honoured beyond the declaration too (listed in `beyond`, for
 * `describeGrant`); only malformed ones are an error (a read path that is absolute or climbs out of
 * the crate directory, an env name with `=`), listed in `exceeding`.
 */
export function effectiveGrant(crate: string, declared: Capabilities, granted: Capabilities): GrantResult {
  const bad: Capabilities = { env: [], read: [] };
  const grant: Capabilities = { env: [], read: [] };
  const beyond: Capabilities = { env: [], read: [] };
  for (const name of granted.env) {
    if (name === "*") grant.env.push(...declared.env);
    else if (!/^[^=\0]+$/.test(name)) bad.env.push(name);
    else {
      grant.env.push(name);
      if (!declared.env.some((d) => d === name || (!hasGlob(name) && globMatch(d, name)))) beyond.env.push(name);
    }
  }
  for (const raw of granted.read) {
    if (raw === "*") {
      grant.read.push(...declared.read.map((d) => normalizePattern(d) ?? d));
      continue;
    }
    const p = normalizePattern(raw);
    if (p === null) bad.read.push(raw);
    else {
      grant.read.push(p);
      if (!declared.read.some((d) => patternWithin(p, normalizePattern(d)))) beyond.read.push(p);
    }
  }
  if (bad.env.length + bad.read.length > 0) {
    const parts = [
      ...bad.env.map((e) => `env var ${q(e)} (not a variable name)`),
      ...bad.read.map((r) => `read access to ${q(r)} (read paths are relative to the crate directory and stay inside it)`),
    ];
    const message = `macro crate ${crate} is granted ${parts.join(", ")}`;
    return { ok: false, error: { kind: "grant", message, exceeding: bad }, diagnostics: [{ level: "error", message, spans: [], children: [] }] };
  }
  return {
    ok: true,
    grant: { env: dedupe(grant.env), read: dedupe(grant.read) },
    beyond: { env: dedupe(beyond.env), read: dedupe(beyond.read) },
    diagnostics: [],
  };
}

/** One line per granted capability: what it is, and whether the crate declares it. */
export interface GrantLine {
  kind: "env" | "read";
  item: string;
  declared: boolean;
}

export interface GrantDescription {
  lines: GrantLine[];
  /** The granted capabilities the crate does not declare. */
  beyond: Capabilities;
  /** The note to show when something is granted beyond the declaration; null when nothing is. */
  note: string | null;
}

/**
 * How a grant relates to what the crate declares, for `expand` (a note), `inspect` and `patch`:
 * the grant must be an effective one (`effectiveGrant(...).grant`).
 */
export function describeGrant(crate: string, declared: Capabilities, grant: Capabilities): GrantDescription {
  const beyond: Capabilities = { env: [], read: [] };
  const lines: GrantLine[] = [];
  for (const name of grant.env) {
    const isDeclared = declared.env.some((d) => d === name || (!hasGlob(name) && globMatch(d, name)));
    lines.push({ kind: "env", item: name, declared: isDeclared });
    if (!isDeclared) beyond.env.push(name);
  }
  for (const p of grant.read) {
    const isDeclared = declared.read.some((d) => patternWithin(p, normalizePattern(d)));
    lines.push({ kind: "read", item: p, declared: isDeclared });
    if (!isDeclared) beyond.read.push(p);
  }
  let note: string | null = null;
  if (beyond.env.length + beyond.read.length > 0) {
    const parts = [...beyond.env.map((e) => `env var ${e}`), ...beyond.read.map((r) => `read access to ${r === "" ? "the whole crate directory" : r}`)];
    const decl =
      declared.env.length + declared.read.length === 0
        ? "it declares nothing"
        : `it declares env = [${declared.env.map(q).join(", ")}], read = [${declared.read.map(q).join(", ")}]`;
    note = `macro crate ${crate} is granted ${parts.join(", ")}, beyond what the crate declares (${decl})`;
  }
  return { lines, beyond, note };
}

/** Checks a declaration (as found in a Cargo.toml or a module's metadata); throws CapabilityError. */
export function checkDeclaration(crate: string, declared: Capabilities): void {
  for (const e of declared.env) {
    if (!/^[^=\0]+$/.test(e)) throw new CapabilityError(`macro crate ${crate} declares a bad env var name ${q(e)}`);
  }
  for (const r of declared.read) {
    if (normalizePattern(r) === null) {
      throw new CapabilityError(`macro crate ${crate} declares read access to ${q(r)}: read paths must be relative to the crate root and stay inside it`);
    }
  }
}

export function envAllowed(grant: Capabilities, name: string): boolean {
  return grant.env.some((p) => p === name || globMatch(p, name));
}

/**
 * The package env: what cargo (and rust-analyzer, from cargo's metadata) sets about the crate being
 * compiled, offered to every macro without a grant. clap's `#[command(author, version, about)]`
 * reads `CARGO_PKG_*`, proc-macro-crate and pest_derive `CARGO_MANIFEST_DIR`; none of it says more
 * than the crate's own manifest, and cargo rebuilds the crate when it changes. `CARGO_MANIFEST_DIR`
 * is the crate directory as the macro sees it, and `CARGO_MANIFEST_PATH` (cargo 1.85+, passed by
 * rust-analyzer 1.96 with every request) the manifest in it (`visibleEnv` in grant.ts).
 */
export const PACKAGE_ENV: readonly string[] = [
  "CARGO_PKG_VERSION",
  "CARGO_PKG_VERSION_MAJOR",
  "CARGO_PKG_VERSION_MINOR",
  "CARGO_PKG_VERSION_PATCH",
  "CARGO_PKG_VERSION_PRE",
  "CARGO_PKG_AUTHORS",
  "CARGO_PKG_NAME",
  "CARGO_PKG_DESCRIPTION",
  "CARGO_PKG_HOMEPAGE",
  "CARGO_PKG_REPOSITORY",
  "CARGO_PKG_LICENSE",
  "CARGO_PKG_LICENSE_FILE",
  "CARGO_PKG_README",
  "CARGO_PKG_RUST_VERSION",
  "CARGO_CRATE_NAME",
  "CARGO_MANIFEST_DIR",
  "CARGO_MANIFEST_PATH",
];

export function isPackageEnv(name: string): boolean {
  return PACKAGE_ENV.includes(name);
}

/**
 * Whether a macro sees env var `name`: the package env, or granted. The one visibility rule: the
 * sandbox serves by it and the expansion cache keys by it.
 */
export function envVisible(grant: Capabilities, name: string): boolean {
  return isPackageEnv(name) || envAllowed(grant, name);
}

/** Whether `path` (normalized, relative to the crate root) is readable under `grant`. */
export function readAllowed(grant: Capabilities, path: string): boolean {
  return grant.read.some((p) => patternCovers(p, path));
}

/**
 * Whether directory `dir` (normalized, "" for the root) is on the way to something `grant` allows:
 * such a directory may be opened and listed (showing only what leads to granted paths).
 */
export function readLeadsTo(grant: Capabilities, dir: string): boolean {
  if (dir === "") return grant.read.length > 0;
  const ds = dir.split("/");
  return grant.read.some((p) => {
    const ps = p.split("/");
    for (let i = 0; i < ds.length; i++) {
      if (i >= ps.length) return true; // below a granted directory
      if (ps[i] === "**") return true;
      if (!segmentMatch(ps[i], ds[i])) return false;
    }
    return true;
  });
}

/**
 * A path as a macro gave it, resolved against the crate root: `.` and empty segments dropped, `..`
 * popped. Returns null when it climbs out of the root (or is absolute).
 */
export function normalizePath(path: string): string | null {
  if (path.startsWith("/") || path.includes("\0")) return null;
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(seg);
  }
  return out.join("/");
}

/**
 * `path` resolved against the absolute directory `base` as the kernel would without symbolic
 * links: `.` and empty segments dropped, `..` popped (at "/" it stays, as on Unix). `dotdot`: the
 * path used `..` at all.
 */
export function resolveAbsolute(base: string, path: string): { abs: string; dotdot: boolean } {
  const out: string[] = [];
  let dotdot = false;
  for (const seg of (path.startsWith("/") ? path : `${base}/${path}`).split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      dotdot = true;
      out.pop();
    } else out.push(seg);
  }
  return { abs: "/" + out.join("/"), dotdot };
}

/** Where absolute `abs` lies inside absolute directory `dir` ("" for `dir` itself); null when outside. */
export function pathInside(dir: string, abs: string): string | null {
  const d = dir.replace(/\/+$/, "");
  if (d === "") return abs.replace(/^\/+/, "");
  if (abs === d) return "";
  return abs.startsWith(d + "/") ? abs.slice(d.length + 1) : null;
}

/**
 * Whether absolute `abs` is a strict ancestor of absolute directory `dir` ("/" included when `dir`
 * is not "/"): a directory every path inside `dir` passes through. The sandbox lets a macro pass
 * through these (stat them as directories, resolve paths beneath them) but never list or read them
 * (`check` in wasi-fs.ts): the crate directory's own path is no secret (CARGO_MANIFEST_DIR holds it).
 */
export function pathAbove(dir: string, abs: string): boolean {
  const d = dir.replace(/\/+$/, "");
  if (d === "") return false;
  const a = abs.replace(/\/+$/, "");
  return d.startsWith(a + "/");
}

/** A read pattern normalized like a path (no `..` allowed at all, no absolute path); null if bad. */
export function normalizePattern(pattern: string): string | null {
  if (pattern.split("/").includes("..")) return null;
  if (pattern.trim() === "") return null;
  return normalizePath(pattern); // "" (from ".") is the whole crate directory
}

/** Whether pattern `p` matches `path` or one of its ancestor directories. */
export function patternCovers(pattern: string, path: string): boolean {
  if (pattern === "") return true; // the whole crate directory
  const ps = pattern.split("/");
  const xs = path === "" ? [] : path.split("/");
  return matchSegments(ps, 0, xs, 0, true);
}

function matchSegments(ps: string[], i: number, xs: string[], j: number, prefixOk: boolean): boolean {
  if (i === ps.length) return j === xs.length || (prefixOk && j <= xs.length);
  if (ps[i] === "**") {
    for (let k = j; k <= xs.length; k++) if (matchSegments(ps, i + 1, xs, k, prefixOk)) return true;
    return false;
  }
  if (j === xs.length) return false;
  return segmentMatch(ps[i], xs[j]) && matchSegments(ps, i + 1, xs, j + 1, prefixOk);
}

/** `*` any run of characters, `?` one character, everything else literal. */
export function globMatch(pattern: string, text: string): boolean {
  if (!hasGlob(pattern)) return pattern === text;
  const re = new RegExp(
    "^" +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".") +
      "$",
    "s",
  );
  return re.test(text);
}

function segmentMatch(pattern: string, segment: string): boolean {
  return globMatch(pattern, segment);
}

function hasGlob(s: string): boolean {
  return s.includes("*") || s.includes("?");
}

/** Whether granting pattern `p` gives no more than declared pattern `d`. */
function patternWithin(p: string, d: string | null): boolean {
  if (d === null) return false;
  if (p === d) return true;
  // Without globs in p, what p grants is p itself and what lies below it: within d if d covers p.
  if (!hasGlob(p)) return patternCovers(d, p);
  // With globs, only when p sits below a literal part of d that is a directory prefix.
  const ps = p.split("/");
  const ds = d.split("/");
  if (ds.length >= ps.length) return false;
  for (let i = 0; i < ds.length; i++) {
    if (ds[i] === "**") return true;
    if (hasGlob(ps[i]) ? ps[i] !== ds[i] : !segmentMatch(ds[i], ps[i])) return false;
  }
  return true;
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

function q(s: string): string {
  return JSON.stringify(s);
}

/** Linux's names for the errors a refused access gives (WASI numbers them differently). */
export type LinuxErrno = "EACCES" | "EROFS";

const ERRNO_TEXT: Record<LinuxErrno, { message: string; wasi: number; linux: number }> = {
  EACCES: { message: "Permission denied", wasi: 2, linux: 13 },
  EROFS: { message: "Read-only file system", wasi: 69, linux: 30 },
};

/**
 * What the macro was told, for a note: Rust's `io::Error` prints WASI's number (`os error 2`, which
 * reads as ENOENT on Linux), so the note names the error as Linux users know it.
 */
export function errnoPhrase(errno: LinuxErrno): string {
  const e = ERRNO_TEXT[errno];
  return `the macro sees ${errno} "${e.message}" (Linux errno ${e.linux}; Rust prints WASI's number, "os error ${e.wasi}")`;
}

/** The errno a refused file access gives the macro. */
export function denialErrno(reason: DenialReason): LinuxErrno {
  return reason === "write" ? "EROFS" : "EACCES";
}

/**
 * The note shown to the user for a refused access: the exact path or variable, and the grant that
 * would allow it (`grant`: for files, the pattern relative to the crate directory; none when no
 * grant can allow it). `hint`: another way to grant it (the command that would put into effect
 * what the repository's settings file asks), added where a grant would help.
 */
export function denialNote(crate: string, kind: "env" | "read", name: string, reason: DenialReason, grant?: string, hint?: string): string {
  const what = kind === "env" ? `env var ${name}` : `file ${name}`;
  const tried = `macro crate ${crate} tried to read ${what}`;
  const item = kind === "env" ? name : (grant ?? name);
  const flag = kind === "env" ? `--allow-env ${crate}:${item}` : `--allow-read ${crate}:${item}`;
  const table = `[grants.${crate}] ${kind} = [${q(item)}]`;
  const how = `grant it with \`${flag}\`, or in the workspace's macrobox.toml (\`${table}\`) and \`macrobox trust\`${hint !== undefined ? `; ${hint}` : ""}`;
  const seen = kind === "read" ? `; ${errnoPhrase(denialErrno(reason))}` : "";
  switch (reason) {
    case "not-granted":
      return `${tried}${seen}; ${how}`;
    case "undeclared":
      return `${tried}, which it does not declare${seen}; ${how}`;
    case "environ":
      return `macro crate ${crate} declares env var ${name}, which is not granted (the macro sees it unset); ${how}`;
    case "escape":
      return `${tried}, which is outside the crate directory (\`..\`)${seen}; macros may only read granted paths inside it`;
    case "outside":
      return `${tried}, which is outside the crate directory${seen}; macros may only read granted paths inside it`;
    case "symlink":
      return `${tried}, a symbolic link leading outside the granted paths${seen}; it cannot be granted`;
    case "write":
      return `macro crate ${crate} tried to write, create or truncate ${what}${seen}; macros get read-only access`;
    case "more":
      return `macro crate ${crate} was refused more accesses than are listed (this one was to ${what})`;
    case "no-root":
      return `${tried}, but this expansion has no crate directory to read from${seen}`;
  }
}

export function denial(crate: string, kind: "env" | "read", name: string, reason: DenialReason, grant?: string, hint?: string): CapabilityDenial {
  const d: CapabilityDenial = { crate, kind, name, reason, note: denialNote(crate, kind, name, reason, grant, hint) };
  if (kind === "read") {
    if (grant !== undefined) d.grant = grant;
    if (reason !== "more") d.errno = denialErrno(reason);
  }
  return d;
}

/**
 * Notes for declared env vars that are not granted, for an expansion that failed: a macro reading
 * them with `std::env::var` sees them unset, and the host cannot tell which it asked for (it can
 * for `proc_macro::tracked::env_var`, which gives a "not-granted" denial). Names already in
 * `denials` are skipped.
 */
export function ungrantedEnvNotes(
  crate: string,
  declared: Capabilities,
  granted: Capabilities,
  denials: readonly CapabilityDenial[] = [],
  hint?: string,
): CapabilityDenial[] {
  return dedupe(declared.env)
    .filter((name) => !envVisible(granted, name) && !denials.some((d) => d.kind === "env" && d.name === name))
    .map((name) => denial(crate, "env", name, "environ", undefined, hint));
}

/**
 * Parses command-line grants: `crate:VAR` for --allow-env, `crate:path` for --allow-read, `crate`
 * alone for everything the crate declares of that kind. Returns grants per crate.
 */
export function parseGrantFlags(kind: "env" | "read", values: readonly string[], into: Map<string, Capabilities> = new Map()): Map<string, Capabilities> {
  for (const v of values) {
    const colon = v.indexOf(":");
    const crate = (colon < 0 ? v : v.slice(0, colon)).trim();
    const item = colon < 0 ? "*" : v.slice(colon + 1).trim();
    if (!/^[A-Za-z0-9_-]+$/.test(crate) || item === "") {
      throw new CapabilityError(`--allow-${kind} expects <crate>:<${kind === "env" ? "VAR" : "path"}> (or <crate> for all it declares), got ${q(v)}`);
    }
    addGrant(into, crate, kind, item);
  }
  return into;
}

export function addGrant(grants: Map<string, Capabilities>, crate: string, kind: "env" | "read", item: string): void {
  const key = crateKey(crate);
  let g = grants.get(key);
  if (!g) grants.set(key, (g = { env: [], read: [] }));
  g[kind].push(item);
}

/** Crate names compare with `-` and `_` equal, as cargo does. */
export function crateKey(crate: string): string {
  return crate.replace(/-/g, "_");
}
