// The native expansion oracle: proc-macro crates built as ordinary host dylibs by rustc 1.96 and
// expanded by rust-analyzer's own proc-macro server (/usr/libexec/rust-analyzer-proc-macro-srv),
// spoken to through our protocol module. What it returns is what the unmodified macro produces
// natively, so it is the reference our wasm expansion must match token for token.
//
// Dylibs are built once into $MACROBOX_CACHE (or ~/.cache/macrobox)/native-oracle/<rustc key>/,
// offline, from the local registry. One server process serves the whole test run.

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

import { spawnRustAnalyzerServer, type ProcMacroServerClient } from "../support/server-client.js";
import { decodeFlatTree, encodeFlatTree } from "../../src/server/flat.js";
import type { MacroInfo, MacroKind } from "../../src/server/protocol.js";
import type { TokenStream } from "../../src/tokens/model.js";
import { tokenStreamFromStr } from "../../src/tokens/parse.js";
import { registryRoots, syncDirectorySource } from "../../src/builder/registry.js";
import { findToolchain } from "../../src/builder/toolchain.js";

export const RUSTC = "/usr/bin/rustc";
export const CARGO = "/usr/bin/cargo";
export const PROC_MACRO_SRV = "/usr/libexec/rust-analyzer-proc-macro-srv";

export class OracleError extends Error {
  override name = "OracleError";
}

/** A proc-macro crate: from the local registry by name and exact version, or a local directory. */
export type NativeCrate = ({ name: string; version: string } | { path: string }) & {
  features?: readonly string[];
  /** Build with RUSTC_BOOTSTRAP=1 (fixture crates using unstable proc_macro APIs). */
  bootstrap?: boolean;
};

// ---- toolchain and cache ----

let rustcKeyMemo: string | undefined;

/** `1.96.0-<hash of rustc -vV>`: dylibs are only valid for the compiler that built them. */
export function rustcKey(): string {
  if (rustcKeyMemo === undefined) {
    const verbose = execFileSync(RUSTC, ["-vV"], { encoding: "utf8" });
    const release = /^release: (.*)$/m.exec(verbose)?.[1]?.trim() ?? "unknown";
    rustcKeyMemo = `${release}-${createHash("sha256").update(verbose).digest("hex").slice(0, 12)}`;
  }
  return rustcKeyMemo;
}

