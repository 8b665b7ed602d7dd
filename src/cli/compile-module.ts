// Reading and compiling a module file for the commands that take one (its own file so the
// subcommands can use it without importing main.ts, which imports them).

import { readFileSync } from "node:fs";
import { MacroboxError } from "../errors.js";

export function compileModule(path: string): WebAssembly.Module {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new MacroboxError("io", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return new WebAssembly.Module(bytes);
  } catch (e) {
    throw new MacroboxError("wasm-format", `${path} is not a WebAssembly module: ${(e as Error).message}`);
  }
}
