// The package as a user gets it: `npm pack` (its prepack script builds dist/), the tarball installed
// into an empty project, each entry point imported there, the installed `macrobox` command run, and
// the published .d.ts files checked by a TypeScript consumer (the browser-safe entries with no Node
// types). Offline: the dependencies are installed from tarballs of the copies in this
// checkout's node_modules, so no registry is needed.

import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { tokenStreamFromStr, printTokenStream } from "../../src/tokens/index.js";
import { findToolchain } from "../../src/builder/index.js";

const root = new URL("../..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  exports: Record<string, { types: string; default: string }>;
  dependencies: Record<string, string>;
};
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 300_000, ...options });
  if (r.error) throw r.error;
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** `npm pack --json` of a directory into `dest`: the tarball's path and the files it holds. */
function pack(dir: string, dest: string): { tarball: string; files: string[] } {
  const r = run(npm, ["pack", dir, "--pack-destination", dest, "--json", "--loglevel=silent"], { cwd: root });
  assert.equal(r.code, 0, `npm pack ${dir}: ${r.stderr}`);
  const [info] = JSON.parse(r.stdout.slice(r.stdout.indexOf("["))) as [{ filename: string; files: { path: string }[] }];
  return { tarball: join(dest, info.filename), files: info.files.map((f) => f.path) };
}

let tmp = "";
let project = "";
let packed: string[] = [];

