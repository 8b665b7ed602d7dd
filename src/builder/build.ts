// `macrobox build`: one proc-macro crate in, one sandboxable `.wasm` macro module out.
//
// Steps: find the toolchain → prepare the wasm32-macro target (spec, linker wrapper) → stage a
// copy of the crate → resolve dependencies offline from the local registry → patch dependencies
// that switch proc_macro off on wasm32 → `cargo rustc --crate-type proc-macro` with build-std
// (std is built once per toolchain and reused) → check the module's imports → append the metadata
// section → write the output atomically. Registry crates build into the cache's shared target
// directory; any other crate into a target directory of its own (`trustDomain`).

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { listProcMacros } from "../wasm/decls.js";
import { appendCustomSection, encodeMetadata, METADATA_FORMAT, METADATA_SECTION, readMetadata, type ModuleMetadata } from "../wasm/metadata.js";
import { unsupportedImportsMessage } from "../sandbox/host-imports.js";
import { moduleKey, toolchainCache, type ModuleStore } from "./cache.js";
import { applyCompat, type CompatPatch } from "./compat.js";
import { findCrate, registryRoots, syncDirectorySource } from "./registry.js";
import { stageCrate, writeBuildConfig, type StagedCrate } from "./stage.js";
import { LIBC_SHIM_SYMBOLS } from "./libc-shim.js";
import { prepareTarget, TARGET_NAME } from "./target.js";
import { bridgeAbiId, findToolchain, type Toolchain } from "./toolchain.js";
import { BuildError } from "./build-error.js";
import { osSandbox, sandboxedCommand } from "./os-sandbox.js";

export { BuildError };

export interface BuildOptions {
  /** A crate directory, or `name@version` (or `name`) from the local registry. */
  crate: string;
  /** Where to write the module; default `<lib name>.wasm` in the current directory. */
  output?: string;
  features?: string[];
  noDefaultFeatures?: boolean;
  /** Resolve dependencies through the user's cargo configuration (a reachable registry) instead of the local registry. */
  online?: boolean;
  /**
   * "dev" (the default) builds like cargo's dev profile, which is how cargo and rust-analyzer build
   * proc macros natively: debug assertions and overflow checks on (still optimised). "release"
   * turns both off, like `cargo build --release`.
   */
  profile?: BuildProfile;
  /** Progress reports; nothing is printed by the build itself. */
  onEvent?: (event: BuildEvent) => void;
  /**
   * Built modules by content (`moduleKey` in cache.ts), e.g. a remote cache shared by a fleet: a
   * module found there is written out without running cargo; a module built is offered to it.
   * A store that fails or holds something else than a module of this crate is a miss.
   */
  moduleStore?: ModuleStore;
  /**
   * Where no OS sandbox is available (src/builder/os-sandbox.ts), build a crate that is not from a
   * registry natively anyway (`--allow-native-build`): its build script and `include_str!`/`env!`
   * then see the user's files and environment. Also what `online` needs (it builds natively).
   */
  allowNativeBuild?: boolean;
}

export type BuildProfile = "dev" | "release";

export type BuildEvent =
  | { type: "step"; message: string }
  | { type: "compiled"; crate: string; version: string; fresh: boolean }
  | { type: "compat"; patch: CompatPatch }
  | { type: "cargo"; line: string };

export interface BuildResult {
  output: string;
  /** The staged copy the module was compiled from (inside the cache). */
  stageDir: string;
  metadata: ModuleMetadata;
  size: number;
  /** Whether the module came from `moduleStore` (cargo did not run). */
  fromStore: boolean;
  /**
   * The target directory and CARGO_HOME of the crate's trust domain (`trustDomain`): the cache's
   * shared ones for a registry crate, else the crate's own.
   */
  targetDir: string;
  cargoHome: string;
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  const emit = options.onEvent ?? (() => {});
  const toolchain = findToolchain();
  const cache = toolchainCache(toolchain);
  const roots = registryRoots(toolchain);

