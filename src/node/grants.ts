// The settings files (Node): one parser for every file macrobox reads grants and settings from.
//
//   # macrobox.toml (a repository's: a request, see trust.ts)
//   remote-cache = "http://cache:8080"
//   [grants.sqlx-macros]
//   env = ["DATABASE_URL"]
//   read = ["migrations"]
//
//   # Cargo.toml of a workspace (a request too)
//   [workspace.metadata.macrobox]
//   remote-cache = "http://cache:8080"
//   [workspace.metadata.macrobox.grants.sqlx-macros]
//   env = ["DATABASE_URL"]
//
//   # ~/.config/macrobox/macrobox.toml (the user's own): grants scoped to a workspace's real path
//   remote-cache = "http://cache:8080"
//   [workspace."/home/me/src/app".grants.sqlx-macros]
//   env = ["DATABASE_URL"]
//   [workspace."/home/me/src/app".build-grants.openssl-sys]   # a build script's, under `macrobox patch`
//   network = true                                           #   a bare name (or name@version): crates.io's
//   read = ["/opt/openssl"]                                  #   package of that name only
//   write = []
//   env = ["OPENSSL_DIR"]
//   [workspace."/home/me/src/app".build-grants."./crates/gen"]  # a repository's own package (path,
//   read = ["/opt/data"]                                        #   in-repo vendored, git): by its directory,
//                                                               #   relative to the workspace entry or absolute
//
// `"*"` grants everything the crate declares of that kind (for a build script: what a crates.io
// package of that name asks; in a directory's entry it is left out with a note, since the
// repository may change what its own package asks: list what you grant). Crate names compare with `-` and `_`
// equal. An env glob (`*` or `?` in a name, other than `"*"` alone) is honoured from the command
// line only: in a file it is left out with a note (`ignored`), since `"?*"` is the whole
// environment. Which files count, and when, is trust.ts's business.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { addGrant, CapabilityError, crateKey, type Capabilities } from "../sandbox/capabilities.js";
import { cannotRead } from "../errors.js";

export type Grants = Map<string, Capabilities>;

/**
 * What a build script may have beyond the build-script sandbox's defaults (src/patch/build-scripts.ts):
 * a package asks for it in `[package.metadata.macrobox.build]`, the user grants it in
 * `[workspace."<dir>".build-grants.<package>]` or with `macrobox patch --grant-build`.
 */
export interface BuildCapabilities {
  network: boolean;
  read: string[];
  write: string[];
  env: string[];
}

/**
 * Which package a build grant is for, as cargo's package ID specs name one: `name` (or
 * `name@version`, a version prefix as `0.9` or `0.9.103`) for a package from crates.io, or the
 * package's directory for any package (the one way to name a repository's own: a path package, an
 * in-repo vendored crate, a git dependency). Names compare with `-` and `_` equal.
 */
export type BuildPackageSpec = { name: string; version?: string } | { dir: string };

/** One build grant: the package, what is granted, and where the user said it (for notes). */
export interface BuildGrant {
  spec: BuildPackageSpec;
  caps: BuildCapabilities;
  /** `--grant-build openssl-sys`, `/u/macrobox.toml [workspace."/src/app"].build-grants."./gen"` */
  where: string;
}

/** The user's build grants, in the order given. */
export type BuildGrants = BuildGrant[];

/**
 * Parses a build grant's package: a directory when it starts with `/` or `.` (resolved against
 * `base`), else `name` or `name@version`; null when it is neither.
 */
export function parseBuildPackageSpec(text: string, base: string): BuildPackageSpec | null {
  if (text.startsWith("/") || text === "." || text === ".." || text.startsWith("./") || text.startsWith("../")) return { dir: resolve(base, text) };
  const m = /^([A-Za-z0-9_-]+)(?:@([0-9A-Za-z.+-]+))?$/.exec(text);
  if (m === null) return null;
  return m[2] === undefined ? { name: crateKey(m[1]) } : { name: crateKey(m[1]), version: m[2] };
}

/** The keys a settings file may hold beside `[grants]`. */
export const SETTINGS_KEYS: readonly string[] = ["remote-cache", "remote-cache-read-only"];

