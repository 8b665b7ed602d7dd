// The sandbox of one expansion for a long-lived host (Node): what the user grants the macro crate,
// the crate being compiled as its directory, and the environment the request carries. The cargo
// patch's host (src/patch/host.ts) and the proc-macro server's expansion worker build it here, the
// same way; what a macro then sees of that environment is src/sandbox's rule (`visibleEnv`).
//
// The proc-macro server learns the crate being compiled only from the request (rust-analyzer
// passes cargo's env, CARGO_MANIFEST_DIR among it, and rustc's working directory), so it finds the
// workspace's settings by walking up from the crate directory's real path (never the lexical one:
// a committed symlink as a crate directory must not borrow the grants of the repository it sits
// in): the nearest `macrobox.toml`, or a Cargo.toml with a `[workspace]` table (whose
// `[workspace.metadata.macrobox]` holds them). What that file asks counts once the user trusts it
// (trust.ts).

import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";

import type { MacroModule } from "../host/types.js";
import { CapabilityError, effectiveGrant, type Capabilities } from "../sandbox/capabilities.js";
import type { SandboxGrant } from "../sandbox/grant.js";
import type { RequestSandbox } from "../server/wasm-backend.js";
import { NodeReadOnlyFs } from "./fs.js";
import { byFileVersion, fileVersion, grantFor } from "./grants.js";
import { decideGrants, decisionState, pendingHint, realPathOr, type GrantDecision, type UserDirs } from "./trust.js";

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
  /** The command that would grant what an untrusted request asks for this crate (`pendingHint`), for denial notes. */
  hint?: string;
  /** A directory's real path (default `realPathOr`; a caller that has one already passes it on). */
  realPath?: (dir: string) => string;
}

/**
 * The SandboxGrant of one expansion: the effective grant, the crate directory (served through
 * NodeReadOnlyFs when a read grant applies, and mounted at its real path) and rustc's working
 * directory. Throws CapabilityError for a grant that cannot be honoured.
 */
export function expansionSandbox(o: ExpansionSandboxOptions): SandboxGrant {
  const declared = { env: [...o.declared.env], read: [...o.declared.read] };
  const effective = effectiveGrant(o.crate, declared, o.granted);
  if (!effective.ok) throw new CapabilityError(effective.error.message);
  const dir = o.crateDir ?? o.env.CARGO_MANIFEST_DIR ?? o.currentDir ?? null;
  const fs = effective.grant.read.length > 0 && dir !== null ? new NodeReadOnlyFs(dir) : null;
  const real = o.realPath ?? realPathOr;
  const crateDir = fs?.root ?? (dir === null ? undefined : real(dir));
  const currentDir = o.currentDir ? real(o.currentDir) : crateDir;
  return { crate: o.crate, declared, granted: effective.grant, fs, env: o.env, crateDir, currentDir, ...(o.hint !== undefined ? { hint: o.hint } : {}) };
}

const workspaceManifests = new Map<string, { version: string; value: boolean }>();

/** Whether a Cargo.toml (of that version) has a `[workspace]` table; one that does not parse is not a workspace's. */
function isWorkspaceManifest(path: string, version: string): boolean {
  return byFileVersion(
    workspaceManifests,
    path,
    (p) => {
      try {
        const doc = parseToml(readFileSync(p, "utf8")) as Record<string, unknown>;
        return doc.workspace !== null && typeof doc.workspace === "object";
      } catch {
        return false;
      }
    },
    version,
  );
}

/** A settings file found, and its version (`fileVersion`) when it was found. */
export interface FoundSettingsFile {
  path: string;
  version: string;
}

/**
 * The settings file of the workspace `start` lies in: the nearest `macrobox.toml` at or above it,
 * or a Cargo.toml with a `[workspace]` table, whichever comes first; null when there is neither.
 * One stat per candidate (asked on every expansion): whether it exists and its version at once.
 */