  const crateDir = resolveCrateDir(options.crate, roots);
  const registry = isRegistryCrate(crateDir, roots);
  const sandboxed = decideSandbox(crateDir, registry, options, emit);
  return withLock(join(cache, "build.lock"), async () => {
    const domain = trustDomain(cache, crateDir, registry);
    const target = prepareTarget(toolchain, cache);
    const vendor = join(cache, "vendor");
    if (!options.online) syncDirectorySource(roots, vendor);
    const context: BuildContext = { toolchain, cache, roots, target, vendor, sandboxed, emit };

    const staged = stageCrate(crateDir, join(cache, "stage"), cargoConfig(options.online ? null : vendor));
    emit({ type: "step", message: `staged ${staged.name} ${staged.version} (source ${staged.sourceHash.slice(0, 12)})` });

    const env = cargoEnv(toolchain, cache, target.linker, domain, sandboxed, options.online ?? false);
    const place = cargoPlace(context, domain, staged);
    const packages = await resolveDependencies(toolchain, staged, env, place);
    const { patches, report } = applyCompat(
      packages.filter((p) => p.registry),
      join(cache, "compat"),
    );
    for (const patch of report) emit({ type: "compat", patch });
    const profile = options.profile ?? "dev";
    if (profile !== "dev" && profile !== "release") throw new BuildError(`unknown build profile \`${String(profile)}\` (known: dev, release)`);
    const buildConfig = writeBuildConfig(
      staged.dir,
      patches.map((p) => ({ ...p, path: throughStage(staged.dir, join(cache, "compat"), p.path) })),
      packageProfiles(profile, packages, report),
    );

    const storeKey = options.moduleStore
      ? moduleKey({
          toolchain,
          bridgeAbi: bridgeAbiId(toolchain),
          crate: staged,
          features: options.features ?? [],
          defaultFeatures: !options.noDefaultFeatures,
          profile,
          online: options.online ?? false,
          dependencies: packages,
          compat: report,
        })
      : null;
    if (storeKey !== null) {
      const stored = await storedModule(options.moduleStore!, storeKey, staged);
      if (stored !== null) {
        emit({ type: "step", message: `found ${staged.name} ${staged.version} in the module cache (${storeKey.slice(0, 12)})` });
        const output = resolve(options.output ?? `${staged.libName}.wasm`);
        writeAtomically(output, stored.bytes);
        return {
          output,
          stageDir: staged.dir,
          metadata: stored.metadata,
          size: stored.bytes.length,
          fromStore: true,
          targetDir: domain.target,
          cargoHome: domain.cargoHome,
        };
      }
    }

    // After the module store: a module found there needs no std.
    if (!domain.shared && !options.online && !hasStd(domain.target)) await seedDomain(context, domain);
    if (!hasStd(domain.target)) {
      emit({ type: "step", message: `building std and proc_macro for ${TARGET_NAME} (once per toolchain; about a minute)` });
    }
    rebuildIfAnotherStageWasLast(domain.target, staged);
    const wasmPath = await cargoBuild(toolchain, staged, target.spec, buildConfig, env, place, options, emit);

    const linked = new Uint8Array(readFileSync(outsideSandbox(wasmPath, domain, sandboxed, cache)));
    const module = new WebAssembly.Module(linked);
    const badImports = unsupportedImportsMessage(module);
    if (badImports !== null) throw new BuildError(`${staged.name} ${badImports}`);
    const macros = (await listProcMacros(module)).map(({ kind, name, helpers }) => ({ kind, name, helpers }));
    const metadata: ModuleMetadata = {
      format: METADATA_FORMAT,
      crate: { name: staged.name, version: staged.version, edition: staged.edition },
      macros,
      rustc: toolchain.version,
      bridgeAbi: bridgeAbiId(toolchain),
      capabilities: staged.capabilities,
      sourceHash: `sha256:${staged.sourceHash}`,
      build: {
        target: TARGET_NAME,
        profile,
        panic: "unwind",
        features: [...(options.features ?? [])].sort(),
        defaultFeatures: !options.noDefaultFeatures,
        dependencies: packages
          .filter((p) => p.name !== staged.name || p.registry)
          .map((p) => `${p.name} ${p.version}`)
          .sort(),
        compat: report,
      },
    };
    const output = resolve(options.output ?? `${staged.libName}.wasm`);
    const bytes = appendCustomSection(linked, METADATA_SECTION, encodeMetadata(metadata));
    writeAtomically(output, bytes);
    // A module built natively may hold what the machine's environment and files gave its build
    // (`option_env!`, `include_str!`): it stays out of a store shared with other machines.
    if (storeKey !== null && sandboxed) await options.moduleStore!.set(storeKey, bytes);
    return { output, stageDir: staged.dir, metadata, size: bytes.length, fromStore: false, targetDir: domain.target, cargoHome: domain.cargoHome };
  });
}

/** A module from the store, if it is one (it compiles, and its metadata names this crate's sources); else null. */
async function storedModule(store: ModuleStore, key: string, staged: StagedCrate): Promise<{ bytes: Uint8Array; metadata: ModuleMetadata } | null> {
  try {
    const bytes = await store.get(key);
    if (bytes === null) return null;
    const metadata = readMetadata(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>));
    if (metadata === null || metadata.crate.name !== staged.name || metadata.sourceHash !== `sha256:${staged.sourceHash}`) return null;
    return { bytes, metadata };
  } catch {
    return null; // an unusable entry: build instead
  }
}