before(() => {
  tmp = mkdtempSync(join(tmpdir(), "macrobox-package-"));
  const ours = pack(root, tmp);
  packed = ours.files;
  // Every runtime dependency, packed from the copy in node_modules (no registry needed).
  const deps = Object.keys(pkg.dependencies).map((name) => pack(join(root, "node_modules", name), tmp).tarball);
  project = join(tmp, "consumer");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }));
  const r = run(npm, ["install", ours.tarball, ...deps, "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: project });
  assert.equal(r.code, 0, `npm install: ${r.stdout}${r.stderr}`);
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

it("the tarball holds the built library, the command and the README, and no tests or sources", () => {
  for (const f of ["package.json", "README.md", "bin/macrobox.js"]) assert.ok(packed.includes(f), `${f} is packed`);
  for (const [entry, target] of Object.entries(pkg.exports)) {
    for (const file of [target.types, target.default]) assert.ok(packed.includes(file.replace(/^\.\//, "")), `${entry}: ${file} is packed`);
  }
  // Besides the compiled library and the command's bundle (the server's worker code is CommonJS,
  // .cjs): the Rust source of the cargo shims' runtime, which `macrobox patch` writes into each
  // shim, and of its rustc wrapper, which it compiles (with nofollow.rs, appended to both); the playground's page built for the browser; and the example macro crate it ships.
  const stray = packed.filter(
    (f) =>
      !/^(package\.json|README\.md|bin\/[\w-]+\.js|dist\/src\/.*\.(js|d\.ts|js\.map)|dist\/(src\/patch|cli)\/(shim-runtime|build-script-wrapper|nofollow)\.rs|dist\/cli\/[\w-]+\.c?js(\.map)?|dist\/playground\/[\w.-]+|examples\/demo-macros\/[\w/.-]+)$/.test(
        f,
      ),
  );
  assert.deepEqual(stray, [], "only the library, the command, its bundle, the shims' runtime, the playground, its example crate and the README are packed");
  assert.ok(packed.includes("dist/src/patch/shim-runtime.rs"), "the shim runtime is packed");
  assert.ok(packed.includes("dist/src/patch/build-script-wrapper.rs"), "the rustc wrapper's source is packed");
  assert.ok(packed.includes("dist/src/patch/nofollow.rs"), "the O_NOFOLLOW constant both append is packed");
  assert.ok(packed.includes("dist/src/cli/main.js"), "the command's code is packed");
  // The command runs from its bundle (scripts/bundle.mjs, built by prepack); dist/src stays the library.
  assert.ok(packed.includes("dist/cli/main.js"), "the command's bundle is packed");
});

it("the installed package declares its dependency and npm resolved it from there", () => {
  const installed = JSON.parse(readFileSync(join(project, "node_modules", "macrobox", "package.json"), "utf8"));
  assert.deepEqual(installed.dependencies, pkg.dependencies);
  const lock = JSON.parse(readFileSync(join(project, "package-lock.json"), "utf8"));
  assert.deepEqual(Object.keys(lock.packages["node_modules/macrobox"].dependencies ?? {}), Object.keys(pkg.dependencies));
  for (const name of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(project, "node_modules", name, "package.json")), `${name} is installed`);
});

it("each entry point imports in the consumer project and works as the source does", () => {
  writeFileSync(
    join(project, "entries.mjs"),
    `import * as core from "macrobox";
import * as server from "macrobox/server";
import * as node from "macrobox/node";
import * as build from "macrobox/build";
const names = (m) => Object.keys(m).sort();
const parsed = core.parseTokenStream("fn f(a:u8)->u8{a+1} #[x] 'a 1.0e3", () => 0);
const dir = new node.NodeReadOnlyFs(process.cwd());
console.log(JSON.stringify({
  version: core.version,
  core: names(core), server: names(server), node: names(node), build: names(build),
  printed: parsed.ok ? core.printTokenStream(parsed.stream) : parsed.error,
  fs: dir.stat("package.json"),
}));
`,
  );
  const r = run(process.execPath, ["entries.mjs"], { cwd: project });
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.equal(got.version, pkg.version);
  const expect = {
    core: [
      "loadMacroModule",
      "parseTokenStream",
      "printTokenStream",
      "formatMessages",
      "readMetadata",
      "MacroboxError",
      "MemoryFs",
      "DEFAULT_LIMITS",
      "version",
    ],
    server: ["createServerSession", "createWasmBackend", "encodeFlatTree", "decodeFlatTree", "LineFramer", "encodeBidirectionalFrame"],
    node: ["NodeReadOnlyFs", "loadGrants", "grantFor", "userDirs", "DiskCacheStore"],
    build: ["build", "BuildError", "findToolchain", "ToolchainError"],
  };
  for (const [entry, names] of Object.entries(expect)) {
    for (const name of names) assert.ok(got[entry].includes(name), `${entry} exports ${name}: ${got[entry].join(", ")}`);
  }
  // The Node-only pieces stay out of the core entry point.
  for (const name of ["NodeReadOnlyFs", "build", "loadGrants"]) assert.ok(!got.core.includes(name), `macrobox does not export ${name}`);
  // The proc-macro server is the executable (`macrobox-proc-macro-srv`), not a library export; the
  // client of a native server is the tests' (test/support).
  for (const name of ["serveStdio", "runProcMacroServer", "ProcMacroServerClient"])
    assert.ok(!got.node.includes(name), `macrobox/node does not export ${name}`);
  const source = tokenStreamFromStr("fn f(a:u8)->u8{a+1} #[x] 'a 1.0e3", () => 0);
  assert.ok(source.ok);
  assert.equal(got.printed, printTokenStream(source.stream), "the installed printer prints as the source does");
  assert.equal(got.fs.type, "file");
});

it("the installed `macrobox-proc-macro-srv` answers rust-analyzer's --version", () => {
  const r = run(join(project, "node_modules", ".bin", "macrobox-proc-macro-srv"), ["--version"], { cwd: project });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^macrobox-proc-macro-srv .*API version 6/);
});

it("the installed `macrobox patch` builds a macro crate's module and writes its shim, cargo builds with it, and --undo restores", () => {
  // A crate using examples/config-macros (no dependencies: no registry needed); the host the shim
  // starts is the installed one, and exits soon after.
  const app = join(tmp, "patch-app");
  cpSync(join(root, "examples", "config-macros"), join(tmp, "config-macros"), { recursive: true, filter: (p) => !p.includes("/target") });
  mkdirSync(join(app, "src"), { recursive: true });
  writeFileSync(
    join(app, "Cargo.toml"),
    '[package]\nname = "patch-app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nconfig-macros = { path = "../config-macros" }\n',
  );
  writeFileSync(join(app, "src", "main.rs"), 'config_macros::config_consts!("app.conf");\nfn main() { println!("{}", NAME); }\n');
  writeFileSync(join(app, "app.conf"), "name = installed\n");
  writeFileSync(join(app, "macrobox.toml"), '[grants.config-macros]\nenv = ["CARGO_MANIFEST_DIR"]\nread = ["app.conf"]\n');
  const toolchain = findToolchain();
  const home = join(tmp, "patch-home");
  const env = {
    ...process.env,
    CARGO_TARGET_DIR: join(tmp, "patch-target"),
    CARGO_NET_OFFLINE: "true",
    MACROBOX_HOST_IDLE_MS: "2000",
    // HOME stays (cargo finds its registry configuration there); the XDG dirs decide macrobox's.
    XDG_CONFIG_HOME: join(home, "config"),
    XDG_DATA_HOME: join(home, "data"),
  };
  const bin = join(project, "node_modules", ".bin", "macrobox");
  // The app's macrobox.toml grants once the user trusts it.
  const trusted = run(bin, ["trust"], { cwd: app, env });
  assert.equal(trusted.code, 0, trusted.stderr);
  const patched = run(bin, ["patch"], { cwd: app, env });
  assert.equal(patched.code, 0, patched.stderr);
  assert.match(patched.stdout, /config-macros 0\.1\.0 \(edition 2021\): module (built|reused from the cache)/);
  const built = run(toolchain.cargo, ["run", "-q"], { cwd: app, env });
  assert.equal(built.code, 0, built.stderr);
  assert.equal(built.stdout, "installed\n");
  // The shim starts the installed package's host.
  const shim = /"config-macros" = \{ path = "([^"]+)"/.exec(readFileSync(join(app, ".cargo", "macrobox-patch.toml"), "utf8"))?.[1];
  assert.ok(shim !== undefined, "the patch names the shim");
  const host = /"([^"]*host-main\.js)"/.exec(readFileSync(join(shim, "src", "lib.rs"), "utf8"))?.[1];
  assert.ok(
    host !== undefined && host.startsWith(join(project, "node_modules", "macrobox", "dist")) && existsSync(host),
    `the shim starts the installed host (${host})`,
  );
  const undone = run(bin, ["patch", "--undo"], { cwd: app, env });
  assert.equal(undone.code, 0, undone.stderr);
  assert.ok(!existsSync(join(app, ".cargo")), "--undo removes the .cargo directory it created");
});

