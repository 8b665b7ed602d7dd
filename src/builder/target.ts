// The `wasm32-macro` target: a custom target spec derived at build time from the toolchain's own
// wasm32-wasip1 spec (so it tracks the toolchain), plus the two link-time pieces rustc's wasm
// support lacks for proc-macro crates.
//
// Why wasip1 and not wasm32-unknown-unknown: std's WASI layer sends stderr, env and file access
// through `wasi_snapshot_preview1` imports that the host implements, so capabilities, captured
// `eprintln!` and panic messages all pass through code we control. On the unknown OS those
// operations silently do nothing.

import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LIBC_SHIM_SOURCE, LIBC_SHIM_VERSION } from "./libc-shim.js";
import type { Toolchain } from "./toolchain.js";

export const TARGET_NAME = "wasm32-macro";

export interface TargetFiles {
  /** Path of wasm32-macro.json. */
  spec: string;
  /** Executable linker wrapper, given to cargo as this target's linker. */
  linker: string;
  /** Every file of the target the build reads (the spec, the wrapper and what it links in). */
  files: string[];
}

function writeIfChanged(path: string, text: string, mode?: number): void {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  if (mode !== undefined) chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** Writes (or reuses) the target spec, the exception tag object and the linker wrapper. */
export function prepareTarget(toolchain: Toolchain, dir: string): TargetFiles {
  const spec = join(dir, `${TARGET_NAME}.json`);
  writeIfChanged(spec, JSON.stringify(deriveSpec(toolchain), null, 2) + "\n");
  const tagObject = join(dir, "cpp-exception-tag.o");
  if (!existsSync(tagObject)) buildExceptionTag(toolchain, spec, dir, tagObject);
  const shimSource = join(dir, `libc-shim-v${LIBC_SHIM_VERSION}.rs`);
  writeIfChanged(shimSource, LIBC_SHIM_SOURCE);
  const linker = join(dir, `${TARGET_NAME}-ld.mjs`);
  writeIfChanged(linker, linkerWrapper(toolchain, tagObject, { source: shimSource, spec, remap: dir }), 0o755);
  return { spec, linker, files: [spec, linker, tagObject, shimSource] };
}

function deriveSpec(toolchain: Toolchain): Record<string, unknown> {
  const json = execFileSync(toolchain.rustc, ["-Z", "unstable-options", "--print", "target-spec-json", "--target", "wasm32-wasip1"], {
    encoding: "utf8",
    env: { ...process.env, RUSTC_BOOTSTRAP: "1" },
  });
  const spec = JSON.parse(json) as Record<string, unknown>;
  // Accept `--crate-type proc-macro` (wasm targets normally only allow cdylib).
  spec["only-cdylib"] = false;
  // Panics unwind through wasm exception handling, so a panicking macro returns
  // Err(PanicMessage) through the bridge exactly as it does natively, and the instance survives.
  spec["panic-strategy"] = "unwind";
  spec["features"] = [spec["features"], "+exception-handling"].filter(Boolean).join(",");
  delete spec["metadata"];
  return spec;
}

/**
 * LLVM's wasm exception handling refers to the `__cpp_exception` tag, which wasi targets expect
 * from the C toolchain's libunwind (library/unwind/src/wasm.rs defines it only for the unknown OS).
 * Debian's wasi-libc has no libunwind, so we assemble the one-symbol object with rustc itself.
 */
function buildExceptionTag(toolchain: Toolchain, spec: string, dir: string, out: string): void {
  const source = join(dir, "cpp-exception-tag.rs");
  writeFileSync(
    source,
    [
      "#![feature(no_core, rustc_attrs, decl_macro, asm_experimental_arch)]",
      "#![no_core]",
      '#![crate_type = "lib"]',
      "#[rustc_builtin_macro] macro global_asm($($t:tt)*) { /* compiler built-in */ }",
      'global_asm!(".globl __cpp_exception", ".tagtype __cpp_exception i32", "__cpp_exception:");',
      "",
    ].join("\n"),
  );
  execFileSync(toolchain.rustc, ["-Z", "unstable-options", "--target", spec, "--emit=obj", "-A", "warnings", "-o", `${out}.tmp`, source], {
    env: { ...process.env, RUSTC_BOOTSTRAP: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  renameSync(`${out}.tmp`, out);
}

/**
 * The linker wrapper, a tiny Node script. rustc asks the linker to export the crate's
 * `rust_metadata_*` symbol, which wasm-ld rejects (it is not defined for wasm); the wrapper drops
 * it, links the exception tag and the libc shim (src/builder/libc-shim.ts), exports the function
 * table (the host installs its dispatch function there) and makes it growable, and exports
 * `__wasm_call_ctors` when libc has constructors to run.
 *
 * The shim is `no_std` Rust, so it needs a `core` for this target, which exists only once cargo
 * has built std: the wrapper compiles it on first use against the very libcore rlib it is linking
 * (named in its arguments), and keeps the object named by that rlib's hash in the target directory
 * that holds the rlib (`<target>/wasm32-macro/release/deps/libcore-*.rlib`), in
 * `<target>/.macrobox-libc-shim/`: a directory the build may write (the rest of `dir` is read-only
 * inside the OS sandbox), and one per target directory, so that builds of one trust domain never
 * write an object another links (build.ts, `trustDomain`).
 */
function linkerWrapper(toolchain: Toolchain, tagObject: string, shim: { source: string; spec: string; remap: string }): string {
  return `#!${process.execPath}
// Generated by macrobox (src/builder/target.ts). Linker wrapper for the ${TARGET_NAME} target.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { basename, dirname, join } from "node:path";
const LINKER = ${JSON.stringify(toolchain.linker)};
const TAG_OBJECT = ${JSON.stringify(tagObject)};
const RUSTC = ${JSON.stringify(toolchain.rustc)};
const SHIM = ${JSON.stringify(shim)};
// rustc may pass arguments in a response file, one per line, with backslash escapes.
const expand = (a) => a.startsWith("@")
  ? readFileSync(a.slice(1), "utf8").split("\\n").filter((l) => l.length > 0).map((l) => l.replace(/\\\\(.)/g, "$1"))
  : [a];
const input = process.argv.slice(2).flatMap(expand);
const args = [];
for (let i = 0; i < input.length; i++) {
  const a = input[i];
  if (a === "-flavor") { i++; continue; } // LINKER already names the flavour
  if (a === "--export" && input[i + 1]?.startsWith("rust_metadata_")) { i++; continue; }
  if (a.startsWith("--export=rust_metadata_")) continue;
  args.push(a);
}
const extra = [TAG_OBJECT];
const rlib = (name) => input.find((a) => new RegExp("/lib" + name + "-[0-9a-f]+\\\\.rlib$").test(a));
const core = rlib("core");
const builtins = rlib("compiler_builtins");
if (core && builtins) {
  const objects = join(dirname(core), "..", "..", "..", ".macrobox-libc-shim");
  const object = join(objects, basename(SHIM.source).replace(/\\.rs$/, "-" + basename(core).slice("libcore-".length, -".rlib".length) + ".o"));
  if (!existsSync(object)) {
    mkdirSync(objects, { recursive: true });
    const r = spawnSync(RUSTC, [
      "--crate-type", "lib", "--crate-name", "macrobox_libc_shim", "--edition", "2021", "--emit=obj",
      "--target", SHIM.spec, "-C", "opt-level=3", "-C", "debug-assertions=off", "-C", "overflow-checks=off",
      "-Z", "unstable-options", "--extern", "core=" + core, "--extern", "compiler_builtins=" + builtins, "-L", "dependency=" + dirname(core),
      "--remap-path-prefix=" + SHIM.remap + "=/macrobox", "-o", object + ".tmp", SHIM.source,
    ], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, RUSTC_BOOTSTRAP: "1", CARGO_MAKEFLAGS: "" } });
    if (r.status !== 0) process.exit(r.status ?? 1);
    renameSync(object + ".tmp", object);
  }
  extra.push(object);
}
args.push(...extra, "--export-table", "--growable-table", "--export-if-defined=__wasm_call_ctors");
const r = spawnSync(LINKER[0], [...LINKER.slice(1), ...args], { stdio: "inherit" });
process.exit(r.status ?? 1);
`;
}