/**
 * The path of a shared compat copy as seen from inside the stage, through a symlink. cargo hashes a
 * path package's location into its symbol names: relative to the workspace when the package is
 * inside it, absolute otherwise. Seen through the stage, the location is relative, so the module's
 * bytes do not depend on where the cache lives.
 */
function throughStage(stageDir: string, compatDir: string, path: string): string {
  const link = join(stageDir, ".macrobox-compat");
  if (!existsSync(link)) symlinkSync(compatDir, link);
  return join(link, relative(compatDir, path));
}

/**
 * Where every package compiled in the stage sees itself compiled from (`-Zremap-cwd-prefix`): the
 * same for every stage. See `packageProfiles`.
 */
const STAGE_CWD = "/macrobox/stage";

/**
 * The per-package profile settings of a build. cargo builds everything, std included, with the
 * staged `[profile.release]` (assertions off, like the prebuilt std natively); for the dev profile
 * the crate and each of its resolved dependencies get debug assertions and overflow checks, as
 * `cargo build` gives them natively. std stays as natively prebuilt.
 *
 * Packages cargo compiles from inside the stage (the crate, its staged path dependencies, the
 * compat copies reached through `.macrobox-compat`) run rustc with the stage as its working
 * directory, which rustc hashes into the crate hash (SVH) of each. The compat copies are shared by
 * every stage with the same `-C metadata`, so their rlibs were compiled in whichever stage built
 * them first, and that stage's name reached every later module's embedded crate hash: a module's
 * bytes depended on what the cache had built before (issue 18). Remapping the working directory
 * to one constant makes those crate hashes the same from every stage. Per package, not in
 * RUSTFLAGS: std and registry crates compile in their own directories, and changing RUSTFLAGS
 * would rebuild std.
 */
function packageProfiles(profile: BuildProfile, packages: ResolvedPackage[], compat: CompatPatch[]): Record<string, Record<string, unknown>> {
  const patched = new Set(compat.map((c) => `${c.crate}@${c.version}`));
  const profiles: Record<string, Record<string, unknown>> = {};
  for (const p of packages) {
    const id = `${p.name}@${p.version}`;
    const settings: Record<string, unknown> = {};
    if (profile === "dev") Object.assign(settings, { "debug-assertions": true, "overflow-checks": true });
    if (!p.registry || patched.has(id)) settings.rustflags = [`-Zremap-cwd-prefix=${STAGE_CWD}`];
    if (Object.keys(settings).length > 0) profiles[id] = settings;
  }
  return profiles;
}

function resolveCrateDir(crate: string, roots: string[]): string {
  const looksLikePath = crate.includes("/") || crate.startsWith(".") || existsSync(crate);
  if (looksLikePath) {
    if (!existsSync(crate)) throw new BuildError(`${crate}: no such directory`);
    const dir = statSync(crate).isDirectory() ? crate : dirname(crate);
    return realpathSync(dir);
  }
  return findCrate(roots, crate).dir;
}

function cargoConfig(vendor: string | null): string {
  if (vendor === null) return "";
  return [
    "# Written by macrobox: resolve every crate from the local registry, offline.",
    "[source.crates-io]",
    'replace-with = "macrobox-local"',
    "[source.macrobox-local]",
    `directory = ${JSON.stringify(vendor)}`,
    "[net]",
    "offline = true",
    "",
  ].join("\n");
}

/**
 * The builder's own environment for every cargo call (nothing of the user's: inside the OS sandbox
 * it is the whole environment; natively `nativeEnv` adds the user's). RUSTFLAGS are fixed per
 * toolchain (cargo rebuilds std when they change), and path prefixes that differ between machines
 * are remapped so that panic locations embedded in the module do not depend on where things live.
 * CARGO_HOME is the trust domain's (the user's holds credentials and configuration), except for
 * `--online`, which resolves through the user's cargo configuration. Inside the OS sandbox the
 * domain's target directory and CARGO_HOME are seen at the shared ones' paths (`cargoPlace`).
 */
