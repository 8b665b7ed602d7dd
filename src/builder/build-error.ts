// `BuildError`, in a file of its own so that staging (stage.ts), which build.ts imports, can raise it too.

import { MacroboxError } from "../errors.js";

export class BuildError extends MacroboxError {
  override name = "BuildError";
  /** rustc's rendered diagnostics, when the crate failed to compile. */
  constructor(
    message: string,
    readonly diagnostics: string = "",
  ) {
    super("build", diagnostics ? `${message}\n${diagnostics}` : message);
  }
}