export function workspaceSettingsFile(start: string): FoundSettingsFile | null {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const settings = join(dir, "macrobox.toml");
    const version = fileVersion(settings);
    if (version !== null) return { path: settings, version };
    const manifest = join(dir, "Cargo.toml");
    const manifestVersion = fileVersion(manifest);
    if (manifestVersion !== null && isWorkspaceManifest(manifest, manifestVersion)) return { path: manifest, version: manifestVersion };
    if (dirname(dir) === dir) return null;
  }
}

/**
 * The sandbox of a proc-macro server expansion: grants from the user (trust.ts), with the
 * workspace's request found from the real path of the crate being compiled (the request's
 * CARGO_MANIFEST_DIR, else its current directory), and the request's environment (never the
 * server's own); with what it was decided from, for the server's line memo
 * (`BackendExpansion.dependency`), and notes on what a settings file asked that is not in effect.
 * Throws CapabilityError for a settings file that cannot be read or says something wrong, naming
 * the file.
 */
export function requestSandbox(
  module: Pick<MacroModule, "crate" | "declared">,
  env: ReadonlyArray<readonly [string, string]>,
  currentDir: string | null,
  dirs: UserDirs,
): RequestSandbox {
  const vars: Record<string, string> = Object.fromEntries(env);
  const crate = module.crate?.name ?? "<unknown>";
  const start = vars.CARGO_MANIFEST_DIR ?? currentDir;
  const realStart = start === null ? null : realPathOr(start);
  const found = realStart === null ? null : workspaceSettingsFile(realStart);
  const file = found?.path ?? null;
  // The files' versions before they are read: an edit in between makes a memoised answer miss,
  // never outlive the grants it was given under.
  const state = decisionState(dirs, found);
  const dependency = start === null ? null : { where: start, state };
  const decision = decisionFrom(dirs, file, realStart, state);
  const granted = grantFor(decision.grants, crate);
  const hint = pendingHint(decision, crate);
  // One real path per directory and request (each is a system call, asked on every expansion).
  const real = (dir: string) => (dir === start && realStart !== null ? realStart : realPathOr(dir));
  return {
    sandbox: expansionSandbox({ crate, declared: module.declared, granted, env: vars, currentDir, realPath: real, ...(hint !== undefined ? { hint } : {}) }),
    dependency,
    ...(decision.notes.length > 0 ? { notes: decision.notes } : {}),
  };
}

/**
 * Decisions by what they were decided from: the user's directories, the workspace's settings file
 * and the crate's real directory, and the versions of the three files a decision reads
 * (`decisionState`: the workspace's file, the user's file, the trust store; inode, size, mtime and
 * ctime). A request from a directory decided before costs the three stats, not a decision's
 * dozen more system calls (existence, real paths, every ancestor's owner and mode), which were
 * 0.2-0.3 ms of every expansion on a machine whose caches other processes had cooled
 * (DEVELOPERS.md). Exact for what the files say; a file that stops being safe to believe (another
 * user could write it) is one whose version changes the moment that user writes it. Not
 * re-read: where a symlink named as a workspace in the user's file points (the user's own).
 */
const decisions = new Map<string, GrantDecision>();
const DECISIONS_KEPT = 64;

function decisionFrom(dirs: UserDirs, file: string | null, realStart: string | null, state: string): GrantDecision {
  const key = [dirs.config, dirs.data, file ?? "", realStart ?? "", state].join("\0");
  let decision = decisions.get(key);
  if (decision === undefined) {
    decision = decideGrants({ dirs, repoFile: file, crateDir: realStart });
    if (decisions.size >= DECISIONS_KEPT) decisions.delete(decisions.keys().next().value!);
    decisions.set(key, decision);
  }
  return decision;
}

/** The state now of what a request from `start` was decided from (`SessionOptions.memoState`). */
export function settingsState(start: string, dirs: UserDirs): string {
  return decisionState(dirs, workspaceSettingsFile(realPathOr(start)));
}