function cargoEnv(toolchain: Toolchain, cache: string, linker: string, domain: TrustDomain, sandboxed: boolean, online: boolean): Record<string, string> {
  const seen = sandboxed ? sharedDomain(cache) : domain;
  const remaps = new Map<string, string>([[cache, "/macrobox"]]);
  for (const src of new Set([toolchain.sourceRoot, realpathSync(toolchain.sourceRoot)])) remaps.set(src, `/rustc/${toolchain.commitHash}`);
  const rustflags = [
    "-L",
    toolchain.wasiLibDir,
    "-C",
    "link-self-contained=no",
    "--cap-lints=allow",
    ...[...remaps].map(([from, to]) => `--remap-path-prefix=${from}=${to}`),
  ];
  const path = [...new Set([dirname(toolchain.cargo), dirname(toolchain.rustc), "/usr/local/bin", "/usr/bin", "/bin"])].join(":");
  return {
    PATH: path,
    RUSTC: toolchain.rustc,
    RUSTC_BOOTSTRAP: "1",
    CARGO_TARGET_DIR: seen.target,
    CARGO_ENCODED_RUSTFLAGS: rustflags.join("\x1f"),
    [`CARGO_TARGET_${TARGET_NAME.toUpperCase().replace(/-/g, "_")}_LINKER`]: linker,
    CARGO_TERM_COLOR: "never",
    CARGO_HOME: online ? (process.env.CARGO_HOME ?? join(process.env.HOME ?? "", ".cargo")) : seen.cargoHome,
  };
}

/** A native cargo call's environment: the user's (without cargo and rustc settings that would change the build), then the builder's. */
function nativeEnv(own: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("CARGO_") || key === "RUSTFLAGS" || key === "RUSTC_WRAPPER") delete env[key];
  return { ...env, ...own, PATH: process.env.PATH ?? own.PATH };
}

/** Where cargo runs: in the OS sandbox with these paths visible, or natively (null). */
type CargoPlace = { readOnly: string[]; writable: string[]; writableAt: Array<{ source: string; at: string }> } | null;

/** What every cargo call of one build shares. */
interface BuildContext {
  toolchain: Toolchain;
  cache: string;
  roots: string[];
  target: ReturnType<typeof prepareTarget>;
  vendor: string;
  sandboxed: boolean;
  emit: (e: BuildEvent) => void;
}

/**
 * Where a build's cargo writes: its target directory and CARGO_HOME. A build's crate and its
 * dependencies run code at build time (build scripts, the proc macros rustc loads), and whatever it
 * can write, a later build that reads it may link into its module. So builds are split into trust
 * domains that never write what another domain reads: registry crates (Debian's, std's vendored
 * crates, cargo's unpacked downloads: `isRegistryCrate`) share `<cache>/target` and
 * `<cache>/cargo-home`; every other crate, keyed by its real directory, gets
 * `<cache>/local/<dir name>-<hash of its path>/` of its own, seeded with a copy of the shared target (`seedDomain`). A
 * crate's edits and branches share its directory's domain: they are the same repository's code.
 */
interface TrustDomain {
  target: string;
  cargoHome: string;
  shared: boolean;
}

function sharedDomain(cache: string): TrustDomain {
  return { target: join(cache, "target"), cargoHome: join(cache, "cargo-home"), shared: true };
}

function trustDomain(cache: string, crateDir: string, registry: boolean): TrustDomain {
  const local = join(cache, "local");
  const dir = join(local, `${basename(crateDir).replace(/[^\w.-]/g, "_")}-${sha256(crateDir).slice(0, 16)}`);
  pruneDomains(local, basename(dir));
  const domain = registry ? sharedDomain(cache) : ownDomain(dir);
  // The shared directories exist even for builds of other domains: they are where the sandbox shows a domain's own.
  for (const d of [domain.target, domain.cargoHome, join(cache, "target"), join(cache, "cargo-home")]) mkdirSync(d, { recursive: true });
  if (!registry) writeFileSync(join(dir, CRATE_DIR_FILE), crateDir);
  return domain;
}

/** The file in a crate's own domain naming the crate's directory. */
const CRATE_DIR_FILE = "crate-dir";

/**
 * How many local crates' domains a cache keeps: each holds a copy of the shared target (a few hundred
 * MB), and making one again costs a copy (about a second) and the crate's own compile, so the least
 * recently built beyond this are removed.
 */
const MAX_LOCAL_DOMAINS = 8;

/**
 * Removes the domains of crate directories that no longer exist (a temporary checkout, a deleted
 * project), then the least recently built beyond MAX_LOCAL_DOMAINS (a build rewrites its domain's
 * `crate-dir` file, whose mtime says when), never `keep`, the one about to be used.
 */
