// `macrobox patch`: every proc-macro dependency of a cargo workspace replaced by a shim that runs
// its wasm module in the macrobox host, wired in through cargo configuration the command owns:
//
//   .cargo/macrobox-patch.toml   [patch] entries for the shims, and [env] MACROBOX_WORKSPACE
//   .cargo/config.toml           `include`s it: created when absent, else one line is prepended
//   .cargo/macrobox-undo.json    what --undo restores: the user's config.toml and Cargo.lock
//                                byte for byte (cargo rewrites the lock for the patched graph)
//
// Modules are content-addressed in the cache (`<cache>/patch/modules/<sha256>.wasm`) and shims
// are named by a hash of their files, so any project on a machine with the same bridge ABI reuses both.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { build, BuildError, findToolchain, type BuildEvent } from "../builder/index.js";
import { toolchainCache } from "../builder/cache.js";
import { describeGrant, effectiveGrant, readMetadata, type Capabilities, type MacroInfo } from "../index.js";
import { grantFor, loadGrants } from "../node/index.js";
import { MacroboxError, errorMessage } from "../errors.js";
import { workspaceMacros, type MacroPackage } from "./metadata.js";
import { writeShim } from "./shim.js";

export const PATCH_FILE = "macrobox-patch.toml";
export const UNDO_FILE = "macrobox-undo.json";
const INCLUDE_LINE = `include = ["${PATCH_FILE}"] # added by \`macrobox patch\`; \`macrobox patch --undo\` removes it\n`;

export class PatchError extends MacroboxError {
  override name = "PatchError";
  constructor(message: string) {
    super("patch", message);
  }
}

export interface PatchOptions {
  /** A directory inside the workspace; default the current directory. */
  cwd?: string;
  /** Macro crates to leave native when they cannot be sandboxed (by name); "*" for any. */
  keepNative?: readonly string[];
  /** Build natively where no OS sandbox is available (`--allow-native-build`; see `BuildOptions.allowNativeBuild`). */
  allowNativeBuild?: boolean;
  onEvent?: (event: BuildEvent & { crate?: string }) => void;
}

export interface PatchedCrate {
  name: string;
  version: string;
  edition: string;
  status: "built" | "reused" | "native";
  /** Why it stays native (status "native"). */
  reason?: string;
  macros: MacroInfo[];
  declared: Capabilities;
  granted: Capabilities;
  /** A note on grants beyond the declaration. */
  note: string | null;
  module?: string;
  shim?: string;
}

export interface PatchReport {
  workspace: string;
  config: string;
  crates: PatchedCrate[];
}

interface UndoRecord {
  format: 1;
  createdCargoDir: boolean;
  /** The user's .cargo/config.toml (base64), or null when there was none. */
  config: string | null;
  lock: string | null;
}

/** The command that starts the host: this Node, with the loader this process runs under (tsx from sources). */
function hostCommand(): string[] {
  const main = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./host-main.ts" : "./host-main.js", import.meta.url));
  // A loader named by package (`--import tsx`) is resolved from here: the host runs in rustc's directory.
  const argv = process.execArgv.map((arg, i, all) =>
    (all[i - 1] === "--import" || all[i - 1] === "--loader") && !/^[./]/.test(arg) && !arg.includes(":") ? import.meta.resolve(arg) : arg,
  );
  return [process.execPath, ...argv, main];
}

/** A short socket path (sun_path holds 108 bytes), one per host command and bridge ABI. */
function socketPath(command: readonly string[], abi: string): string {
  const key = createHash("sha256")
    .update(JSON.stringify([command, abi]))
    .digest("hex")
    .slice(0, 16);
  return join(tmpdir(), `macrobox-${process.getuid?.() ?? "user"}`, `host-${key}.sock`);
}

