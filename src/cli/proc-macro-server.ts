// `macrobox proc-macro-server` and the `macrobox-proc-macro-srv` bin: the command line of
// rust-analyzer's proc-macro server (src/node/proc-macro-server.ts serves it).

import { UsageError } from "./usage.js";

export async function procMacroServerCommand(args: string[]): Promise<number> {
  // `--module` entries are ours; everything else is what rust-analyzer passes to its server.
  const modules: Record<string, string> = {};
  const rest: string[] = [];
  const entries = (process.env.MACROBOX_MODULES ?? "").split(",").filter(Boolean);
  // The limits too (`--max-nesting 8192`, `--timeout 60000`: the server runs expansions in a worker it can stop).
  const { InvalidLimit, LIMIT_NAMES, LIMIT_SPECS, parseLimitValue, parseScaled } = await import("../sandbox/limits.js");
  const limitFlags = new Map(LIMIT_NAMES.map((n) => [LIMIT_SPECS[n].flag, n]));
  const limits: Record<string, number> = {};
  let maxMessageBytes: number | undefined;
  // Where no OS sandbox is available, build crates that are not from a registry natively anyway
  // (rust-analyzer starts the server, so the environment variable is the usual way to say it).
  let allowNativeBuild = process.env.MACROBOX_ALLOW_NATIVE_BUILD === "1";
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] =
      args[i].startsWith("--") && args[i].includes("=")
        ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)]
        : [args[i], undefined];
    const limit = limitFlags.get(flag);
    if (flag === "--module") entries.push(inline ?? args[++i] ?? "");
    else if (flag === "--allow-native-build" && inline === undefined) allowNativeBuild = true;
    else if (flag === "--max-message") {
      // A byte count with binary suffixes (`64k`, `16MiB`).
      const text = inline ?? args[++i] ?? "";
      const scaled = parseScaled(text);
      maxMessageBytes = scaled === null ? NaN : scaled.n * 1024 ** scaled.power;
      if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) {
        throw new UsageError(`--max-message expects a number of bytes of at least 1 (or 64k, 16MiB...), got ${JSON.stringify(text)}`);
      }
    } else if (limit !== undefined) {
      try {
        limits[limit] = parseLimitValue(limit, inline ?? args[++i] ?? "");
      } catch (e) {
        if (e instanceof InvalidLimit) throw new UsageError(e.message);
        throw e;
      }
    } else rest.push(args[i]);
  }
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new UsageError(`--module expects <crate>=<module.wasm>, got ${JSON.stringify(entry)}`);
    modules[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const { procMacroServerMain } = await import("../node/proc-macro-server.js");
  return procMacroServerMain(rest, {
    modules,
    limits,
    maxMessageBytes,
    // A dylib without a mapping: build the crate behind it, saying so on stderr (rust-analyzer logs
    // it). The builder is loaded then, not at start-up.
    resolveModule: async (lib) =>
      (await import("../builder/for-dylib.js")).moduleForDylib(lib, {
        allowNativeBuild,
        onEvent: (event) => {
          if (event.type === "step") process.stderr.write(`macrobox: ${event.message}\n`);
          else if (event.type === "compiled" && !event.fresh) process.stderr.write(`macrobox: compiled ${event.crate} ${event.version}\n`);
        },
      }),
  });
}