function pruneDomains(local: string, keep: string): void {
  let entries: string[];
  try {
    entries = readdirSync(local);
  } catch {
    return;
  }
  const live: { entry: string; used: number }[] = [];
  for (const entry of entries) {
    let crateDir: string;
    let used: number;
    try {
      crateDir = readFileSync(join(local, entry, CRATE_DIR_FILE), "utf8");
      used = statSync(join(local, entry, CRATE_DIR_FILE)).mtimeMs;
    } catch {
      continue; // being made right now (builds hold the cache's lock, so: an interrupted one), or not a domain
    }
    if (!existsSync(crateDir)) rmSync(join(local, entry), { recursive: true, force: true });
    else if (entry !== keep) live.push({ entry, used });
  }
  live.sort((x, y) => y.used - x.used);
  for (const { entry } of live.slice(MAX_LOCAL_DOMAINS - 1)) rmSync(join(local, entry), { recursive: true, force: true });
}

function ownDomain(dir: string): TrustDomain {
  return { target: join(dir, "target"), cargoHome: join(dir, "cargo-home"), shared: false };
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Where cargo runs for one build: in the OS sandbox, or natively (null). Read-only: the toolchain
 * (with node, which runs the linker wrapper), the registries and of this toolchain's cache only what
 * the build reads (the target's files, the compat copies, the vendor view), not other crates' stages,
 * other domains' target directories or built modules. Writable: the domain's target dir and
 * CARGO_HOME, seen at the shared ones' paths (cargo hashes the target dir's path into what it
 * embeds, so a crate's module is the same bytes in any domain), and this build's stage (Cargo.lock).
 */
function cargoPlace(ctx: BuildContext, domain: TrustDomain, staged: StagedCrate): CargoPlace {
  if (!ctx.sandboxed) return null;
  const { toolchain, cache } = ctx;
  const shared = sharedDomain(cache);
  return {
    readOnly: [
      toolchain.rustc,
      toolchain.cargo,
      toolchain.sysroot,
      toolchain.sourceRoot,
      toolchain.linker[0],
      toolchain.wasiLibDir,
      process.execPath,
      ...ctx.roots,
      ...ctx.target.files,
      ctx.vendor,
      join(cache, "compat"),
    ],
    writable: [staged.dir],
    writableAt: [
      { source: domain.target, at: shared.target },
      { source: domain.cargoHome, at: shared.cargoHome },
    ],
  };
}

/** A path cargo reported from inside the sandbox, where the domain's target dir is seen at the shared one's path, as it is outside. */
function outsideSandbox(path: string, domain: TrustDomain, sandboxed: boolean, cache: string): string {
  const rel = relative(sharedDomain(cache).target, path);
  if (!sandboxed || domain.shared || rel.startsWith("..") || isAbsolute(rel)) return path;
  return join(domain.target, rel);
}

/**
 * Seeds a trust domain: a copy (`cp -a`, not hard links, which a write would alter for every
 * domain) of the shared target directory, with std built there first if it is not yet (an empty
 * crate of macrobox's own, built as a registry crate is). What the registry domain built is no less
 * trusted than the crate about to build, and the copy is the crate's own from now on: cargo finds
 * std and the registry dependencies (syn, quote, …) fresh, at the shared target's path as seen in
 * the sandbox, so the first build of a local crate compiles only what the shared target lacks, and
 * the modules are the bytes the shared target would give.
 */
async function seedDomain(ctx: BuildContext, domain: TrustDomain): Promise<void> {
  const shared = sharedDomain(ctx.cache);
  if (!hasStd(shared.target)) {
    ctx.emit({ type: "step", message: `building std and proc_macro for ${TARGET_NAME} (once per toolchain; about a minute)` });
    const seed = join(ctx.cache, "std-seed");
    mkdirSync(join(seed, "src"), { recursive: true });
    writeFileSync(join(seed, "Cargo.toml"), '[package]\nname = "macrobox-std-seed"\nversion = "0.0.0"\nedition = "2021"\n\n[lib]\nproc-macro = true\n');
    writeFileSync(join(seed, "src/lib.rs"), "// Built by macrobox (src/builder/build.ts, seedDomain) only to build std.\n");
    const staged = stageCrate(seed, join(ctx.cache, "stage"), cargoConfig(ctx.vendor));
    const env = cargoEnv(ctx.toolchain, ctx.cache, ctx.target.linker, shared, ctx.sandboxed, false);
    const buildConfig = writeBuildConfig(staged.dir, [], {});
    await cargoBuild(ctx.toolchain, staged, ctx.target.spec, buildConfig, env, cargoPlace(ctx, shared, staged), { crate: seed }, ctx.emit);
  }
  const started = Date.now();
  const copy = `${domain.target}.${process.pid}.tmp`;
  rmSync(copy, { recursive: true, force: true });
  const r = spawnSync("cp", ["-a", "--reflink=auto", shared.target, copy], { encoding: "utf8" });
  if (r.status !== 0) throw new BuildError(`could not copy the shared target directory into ${domain.target}: ${r.error?.message ?? r.stderr.trim()}`);
  rmSync(domain.target, { recursive: true, force: true });
  renameSync(copy, domain.target);
  ctx.emit({ type: "step", message: `copied the registry builds into this crate's own target directory ${domain.target} (${Date.now() - started} ms)` });
}

/**
 * Whether this build runs in the OS sandbox; else (no sandbox here, or `--online`) whether it may
 * run natively. A crate from a registry (Debian's, std's vendored crates, cargo's unpacked
 * crates.io downloads) builds natively with a note; any other crate only with `allowNativeBuild`.
 */
function decideSandbox(crateDir: string, registry: boolean, options: BuildOptions, emit: (e: BuildEvent) => void): boolean {
  const name = `${basename(crateDir)} (${crateDir})`;
  if (options.online) {
    if (!options.allowNativeBuild) {
      throw new BuildError(
        `--online resolves and downloads through your cargo configuration and the network, which the OS sandbox withholds from builds, so it builds ${name} natively: ` +
          "its build scripts and `include_str!`/`env!` would see your files and environment. Pass --allow-native-build with --online to do that, or build offline from the local registry.",
      );
    }
    emit({ type: "step", message: `--online: building ${name} natively, outside the OS sandbox (--allow-native-build)` });
    return false;
  }
  const sandbox = osSandbox();
  if (sandbox.available) return true;
  if (registry) {
    emit({ type: "step", message: `note: no OS sandbox for builds (${sandbox.reason}); building ${name}, a registry crate, natively` });
    return false;
  }
  if (!options.allowNativeBuild) {
    throw new BuildError(
      `no OS sandbox is available to build ${name} in (${sandbox.reason}), and it is not a registry crate: built natively, its build scripts ` +
        "and `include_str!`/`env!` would see your files and environment. Install bubblewrap (Debian package bubblewrap) with user namespaces enabled, " +
        "or pass --allow-native-build (for the proc-macro server: --allow-native-build or MACROBOX_ALLOW_NATIVE_BUILD=1) to build it natively anyway.",
    );
  }
  emit({ type: "step", message: `no OS sandbox for builds (${sandbox.reason}); building ${name} natively (--allow-native-build)` });
  return false;
}

/** Whether a crate directory lies in a registry: the local registry's roots, or cargo's unpacked downloads (`$CARGO_HOME/registry/src`). */
function isRegistryCrate(crateDir: string, roots: string[]): boolean {
  const cargoHome = process.env.CARGO_HOME ?? join(process.env.HOME ?? "", ".cargo");
  const real = realpathSync(crateDir);
  return [...roots, join(cargoHome, "registry", "src")].some((root) => {
    if (!existsSync(root)) return false;
    const rel = relative(realpathSync(root), real);
    return rel !== "" && !rel.startsWith("..") && !rel.startsWith("/");
  });
}

/**
 * Every staged copy of one crate version compiles into the same target directory (of its trust
 * domain) with the same `-C metadata` (the stage is the workspace root, see DEVELOPERS.md), and cargo decides
 * freshness by comparing source mtimes with the output's. So after building copy B, rebuilding an
 * older copy A would find A's sources older than B's output and hand back B's module. When the
 * copy differs from the one last built for this crate version, its files are touched, which makes
 * cargo rebuild it (mtimes never reach the module's bytes).
 *
 * The markers sit beside the domain's target dir (`<cache>/last-stage`, `<cache>/local/<dir>/last-stage`),
 * not in it: macrobox reads and writes them outside the sandbox, and a build script may write
 * anything in the target dir, a symlink to a file of the user's in place of a marker included.
 */
function rebuildIfAnotherStageWasLast(targetDir: string, staged: StagedCrate): void {
  const markers = join(dirname(targetDir), "last-stage");
  mkdirSync(markers, { recursive: true });
  const marker = join(markers, `${staged.name}-${staged.version}`);
  const current = basename(staged.dir);
  let last: string | null = null;
  try {
    last = readFileSync(marker, "utf8");
  } catch {
    // never built here
  }
  // No marker (a first build, or a cache from before the markers moved) is another copy too: touching costs one compile.
  if (last !== current) {
    const now = new Date();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) utimesSync(path, now, now); // symlinks (the shared compat copies) are left alone
      }
    };
    walk(staged.dir);
  }
  if (last !== current) writeFileSync(marker, current);
}