/** Which kind of file: a repository's macrobox.toml, a workspace Cargo.toml, or the user's own file. */
export type SettingsFormat = "macrobox" | "cargo" | "user";

/** What one settings file says. */
export interface SettingsFile {
  /** `[grants.<crate>]` (`[workspace.metadata.macrobox.grants]` in a Cargo.toml); none in the user's file. */
  grants: Grants;
  /** The user's file: `[workspace."<dir>".grants.<crate>]`, by the directory as written. */
  workspaces: Map<string, Grants>;
  /** The user's file: `[workspace."<dir>".build-grants.<package>]`, by the directory as written (a directory key resolved against it). */
  buildWorkspaces: Map<string, BuildGrants>;
  /** What the user's build-grants say that is left out (`"*"` for a directory), one sentence each (shown by `macrobox patch`). */
  buildIgnored: string[];
  remoteCache?: string;
  readOnly?: boolean;
  /** What the file asks that is left out (env globs), one sentence each. */
  ignored: string[];
  /** sha256 of the bytes parsed (what `macrobox trust` records). */
  sha256: string;
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * `parse(path)`, remembered while the file stays as it is (same size, modification and change
 * times, inode): long-lived processes (the cargo host, the proc-macro server) read a settings file
 * once, not per expansion, and see an edit at the next one. Errors are not remembered.
 */
export function byFileVersion<T>(
  memo: Map<string, { version: string; value: T }>,
  path: string,
  parse: (path: string) => T,
  // The caller's, when it has just taken it (one stat fewer).
  version: string | null = fileVersion(path), // null: parse() names the problem
): T {
  const known = memo.get(path);
  if (version !== null && known?.version === version) return known.value;
  const value = parse(path);
  if (version !== null) memo.set(path, { version, value });
  return value;
}

/** What changes when a file is edited or replaced (inode, size, modification and change times); null when it cannot be stat'ed. */
export function fileVersion(path: string): string | null {
  try {
    // Most paths asked do not exist (the walk up for a workspace's settings file asks two per
    // directory, on every expansion), and a thrown error costs ten times the stat: its stack trace
    // (16 against 1.6 µs here). `throwIfNoEntry: false` answers ENOENT without one.
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    return st === undefined ? null : `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return null;
  }
}

/**
 * The settings file of a directory: `--config` when given, else `macrobox.toml` in it, else its
 * Cargo.toml, else none.
 */
export function settingsFile(cwd: string = process.cwd(), config?: string): string | null {
  const dir = resolve(cwd);
  if (config !== undefined) return resolve(dir, config);
  if (existsSync(join(dir, "macrobox.toml"))) return join(dir, "macrobox.toml");
  if (existsSync(join(dir, "Cargo.toml"))) return join(dir, "Cargo.toml");
  return null;
}

/** The format of a settings file by its name (the user's own file is read as "user" by trust.ts). */
export function formatOf(path: string): SettingsFormat {
  return path.endsWith("/Cargo.toml") || path === "Cargo.toml" ? "cargo" : "macrobox";
}

const settingsFiles: Record<SettingsFormat, Map<string, { version: string; value: SettingsFile }>> = {
  macrobox: new Map(),
  cargo: new Map(),
  user: new Map(),
};

/** Reads a settings file, kept per file version. Throws CapabilityError naming the file (`cannotRead` when it cannot be read). */
export function readSettingsFile(path: string, format: SettingsFormat = formatOf(path)): SettingsFile {
  return byFileVersion(settingsFiles[format], path, (p) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(p);
    } catch (e) {
      throw cannotRead(p, e);
    }
    return parseSettings(bytes.toString("utf8"), p, format, createHash("sha256").update(bytes).digest("hex"));
  });
}

/** Reads the grants in a macrobox.toml or a Cargo.toml (by file name), a copy the caller may add to. Throws CapabilityError. */
export function readGrantsFile(path: string): Grants {
  return copyGrants(readSettingsFile(path).grants);
}

export function copyGrants(grants: Grants): Grants {
  return new Map([...grants].map(([crate, g]) => [crate, { env: [...g.env], read: [...g.read] }]));
}

/** Parses grants from TOML text: `[grants.<crate>]` (macrobox.toml) or `[workspace.metadata.macrobox.grants.<crate>]` (Cargo.toml). */
export function parseGrants(text: string, path: string, format: "macrobox" | "cargo"): Grants {
  return parseSettings(text, path, format).grants;
}

/** Parses a settings file's text (see the top of this file). Throws CapabilityError naming the file and the key. */
export function parseSettings(text: string, path: string, format: SettingsFormat, sha256?: string): SettingsFile {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (e) {
    throw new CapabilityError(`${path}: not valid TOML: ${(e as Error).message.split("\n")[0]}`);
  }
  const out: SettingsFile = {
    grants: new Map(),
    workspaces: new Map(),
    buildWorkspaces: new Map(),
    buildIgnored: [],
    ignored: [],
    sha256: sha256 ?? createHash("sha256").update(text).digest("hex"),
  };
  let table: Table | undefined = doc;
  if (format === "cargo") {
    const ws = doc.workspace;
    const meta = isTable(ws) && isTable(ws.metadata) ? ws.metadata : undefined;
    table = meta && isTable(meta.macrobox) ? meta.macrobox : undefined;
    if (table === undefined) return out;
  }
  const allowed = format === "user" ? [...SETTINGS_KEYS, "workspace"] : [...SETTINGS_KEYS, "grants"];
  const where = format === "cargo" ? "[workspace.metadata.macrobox]" : "";
  for (const key of Object.keys(table)) {
    if (allowed.includes(key)) continue;
    if (format === "user" && key === "grants") {
      throw new CapabilityError(
        `${path}: [grants.<crate>] here would grant any crate of that name in any repository (a repository chooses its crates' names); ` +
          `scope it to a workspace: [workspace."/real/path/of/it".grants.<crate>]`,
      );
    }
    if (format === "cargo") continue; // other tools' keys may live beside ours in Cargo.toml metadata
    throw new CapabilityError(`${path}: unknown ${format === "user" ? "key" : "table"} \`${key}\` (${path.split("/").pop()} holds ${allowed.join(", ")})`);
  }
  const url = table["remote-cache"];
  const readOnly = table["remote-cache-read-only"];
  if (url !== undefined && typeof url !== "string") throw new CapabilityError(`${path}: ${where}remote-cache must be a string (a URL)`);
  const badUrl = url === undefined ? null : remoteCacheUrlProblem(url);
  if (badUrl !== null) throw new CapabilityError(`${path}: ${where}remote-cache: ${JSON.stringify(url)} ${badUrl}`);
  if (readOnly !== undefined && typeof readOnly !== "boolean") throw new CapabilityError(`${path}: ${where}remote-cache-read-only must be true or false`);
  if (url !== undefined) out.remoteCache = url;
  if (readOnly !== undefined) out.readOnly = readOnly;
  if (format === "user") {
    const workspaces = table.workspace;
    if (workspaces === undefined) return out;
    if (!isTable(workspaces)) throw new CapabilityError(`${path}: [workspace] must be a table of workspace directories`);
    for (const [dir, body] of Object.entries(workspaces)) {
      const at = `[workspace.${JSON.stringify(dir)}]`;
      if (!dir.startsWith("/")) throw new CapabilityError(`${path}: ${at}: a workspace is named by its absolute path`);
      if (!isTable(body)) throw new CapabilityError(`${path}: ${at} must be a table holding [grants.<crate>] tables`);
      for (const key of Object.keys(body))
        if (key !== "grants" && key !== "build-grants") throw new CapabilityError(`${path}: ${at} has unknown key \`${key}\` (known: grants, build-grants)`);
      out.workspaces.set(dir, grantsTable(body.grants, path, `${at}.grants`, out.ignored));
      const build: BuildGrants = [];
      if (body["build-grants"] !== undefined && !isTable(body["build-grants"]))
        throw new CapabilityError(`${path}: ${at}.build-grants must be a table of packages`);
      for (const [pkg, entry] of Object.entries((body["build-grants"] ?? {}) as Table)) {
        const where = `${at}.build-grants.${/^[A-Za-z0-9_-]+$/.test(pkg) ? pkg : JSON.stringify(pkg)}`;
        const spec = parseBuildPackageSpec(pkg, dir);
        if (spec === null)
          throw new CapabilityError(
            `${path}: ${where}: a build grant names a crates.io package (name or name@version) or a package's directory ("./crates/gen", "/abs/dir")`,
          );
        const caps = parseBuildCapabilities(entry, path, where);
        if ("dir" in spec) {
          // The repository writes what its own package asks: "*" would follow its edits silently.
          for (const kind of ["read", "write", "env"] as const)
            if (caps[kind].includes("*")) {
              caps[kind] = caps[kind].filter((x) => x !== "*");
              out.buildIgnored.push(
                `${path}: ${where} ${kind} = ["*"] is ignored: a package named by its directory is the repository's, which may change what it asks; list what you grant`,
              );
            }
        }
        build.push({ spec, caps, where: `${path} ${where}` });
      }
      out.buildWorkspaces.set(dir, build);
    }
    return out;
  }
  out.grants = grantsTable(table.grants, path, format === "cargo" ? "[workspace.metadata.macrobox.grants]" : "[grants]", out.ignored);
  return out;
}

