// Reads the table of proc macros a wasm macro module declares.
//
// rustc emits, for every proc-macro crate, a static `&[proc_macro::bridge::client::ProcMacro]` and
// asks the linker to export its address as the global `__rustc_proc_macro_decls_<hash>__`.
// `ProcMacro` is `#[repr(C)]` (library/proc_macro/src/bridge/client.rs), so on wasm32 its layout
// is fixed: a 4-byte discriminant followed by the largest variant (CustomDerive, 24 bytes):
//
//   CustomDerive { trait_name: &str, attributes: &[&str], client: Client }   tag 0
//   Attr         { name: &str, client: Client }                              tag 1
//   Bang         { name: &str, client: Client }                              tag 2
//   Client       { handle_counters: &HandleCounters, run: extern "C" fn }    (8 bytes)
//
// Browser-safe: only WebAssembly and typed arrays.

import { MacroboxError } from "../errors.js";

export type MacroKind = "derive" | "attr" | "bang";

/** How a macro is written where it is used, the one label for it in lists and menus: `#[derive(Foo)]`, `#[attr]`, `bang!`. */
export function macroLabel(kind: MacroKind, name: string): string {
  return kind === "derive" ? `#[derive(${name})]` : kind === "attr" ? `#[${name}]` : `${name}!`;
}

/** One macro of a module, as the module, its metadata and the host's API describe it. */
export interface MacroInfo {
  kind: MacroKind;
  /** The derive's trait name, or the attribute / function-like macro's name. */
  name: string;
  /** Helper attributes a derive declares (`#[proc_macro_derive(Foo, attributes(foo))]`). */
  helpers: string[];
}

export interface ProcMacroDecl extends MacroInfo {
  /** Index in `__indirect_function_table` of the client's `run: extern "C" fn(BridgeConfig) -> Buffer`. */
  run: number;
  /** Address of the client's `HandleCounters` (the handles it has issued; diagnostics only). */
  handleCounters: number;
}

const DECLS_EXPORT = /^__rustc_proc_macro_decls_[0-9a-f]+__$/;
const PROC_MACRO_SIZE = 28;

export class MacroModuleError extends MacroboxError {
  override name = "MacroModuleError";
  constructor(message: string) {
    super("module", message);
  }
}

/** The name of the export holding the decls address, or an error saying why the module is not a macro module. */
export function declsExportName(module: WebAssembly.Module): string {
  const exports = WebAssembly.Module.exports(module);
  const decls = exports.filter((e) => e.kind === "global" && DECLS_EXPORT.test(e.name));
  if (decls.length !== 1) {
    throw new MacroModuleError(
      decls.length === 0
        ? "not a proc-macro module: it exports no `__rustc_proc_macro_decls_*__` global (was it built with `macrobox build`?)"
        : `ambiguous proc-macro module: it exports ${decls.length} decls globals`,
    );
  }
  for (const required of ["memory", "__indirect_function_table"]) {
    if (!exports.some((e) => e.name === required)) {
      throw new MacroModuleError(`not a macro module: it does not export \`${required}\``);
    }
  }
  return decls[0].name;
}

/** Decodes the `&[ProcMacro]` whose address the decls global holds. */
export function readProcMacroDecls(memory: WebAssembly.Memory, declsAddress: number): ProcMacroDecl[] {
  const mem = new MemoryReader(memory);
  const slicePtr = mem.u32(declsAddress);
  const sliceLen = mem.u32(declsAddress + 4);
  if (sliceLen > 100_000) throw new MacroModuleError(`implausible proc macro count ${sliceLen}`);
  const decls: ProcMacroDecl[] = [];
  for (let i = 0; i < sliceLen; i++) {
    const at = slicePtr + i * PROC_MACRO_SIZE;
    const tag = mem.u32(at);
    const body = at + 4;
    switch (tag) {
      case 0: {
        const helpersPtr = mem.u32(body + 8);
        const helpersLen = mem.u32(body + 12);
        const helpers: string[] = [];
        for (let h = 0; h < helpersLen; h++) helpers.push(mem.str(helpersPtr + h * 8));
        decls.push({ kind: "derive", name: mem.str(body), helpers, handleCounters: mem.u32(body + 16), run: mem.u32(body + 20) });
        break;
      }
      case 1:
      case 2:
        decls.push({ kind: tag === 1 ? "attr" : "bang", name: mem.str(body), helpers: [], handleCounters: mem.u32(body + 8), run: mem.u32(body + 12) });
        break;
      default:
        throw new MacroModuleError(`unknown ProcMacro variant ${tag} at 0x${at.toString(16)}`);
    }
  }
  return decls;
}

/**
 * Lists a module's macros without running any of its code: instantiates it with imports that refuse
 * to be called (only data segments are applied) and reads the decls table from memory.
 */
export async function listProcMacros(module: WebAssembly.Module): Promise<ProcMacroDecl[]> {
  const declsName = declsExportName(module);
  const imports: WebAssembly.Imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== "function") throw new MacroModuleError(`unsupported ${imp.kind} import ${imp.module}.${imp.name}`);
    (imports[imp.module] ??= {})[imp.name] = () => {
      throw new MacroModuleError(`${imp.module}.${imp.name} was called while only reading the macro table`);
    };
  }
  const instance = await WebAssembly.instantiate(module, imports);
  const memory = instance.exports.memory as WebAssembly.Memory;
  const declsAddress = (instance.exports[declsName] as WebAssembly.Global).value as number;
  return readProcMacroDecls(memory, declsAddress);
}

class MemoryReader {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  constructor(memory: WebAssembly.Memory) {
    this.view = new DataView(memory.buffer);
    this.bytes = new Uint8Array(memory.buffer);
  }
  u32(at: number): number {
    if (at < 0 || at + 4 > this.bytes.length) throw new MacroModuleError(`address 0x${at.toString(16)} is outside memory`);
    return this.view.getUint32(at, true);
  }
  /** A `&str` fat pointer (ptr, len) stored at `at`. */
  str(at: number): string {
    const ptr = this.u32(at);
    const len = this.u32(at + 4);
    if (ptr + len > this.bytes.length) throw new MacroModuleError(`string at 0x${ptr.toString(16)} runs past memory`);
    return new TextDecoder("utf-8", { fatal: true }).decode(this.bytes.subarray(ptr, ptr + len));
  }
}
