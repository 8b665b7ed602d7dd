// The host's process (what a shim starts): `node host-main.js --socket <path> [--idle-ms n]`.

import { parseArgs } from "node:util";
import { DEFAULT_IDLE_MS, runHost } from "./host.js";
import { userDirs } from "../node/trust.js";

const { values } = parseArgs({ options: { socket: { type: "string" }, "idle-ms": { type: "string" } } });
if (values.socket === undefined) {
  process.stderr.write("usage: host-main --socket <path> [--idle-ms n]\n");
  process.exit(2);
}
const idle = Number(values["idle-ms"] ?? process.env.MACROBOX_HOST_IDLE_MS ?? DEFAULT_IDLE_MS);
// The user's directories must come from `macrobox patch` (this process inherits rustc's
// environment, which the repository's .cargo/config.toml can set); until the shim passes them,
// they are this environment's.
runHost({ socket: values.socket, idleMs: idle, dirs: userDirs() }).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`macrobox host: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
