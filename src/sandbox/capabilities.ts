// Capabilities: what a macro crate declares it needs (`[package.metadata.macrobox]` in its
// Cargo.toml, recorded in the module's metadata) and what the user grants it (command line,
// macrobox.toml). A grant never exceeds the declaration; everything else is denied.
//
//   env  = ["DATABASE_URL", "MYMACRO_*"]    environment variable names (`*` matches any run of chars)
//   read = ["migrations", "*.sql"]           paths relative to the manifest dir of the crate being
//                                            compiled: a pattern grants the files it matches and
//                                            everything under a directory it matches. Globs: `*`
//                                            and `?` within one path segment, `**` any segments.
//
// Browser-safe: no Node APIs here.

import { MacroboxError } from "../errors.js";

export interface Capabilities {
  env: string[];
  read: string[];
}

export const NO_CAPABILITIES: Readonly<Capabilities> = Object.freeze({ env: [], read: [] });

/** Why an access was refused. */
export type DenialReason =
  | "undeclared" // the crate does not declare this capability
  | "not-granted" // declared, but the user did not grant it
  | "environ" // declared, not granted, and the macro may have looked for it in its environment
  | "escape" // the path leaves the crate directory (`..`)
  | "symlink" // a symlink leads outside the granted roots
  | "write" // the macro asked to write, create or truncate: reads only
  | "no-root" // the host gave the expansion no directory to read from
  | "more"; // the list of refusals is full: this one and any later ones are not listed

export interface CapabilityDenial {
  /** The macro crate that asked. */
  crate: string;
  kind: "env" | "read";
  /** The variable name, or the path as the macro gave it (relative to the crate root). */
  name: string;
  reason: DenialReason;
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

export type GrantResult =
  | { ok: true; grant: Capabilities }
  | { ok: false; error: string; exceeding: Capabilities };

/**
 * The capabilities a crate gets: the granted ones, each checked against the declaration. A grant of
 * `"*"` stands for everything declared. Anything granted but not declared is an error naming it
 * (the user must not be able to hand a macro more than it says it needs).
 */
export function effectiveGrant(crate: string, declared: Capabilities, granted: Capabilities): GrantResult {
  const exceeding: Capabilities = { env: [], read: [] };
  const grant: Capabilities = { env: [], read: [] };
  for (const name of granted.env) {
    if (name === "*") grant.env.push(...declared.env);
    else if (declared.env.some((d) => d === name || (!hasGlob(name) && globMatch(d, name)))) grant.env.push(name);
    else exceeding.env.push(name);
  }
  for (const raw of granted.read) {
    if (raw === "*") {
      grant.read.push(...declared.read.map((d) => normalizePattern(d) ?? d));
      continue;
    }
    const p = normalizePattern(raw);
    if (p !== null && declared.read.some((d) => patternWithin(p, normalizePattern(d)))) grant.read.push(p);
    else exceeding.read.push(raw);
  }
  if (exceeding.env.length + exceeding.read.length > 0) {
    const parts = [
      ...exceeding.env.map((e) => `env var ${e}`),
      ...exceeding.read.map((r) => `read access to ${r}`),
    ];
    const decl = `it declares env = [${declared.env.map(q).join(", ")}], read = [${declared.read.map(q).join(", ")}]`;
    return { ok: false, exceeding, error: `macro crate ${crate} is granted ${parts.join(", ")}, which it does not declare (${decl})` };
  }
  return { ok: true, grant: { env: dedupe(grant.env), read: dedupe(grant.read) } };
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
  const re = new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$", "s");
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

/** The note shown to the user for a refused access. */
export function denialNote(crate: string, kind: "env" | "read", name: string, reason: DenialReason): string {
  const what = kind === "env" ? `env var ${name}` : `file ${name}`;
  const tried = `macro crate ${crate} tried to read ${what}`;
  const flag = kind === "env" ? `--allow-env ${crate}:${name}` : `--allow-read ${crate}:${name}`;
  const table = `[grants.${crate}] ${kind} = [${q(name)}]`;
  switch (reason) {
    case "not-granted":
      return `${tried}; grant it with \`${flag}\` or in macrobox.toml (\`${table}\`)`;
    case "environ":
      return `macro crate ${crate} declares env var ${name}, which is not granted (the macro sees it unset); grant it with \`${flag}\` or in macrobox.toml (\`${table}\`)`;
    case "undeclared":
      return `${tried}, which it does not declare; it can only be granted once the crate declares it in [package.metadata.macrobox] ${kind} = [...]`;
    case "escape":
      return `${tried}, which is outside the crate directory; macros may only read granted paths inside it`;
    case "symlink":
      return `${tried}, a symbolic link leading outside the granted paths; it cannot be granted`;
    case "write":
      return `macro crate ${crate} tried to write, create or truncate ${what}; macros get read-only access`;
    case "more":
      return `macro crate ${crate} was refused more accesses than are listed (this one was to ${what})`;
    case "no-root":
      return `${tried}, but this expansion has no crate directory to read from`;
  }
}

export function denial(crate: string, kind: "env" | "read", name: string, reason: DenialReason): CapabilityDenial {
  return { crate, kind, name, reason, note: denialNote(crate, kind, name, reason) };
}

/**
 * Notes for declared env vars that are not granted, for an expansion that failed: a macro reading
 * them with `std::env::var` sees them unset, and the host cannot tell which it asked for (it can for
 * `proc_macro::tracked::env_var`, which gives a "not-granted" denial). Names already in `denials` are skipped.
 */
export function ungrantedEnvNotes(crate: string, declared: Capabilities, granted: Capabilities, denials: readonly CapabilityDenial[] = []): CapabilityDenial[] {
  return declared.env
    .filter((name) => !envAllowed(granted, name) && !denials.some((d) => d.kind === "env" && d.name === name))
    .map((name) => denial(crate, "env", name, "environ"));
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
