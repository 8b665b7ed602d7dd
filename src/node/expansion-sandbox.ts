// The sandbox of one expansion for a long-lived host (Node): what the user grants the macro crate,
// the crate being compiled as its directory, and the environment the request carries. The cargo
// patch's host (src/cargo/host.ts) and the proc-macro server's expansion worker build it here, the
// same way; what a macro then sees of that environment is src/sandbox's rule (`visibleEnv`).
//
// The proc-macro server learns the crate being compiled only from the request (rust-analyzer
// passes cargo's env, CARGO_MANIFEST_DIR among it, and rustc's working directory), so it finds the
// grants by walking up from there to the workspace's settings: the nearest `macrobox.toml`, or a
// Cargo.toml with a `[workspace]` table (whose `[workspace.metadata.macrobox]` holds them).

import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";

import type { MacroModule } from "../host/types.js";
import { CapabilityError, effectiveGrant, type Capabilities } from "../sandbox/capabilities.js";
import type { SandboxGrant } from "../sandbox/wasi-fs.js";
import type { RequestSandbox } from "../server/wasm-backend.js";
import { NodeReadOnlyFs } from "./fs.js";
import { byFileVersion, fileVersion, grantFor, readGrantsFile } from "./grants.js";

export interface ExpansionSandboxOptions {
  /** The macro crate. */
  crate: string;
  /** What it declares (the module's metadata). */
  declared: Readonly<Capabilities>;
  /** What the user grants it (`grantFor`). */
  granted: Capabilities;
  /** The environment of the compilation (cargo's, as rustc or rust-analyzer got it). */
  env: Readonly<Record<string, string | undefined>>;
  /** rustc's working directory. */
  currentDir?: string | null;
  /** The crate being compiled; default its CARGO_MANIFEST_DIR in `env`, else `currentDir`. */
  crateDir?: string | null;
}

/**
 * The SandboxGrant of one expansion: the effective grant, the crate directory (served through
 * NodeReadOnlyFs when a read grant applies, and mounted at its real path) and rustc's working
 * directory. Throws CapabilityError for a grant that cannot be honoured.
 */
export function expansionSandbox(o: ExpansionSandboxOptions): SandboxGrant {
  const declared = { env: [...o.declared.env], read: [...o.declared.read] };
  const effective = effectiveGrant(o.crate, declared, o.granted);
  if (!effective.ok) throw new CapabilityError(effective.error);
  const dir = o.crateDir ?? o.env.CARGO_MANIFEST_DIR ?? o.currentDir ?? null;
  const fs = effective.grant.read.length > 0 && dir !== null ? new NodeReadOnlyFs(dir) : null;
  const crateDir = fs?.root ?? (dir === null ? undefined : realPathOr(dir));
  const currentDir = o.currentDir ? realPathOr(o.currentDir) : crateDir;
  return { crate: o.crate, declared, granted: effective.grant, fs, env: o.env, crateDir, currentDir };
}

export function realPathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

const workspaceManifests = new Map<string, { version: string; value: boolean }>();

/** Whether a Cargo.toml has a `[workspace]` table; one that does not parse is not a workspace's. */
function isWorkspaceManifest(path: string): boolean {
  return byFileVersion(workspaceManifests, path, (p) => {
    try {
      const doc = parseToml(readFileSync(p, "utf8")) as Record<string, unknown>;
      return doc.workspace !== null && typeof doc.workspace === "object";
    } catch {
      return false;
    }
  });
}

/**
 * The settings file of the workspace `start` lies in: the nearest `macrobox.toml` at or above it,
 * or a Cargo.toml with a `[workspace]` table, whichever comes first; null when there is neither.
 */
export function workspaceSettingsFile(start: string): string | null {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const settings = join(dir, "macrobox.toml");
    if (existsSync(settings)) return settings;
    const manifest = join(dir, "Cargo.toml");
    if (existsSync(manifest) && isWorkspaceManifest(manifest)) return manifest;
    if (dirname(dir) === dir) return null;
  }
}

/**
 * The sandbox of a proc-macro server expansion: grants from the workspace of the crate being
 * compiled (found from the request's CARGO_MANIFEST_DIR, else its current directory), and the
 * request's environment (never the server's own); with the settings file it was decided from, for
 * the server's line memo (`BackendExpansion.dependency`). Throws CapabilityError for a settings
 * file that cannot be read or says something wrong, naming the file.
 */
export function requestSandbox(
  module: Pick<MacroModule, "crate" | "declared">,
  env: ReadonlyArray<readonly [string, string]>,
  currentDir: string | null,
): RequestSandbox {
  const vars: Record<string, string> = Object.fromEntries(env);
  const crate = module.crate?.name ?? "<unknown>";
  const start = vars.CARGO_MANIFEST_DIR ?? currentDir;
  const file = start === null ? null : workspaceSettingsFile(start);
  // The file's version before it is read: an edit in between makes a memoised answer miss, never
  // outlive the grants it was given under.
  const dependency = start === null ? null : { where: start, state: stateOf(file) };
  const granted = file === null ? { env: [], read: [] } : grantFor(readGrantsFile(file), crate);
  return { sandbox: expansionSandbox({ crate, declared: module.declared, granted, env: vars, currentDir }), dependency };
}

/** The settings file that applies from `start`, and its version (`SessionOptions.memoState`). */
export function settingsState(start: string): string {
  return stateOf(workspaceSettingsFile(start));
}

function stateOf(file: string | null): string {
  return file === null ? "" : `${file}\0${fileVersion(file)}`;
}