function hasStd(targetDir: string): boolean {
  try {
    const deps = join(targetDir, TARGET_NAME, "release", "deps");
    return existsSync(deps) && readdirSync(deps).some((f) => f.startsWith("libstd-") && f.endsWith(".rlib"));
  } catch {
    return false;
  }
}

interface ResolvedPackage {
  name: string;
  version: string;
  dir: string;
  registry: boolean;
}

async function resolveDependencies(toolchain: Toolchain, staged: StagedCrate, env: Record<string, string>, place: CargoPlace): Promise<ResolvedPackage[]> {
  const { code, stdout, stderr } = await runCargo(toolchain, ["metadata", "--format-version", "1"], staged.dir, env, place);
  if (code !== 0) throw dependencyError(staged, stderr);
  const meta = JSON.parse(stdout) as { packages: Array<{ name: string; version: string; source: string | null; manifest_path: string }> };
  return meta.packages.map((p) => ({ name: p.name, version: p.version, dir: dirname(p.manifest_path), registry: p.source !== null }));
}

function dependencyError(staged: StagedCrate, stderr: string): BuildError {
  const lines = stderr.split("\n").filter((l) => l.trim() && !l.startsWith("warning:"));
  const missing =
    stderr.match(/no matching package named `([^`]+)` found/)?.[1] ?? stderr.match(/failed to select a version for the requirement `([^`]+)`/)?.[1];
  const hint = missing
    ? `\ndependency \`${missing}\` is not available in the local registry; on Debian install librust-${missing.split(" ")[0].replace(/_/g, "-")}-dev, or use --online where a registry is reachable`
    : "";
  return new BuildError(`could not resolve the dependencies of ${staged.name} ${staged.version}:\n${lines.join("\n")}${hint}`);
}

