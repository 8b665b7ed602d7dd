// `macrobox playground`: the playground page (src/playground) with its macro modules, served on
// 127.0.0.1 by node:http or written as static files (`--out`). The page and its worker come
// bundled for the browser in dist/playground (scripts/bundle.mjs, run by `npm run build` and
// scripts/setup); the bundled modules (serde_derive, thiserror-impl, the example crate) are built
// by the builder, whose cache makes that instant after the first time.

import { createServer, type Server } from "node:http";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "../builder/build.js";
import { cacheRoot } from "../builder/cache.js";
import { MacroboxError } from "../errors.js";
import { parseCommandLine, UsageError } from "./usage.js";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The package root: from sources (src/cli), the bundled command (dist/cli) and tsc's output (dist/src/cli). */
const ROOT = [join(HERE, "..", ".."), join(HERE, "..", "..", "..")].find((d) => existsSync(join(d, "package.json"))) ?? join(HERE, "..", "..");
/** The page, built for the browser. */
const PAGE_DIR = join(ROOT, "dist", "playground");

/** The modules every playground ships: crates from the local registry, and the example crate. */
export const BUNDLED_CRATES = ["serde_derive@1.0.152", "thiserror-impl@1.0.38", join(ROOT, "examples", "demo-macros")];

/** A static site: path (no leading slash) to content. */
export type Site = Map<string, Uint8Array | string>;

export interface PlaygroundOptions {
  /** Extra modules (paths to .wasm files), listed after the bundled ones. */
  modules?: string[];
  /** Progress lines (building, bundling). */
  log?: (line: string) => void;
}

/** The page and its worker (built for the browser) and the modules. */
export async function buildPlayground(options: PlaygroundOptions = {}): Promise<Site> {
  const log = options.log ?? (() => {});
  const site: Site = new Map();
  if (!existsSync(join(PAGE_DIR, "index.html"))) {
    throw new MacroboxError("io", `the playground's page is missing from ${PAGE_DIR}: build it with \`npm run build\``);
  }
  for (const file of readdirSync(PAGE_DIR)) site.set(file, readFileSync(join(PAGE_DIR, file)));

  const index: { file: string; origin: string }[] = [];
  const add = (path: string, origin: string) => {
    let file = basename(path);
    if (!file.endsWith(".wasm")) file += ".wasm";
    for (let n = 2; index.some((m) => m.file === file); n++) file = basename(path).replace(/(\.wasm)?$/, `-${n}.wasm`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new MacroboxError("io", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) throw new MacroboxError("wasm-format", `${path} is not a WebAssembly module`);
    site.set(`modules/${file}`, bytes);
    index.push({ file, origin });
  };
  const outDir = join(cacheRoot(), "playground");
  mkdirSync(outDir, { recursive: true });
  for (const crate of BUNDLED_CRATES) {
    log(`building ${crate.includes("@") ? crate : basename(crate)}`);
    const name = crate.includes("@") ? crate.slice(0, crate.indexOf("@")).replace(/-/g, "_") : basename(crate).replace(/-/g, "_");
    const result = await build({ crate, output: join(outDir, `${name}.wasm`) });
    add(result.output, "bundled");
  }
  for (const m of options.modules ?? []) add(m, "command line");
  site.set("modules/index.json", JSON.stringify(index, null, 2) + "\n");
  return site;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  txt: "text/plain; charset=utf-8",
};

/** Serves the site on 127.0.0.1 (loopback only); resolves once listening, with the port. */
export function serveSite(site: Site, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname).replace(/^\/+/, "") || "index.html";
    const body = site.get(path);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (body === undefined) {
      res.writeHead(404, { "content-type": TYPES.txt }).end(`not found: /${path}\n`);
      return;
    }
    const ext = path.slice(path.lastIndexOf(".") + 1);
    res.writeHead(200, { "content-type": TYPES[ext] ?? "application/octet-stream", "cache-control": "no-cache" });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new MacroboxError("io", `cannot serve on 127.0.0.1:${port}: ${e.code === "EADDRINUSE" ? "the port is in use (pick another with --port)" : e.message}`),
      ),
    );
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const actual = typeof address === "object" && address ? address.port : port;
      resolve({ server, url: `http://127.0.0.1:${actual}/` });
    });
  });
}

export function writeSite(site: Site, dir: string): void {
  for (const [path, body] of site) {
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, body);
  }
}

export async function playgroundCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: false,
    options: {
      port: { type: "string", short: "p" },
      module: { type: "string", multiple: true, short: "m" },
      out: { type: "string", short: "o" },
      quiet: { type: "boolean", short: "q" },
    },
  });
  void positionals;
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port expects a port number (0 to 65535), got ${JSON.stringify(values.port)}`);
  const log = values.quiet ? undefined : (line: string) => process.stderr.write(`    macrobox ${line}\n`);
  const site = await buildPlayground({ modules: values.module, log });
  if (values.out !== undefined) {
    writeSite(site, values.out);
    process.stdout.write(`wrote the playground to ${values.out} (${site.size} files): serve that directory from any static web host\n`);
    return 0;
  }
  const { url } = await serveSite(site, port);
  process.stdout.write(`macrobox playground: ${url}\n`);
  // Serves until the process is stopped.
  await new Promise<never>(() => {});
  return 0;
}