function grantsTable(value: unknown, path: string, where: string, ignored: string[]): Grants {
  const grants: Grants = new Map();
  if (value === undefined) return grants;
  if (!isTable(value)) throw new CapabilityError(`${path}: ${where} must be a table of crates`);
  for (const [crate, entry] of Object.entries(value)) {
    if (!isTable(entry)) throw new CapabilityError(`${path}: ${where}.${crate} must be a table with env = [...] and/or read = [...]`);
    if (!grants.has(crateKey(crate))) grants.set(crateKey(crate), { env: [], read: [] });
    for (const [kind, list] of Object.entries(entry)) {
      if (kind !== "env" && kind !== "read") {
        throw new CapabilityError(`${path}: ${where}.${crate} has unknown key \`${kind}\` (known: env, read)`);
      }
      if (!Array.isArray(list) || list.some((x) => typeof x !== "string" || x === "")) {
        throw new CapabilityError(`${path}: ${where}.${crate}.${kind} must be an array of non-empty strings`);
      }
      for (const item of list as string[]) {
        if (kind === "env" && isEnvGlob(item)) {
          ignored.push(
            `${path}: ${where}.${crate} env = [${JSON.stringify(item)}] is ignored: an env glob may match any variable, ` +
              `so it is honoured from the command line only (\`--allow-env ${crate}:${item}\`); "*" alone grants what the crate declares`,
          );
          continue;
        }
        addGrant(grants, crate, kind, item);
      }
    }
  }
  return grants;
}

