// What a module's wasi-libc does with paths, read from its code, so that the host can give the
// macro the current directory it would have natively (see src/sandbox/wasi-fs.ts).
//
// wasi-libc keeps the current directory in `char *__wasilibc_cwd` (initially "/"): `getcwd`, and so
// `std::env::current_dir`, return it, and when the module links `chdir` (whose object also defines
// `__wasilibc_find_relpath_alloc`), relative paths are made absolute against it before they reach
// the host. The variable is not exported; its address is the first load in `getcwd`, found through
// the name section (`i32.const A; i32.load offset=B` → A + B, what clang emits for a global).
//
// Browser-safe: no Node APIs here.

import { WasmReader, parseModule, SectionId, skipLocals } from "./binary.js";

export interface LibcInfo {
  /** Address of `__wasilibc_cwd` in linear memory; null when not found (no name section, no getcwd). */
  cwdAddress: number | null;
  /** The module links wasi-libc's chdir: relative paths reach the host already absolute. */
  joinsRelativePaths: boolean;
}

/** Bump when readLibcInfo's answers change: the module cache keeps them by this version. */
export const LIBC_INFO_VERSION = 1;

const OP_I32_CONST = 0x41;
const OP_I32_LOAD = 0x28;

/** Reads `LibcInfo` from a module's bytes; never throws (an unreadable module has no known cwd). */
export function readLibcInfo(bytes: Uint8Array): LibcInfo {
  const none: LibcInfo = { cwdAddress: null, joinsRelativePaths: false };
  try {
    const info = parseModule(bytes);
    const names = functionNames(
      bytes,
      info.sections.find((s) => s.id === SectionId.custom && s.customName === "name"),
    );
    const joinsRelativePaths = [...names.values()].includes("__wasilibc_find_relpath_alloc");
    let getcwd: number | undefined;
    for (const [index, name] of names) if (name === "getcwd") getcwd = index;
    if (getcwd === undefined) return { ...none, joinsRelativePaths };
    const body = info.codeBodies[getcwd - info.importedFunctions];
    if (!body) return { ...none, joinsRelativePaths };
    const r = new WasmReader(bytes, body.bodyStart, body.end);
    skipLocals(r);
    if (r.u8() !== OP_I32_CONST) return { ...none, joinsRelativePaths };
    const base = r.s32();
    if (r.u8() !== OP_I32_LOAD) return { ...none, joinsRelativePaths };
    r.u32(); // alignment
    const offset = r.u32();
    return { cwdAddress: (base >>> 0) + offset, joinsRelativePaths };
  } catch {
    return none;
  }
}

/** Function index → name, from the name section's function names (subsection 1). */
function functionNames(bytes: Uint8Array, section: { payloadStart: number; end: number } | undefined): Map<number, string> {
  const names = new Map<number, string>();
  if (!section) return names;
  const r = new WasmReader(bytes, section.payloadStart, section.end);
  r.name(); // "name"
  while (!r.atEnd) {
    const id = r.u8();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 1) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const index = r.u32();
        names.set(index, r.name());
      }
    }
    r.pos = end;
  }
  return names;
}
