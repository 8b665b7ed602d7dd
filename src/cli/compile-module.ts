// A .wasm file the user names, compiled, with a clear error for a missing file or one that is not wasm
// (`macrobox inspect` and `macrobox expand`).

import { readFileSync } from "node:fs";
import { cannotRead, MacroboxError } from "../errors.js";

export function compileModule(path: string): WebAssembly.Module {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw cannotRead(path, e);
  }
  try {
    return new WebAssembly.Module(bytes);
  } catch (e) {
    throw new MacroboxError("wasm-format", `${path} is not a WebAssembly module: ${(e as Error).message}`);
  }
}
