// The proc-macro server's command line, read in this one place for both bins
// (`macrobox-proc-macro-srv`, `macrobox proc-macro-server`): what rust-analyzer passes to its
// server (`--version`, `--format`), and ours (`--module`, the limits, `--max-message`,
// `--allow-native-build`, and their environment variables).

import { MacroboxError } from "../errors.js";
import { formatLimit, InvalidLimit, LIMIT_NAMES, LIMIT_SPECS, parseLimitValue, parseScaled, type Limits } from "../sandbox/limits.js";

export type ProtocolFormat = "json-legacy" | "bidirectional-postcard-prototype";

/** What the command line asks for. */
export type ServerCommand =
  | { type: "version" }
  | { type: "help" }
  | {
      type: "serve";
      format: ProtocolFormat;
      /** Crate name (`serde_derive`) or dylib stem (`libserde_derive`) -> .wasm module path. */
      modules: Record<string, string>;
      limits: Partial<Limits>;
      maxMessageBytes?: number;
      /** Where no OS sandbox is available, build a crate that is not from a registry natively anyway. */
      allowNativeBuild: boolean;
    };

/** A command line the server cannot run (exit code 2, like the native server's). */
export class ServerUsageError extends MacroboxError {
  override name = "ServerUsageError";
  constructor(message: string) {
    super("usage", message);
  }
}

/** Reads the server's arguments (`env`: `MACROBOX_MODULES`, `MACROBOX_ALLOW_NATIVE_BUILD`). */
export function parseServerArguments(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServerCommand {
  let format: ProtocolFormat = "json-legacy";
  const entries = (env.MACROBOX_MODULES ?? "").split(",").filter(Boolean);
  const limitFlags = new Map(LIMIT_NAMES.map((n) => [LIMIT_SPECS[n].flag, n]));
  const limits: Partial<Limits> = {};
  let maxMessageBytes: number | undefined;
  // rust-analyzer starts the server, so the environment variable is the usual way to say it.
  let allowNativeBuild = env.MACROBOX_ALLOW_NATIVE_BUILD === "1";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--version") return { type: "version" };
    if (arg === "--help" || arg === "-h") return { type: "help" };
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? "";
    const limit = limitFlags.get(flag);
    if (flag === "--format") {
      const f = value();
      if (f !== "json-legacy" && f !== "bidirectional-postcard-prototype") {
        throw new ServerUsageError(`unsupported protocol format ${JSON.stringify(f)} (json-legacy or bidirectional-postcard-prototype)`);
      }
      format = f;
    } else if (flag === "--module") entries.push(value());
    else if (flag === "--allow-native-build" && inline === undefined) allowNativeBuild = true;
    else if (flag === "--max-message") {
      // A byte count with binary suffixes (`64k`, `16MiB`).
      const text = value();
      const scaled = parseScaled(text);
      maxMessageBytes = scaled === null ? NaN : scaled.n * 1024 ** scaled.power;
      if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) {
        throw new ServerUsageError(`--max-message expects a number of bytes of at least 1 (or 64k, 16MiB...), got ${JSON.stringify(text)}`);
      }
    } else if (limit !== undefined) {
      // The limits too (`--max-nesting 8192`, `--timeout 60000`: the server runs expansions in a worker it can stop).
      try {
        limits[limit] = parseLimitValue(limit, value());
      } catch (e) {
        if (e instanceof InvalidLimit) throw new ServerUsageError(e.message);
        throw e;
      }
    } else throw new ServerUsageError(`unknown argument ${JSON.stringify(arg)}`);
  }
  const modules: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf("=");
    if (at <= 0) throw new ServerUsageError(`--module expects <crate>=<module.wasm>, got ${JSON.stringify(entry)}`);
    modules[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return { type: "serve", format, modules, limits, maxMessageBytes, allowNativeBuild };
}

/** What `--version` prints; rust-analyzer shows it when versions disagree. */
export const SERVER_VERSION_LINE =
  "macrobox-proc-macro-srv (rust-analyzer proc-macro protocol json-legacy and bidirectional-postcard-prototype, API version 6)";

/** What `--help` prints. */
export function serverHelp(): string {
  const limits = LIMIT_NAMES.map((n) => {
    const spec = LIMIT_SPECS[n];
    return `  ${`${spec.flag} ${spec.argument}`.padEnd(30)} ${spec.description} (default ${formatLimit(n, spec.default)})\n`;
  }).join("");
  return (
    `${SERVER_VERSION_LINE}\n\n` +
    "rust-analyzer's proc-macro server, expanding with wasm macro modules in the macrobox sandbox.\n" +
    "Point rust-analyzer's `rust-analyzer.procMacro.server` setting at this executable.\n\n" +
    "Options:\n" +
    "  --format json-legacy|bidirectional-postcard-prototype   the protocol (rust-analyzer passes it)\n" +
    "  --version                      print the version line\n" +
    "  --module <crate>=<module.wasm> the module standing for a crate's dylib (also MACROBOX_MODULES, comma-separated)\n" +
    "  --max-message <bytes|size>     a request longer than this is not read; it gets an error reply (default 512MiB)\n" +
    "  --allow-native-build           where no OS sandbox (bubblewrap) is available, build a crate that is not from a\n" +
    "                                 registry natively anyway (also MACROBOX_ALLOW_NATIVE_BUILD=1)\n" +
    "Limits of every expansion (one over its limit fails that expansion only; --timeout is the wall clock:\n" +
    "the expansion's worker is stopped and replaced):\n" +
    limits
  );
}