async function cargoBuild(
  toolchain: Toolchain,
  staged: StagedCrate,
  spec: string,
  buildConfig: string,
  env: Record<string, string>,
  place: CargoPlace,
  options: BuildOptions,
  emit: (e: BuildEvent) => void,
): Promise<string> {
  const args = [
    "rustc",
    "--config",
    buildConfig,
    "--lib",
    "--release",
    "--crate-type",
    "proc-macro",
    "--target",
    spec,
    "-Zbuild-std=std,panic_unwind,proc_macro",
    "-Zjson-target-spec",
    // `rustflags` in the per-package profiles (`packageProfiles`).
    "-Zprofile-rustflags",
    "--message-format=json-diagnostic-rendered-ansi",
  ];
  if (options.features?.length) args.push("--features", options.features.join(","));
  if (options.noDefaultFeatures) args.push("--no-default-features");
  // cargo puts `proc_macro` in the extern prelude only for `proc-macro = true` targets, which the
  // staged copy no longer is; edition 2018+ crates rely on it (`use proc_macro::TokenStream`).
  args.push("--", "--extern", "proc_macro");
  const diagnostics: string[] = [];
  let artifact: string | null = null;
  const { code, stderr } = await runCargo(
    toolchain,
    args,
    staged.dir,
    env,
    place,
    (line) => {
      if (!line.startsWith("{")) return;
      const msg = JSON.parse(line) as {
        reason: string;
        package_id?: string;
        target?: { name: string };
        filenames?: string[];
        fresh?: boolean;
        message?: { level: string; rendered: string };
      };
      if (msg.reason === "compiler-message" && msg.message && msg.message.level.startsWith("error")) {
        diagnostics.push(stripAnsi(msg.message.rendered));
      } else if (msg.reason === "compiler-artifact") {
        const [name, version] = packageNameVersion(msg.package_id ?? "");
        emit({ type: "compiled", crate: name, version, fresh: msg.fresh ?? false });
        const wasm = msg.filenames?.find((f) => f.endsWith(".wasm"));
        if (wasm && msg.target?.name.replace(/-/g, "_") === staged.libName) artifact = wasm;
      }
    },
    (line) => emit({ type: "cargo", line }),
  );
  if (code !== 0) {
    const link = linkFailure(staged, diagnostics);
    if (link) throw link;
    if (diagnostics.length > 0) throw new BuildError(`${staged.name} ${staged.version} does not compile for ${TARGET_NAME}:`, diagnostics.join("\n"));
    if (/no matching package|failed to select a version/.test(stderr)) throw dependencyError(staged, stderr);
    throw new BuildError(`cargo failed building ${staged.name} ${staged.version}:\n${stderr.trim()}`);
  }
  if (!artifact) throw new BuildError(`cargo reported no .wasm artifact for ${staged.name}`);
  return artifact;
}

