// The host's process (what a shim starts): `node host-main.js --socket <path> [--idle-ms n]
// [--max-message bytes] [--read-timeout-ms n] [--workers n] [--config-home dir --data-home dir]
// [--cache-root dir]`; the env vars MACROBOX_HOST_IDLE_MS, MACROBOX_HOST_MAX_MESSAGE,
// MACROBOX_HOST_READ_TIMEOUT_MS and MACROBOX_HOST_WORKERS (expansions at once; default the number
// of cores) set the same (the flags win).
//
// Whose grants and trust store count, and which cache serves, come from the command line that
// `macrobox patch` baked into the shims, never from this process's environment: a shim runs inside
// rustc, whose environment a repository's `.cargo/config.toml` `[env]` can set (an XDG_DATA_HOME
// pointing at a trust store the repository ships, a MACROBOX_CACHE it planted entries in), and one
// host serves every workspace patched with the same command.

import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { isMacroboxError } from "../errors.js";
import { userDirs } from "../node/index.js";
import { DEFAULT_IDLE_MS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_READ_TIMEOUT_MS, runHost } from "./host.js";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    "idle-ms": { type: "string" },
    "max-message": { type: "string" },
    "read-timeout-ms": { type: "string" },
    "config-home": { type: "string" },
    "data-home": { type: "string" },
    "cache-root": { type: "string" },
    workers: { type: "string" },
  },
});
if (values.socket === undefined) {
  process.stderr.write(
    "usage: host-main --socket <path> [--idle-ms n] [--max-message bytes] [--read-timeout-ms n] [--workers n] [--config-home dir --data-home dir] [--cache-root dir]\n",
  );
  process.exit(2);
}
/** A positive number from the flag, else the env var, else the default; anything else is the default (the host must start). */
function setting(flag: string | undefined, envName: string, fallback: number): number {
  const n = Number(flag ?? process.env[envName] ?? fallback);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
// The one cache root (src/node/cache-env.ts) is read from the environment: set it before any cache opens.
if (values["cache-root"] !== undefined) process.env.MACROBOX_CACHE = values["cache-root"];
// Started by hand (no shim), the user's own environment is the one to read.
const fromEnv = userDirs();
runHost({
  socket: values.socket,
  idleMs: setting(values["idle-ms"], "MACROBOX_HOST_IDLE_MS", DEFAULT_IDLE_MS),
  maxMessageBytes: setting(values["max-message"], "MACROBOX_HOST_MAX_MESSAGE", DEFAULT_MAX_MESSAGE_BYTES),
  readTimeoutMs: setting(values["read-timeout-ms"], "MACROBOX_HOST_READ_TIMEOUT_MS", DEFAULT_READ_TIMEOUT_MS),
  workers: Math.floor(setting(values.workers, "MACROBOX_HOST_WORKERS", availableParallelism())),
  dirs: { config: values["config-home"] ?? fromEnv.config, data: values["data-home"] ?? fromEnv.data },
}).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`macrobox host: ${isMacroboxError(e) ? e.message : ((e as Error).stack ?? String(e))}\n`);
    process.exit(1);
  },
);
