// Test helpers: build fixture proc-macro crates to wasm (with `macrobox build`) and natively (with
// cargo, so rustc itself can run them as the oracle), the wasm builds memoised across test processes (test/support/build.ts).

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildModule } from "./build.js";
import { FIXTURES } from "./paths.js";
import { buildNativeMacro } from "../oracle/native.js";

export { FIXTURES };
const WORK = join(tmpdir(), `macrobox-bridge-tests-${process.getuid?.() ?? 0}`);
const RUSTC = "/usr/bin/rustc";

const wasmBuilds = new Map<string, Promise<Uint8Array>>();

/** A fixture crate (test/fixtures/<name>) or a registry crate (`serde_derive`) built to a wasm module. */
export function macroWasm(crate: string): Promise<Uint8Array> {
  let p = wasmBuilds.get(crate);
  if (!p) {
    p = (async () => {
      mkdirSync(WORK, { recursive: true });
      const local = join(FIXTURES, crate);
      const output = join(WORK, `${crate.replace(/[^\w.-]/g, "_")}.wasm`);
      await buildModule({ crate: existsSync(local) ? local : crate, output });
      return new Uint8Array(readFileSync(output));
    })();
    wasmBuilds.set(crate, p);
  }
  return p;
}

/** Builds a fixture crate natively as a proc-macro dylib (release, unstable proc_macro APIs allowed); returns its path. */
export function nativeProcMacro(name: string): string {
  return buildNativeMacro({ path: join(FIXTURES, name), bootstrap: true }, "release");
}

export interface NativeRun {
  /** rustc's diagnostics while compiling the program (proc macro warnings land here). */
  compileStderr: string;
  stdout: string;
}

/**
 * Compiles `main.rs` (written in a scratch dir, compiled from there as `main.rs`) against the
 * native build of fixture `crate`, then hands the dir to `use` and removes it.
 */
function withNativeProgram<T>(
  crate: string,
  crateName: string,
  mainRs: string,
  use: (dir: string, compile: { status: number | null; stderr: string }) => T,
): T {
  const dylib = nativeProcMacro(crate);
  const dir = join(WORK, "native-run", `${crate}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.rs"), mainRs);
  try {
    const compile = spawnSync(RUSTC, ["--edition", "2021", "--extern", `${crateName}=${dylib}`, "main.rs", "-o", "main"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, RUSTC_BOOTSTRAP: "1" },
    });
    return use(dir, { status: compile.status, stderr: compile.stderr });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Compiles `main.rs` against the native build of fixture `crate`, without running it. */
export function compileNative(crate: string, crateName: string, mainRs: string): { status: number | null; stderr: string } {
  return withNativeProgram(crate, crateName, mainRs, (_dir, compile) => compile);
}

/** Compiles `main.rs` against the native build of fixture `crate` and runs it: rustc runs the macro, the program prints what it saw. */
export function runNative(crate: string, crateName: string, mainRs: string): NativeRun {
  return withNativeProgram(crate, crateName, mainRs, (dir, compile) => {
    if (compile.status !== 0) throw new Error(`rustc failed:\n${compile.stderr}`);
    const run = spawnSync(join(dir, "main"), [], { cwd: dir, encoding: "utf8" });
    return { compileStderr: compile.stderr, stdout: run.stdout };
  });
}

/** The value of a Rust string literal's symbol (the text between the quotes, escapes as written). */
export function unescapeRustStr(symbol: string): string {
  return symbol.replace(/\\(u\{([0-9a-fA-F]+)\}|x([0-9a-fA-F]{2})|n|r|t|0|\\|'|"|\n\s*)/g, (_m, e: string, u?: string, x?: string) => {
    if (u) return String.fromCodePoint(parseInt(u, 16));
    if (x) return String.fromCharCode(parseInt(x, 16));
    switch (e[0]) {
      case "n":
        return "\n";
      case "r":
        return "\r";
      case "t":
        return "\t";
      case "0":
        return "\0";
      case "\n":
        return "";
      default:
        return e;
    }
  });
}
