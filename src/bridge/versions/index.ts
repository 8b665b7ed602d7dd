// The bridge versions this host serves: one signature table each. Adding a rustc release's bridge
// is adding its table here (and, for a method whose meaning changed, its implementation in
// methods.ts); KNOWN_BRIDGE_ABIS (abi.ts) and the dispatcher (server.ts) follow from this list.
//
// Browser-safe: no Node APIs here.

import type { BridgeTable } from "../codec.js";
import { RUSTC_1_96 } from "./rustc-1.96.js";

export { RUSTC_1_96 };

/** Every table, newest first (the first is the default, BRIDGE_ABI). */
export const BRIDGE_TABLES: readonly BridgeTable[] = [RUSTC_1_96];