export async function patch(options: PatchOptions = {}): Promise<PatchReport> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const toolchain = findToolchain();
  // Re-patching starts from the user's own configuration.
  if (findPatchedRoot(cwd) !== null) undo({ cwd });
  const { root, macros } = workspaceMacros(toolchain.cargo, cwd);
  const cache = join(toolchainCache(toolchain), "patch");
  const modulesDir = join(cache, "modules");
  mkdirSync(modulesDir, { recursive: true });
  const command = hostCommand();
  const grants = loadGrants({ cwd: root }).grants;

  const crates: PatchedCrate[] = [];
  const failures: string[] = [];
  for (const pkg of macros) {
    const keep = options.keepNative?.some((k) => k === "*" || k === pkg.name) ?? false;
    const base = {
      name: pkg.name,
      version: pkg.version,
      edition: pkg.edition,
      macros: [],
      declared: { env: [], read: [] },
      granted: { env: [], read: [] },
      note: null,
    };
    let built: { module: string; fresh: boolean; metadata: NonNullable<ReturnType<typeof readMetadata>> };
    try {
      built = await buildModule(pkg, modulesDir, options.allowNativeBuild ?? false, (e) => options.onEvent?.({ ...e, crate: pkg.name }));
    } catch (e) {
      const reason = e instanceof BuildError ? e.message.split("\n")[0] : errorMessage(e);
      if (keep) crates.push({ ...base, status: "native", reason });
      else failures.push(`${pkg.name} ${pkg.version}: ${e instanceof MacroboxError ? e.message : errorMessage(e)}`);
      continue;
    }
    const declared = built.metadata.capabilities;
    const effective = effectiveGrant(pkg.name, declared, grantFor(grants, pkg.name));
    if (!effective.ok) {
      if (keep) crates.push({ ...base, status: "native", reason: effective.error });
      else failures.push(`${pkg.name} ${pkg.version}: ${effective.error}`);
      continue;
    }
    const shim = writeShim(join(cache, "shims"), {
      name: pkg.name,
      version: pkg.version,
      edition: pkg.edition,
      libName: pkg.libName,
      macros: built.metadata.macros,
      module: built.module,
      crate: built.metadata.crate.name,
      socket: socketPath(command, built.metadata.bridgeAbi),
      hostCommand: command,
    });
    crates.push({
      ...base,
      status: built.fresh ? "reused" : "built",
      macros: built.metadata.macros,
      declared,
      granted: effective.grant,
      note: describeGrant(pkg.name, declared, effective.grant).note,
      module: built.module,
      shim,
    });
  }
  if (failures.length > 0)
    throw new PatchError(
      `cannot sandbox ${failures.length === 1 ? "a macro crate" : `${failures.length} macro crates`} (nothing was changed; \`--keep-native <crate>\` leaves one native):\n${failures.map((f) => `  ${f}`).join("\n")}`,
    );

  const config = wire(root, crates, macros);
  return { workspace: root, config, crates };
}

/** Builds (or reuses) the module and stores it content-addressed. */
async function buildModule(pkg: MacroPackage, modulesDir: string, allowNativeBuild: boolean, onEvent: (e: BuildEvent) => void) {
  let fresh = true;
  const tmp = join(modulesDir, `.${pkg.name}-${process.pid}.wasm`);
  const result = await build({
    crate: pkg.manifestDir,
    output: tmp,
    features: pkg.features,
    noDefaultFeatures: true,
    allowNativeBuild,
    onEvent: (e) => {
      if (e.type === "compiled" && !e.fresh) fresh = false;
      onEvent(e);
    },
  });
  const bytes = readFileSync(result.output);
  const module = join(modulesDir, `${createHash("sha256").update(bytes).digest("hex")}.wasm`);
  if (existsSync(module)) rmSync(result.output);
  else renameSync(result.output, module);
  return { module, fresh, metadata: result.metadata };
}

