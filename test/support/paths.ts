// Where things are, for every test: the repository's root, its fixtures, and a per-checkout
// scratch directory.
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The repository's root directory (with a trailing slash removed). */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/** test/fixtures. */
export const FIXTURES = join(ROOT, "test", "fixtures");
