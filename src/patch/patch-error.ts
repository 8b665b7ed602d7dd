// The error `macrobox patch` raises for a workspace it cannot patch (its own file: patch.ts and
// build-scripts.ts both raise it).

import { MacroboxError } from "../errors.js";

export class PatchError extends MacroboxError {
  override name = "PatchError";
  constructor(message: string) {
    super("patch", message);
  }
}
