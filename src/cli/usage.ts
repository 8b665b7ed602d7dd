// A usage error and the argument parser that reports one, for the commands (main.ts and the files it
// dispatches to). The proc-macro server reads its own command line (src/proc-macro-server/arguments.ts).

import { parseArgs, type ParseArgsConfig } from "node:util";

import { MacroboxError } from "../errors.js";

export class UsageError extends MacroboxError {
  override name = "UsageError";
  constructor(message: string) {
    super("usage", message);
  }
}

/** `parseArgs`, with what it rejects (an unknown or ambiguous option) reported as a usage error. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    if (String((e as NodeJS.ErrnoException).code).startsWith("ERR_PARSE_ARGS_")) throw new UsageError((e as Error).message);
    throw e;
  }
}