/**
 * A failed link explained: rust-lld's `undefined symbol: X` lines become the C functions the
 * module needs and who calls them, instead of the linker's command line and raw output. Null when
 * the failure is not (only) undefined symbols.
 */
function linkFailure(staged: StagedCrate, diagnostics: string[]): BuildError | null {
  const linkErrors = diagnostics.filter((d) => /^error: linking with `[^`]*` failed/.test(d));
  if (linkErrors.length === 0 || linkErrors.length !== diagnostics.length) return null;
  const callers = new Map<string, Set<string>>();
  for (const m of linkErrors.join("\n").matchAll(/(\S+): undefined symbol: (\S+)/g)) {
    const [, object, symbol] = m;
    // `.../libstd-<hash>.rlib(std-<hash>.std.<cgu>.rcgu.o)` or `.../deps/<crate>-<hash>.<crate>.<cgu>.rcgu.o`.
    const crate = /\/lib(\w+)-[0-9a-f]+\.rlib\(/.exec(object)?.[1] ?? /\/(\w+)-[0-9a-f]{16}\.[^/]*\.o$/.exec(object)?.[1] ?? "an object of the build";
    if (!callers.has(symbol)) callers.set(symbol, new Set());
    callers.get(symbol)!.add(crate);
  }
  if (callers.size === 0) return null;
  const fromStd = [...callers.values()].some((c) => c.has("std"));
  return new BuildError(
    `${staged.name} ${staged.version} does not link for ${TARGET_NAME}: it calls C functions that the module's C library (wasi-libc) does not provide:\n` +
      [...callers].map(([symbol, crates]) => `  ${symbol} (called from ${[...crates].sort().join(", ")})`).join("\n") +
      `\nmacrobox provides ${LIBC_SHIM_SYMBOLS.join(", ")} itself; no other C function can be added to a sandboxed macro. ` +
      'Make the code that calls these functions conditional on `not(target_os = "wasi")`, or avoid it' +
      (fromStd ? "; a function that std itself needs is a macrobox bug: please report it, naming the function." : "."),
  );
}

function packageNameVersion(id: string): [string, string] {
  // "registry+https://...#syn@1.0.107" or "path+file:///...#serde_derive@1.0.152" or older "syn 1.0.107 (...)".
  const hash = id.match(/#([^@#]+)@([^@#]+)$/);
  if (hash) return [hash[1], hash[2]];
  const versionOnly = id.match(/\/([^/#]+)#([0-9][^#]*)$/);
  if (versionOnly) return [versionOnly[1], versionOnly[2]];
  const [name, version] = id.split(" ");
  return [name ?? id, version ?? ""];
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

function runCargo(
  toolchain: Toolchain,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  place: CargoPlace,
  onStdoutLine?: (line: string) => void,
  onStderrLine?: (line: string) => void,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...argv] =
    place === null
      ? [toolchain.cargo, ...args]
      : sandboxedCommand([toolchain.cargo, ...args], { readOnly: place.readOnly, writable: place.writable, writableAt: place.writableAt, env, cwd });
  // bwrap starts from an empty environment (--clearenv) and sets `env`; it is found on the user's PATH.
  const spawnEnv = place === null ? nativeEnv(env) : { PATH: process.env.PATH ?? env.PATH };
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, argv, { cwd, env: spawnEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const lines = (onLine: ((l: string) => void) | undefined, sink: (s: string) => void) => {
      let pending = "";
      return (chunk: Buffer) => {
        const text = chunk.toString("utf8");
        sink(text);
        if (!onLine) return;
        pending += text;
        const parts = pending.split("\n");
        pending = parts.pop() ?? "";
        for (const p of parts) onLine(p);
      };
    };
    child.stdout.on(
      "data",
      lines(onStdoutLine, (s) => (stdout += s)),
    );
    child.stderr.on(
      "data",
      lines(onStderrLine, (s) => (stderr += s)),
    );
    child.on("error", (e) => reject(new BuildError(`could not run ${command}: ${e.message}`)));
    child.on("close", (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}

/** Writes via a temporary file and rename, so a failed or interrupted build leaves no partial module. */
function writeAtomically(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * One build at a time per toolchain cache (the staged copy and cargo's target dir are shared).
 * A lock left by a process that no longer exists is taken over.
 */
async function withLock<T>(lock: string, body: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lock, "pid"), "utf8"));
      } catch {
        /* being created right now */
      }
      if (Number.isInteger(owner) && !processAlive(owner)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
