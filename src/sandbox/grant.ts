// What a user grants a macro, and one expansion's use of it: `SandboxGrant` (the grant, with the
// file system view and environment it is served from), `visibleEnv` (the environment it shows),
// and `CapabilitySession`.
//
// One `CapabilitySession` per expansion: it makes the WASI extension for the expansion's instance
// (see `WasiOptions.extend` in wasi.ts; the functions themselves are in wasi-fs.ts) and the
// bridge's env policy, and records what happened: every granted read (`reads`), every env var
// served (`env`), every refusal (`denials`, each with the note telling the user what to grant).
//
// Browser-safe: no Node APIs here.

import {
  denial,
  envAllowed,
  envVisible,
  normalizePattern,
  pathInside,
  readAllowed,
  resolveAbsolute,
  type Capabilities,
  type CapabilityDenial,
  type DenialReason,
} from "./capabilities.js";
import type { ReadOnlyFs } from "./fs.js";
import type { Wasi, WasiExtender } from "./wasi.js";
import { CAPABILITY_FUNCTIONS, MAX_PATH_BYTES, WasiCapabilities } from "./wasi-fs.js";

export interface SandboxGrant {
  /** The macro crate (for notes). */
  crate: string;
  /** What the crate declares (the module's metadata). */
  declared: Capabilities;
  /** What it may use: an effective grant (see `effectiveGrant`); it may go beyond `declared`. */
  granted: Capabilities;
  /** The crate directory reads are served from; none: every read is refused. */
  fs?: ReadOnlyFs | null;
  /**
   * Where the macro sees `fs`: the crate directory's real absolute path (what CARGO_MANIFEST_DIR
   * holds), so that paths it computes and emits (`include_str!("/abs/src/grammar.pest")`) are
   * valid in the real build. Default "/".
   */
  crateDir?: string;
  /**
   * The macro's current directory (`std::env::current_dir()`, and what relative paths resolve
   * against): rustc's working directory as cargo or rust-analyzer set it. Absolute; default `crateDir`.
   */
  currentDir?: string;
  /** Environment values the host has; only visible names are ever served (`visibleEnv`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Files and directories open at once. Default 64. */
  maxOpenFiles?: number;
  /**
   * Another way to grant what is refused, for denial notes: the command that would put into effect
   * what a repository's settings file asks for this crate (an untrusted request; src/node/trust.ts).
   */
  hint?: string;
}

/**
 * The environment a macro sees under `grant`, sorted by name: the variables `envVisible` lets
 * through that have values, with CARGO_MANIFEST_DIR the crate directory as the macro sees it (its
 * real path, where `crateDir` mounts it) when the grant names one, and CARGO_MANIFEST_PATH the
 * manifest's name in that directory (a path naming anything else is withheld). What the sandbox
 * serves, and what the expansion cache keys by.
 */
