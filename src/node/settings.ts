// Settings beside the grants (Node): the remote cache, from the command line, the environment or
// the same file the grants come from (src/node/grants.ts finds it).
//
//   # macrobox.toml                       # Cargo.toml of a workspace
//   remote-cache = "http://cache:8080"    [workspace.metadata.macrobox]
//   remote-cache-read-only = true         remote-cache = "http://cache:8080"
//
// The command line wins over the environment (MACROBOX_REMOTE_CACHE,
// MACROBOX_REMOTE_CACHE_READ_ONLY=1), which wins over the file. "off" (or "") turns it off.

import { existsSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { MacroboxError } from "../errors.js";

/** The keys a settings file may hold beside `[grants]`. */
export const SETTINGS_KEYS: readonly string[] = ["remote-cache", "remote-cache-read-only"];

export interface RemoteCacheSetting {
  url: string;
  readOnly: boolean;
}

export interface SettingsSources {
  /** `--remote-cache` */
  remoteCache?: string;
  /** `--remote-cache-read-only` */
  readOnly?: boolean;
  /** An explicit config file (`--config`). */
  config?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * The settings file: `--config`, else `macrobox.toml` in `cwd`, else `cwd`/Cargo.toml, else none.
 * The grants are read from the same file (`loadGrants`).
 */
export function settingsFile(cwd: string = process.cwd(), config?: string): string | null {
  const dir = resolve(cwd);
  if (config !== undefined) return resolve(dir, config);
  if (existsSync(join(dir, "macrobox.toml"))) return join(dir, "macrobox.toml");
  if (existsSync(join(dir, "Cargo.toml"))) return join(dir, "Cargo.toml");
  return null;
}

/** The settings in a macrobox.toml (top level) or a Cargo.toml (`[workspace.metadata.macrobox]`). */
export function readSettings(path: string): { remoteCache?: string; readOnly?: boolean } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return {}; // the grants reader reports a file it cannot read, naming it
  }
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (e) {
    throw new MacroboxError("usage", `${path}: not valid TOML: ${(e as Error).message.split("\n")[0]}`);
  }
  let table: Table | undefined = doc;
  if (basename(path) === "Cargo.toml") {
    const ws = doc.workspace;
    const meta = isTable(ws) && isTable(ws.metadata) ? ws.metadata : undefined;
    table = meta && isTable(meta.macrobox) ? meta.macrobox : undefined;
  }
  if (!table) return {};
  const url = table["remote-cache"];
  const readOnly = table["remote-cache-read-only"];
  if (url !== undefined && typeof url !== "string") throw new MacroboxError("usage", `${path}: remote-cache must be a string (a URL)`);
  if (readOnly !== undefined && typeof readOnly !== "boolean") throw new MacroboxError("usage", `${path}: remote-cache-read-only must be true or false`);
  return { remoteCache: url, readOnly };
}

/** The remote cache to use, or null. Throws a MacroboxError naming a setting that is not an http(s) URL. */
export function remoteCacheSetting(sources: SettingsSources = {}): RemoteCacheSetting | null {
  const env = sources.env ?? process.env;
  const file = settingsFile(sources.cwd, sources.config);
  const fromFile = file !== null ? readSettings(file) : {};
  const [url, where] =
    sources.remoteCache !== undefined
      ? [sources.remoteCache, "--remote-cache"]
      : env.MACROBOX_REMOTE_CACHE !== undefined
        ? [env.MACROBOX_REMOTE_CACHE, "MACROBOX_REMOTE_CACHE"]
        : [fromFile.remoteCache, `remote-cache in ${file}`];
  if (url === undefined || url === "" || url === "off") return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MacroboxError("usage", `${where}: ${JSON.stringify(url)} is not a URL (expected http://host:port or https://...)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new MacroboxError("usage", `${where}: ${JSON.stringify(url)} is not an http or https URL`);
  }
  const envReadOnly = env.MACROBOX_REMOTE_CACHE_READ_ONLY;
  const readOnly = (sources.readOnly || undefined) ?? (envReadOnly !== undefined && envReadOnly !== "" ? envReadOnly !== "0" : (fromFile.readOnly ?? false));
  return { url, readOnly };
}