it("the installed `macrobox --help` prints the usage", () => {
  const bin = join(project, "node_modules", ".bin", "macrobox");
  const r = run(bin, ["--help"], { cwd: project });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^macrobox — /);
  for (const command of ["build", "inspect", "expand", "proc-macro-server"])
    assert.match(r.stdout, new RegExp(`^  ${command}\\b`, "m"), `the usage lists ${command}`);
  const fromSource = run(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", `const { main } = await import("./src/cli/main.ts"); await main(["--help"]);`],
    {
      cwd: root,
    },
  );
  assert.equal(fromSource.code, 0, fromSource.stderr);
  assert.equal(r.stdout, fromSource.stdout);
});

it("the installed command runs from its bundle, without tsc's copy of the command", () => {
  const tscMain = join(project, "node_modules", "macrobox", "dist", "src", "cli", "main.js");
  const aside = `${tscMain}.aside`;
  renameSync(tscMain, aside);
  try {
    const r = run(join(project, "node_modules", ".bin", "macrobox"), ["--help"], { cwd: project });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^macrobox — /);
  } finally {
    renameSync(aside, tscMain);
  }
});

it("the installed `macrobox playground --out` writes the page and its modules, with no dev dependency installed", () => {
  assert.ok(!existsSync(join(project, "node_modules", "esbuild")), "esbuild (a dev dependency) is not installed with the package");
  const out = join(tmp, "site");
  const r = run(join(project, "node_modules", ".bin", "macrobox"), ["playground", "--out", out], { cwd: project });
  assert.equal(r.code, 0, r.stderr);
  for (const file of ["index.html", "playground.css", "main.js", "worker.js"]) assert.ok(existsSync(join(out, file)), `${file} is written`);
  // The page the installed command writes is the one built from this checkout's sources.
  assert.equal(readFileSync(join(out, "worker.js"), "utf8"), readFileSync(join(root, "dist", "playground", "worker.js"), "utf8"));
  const modules = JSON.parse(readFileSync(join(out, "modules", "index.json"), "utf8")) as { file: string }[];
  assert.deepEqual(
    modules.map((m) => m.file),
    ["serde_derive.wasm", "thiserror_impl.wasm", "demo_macros.wasm"],
  );
});

