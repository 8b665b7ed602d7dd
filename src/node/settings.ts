// Settings beside the grants (Node): the remote cache, from the command line, the environment or
// the settings files trust.ts lets count (the user's own file, `--config`, a repository's file
// once trusted: an untrusted repository must not point the user's cache traffic at its server).
//
//   # macrobox.toml                       # Cargo.toml of a workspace
//   remote-cache = "http://cache:8080"    [workspace.metadata.macrobox]
//   remote-cache-read-only = true         remote-cache = "http://cache:8080"
//
// The command line wins over the environment (MACROBOX_REMOTE_CACHE,
// MACROBOX_REMOTE_CACHE_READ_ONLY=1), which wins over the files. "off" (or "") turns it off.

import { resolve } from "node:path";
import { MacroboxError } from "../errors.js";
import { remoteCacheUrlProblem, settingsFile } from "./grants.js";
import { decideGrants, type UserDirs } from "./trust.js";

export { SETTINGS_KEYS, settingsFile } from "./grants.js";

export interface RemoteCacheSetting {
  url: string;
  readOnly: boolean;
}

export interface SettingsSources {
  /** The user's directories (trust.ts `userDirs()`). */
  dirs: UserDirs;
  /** `--remote-cache` */
  remoteCache?: string;
  /** `--remote-cache-read-only` */
  readOnly?: boolean;
  /** An explicit config file (`--config`). */
  config?: string;
  /** Whose settings file is the repository's request (default: the current directory). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The remote cache to use, or null. Throws a MacroboxError naming a setting that is not an http(s)
 * URL. `notes`: where to say what a settings file asked that is not in effect (untrusted, unsafe).
 */
export function remoteCacheSetting(sources: SettingsSources, notes?: (note: string) => void): RemoteCacheSetting | null {
  const env = sources.env ?? process.env;
  const cwd = resolve(sources.cwd ?? process.cwd());
  const decided = decideGrants({ dirs: sources.dirs, repoFile: settingsFile(cwd), crateDir: null, config: sources.config });
  if (notes) for (const note of decided.notes) notes(note);
  const [url, where] =
    sources.remoteCache !== undefined
      ? [sources.remoteCache, "--remote-cache"]
      : env.MACROBOX_REMOTE_CACHE !== undefined
        ? [env.MACROBOX_REMOTE_CACHE, "MACROBOX_REMOTE_CACHE"]
        : [decided.remoteCache?.url, decided.remoteCache?.where ?? ""];
  if (url === undefined || url === "" || url === "off") return null;
  // A settings file's value was checked when the file was read (parseSettings), the same way.
  const problem = remoteCacheUrlProblem(url);
  if (problem !== null) throw new MacroboxError("usage", `${where}: ${JSON.stringify(url)} ${problem}`);
  const envReadOnly = env.MACROBOX_REMOTE_CACHE_READ_ONLY;
  const readOnly =
    (sources.readOnly || undefined) ?? (envReadOnly !== undefined && envReadOnly !== "" ? envReadOnly !== "0" : (decided.remoteCacheReadOnly ?? false));
  return { url, readOnly };
}
