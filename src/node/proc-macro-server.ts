// macrobox as rust-analyzer's proc-macro server (Node-only): point rust-analyzer's
// `rust-analyzer.procMacro.server` setting at a launcher of this, and its macro expansions run in
// the wasm sandbox instead of loading native dylibs.
//
// rust-analyzer names each proc-macro crate by the path of the native dylib cargo built. Which
// wasm module stands for that dylib is looked up in order: the path itself when it ends in
// `.wasm`; `<dylib>.wasm` next to it; then a `modules` map (dylib file stem without the hash,
// e.g. `libserde_derive`, or the crate name `serde_derive`, to a .wasm path).

import { existsSync } from "node:fs";
import { basename } from "node:path";

import { DEFAULT_LIMITS, formatLimit, LIMIT_NAMES, LIMIT_SPECS, type Limits } from "../sandbox/limits.js";
import { CURRENT_API_VERSION } from "../server/flat.js";
import { decodeBidirectionalFrame, encodeBidirectionalFrame } from "../server/postcard.js";
import { decodeRequestLine, encodeResponseLine, type Response, type SpanMode } from "../server/protocol.js";
import { serveFrames, serveLines } from "./stdio-server.js";
import { expansionCacheOff } from "./cache-env.js";
import { settingsState } from "./expansion-sandbox.js";
import { userDirs, type UserDirs } from "./trust.js";
import { WorkerSession, type ErrorAnswers } from "./expansion-worker.js";
import { MacroboxError } from "../errors.js";

export interface ProcMacroServerOptions {
  /** Dylib file stem (`libserde_derive`) or crate name (`serde_derive`) -> .wasm module path. */
  modules?: Record<string, string>;
  /** Lines on stdin that are not requests (default: written to stderr). */
  onNoise?: (line: string) => void;
  /** Limits every expansion runs under (default: DEFAULT_LIMITS); an expansion over one answers with its error. */
  limits?: Partial<Limits>;
  /**
   * The .wasm module for a dylib no mapping names (the command line builds the crate behind the
   * dylib: src/builder/for-dylib.ts). Its error is the reply to the request.
   */
  resolveModule?: (lib: string) => Promise<string>;
  /** A request line or frame longer than this is not read and gets an error reply (default 512 MiB). */
  maxMessageBytes?: number;
  /** The user's directories: whose grants and trust store count (default `userDirs()` of this process's environment). */
  dirs?: UserDirs;
}

/** The .wasm module path standing for a dylib path, or null. */
export function wasmModuleFor(lib: string, modules: Record<string, string> = {}): string | null {
  if (lib.endsWith(".wasm")) return lib;
  if (existsSync(`${lib}.wasm`)) return `${lib}.wasm`;
  // libserde_derive-0123abcd.so -> libserde_derive, serde_derive
  const stem = basename(lib)
    .replace(/\.(so|dylib|dll)$/, "")
    .replace(/-[0-9a-f]{8,}$/, "");
  const crate = stem.replace(/^lib/, "");
  return modules[stem] ?? modules[crate] ?? null;
}

export type ProtocolFormat = "json-legacy" | "bidirectional-postcard-prototype";

/** Serves the protocol on stdin/stdout until rust-analyzer closes stdin. */
export async function runProcMacroServer(options: ProcMacroServerOptions = {}, format: ProtocolFormat = "json-legacy"): Promise<void> {
  const dirs = options.dirs ?? userDirs();
  // Started first: the worker loads the host while this thread reads the first requests.
  const session = new WorkerSession(
    {
      limits: options.limits,
      wallClockMs: options.limits?.wallClockMs ?? DEFAULT_LIMITS.wallClockMs,
      memo: !expansionCacheOff(),
      // A memoised answer holds while the workspace's grants file, the user's file and the trust store are unchanged.
      memoState: (where) => settingsState(where, dirs),
      dirs,
      async modulePath(lib) {
        const mapped = wasmModuleFor(lib, options.modules);
        if (mapped !== null) return mapped;
        if (options.resolveModule !== undefined) return options.resolveModule(lib);
        throw new MacroboxError("module", `no wasm module for ${lib} (build one with \`macrobox build\` and put it at ${lib}.wasm)`);
      },
    },
    ANSWERS,
  );
  try {
    if (format === "bidirectional-postcard-prototype") {
      await serveFrames(session, { maxMessageBytes: options.maxMessageBytes });
      return;
    }
    // The worker writes its responses to stdout itself (`direct`).
    await serveLines((line) => session.line(line, true), {
      maxMessageBytes: options.maxMessageBytes,
      onNoise: options.onNoise ?? ((line) => process.stderr.write(`macrobox proc-macro server: ignored input: ${line}\n`)),
    });
  } finally {
    await session.close();
  }
}

/** The answers this thread gives without the worker. */
const ANSWERS: ErrorAnswers = {
  version: encodeResponseLine({ type: "ApiVersionCheck", version: CURRENT_API_VERSION }),
  line(line, mode, error) {
    // A list request gets its own kind of error; anything else the expansion's.
    if (/^\{\s*"ListMacros"/.test(line)) return encodeResponseLine({ type: "ListMacros", result: { ok: false, error } });
    return encodeResponseLine(expansionError(mode, error));
  },
  frame: (mode, error) => encodeBidirectionalFrame({ type: "Response", response: expansionError(mode, error) }),
  macroName(request) {
    const req = typeof request === "string" ? decodeRequestLine(request) : decodeBidirectionalFrame(request);
    const expand = "type" in req && req.type === "Request" ? req.request : req;
    return expand.type === "ExpandMacro" ? expand.macroName : "?";
  },
};

function expansionError(mode: SpanMode, error: string): Response {
  return mode === "Id" ? { type: "ExpandMacro", result: { ok: false, error } } : { type: "ExpandMacroExtended", result: { ok: false, error } };
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

/**
 * Command-line handling of the arguments rust-analyzer passes to a proc-macro server:
 * `--version`, and `--format json-legacy | bidirectional-postcard-prototype`. Returns an exit code.
 */
export async function procMacroServerMain(argv: string[], options: ProcMacroServerOptions = {}): Promise<number> {
  let protocol: ProtocolFormat = "json-legacy";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--version") {
      process.stdout.write(`${SERVER_VERSION_LINE}\n`);
      return 0;
    }
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(serverHelp());
      return 0;
    }
    const format = arg === "--format" ? argv[++i] : arg.startsWith("--format=") ? arg.slice(9) : undefined;
    if (format !== undefined) {
      if (format !== "json-legacy" && format !== "bidirectional-postcard-prototype") {
        process.stderr.write(
          `macrobox proc-macro server: unsupported protocol format ${JSON.stringify(format)} (json-legacy or bidirectional-postcard-prototype)\n`,
        );
        return 2;
      }
      protocol = format;
      continue;
    }
    process.stderr.write(`macrobox proc-macro server: unknown argument ${JSON.stringify(arg)}\n`);
    return 2;
  }
  await runProcMacroServer(options, protocol);
  return 0;
}
