// The `macrobox` custom section: what a macro module is, written by `macrobox build`, read by
// `macrobox inspect` and by the host (which checks the bridge ABI before running anything).
//
// Browser-safe: only WebAssembly and typed arrays.

import { WasmWriter, concatBytes, encodeSection, SectionId } from "./binary.js";
import { MacroModuleError, type MacroInfo } from "./decls.js";

export const METADATA_SECTION = "macrobox";
export const METADATA_FORMAT = 1;

export interface ModuleMetadata {
  format: number;
  crate: { name: string; version: string; edition: string };
  macros: MacroInfo[];
  /** `rustc -V` of the toolchain that built the module. */
  rustc: string;
  /** The proc_macro bridge ABI the module speaks (see bridgeAbiId in src/builder/toolchain.ts). */
  bridgeAbi: string;
  /** Capabilities the crate declares under `[package.metadata.macrobox]` in its Cargo.toml. */
  capabilities: { env: string[]; read: string[] };
  /** sha256 of the crate's source files. */
  sourceHash: string;
  build: {
    target: string;
    profile: string;
    panic: string;
    features: string[];
    defaultFeatures: boolean;
    /** Resolved dependencies, `name version`. */
    dependencies: string[];
    /** Rewrites applied to staged copies of dependencies (src/builder/compat.ts). */
    compat: Array<{ crate: string; version: string; file: string; change: string; count: number }>;
  };
}

/** Reads the metadata section, or null when the module has none. Throws on a malformed one. */
export function readMetadata(module: WebAssembly.Module): ModuleMetadata | null {
  const sections = WebAssembly.Module.customSections(module, METADATA_SECTION);
  if (sections.length === 0) return null;
  if (sections.length > 1) throw new MacroModuleError(`module has ${sections.length} \`${METADATA_SECTION}\` sections`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(sections[0]));
  } catch (e) {
    throw new MacroModuleError(`the \`${METADATA_SECTION}\` section is not valid JSON: ${(e as Error).message}`);
  }
  const meta = value as ModuleMetadata;
  if (typeof meta !== "object" || meta === null || typeof meta.format !== "number") {
    throw new MacroModuleError(`the \`${METADATA_SECTION}\` section has no format number`);
  }
  if (meta.format > METADATA_FORMAT) {
    throw new MacroModuleError(`the module's metadata format ${meta.format} is newer than this macrobox understands (${METADATA_FORMAT}); upgrade macrobox`);
  }
  return meta;
}

/** Returns the module with a custom section appended (custom sections may appear anywhere after the header). */
export function appendCustomSection(wasm: Uint8Array, name: string, payload: Uint8Array): Uint8Array {
  return concatBytes([wasm, encodeSection(SectionId.custom, new WasmWriter().name(name).bytes(payload).finish())]);
}

export function encodeMetadata(meta: ModuleMetadata): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(meta));
}