export function oracleCacheDir(): string {
  const root = process.env.MACROBOX_CACHE ? resolve(process.env.MACROBOX_CACHE) : join(homedir(), ".cache", "macrobox");
  const dir = join(root, "native-oracle", rustcKey());
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Offline crates for the native builds: the same directory source `macrobox build` uses. */
function syncVendorDir(dir: string): void {
  syncDirectorySource(registryRoots(findToolchain()), dir);
}

// ---- building ----

const dylibMemo = new Map<string, string>();

/** cargo's dev profile (`cargo build`, what rust-analyzer users run) or its release profile. */
export type NativeProfile = "dev" | "release";

function crateKey(crate: NativeCrate, profile: NativeProfile): string {
  const base = "path" in crate ? `path:${resolve(crate.path)}` : `${crate.name}@${crate.version}`;
  const featured = crate.features?.length ? `${base}+${[...crate.features].sort().join(",")}` : base;
  const key = crate.bootstrap ? `${featured} (bootstrap)` : featured;
  // Release keys stay as they were, so dylibs built before profiles existed are reused.
  return profile === "release" ? key : `${key} (${profile})`;
}

/**
 * Builds a proc-macro crate natively and returns its dylib. The crate is built as the only
 * dependency of an empty wrapper package, so registry crates are used unmodified and read-only;
 * cargo's JSON messages name the proc-macro artifact. The dev profile by default: what
 * `cargo build` and rust-analyzer's `cargo check` give a user's macros (opt-level 0, debug
 * assertions), and what `macrobox build` mirrors by default (with opt-level 3).
 */
export function buildNativeMacro(crate: NativeCrate, profile: NativeProfile = "dev"): string {
  const key = crateKey(crate, profile);
  const memo = dylibMemo.get(key);
  if (memo !== undefined) return memo;

  const cache = oracleCacheDir();
  const vendor = join(cache, "vendor");
  syncVendorDir(vendor);
  const id = createHash("sha256").update(key).digest("hex").slice(0, 12);
  const wrapper = join(cache, "wrappers", id);
  mkdirSync(join(wrapper, "src"), { recursive: true });
  mkdirSync(join(wrapper, ".cargo"), { recursive: true });

  let depName: string;
  let depSpec: string;
  if ("path" in crate) {
    const manifest = execFileSync(CARGO, ["read-manifest", "--manifest-path", join(resolve(crate.path), "Cargo.toml")], {
      encoding: "utf8",
      env: { ...process.env, RUSTC },
    });
    depName = (JSON.parse(manifest) as { name: string }).name;
    depSpec = `{ path = ${JSON.stringify(resolve(crate.path))} }`;
  } else {
    depName = crate.name;
    depSpec = JSON.stringify(`=${crate.version}`);
  }
  if (crate.features?.length) {
    const spec = depSpec.startsWith("{") ? depSpec.slice(1, -1).trim() : `version = ${depSpec}`;
    depSpec = `{ ${spec}, features = ${JSON.stringify(crate.features)} }`;
  }
  writeFileSync(
    join(wrapper, "Cargo.toml"),
    `[package]\nname = "oracle-wrapper-${id}"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n` +
      `[lib]\npath = "src/lib.rs"\n\n[dependencies]\n${JSON.stringify(depName)} = ${depSpec}\n\n[workspace]\n`,
  );
  writeFileSync(join(wrapper, "src/lib.rs"), "");
  writeFileSync(
    join(wrapper, ".cargo/config.toml"),
    `[source.crates-io]\nreplace-with = "local"\n\n[source.local]\ndirectory = ${JSON.stringify(vendor)}\n\n[net]\noffline = true\n`,
  );

  let stdout: string;
  try {
    stdout = execFileSync(CARGO, ["build", ...(profile === "release" ? ["--release"] : []), "--message-format=json", "--target-dir", join(cache, "target")], {
      cwd: wrapper,
      encoding: "utf8",
      env: { ...process.env, RUSTC, CARGO_TERM_COLOR: "never", ...(crate.bootstrap ? { RUSTC_BOOTSTRAP: "1" } : {}) },
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    const messages = (err.stdout ?? "")
      .split("\n")
      .filter((l) => l.includes('"compiler-message"'))
      .map((l) => (JSON.parse(l) as { message: { rendered?: string } }).message.rendered ?? "")
      .join("");
    throw new OracleError(`native build of ${key} failed:\n${messages}${err.stderr ?? err.message}`);
  }
  const crateName = depName.replace(/-/g, "_");
  let dylib: string | undefined;
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const msg = JSON.parse(line) as { reason?: string; target?: { name: string; kind: string[] }; filenames?: string[] };
    if (msg.reason === "compiler-artifact" && msg.target?.name === crateName && msg.target.kind.includes("proc-macro")) {
      dylib = msg.filenames?.[0];
    }
  }
  if (dylib === undefined) throw new OracleError(`native build of ${key} produced no proc-macro artifact (is it a proc-macro crate?)`);
  dylibMemo.set(key, dylib);
  return dylib;
}

// ---- the server ----

let server: ProcMacroServerClient | undefined;

async function theServer(): Promise<ProcMacroServerClient> {
  if (server === undefined) {
    if (!existsSync(PROC_MACRO_SRV)) throw new OracleError(`${PROC_MACRO_SRV} not found (Debian package rust-analyzer for rustc 1.96)`);
    server = spawnRustAnalyzerServer(PROC_MACRO_SRV);
    // Span ids stay opaque numbers in Id mode, exactly like our token model's spans.
    const mode = await server.setSpanMode("Id");
    if (mode !== "Id") throw new OracleError(`proc-macro server refused span mode Id (got ${mode})`);
  }
  return server;
}

/** Stops the shared server process; the next request starts a new one. */
export async function closeNativeOracle(): Promise<void> {
  const s = server;
  server = undefined;
  await s?.close();
}

export async function nativeApiVersion(): Promise<number> {
  return (await theServer()).apiVersion();
}

export async function listNativeMacros(dylib: string): Promise<MacroInfo[]> {
  const result = await (await theServer()).listMacros(dylib);
  if (!result.ok) throw new OracleError(`ListMacros ${dylib}: ${result.error}`);
  return result.value;
}

// ---- expansion ----

export interface NativeExpandRequest {
  dylib: string;
  kind: MacroKind;
  /** Derive: the trait name (`Serialize`); attr/bang: the macro's name. */
  name: string;
  /** The macro input as Rust source text: the item for derive and attr, the body for bang. */
  input: string;
  /** The attribute's arguments as source text (attr only; default empty). */
  args?: string;
  /** The environment the macro sees (rust-analyzer passes cargo's: CARGO_MANIFEST_DIR...). Default none. */
  env?: Record<string, string>;
  /** The macro's current directory. Default: the server's. */
  currentDir?: string;
}

export type NativeExpansion = { ok: true; output: TokenStream } | { ok: false; error: string };

/** Span ids handed to the server for the expansion globals; input tokens get ids from INPUT_SPAN_BASE. */
export const NATIVE_SPANS = { defSite: 0, callSite: 1, mixedSite: 2 } as const;
const INPUT_SPAN_BASE = 16;

export type Lexer = (src: string) => TokenStream;

/** Lexes source text as `TokenStream::from_str` would; input tokens get spans from INPUT_SPAN_BASE. */
export function lexSource(src: string): TokenStream {
  let next = INPUT_SPAN_BASE;
  const result = tokenStreamFromStr(src, () => next++);
  if (!result.ok) throw new OracleError(`cannot lex input: ${result.error.message}`);
  // rustc stops before expansion on lexing errors, so an input with any is not a valid case.
  const errors = result.diagnostics.filter((d) => d.level === "error");
  if (errors.length > 0) throw new OracleError(`input has lexing errors: ${errors.map((d) => d.message).join("; ")}`);
  return result.stream;
}

/** Expands a macro natively. Inputs are lexed from source; bad input or a panic gives ok:false. */
export async function expandNative(req: NativeExpandRequest, lex?: Lexer): Promise<NativeExpansion> {
  const lexer = lex ?? lexSource;
  let body: TokenStream;
  let args: TokenStream | null = null;
  try {
    body = lexer(req.input);
    if (req.kind === "attr") args = lexer(req.args ?? "");
  } catch (e) {
    return { ok: false, error: `input does not lex: ${(e as Error).message}` };
  }
  return expandNativeTokens({ dylib: req.dylib, kind: req.kind, name: req.name, input: body, args, env: req.env, currentDir: req.currentDir });
}

/** Expands a macro natively from token streams. */
export async function expandNativeTokens(req: {
  dylib: string;
  kind: MacroKind;
  name: string;
  input: TokenStream;
  args?: TokenStream | null;
  env?: Record<string, string>;
  currentDir?: string;
}): Promise<NativeExpansion> {
  const srv = await theServer();
  const rootSpan = NATIVE_SPANS.callSite;
  const result = await srv.expand({
    lib: req.dylib,
    env: Object.entries(req.env ?? {}),
    currentDir: req.currentDir ?? null,
    macroBody: encodeFlatTree(req.input, { rootSpan }),
    macroName: req.name,
    attributes: req.kind === "attr" ? encodeFlatTree(req.args ?? [], { rootSpan }) : null,
    globals: { ...NATIVE_SPANS },
    spanDataTable: [],
  });
  if (!result.ok) return { ok: false, error: result.error };
  return { ok: true, output: decodeFlatTree(result.value) };
}

/** An error rustc reports from a macro (no error code: `compile_error!`, a macro's panic), at its primary span. */
export interface RustcMacroError {
  message: string;
  byteStart: number;
  byteEnd: number;
  /** The source text under the span. */
  text: string;
}

/**
 * Checks `file` as an edition-2021 lib crate with `externs` (crate name → native dylib) and returns
 * the errors without an error code that have a primary span, in rustc's order, with its stderr.
 */
export function rustcMacroErrors(file: string, externs: Record<string, string>): { errors: RustcMacroError[]; stderr: string } {
  const r = spawnSync(
    RUSTC,
    [
      "--edition",
      "2021",
      "--crate-type",
      "lib",
      "--error-format",
      "json",
      "--emit",
      "metadata",
      "-o",
      `${file}.rmeta`,
      ...Object.entries(externs).flatMap(([name, dylib]) => ["--extern", `${name}=${dylib}`]),
      file,
    ],
    { encoding: "utf8" },
  );
  const bytes = readFileSync(file);
  const errors: RustcMacroError[] = [];
  for (const line of r.stderr.split("\n")) {
    if (!line.startsWith("{")) continue;
    const d = JSON.parse(line) as {
      level: string;
      message: string;
      code: unknown;
      spans: Array<{ is_primary: boolean; byte_start: number; byte_end: number }>;
    };
    if (d.level !== "error" || d.code !== null) continue;
    const span = d.spans.find((s) => s.is_primary);
    if (span === undefined) continue;
    errors.push({
      message: d.message,
      byteStart: span.byte_start,
      byteEnd: span.byte_end,
      text: bytes.subarray(span.byte_start, span.byte_end).toString("utf8"),
    });
  }
  return { errors, stderr: r.stderr };
}