export function visibleEnv(grant: SandboxGrant): Array<[string, string]> {
  const env: Record<string, string | undefined> = { ...grant.env };
  if (grant.crateDir !== undefined) {
    const dir = resolveAbsolute("/", grant.crateDir).abs;
    if (env.CARGO_MANIFEST_PATH !== undefined) {
      const path = resolveAbsolute("/", env.CARGO_MANIFEST_PATH).abs;
      const given = env.CARGO_MANIFEST_DIR === undefined ? dir : resolveAbsolute("/", env.CARGO_MANIFEST_DIR).abs;
      const name = pathInside(given, path);
      env.CARGO_MANIFEST_PATH = name !== null && name !== "" && !name.includes("/") ? `${dir.replace(/\/$/, "")}/${name}` : undefined;
    }
    env.CARGO_MANIFEST_DIR = dir;
  }
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !name.includes("=") && envVisible(grant.granted, name)) out.push([name, value]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Records kept per expansion (reads, env vars, denials each): a loop over distinct names cannot grow the host. */
export const MAX_RECORDS = 1000;

/** What the module's wasi-libc does with paths (found in its code by src/host/module.ts). */
export interface LibcPaths {
  /** It links chdir, so it makes relative paths absolute against its current directory. */
  joinsRelativePaths: boolean;
}

export class CapabilitySession {
  /** Paths read (files opened, directories listed, metadata asked), relative to the crate root, in order. */
  readonly reads: string[] = [];
  /** Env vars the macro was given (through the bridge or WASI). */
  readonly env: Array<{ name: string; value: string | null }> = [];
  readonly denials: CapabilityDenial[] = [];
  private readonly declared: Capabilities;
  private readonly seen = new Set<string>();

  /** `SandboxGrant.crateDir` and `currentDir`, normalized. */
  readonly crateDir: string;
  readonly currentDir: string;

  constructor(
    readonly grant: SandboxGrant,
    readonly libc: LibcPaths = { joinsRelativePaths: false },
  ) {
    this.declared = { env: grant.declared.env, read: grant.declared.read.map((r) => normalizePattern(r) ?? "\0") };
    this.crateDir = resolveAbsolute("/", grant.crateDir ?? "/").abs;
    this.currentDir = resolveAbsolute(this.crateDir, grant.currentDir ?? this.crateDir).abs;
  }

  /** Where the macro sees a path of the crate directory. */
  absolute(path: string): string {
    return path === "" ? this.crateDir : this.crateDir === "/" ? `/${path}` : `${this.crateDir}/${path}`;
  }

  /** `WasiOptions.extend`: a fresh fd table for each instance, made when it is first needed. */
  readonly extend: WasiExtender = { functions: CAPABILITY_FUNCTIONS, make: (wasi: Wasi) => new WasiCapabilities(this, wasi).extension() };

  /** The bridge's env policy (`proc_macro::tracked::env_var`): visible names only, recorded. */
  readonly envPolicy = (name: string): string | null => {
    if (!envVisible(this.grant.granted, name)) {
      this.deny("env", name, this.envReason(name));
      return null;
    }
    const value = this.environment().find(([n]) => n === name)?.[1] ?? null;
    this.recordEnv(name, value);
    return value;
  };

  /** What environ_get serves (`visibleEnv`), computed once per expansion. */
  environment(): Array<[string, string]> {
    return (this.visible ??= visibleEnv(this.grant));
  }
  private visible: Array<[string, string]> | undefined;

  /**
   * The instance read its environment (wasi-libc copies all of it, eagerly in a constructor): every
   * granted variable it got counts as read. The package env is left out: every instance gets it,
   * and cargo rebuilds when it changes. Which name a later `getenv` asks for is invisible to the
   * host, so declared variables left out are not noted here (see `ungrantedEnvNotes`).
   */
  environRead(): void {
    for (const [name, value] of this.environment()) if (envAllowed(this.grant.granted, name)) this.recordEnv(name, value);
  }

  envReason(name: string): DenialReason {
    return envAllowed(this.declared, name) ? "not-granted" : "undeclared";
  }

  readReason(path: string): DenialReason {
    return readAllowed(this.declared, path) ? "not-granted" : "undeclared";
  }

  /** Whether a record is new (and there is room for it). */
  private fresh(key: string, list: unknown[]): boolean {
    if (this.seen.has(key) || list.length >= MAX_RECORDS) return false;
    this.seen.add(key);
    return true;
  }

  recordEnv(name: string, value: string | null): void {
    name = clipName(name);
    if (this.fresh(`env\0${name}`, this.env)) this.env.push({ name, value });
  }

  recordRead(path: string): void {
    if (this.fresh(`read\0${path}`, this.reads)) this.reads.push(path);
  }

  /** A refused read of crate path `path` (relative; null: outside the crate directory, at `abs`). */
  denyRead(path: string | null, abs: string, reason: DenialReason): void {
    const grantable = reason === "not-granted" || reason === "undeclared" || reason === "no-root";
    this.deny("read", abs, reason, grantable && path !== null ? path || "." : undefined);
  }

  deny(kind: "env" | "read", name: string, reason: DenialReason, grant?: string): void {
    name = clipName(name);
    if (this.denials.length === MAX_RECORDS - 1 && !this.seen.has(`deny\0${kind}\0${name}\0${reason}`)) {
      // The last place says there were more.
      this.seen.add(`deny\0${kind}\0${name}\0${reason}`);
      this.denials.push(denial(this.grant.crate, kind, name, "more"));
      return;
    }
    if (this.fresh(`deny\0${kind}\0${name}\0${reason}`, this.denials)) this.denials.push(denial(this.grant.crate, kind, name, reason, grant, this.grant.hint));
  }
}

/** Names as recorded: at most MAX_PATH_BYTES characters (a macro may ask for a huge one through the bridge). */
function clipName(name: string): string {
  return name.length <= MAX_PATH_BYTES ? name : `${name.slice(0, MAX_PATH_BYTES)}...`;
}