/** Type-checks `source` in the consumer project with the repo's tsc: NodeNext resolution, lib checking on. */
function typecheck(name: string, source: string, nodeTypes: boolean): { code: number | null; output: string } {
  writeFileSync(join(project, `${name}.ts`), source);
  const compilerOptions = {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    lib: ["ES2022", "DOM"],
    // The browser-safe entries must type-check with no Node types at all.
    types: nodeTypes ? ["node"] : [],
    typeRoots: [join(root, "node_modules", "@types")],
  };
  writeFileSync(join(project, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, files: [`${name}.ts`] }));
  const r = run(process.execPath, [tsc, "-p", `tsconfig.${name}.json`], { cwd: project });
  return { code: r.code, output: r.stdout + r.stderr };
}

const coreConsumer = `import { loadMacroModule, version, type ExpandResult, type MacroModule, type TokenStream } from "macrobox";
import { createServerSession, createWasmBackend, type Request, type Response } from "macrobox/server";
export const text = (r: ExpandResult): string => (r.ok ? r.text : r.error.message);
export const load = (bytes: Uint8Array): Promise<MacroModule> => loadMacroModule(bytes);
export const v: string = version;
export const stream: TokenStream = [];
export const backend = createWasmBackend;
export const session = createServerSession;
export type Wire = [Request, Response];
`;

const nodeConsumer = `import { NodeReadOnlyFs, loadGrants, type Grants } from "macrobox/node";
import { build, findToolchain, type BuildOptions, type BuildResult } from "macrobox/build";
import type { ReadOnlyFs } from "macrobox";
export const fs: ReadOnlyFs = new NodeReadOnlyFs(".");
export const grants: typeof loadGrants = loadGrants;
export type G = Grants;
export const run = (o: BuildOptions): Promise<BuildResult> => build(o);
export const find = findToolchain;
`;

it("the published types resolve for a TypeScript consumer (core entries with no Node types)", () => {
  const core = typecheck("core", coreConsumer, false);
  assert.equal(core.code, 0, core.output);
  const nodeSide = typecheck("node-side", nodeConsumer, true);
  assert.equal(nodeSide.code, 0, nodeSide.output);
});

it("the consumer type check catches a wrong use of each entry's types", () => {
  // Had the types resolved to `any`, these would compile.
  const bad = typecheck(
    "bad",
    `import { version } from "macrobox";
import { createWasmBackend } from "macrobox/server";
import { NodeReadOnlyFs } from "macrobox/node";
import { build } from "macrobox/build";
export const a: number = version;
export const b: string = createWasmBackend;
export const c: number = new NodeReadOnlyFs(".");
export const d: string = build;
`,
    true,
  );
  assert.notEqual(bad.code, 0);
  for (const line of [5, 6, 7, 8]) assert.match(bad.output, new RegExp(`bad\\.ts\\(${line},\\d+\\): error TS2322`), bad.output);
});

it("the README's library examples type-check against the published types", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => /from "macrobox/.test(b));
  const core = blocks.filter((b) => !/from "(node:|macrobox\/(node|build))/.test(b));
  const nodeSide = blocks.filter((b) => /from "macrobox\/(node|build)"/.test(b));
  assert.ok(core.length >= 1 && nodeSide.length >= 1, "the README shows the core and the Node entry points");
  core.forEach((block, i) => {
    // The core example's module bytes come from wherever the reader has them.
    const r = typecheck(`readme-core-${i}`, `declare const wasmBytes: Uint8Array;\n${block}export {};\n`, false);
    assert.equal(r.code, 0, `${block}\n${r.output}`);
  });
  nodeSide.forEach((block, i) => {
    const r = typecheck(`readme-node-${i}`, `${block}export {};\n`, true);
    assert.equal(r.code, 0, `${block}\n${r.output}`);
  });
});
