// Grants from the user (Node): a `macrobox.toml`, or `[workspace.metadata.macrobox.grants]` in a
// Cargo.toml, plus command-line flags.
//
//   # macrobox.toml
//   [grants.sqlx-macros]
//   env = ["DATABASE_URL"]
//   read = ["migrations"]
//
//   # Cargo.toml of a workspace
//   [workspace.metadata.macrobox.grants.sqlx-macros]
//   env = ["DATABASE_URL"]
//
// `"*"` grants everything the crate declares of that kind. Crate names compare with `-` and `_`
// equal. The command line adds to the file (`--allow-env crate:VAR`, `--allow-read crate:path`).

import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { parse as parseToml } from "smol-toml";
import { SETTINGS_KEYS, settingsFile } from "./settings.js";
import { addGrant, CapabilityError, crateKey, parseGrantFlags, type Capabilities } from "../sandbox/capabilities.js";

export type Grants = Map<string, Capabilities>;

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * `parse(path)`, remembered while the file stays as it is (same size, modification and change
 * times, inode): long-lived processes (the cargo host, the proc-macro server) read a settings file
 * once, not per expansion, and see an edit at the next one. Errors are not remembered.
 */
export function byFileVersion<T>(memo: Map<string, { version: string; value: T }>, path: string, parse: (path: string) => T): T {
  const version = fileVersion(path); // null: parse() names the problem
  const known = memo.get(path);
  if (version !== null && known?.version === version) return known.value;
  const value = parse(path);
  if (version !== null) memo.set(path, { version, value });
  return value;
}

/** What changes when a file is edited or replaced (inode, size, modification and change times); null when it cannot be stat'ed. */
export function fileVersion(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return null;
  }
}

const grantsFiles = new Map<string, { version: string; value: Grants }>();

/** Reads the grants in a macrobox.toml or a Cargo.toml (by file name). Throws CapabilityError. */
export function readGrantsFile(path: string): Grants {
  const grants = byFileVersion(grantsFiles, path, (p) => {
    let text: string;
    try {
      text = readFileSync(p, "utf8");
    } catch (e) {
      throw new CapabilityError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return parseGrants(text, p, basename(p) === "Cargo.toml" ? "cargo" : "macrobox");
  });
  // A copy: callers add command-line grants to it.
  return new Map([...grants].map(([crate, g]) => [crate, { env: [...g.env], read: [...g.read] }]));
}

/** Parses grants from TOML text: `[grants.<crate>]` (macrobox.toml) or `[workspace.metadata.macrobox.grants.<crate>]` (Cargo.toml). */
export function parseGrants(text: string, path: string, format: "macrobox" | "cargo"): Grants {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (e) {
    throw new CapabilityError(`${path}: not valid TOML: ${(e as Error).message.split("\n")[0]}`);
  }
  const where = format === "cargo" ? "[workspace.metadata.macrobox.grants]" : "[grants]";
  let grantsTable: unknown;
  if (format === "cargo") {
    const ws = doc.workspace;
    const meta = isTable(ws) && isTable(ws.metadata) ? ws.metadata : undefined;
    const mb = meta && isTable(meta.macrobox) ? meta.macrobox : undefined;
    grantsTable = mb?.grants;
  } else {
    for (const key of Object.keys(doc)) {
      if (key !== "grants" && !SETTINGS_KEYS.includes(key)) {
        throw new CapabilityError(`${path}: unknown table \`${key}\` (macrobox.toml holds [grants.<crate>] tables and ${SETTINGS_KEYS.join(", ")})`);
      }
    }
    grantsTable = doc.grants;
  }
  const grants: Grants = new Map();
  if (grantsTable === undefined) return grants;
  if (!isTable(grantsTable)) throw new CapabilityError(`${path}: ${where} must be a table of crates`);
  for (const [crate, entry] of Object.entries(grantsTable)) {
    if (!isTable(entry)) throw new CapabilityError(`${path}: ${where}.${crate} must be a table with env = [...] and/or read = [...]`);
    for (const [kind, list] of Object.entries(entry)) {
      if (kind !== "env" && kind !== "read") {
        throw new CapabilityError(`${path}: ${where}.${crate} has unknown key \`${kind}\` (known: env, read)`);
      }
      if (!Array.isArray(list) || list.some((x) => typeof x !== "string" || x === "")) {
        throw new CapabilityError(`${path}: ${where}.${crate}.${kind} must be an array of non-empty strings`);
      }
      for (const item of list as string[]) addGrant(grants, crate, kind, item);
      if (list.length === 0) addGrantEntry(grants, crate);
    }
  }
  return grants;
}

function addGrantEntry(grants: Grants, crate: string): void {
  if (!grants.has(crateKey(crate))) grants.set(crateKey(crate), { env: [], read: [] });
}

export interface GrantSources {
  /** An explicit config file (`--config`); it must exist. */
  config?: string;
  /** Where to look for `macrobox.toml` when no config is given (default: the current directory). */
  cwd?: string;
  allowEnv?: readonly string[];
  allowRead?: readonly string[];
}

/**
 * The user's grants: the config file (`--config`, else `macrobox.toml` in `cwd`, else the
 * `[workspace.metadata.macrobox.grants]` of `cwd`/Cargo.toml when present) merged with the flags.
 */
export function loadGrants(sources: GrantSources = {}): { grants: Grants; file: string | null } {
  const file = settingsFile(sources.cwd, sources.config);
  const grants: Grants = file ? readGrantsFile(file) : new Map();
  parseGrantFlags("env", sources.allowEnv ?? [], grants);
  parseGrantFlags("read", sources.allowRead ?? [], grants);
  return { grants, file };
}

/** The grant for one crate (empty when the user granted it nothing). */
export function grantFor(grants: Grants, crate: string): Capabilities {
  return grants.get(crateKey(crate)) ?? { env: [], read: [] };
}
