// macrobox as rust-analyzer's proc-macro server (Node-only): point rust-analyzer's
// `rust-analyzer.procMacro.server` setting at `macrobox-proc-macro-srv` (main.ts runs this), and
// its macro expansions run in the wasm sandbox instead of loading native dylibs. The one request
// path: the worker reads stdin, answers with the protocol session of src/server and writes stdout
// (expansion-worker-main.ts, request-loop.ts); this thread keeps the wall clock, finds modules and
// answers what the worker could not (expansion-worker.ts).
//
// rust-analyzer names each proc-macro crate by the path of the native dylib cargo built. Which
// wasm module stands for that dylib is looked up in order: the path itself when it ends in
// `.wasm`; `<dylib>.wasm` next to it; then a `modules` map (dylib file stem without the hash,
// e.g. `libserde_derive`, or the crate name `serde_derive`, to a .wasm path).

import { existsSync } from "node:fs";
import { basename } from "node:path";

import { DEFAULT_LIMITS, type Limits } from "../sandbox/limits.js";
import { CURRENT_API_VERSION } from "../server/flat.js";
import { decodeBidirectionalFrame, encodeBidirectionalFrame } from "../server/postcard.js";
import { decodeRequestLine, encodeResponseLine, type Request, type Response, type SpanMode } from "../server/protocol.js";
import { expansionError } from "../server/serve.js";
import type { ProtocolFormat } from "./arguments.js";
import { expansionCacheOff } from "../node/cache-env.js";
import { userDirs, type UserDirs } from "../node/trust.js";
import { WorkerSession, type ErrorAnswers } from "./expansion-worker.js";
import { MacroboxError } from "../errors.js";

export interface ProcMacroServerOptions {
  /** Dylib file stem (`libserde_derive`) or crate name (`serde_derive`) -> .wasm module path. */
  modules?: Record<string, string>;
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

const DEFAULT_MAX_MESSAGE = 512 * 1024 * 1024;

/** Serves the protocol on stdin/stdout until rust-analyzer closes stdin. */
export async function runProcMacroServer(format: ProtocolFormat, options: ProcMacroServerOptions = {}): Promise<void> {
  const session = new WorkerSession(
    {
      format,
      limits: options.limits,
      wallClockMs: options.limits?.wallClockMs ?? DEFAULT_LIMITS.wallClockMs,
      // A memoised answer holds while the workspace's grants file, the user's file and the trust store are unchanged.
      memo: !expansionCacheOff(),
      dirs: options.dirs ?? userDirs(),
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE,
      async modulePath(lib) {
        const mapped = wasmModuleFor(lib, options.modules);
        if (mapped !== null) return mapped;
        if (options.resolveModule !== undefined) return options.resolveModule(lib);
        throw new MacroboxError("module", `no wasm module for ${lib} (build one with \`macrobox build\` and put it at ${lib}.wasm)`);
      },
    },
    ANSWERS,
  );
  await session.finished;
}

/**
 * A request the worker did not answer (it was stopped or died), answered here as the native server
 * would answer that kind of request: the version; a SetConfig with the mode asked for (the wasm
 * backend serves both, src/server/wasm-backend.ts), which the fresh worker then starts in; a list
 * request with a list error; an expansion, or a request that cannot be read, with an expansion's
 * error in the connection's span mode.
 */
function unanswered(req: Request | null, mode: SpanMode, error: string): { response: Response; spanMode: SpanMode } {
  switch (req?.type) {
    case "ApiVersionCheck":
      return { response: { type: "ApiVersionCheck", version: CURRENT_API_VERSION }, spanMode: mode };
    case "SetConfig":
      return { response: { type: "SetConfig", spanMode: req.spanMode }, spanMode: req.spanMode };
    case "ListMacros":
      return { response: { type: "ListMacros", result: { ok: false, error } }, spanMode: mode };
    default:
      return { response: expansionError(mode, error), spanMode: mode };
  }
}

function readOrNull(read: () => Request): Request | null {
  try {
    return read();
  } catch {
    return null;
  }
}

function requestOfFrame(frame: Uint8Array): Request {
  const msg = decodeBidirectionalFrame(frame);
  if (msg.type !== "Request") throw new MacroboxError("protocol", `expected a Request frame, got ${msg.type}`);
  return msg.request;
}

/** The answers this thread gives without the worker. */
const ANSWERS: ErrorAnswers = {
  line(line, mode, error) {
    const { response, spanMode } = unanswered(
      readOrNull(() => decodeRequestLine(line)),
      mode,
      error,
    );
    return { answer: encodeResponseLine(response), spanMode };
  },
  frame(frame, mode, error) {
    const { response, spanMode } = unanswered(
      readOrNull(() => requestOfFrame(frame)),
      mode,
      error,
    );
    return { answer: encodeBidirectionalFrame({ type: "Response", response }), spanMode };
  },
  macroName(request) {
    const req = typeof request === "string" ? decodeRequestLine(request) : requestOfFrame(request);
    return req.type === "ExpandMacro" ? req.macroName : "?";
  },
};