/**
 * What is wrong with a `remote-cache` value, wherever it comes from (a settings file, the command
 * line, the environment): null when it is an http(s) URL, "off" or "" (no remote cache).
 */
export function remoteCacheUrlProblem(value: string): string | null {
  if (value === "" || value === "off") return null;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return "is not a URL (expected http://host:port or https://...)";
  }
  return parsed.protocol === "http:" || parsed.protocol === "https:" ? null : "is not an http or https URL";
}

/** An env grant that is a glob other than `"*"` (which stands for what the crate declares). */
export function isEnvGlob(name: string): boolean {
  return name !== "*" && /[*?]/.test(name);
}

/** The grant for one crate (empty when the user granted it nothing). */
export function grantFor(grants: Grants, crate: string): Capabilities {
  return grants.get(crateKey(crate)) ?? { env: [], read: [] };
}

/** A build-capabilities table (`network = true`, `read`/`write`/`env` = [...]): the user's grant or a package's request. Throws CapabilityError naming where. */
export function parseBuildCapabilities(value: unknown, path: string, where: string): BuildCapabilities {
  const out: BuildCapabilities = { network: false, read: [], write: [], env: [] };
  if (!isTable(value)) throw new CapabilityError(`${path}: ${where} must be a table with network = true and/or read, write, env = [...]`);
  for (const [key, v] of Object.entries(value)) {
    if (key === "network") {
      if (typeof v !== "boolean") throw new CapabilityError(`${path}: ${where}.network must be true or false`);
      out.network = v;
    } else if (key === "read" || key === "write" || key === "env") {
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === ""))
        throw new CapabilityError(`${path}: ${where}.${key} must be an array of non-empty strings`);
      out[key].push(...(v as string[]));
    } else throw new CapabilityError(`${path}: ${where} has unknown key \`${key}\` (known: network, read, write, env)`);
  }
  return out;
}
