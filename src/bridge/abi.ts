// Which proc_macro bridge a wasm macro module speaks, and whether this host serves it.
//
// The bridge has no version handshake: client and server must be built from the same
// library/proc_macro source, or the byte stream silently means something else. So the host
// identifies the bridge before running anything, from (in order):
//   1. the custom section "macrobox" that `macrobox build` writes: JSON `{"rustc": "rustc 1.96.0 (...)",
//      "bridgeAbi": "rustc-1.96/<bridge source hash>", ...}` (src/wasm/metadata.ts);
//   2. the standard "producers" section rustc writes (`processed-by: rustc <version>`), so a module
//      built by hand with cargo is still recognised — by release only ("rustc-1.96"), which is
//      accepted when the host knows exactly one bridge for that release;
//   3. otherwise the module is refused, unless the caller says which ABI to assume
//      (`assumeBridgeAbi`) — guessing would turn a mismatch into undefined behaviour.
//
// Browser-safe: only WebAssembly.Module.customSections and TextDecoder.

import { MacroboxError } from "../errors.js";
import { WasmReader } from "../wasm/binary.js";
import { BRIDGE_TABLES, RUSTC_1_96 } from "./versions/index.js";

/** rustc 1.96's bridge methods, in `with_api!` order (library/proc_macro/src/bridge/mod.rs): a method's tag is its index. */
export type Method = (typeof RUSTC_1_96.methods)[number]["name"];
export const METHODS_1_96: readonly Method[] = RUSTC_1_96.methods.map((m) => m.name);

/** The bridge this host serves by default: the newest table's (see versions/). */
export const BRIDGE_ABI: string = BRIDGE_TABLES[0].abi;

/** Every bridge ABI this host can serve: one per table in versions/. */
export const KNOWN_BRIDGE_ABIS: readonly string[] = BRIDGE_TABLES.map((t) => t.abi);

/** The release part of an ABI id ("rustc-1.96" of "rustc-1.96/bc39ef00f2e7"). */
export function abiRelease(abi: string): string {
  return abi.split("/")[0];
}

/**
 * The known ABI an id stands for: an exact match, or — for an id with no source hash, which is all
 * the producers section can give — the known ABI of the same release.
 */
export function resolveBridgeAbi(abi: string): string | null {
  if (KNOWN_BRIDGE_ABIS.includes(abi)) return abi;
  if (!abi.includes("/")) return KNOWN_BRIDGE_ABIS.find((k) => abiRelease(k) === abi) ?? null;
  return null;
}

/** The bridge ABI id for a rustc version string like "1.96.0 (ac68faa20 2026-05-25)". */
export function bridgeAbiForRustc(rustcVersion: string): string | null {
  const m = /^(?:rustc\s+)?(\d+)\.(\d+)\./.exec(rustcVersion.trim());
  return m ? `rustc-${m[1]}.${m[2]}` : null;
}

export interface ModuleAbi {
  bridgeAbi: string;
  /** The rustc version the module was built with, when known. */
  rustc: string | null;
  /** Where the answer came from. */
  source: "macrobox-section" | "producers-section" | "assumed";
}

export class BridgeAbiError extends MacroboxError {
  override name = "BridgeAbiError";
  constructor(message: string) {
    super("bridge-abi", message);
  }
}

const utf8 = new TextDecoder("utf-8");

/** Reads the module's bridge ABI from its custom sections (see the header comment). */
export function detectModuleAbi(module: WebAssembly.Module, assumeBridgeAbi?: string): ModuleAbi {
  const sections = WebAssembly.Module.customSections(module, "macrobox");
  if (sections.length > 0) {
    let meta: unknown;
    try {
      meta = JSON.parse(utf8.decode(sections[0]));
    } catch (e) {
      throw new BridgeAbiError(`the module's "macrobox" section is not valid JSON: ${(e as Error).message}`);
    }
    const m = meta as { rustc?: unknown; bridgeAbi?: unknown };
    const rustc = typeof m.rustc === "string" ? m.rustc : null;
    const bridgeAbi = typeof m.bridgeAbi === "string" ? m.bridgeAbi : rustc ? bridgeAbiForRustc(rustc) : null;
    if (!bridgeAbi) throw new BridgeAbiError(`the module's "macrobox" section names no bridgeAbi or rustc version`);
    return { bridgeAbi, rustc, source: "macrobox-section" };
  }
  const rustc = rustcFromProducers(module);
  if (rustc) {
    const bridgeAbi = bridgeAbiForRustc(rustc);
    if (bridgeAbi) return { bridgeAbi, rustc, source: "producers-section" };
  }
  if (assumeBridgeAbi) return { bridgeAbi: assumeBridgeAbi, rustc: null, source: "assumed" };
  throw new BridgeAbiError(
    `cannot tell which proc_macro bridge the module was built for: it has no "macrobox" section and no rustc in its "producers" section; ` +
      `rebuild it with \`macrobox build\` or pass assumeBridgeAbi (known: ${KNOWN_BRIDGE_ABIS.join(", ")})`,
  );
}

/** Throws unless this host serves `abi`'s bridge. */
export function checkBridgeAbi(abi: ModuleAbi): void {
  if (resolveBridgeAbi(abi.bridgeAbi) === null) {
    const built = abi.rustc ? ` (built with rustc ${abi.rustc})` : "";
    throw new BridgeAbiError(`unsupported proc_macro bridge ${abi.bridgeAbi}${built}; this host serves: ${KNOWN_BRIDGE_ABIS.join(", ")}`);
  }
}

/**
 * The "processed-by" rustc version from the tool-conventions producers section:
 * a LEB128 field count, then per field a name and a list of (name, version) string pairs.
 */
export function rustcFromProducers(module: WebAssembly.Module): string | null {
  const sections = WebAssembly.Module.customSections(module, "producers");
  if (sections.length === 0) return null;
  const r = new WasmReader(new Uint8Array(sections[0]));
  try {
    const fields = r.u32();
    for (let f = 0; f < fields; f++) {
      const field = r.name();
      const values = r.u32();
      for (let v = 0; v < values; v++) {
        const name = r.name();
        const version = r.name();
        if (field === "processed-by" && name === "rustc") return version;
      }
    }
  } catch {
    return null;
  }
  return null;
}
