// The bundled expansion worker's entry (scripts/bundle.mjs makes it dist/cli/expansion-worker-main.js,
// where the server starts its worker): runs the worker's code, bundled as CommonJS next to it,
// through V8's code cache (code-cache.ts). Runs when imported.

import { fileURLToPath } from "node:url";
import { join } from "node:path";

import { cacheRoot } from "../node/cache-env.js";
import { runWithCodeCache } from "../node/code-cache.js";

runWithCodeCache(fileURLToPath(new URL("./expansion-worker-code.cjs", import.meta.url)), join(cacheRoot(), "code"));
