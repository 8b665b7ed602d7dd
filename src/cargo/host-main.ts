// The host's process (what a shim starts): `node host-main.js --socket <path> [--idle-ms n]
// [--max-message bytes] [--read-timeout-ms n]`; the env vars MACROBOX_HOST_IDLE_MS,
// MACROBOX_HOST_MAX_MESSAGE and MACROBOX_HOST_READ_TIMEOUT_MS set the same (the flags win).

import { parseArgs } from "node:util";
import { isMacroboxError } from "../errors.js";
import { DEFAULT_IDLE_MS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_READ_TIMEOUT_MS, runHost } from "./host.js";

const { values } = parseArgs({
  options: { socket: { type: "string" }, "idle-ms": { type: "string" }, "max-message": { type: "string" }, "read-timeout-ms": { type: "string" } },
});
if (values.socket === undefined) {
  process.stderr.write("usage: host-main --socket <path> [--idle-ms n] [--max-message bytes] [--read-timeout-ms n]\n");
  process.exit(2);
}
/** A positive number from the flag, else the env var, else the default; anything else is the default (the host must start). */
function setting(flag: string | undefined, envName: string, fallback: number): number {
  const n = Number(flag ?? process.env[envName] ?? fallback);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
runHost({
  socket: values.socket,
  idleMs: setting(values["idle-ms"], "MACROBOX_HOST_IDLE_MS", DEFAULT_IDLE_MS),
  maxMessageBytes: setting(values["max-message"], "MACROBOX_HOST_MAX_MESSAGE", DEFAULT_MAX_MESSAGE_BYTES),
  readTimeoutMs: setting(values["read-timeout-ms"], "MACROBOX_HOST_READ_TIMEOUT_MS", DEFAULT_READ_TIMEOUT_MS),
}).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`macrobox host: ${isMacroboxError(e) ? e.message : ((e as Error).stack ?? String(e))}\n`);
    process.exit(1);
  },
);