/** The `[patch]` table key for a package's source. */
function patchSource(pkg: MacroPackage): string {
  if (pkg.source === null) return pathToFileURL(pkg.manifestDir).href;
  if (pkg.source === "registry+https://github.com/rust-lang/crates.io-index") return "crates-io";
  return pkg.source.replace(/^(registry|sparse|git)\+/, "").replace(/#.*$/, "");
}

function wire(root: string, crates: PatchedCrate[], macros: MacroPackage[]): string {
  const cargoDir = join(root, ".cargo");
  const configPath = join(cargoDir, "config.toml");
  const lockPath = join(root, "Cargo.lock");
  const createdCargoDir = !existsSync(cargoDir);
  const userConfig = existsSync(configPath) ? readFileSync(configPath) : null;
  if (userConfig !== null) {
    let parsed: Record<string, unknown>;
    try {
      parsed = parseToml(userConfig.toString("utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new PatchError(`${configPath} is not valid TOML: ${(e as Error).message}`);
    }
    if ("include" in parsed)
      throw new PatchError(`${configPath} already has an \`include\` key: add "${PATCH_FILE}" to it by hand, or remove it, and run \`macrobox patch\` again`);
  }
  const record: UndoRecord = {
    format: 1,
    createdCargoDir,
    config: userConfig?.toString("base64") ?? null,
    lock: existsSync(lockPath) ? readFileSync(lockPath).toString("base64") : null,
  };

  const bySource = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const c of crates) {
    if (c.status === "native") continue;
    const pkg = macros.find((m) => m.name === c.name && m.version === c.version)!;
    const source = patchSource(pkg);
    // Two versions of one crate from one source need two entries: the second under another key.
    const key = seen.has(`${source}\0${c.name}`) ? `${c.name}-macrobox-${c.version}` : c.name;
    seen.add(`${source}\0${c.name}`);
    const entry = `${JSON.stringify(key)} = { path = ${JSON.stringify(c.shim)}${key === c.name ? "" : `, package = ${JSON.stringify(c.name)}`} }`;
    bySource.set(source, [...(bySource.get(source) ?? []), entry]);
  }
  const lines = [
    "# Written by `macrobox patch`: every proc macro below runs sandboxed in macrobox.",
    "# `macrobox patch --undo` removes this file and restores .cargo/config.toml and Cargo.lock.",
    "",
    "[env]",
    `MACROBOX_WORKSPACE = ${JSON.stringify(root)}`,
  ];
  for (const [source, entries] of bySource) lines.push("", `[patch.${source === "crates-io" ? source : JSON.stringify(source)}]`, ...entries);

  mkdirSync(cargoDir, { recursive: true });
  writeFileSync(join(cargoDir, UNDO_FILE), JSON.stringify(record) + "\n");
  writeFileSync(join(cargoDir, PATCH_FILE), lines.join("\n") + "\n");
  writeFileSync(configPath, userConfig === null ? INCLUDE_LINE : Buffer.concat([Buffer.from(INCLUDE_LINE), userConfig]));
  return join(cargoDir, PATCH_FILE);
}

export interface UndoReport {
  workspace: string;
  /** False when the workspace was not patched. */
  undone: boolean;
}

/** Puts the workspace back as it was before `macrobox patch`, byte for byte. */
export function undo(options: { cwd?: string } = {}): UndoReport {
  const cwd = resolve(options.cwd ?? process.cwd());
  const root = findPatchedRoot(cwd);
  if (root === null) return { workspace: cwd, undone: false };
  const cargoDir = join(root, ".cargo");
  const record = JSON.parse(readFileSync(join(cargoDir, UNDO_FILE), "utf8")) as UndoRecord;
  const configPath = join(cargoDir, "config.toml");
  if (record.config === null) rmSync(configPath, { force: true });
  else writeFileSync(configPath, Buffer.from(record.config, "base64"));
  const lockPath = join(root, "Cargo.lock");
  if (record.lock === null) rmSync(lockPath, { force: true });
  else writeFileSync(lockPath, Buffer.from(record.lock, "base64"));
  rmSync(join(cargoDir, PATCH_FILE), { force: true });
  rmSync(join(cargoDir, UNDO_FILE), { force: true });
  if (record.createdCargoDir && readdirSync(cargoDir).length === 0) rmdirSync(cargoDir);
  return { workspace: root, undone: true };
}

/** The nearest directory at or above `cwd` holding our undo record. */
function findPatchedRoot(cwd: string): string | null {
  for (let dir = cwd; ; dir = resolve(dir, "..")) {
    if (existsSync(join(dir, ".cargo", UNDO_FILE))) return dir;
    if (resolve(dir, "..") === dir) return null;
  }
}
