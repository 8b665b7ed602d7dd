// The error `macrobox patch` reports (its own file so build-scripts.ts and patch.ts, which uses
// build-scripts.ts, can both throw it without an import cycle).

import { MacroboxError } from "../errors.js";

export class PatchError extends MacroboxError {
  override name = "PatchError";
  constructor(message: string) {
    super("patch", message);
  }
}
