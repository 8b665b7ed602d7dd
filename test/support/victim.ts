// The victim of the attack tests (test/patch/build-scripts.test.ts, test/trust/trust-boundary.test.ts): a user
// with a home of their own holding secrets, running cargo and macrobox. Only what is listed here
// reaches the commands, so a secret the attack finds can only have come through what macrobox let by.
import { createServer } from "node:net";
import { join } from "node:path";
import { cacheRoot } from "../../src/node/cache-env.js";

/**
 * The victim's environment: their home and own directories under `home`, the runtime directory
 * under `scratch`, the Debian toolchain first, the suite's macrobox cache (std for the macro target
 * is built once; the tests' sweeps read what they wrote there), and `secrets` (variables a hostile
 * build or macro would like to read).
 */
export function victimEnv(home: string, scratch: string, secrets: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: `/usr/bin:${process.env.PATH}`,
    HOME: home,
    USER: "victim",
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    XDG_RUNTIME_DIR: join(scratch, "run"),
    CARGO_HOME: join(home, ".cargo"),
    MACROBOX_CACHE: cacheRoot(),
    CARGO_TERM_COLOR: "never",
    ...secrets,
  };
}

/** A loopback listener the attacks try to phone: it counts each connection and closes it. */
export interface Tripwire {
  readonly port: number;
  /** Connections so far (a test may set it back to 0 between phases). */
  connections: number;
  close(): Promise<void>;
}

export async function listenTripwire(): Promise<Tripwire> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get connections() {
      return connections;
    },
    set connections(n: number) {
      connections = n;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
