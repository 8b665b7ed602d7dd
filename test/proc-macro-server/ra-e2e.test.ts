// End to end with the real rust-analyzer 1.96 (Debian's rust-web-analyzer): macrobox-proc-macro-srv
// as its proc-macro server on examples/ra-workspace (serde derives with attributes, thiserror, the
// example macros), with no module built or mapped beforehand and empty macrobox caches (only the
// standard library built for the sandbox target is shared: it is a toolchain artifact).
//
// - `analysis-stats` gives the same statistics line as with the native server, and a different one
//   with `--disable-proc-macros` (so the line does measure expansion);
// - `diagnostics` reports no unresolved-proc-macro error (native reports none either);
// - in a language-server session, rust-analyzer's expand-macro request at a derive returns the
//   expansion.
//
// Offline facts (issue 9): rust-analyzer's `cargo metadata` on the sysroot's library workspace
// fails offline and leaves a broken sysroot, so RUST_SRC_PATH points at a directory holding the
// library's crate folders without its Cargo.toml (rust-analyzer then stitches the sysroot itself);
// a CARGO_HOME config with a directory source over the local registry resolves the workspace.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";

import { registryRoots, syncDirectorySource } from "../../src/builder/registry.js";
import { findToolchain } from "../../src/builder/toolchain.js";
import { PROC_MACRO_SRV } from "../oracle/native.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RUST_ANALYZER = "/usr/bin/rust-analyzer";

const work = mkdtempSync(join(tmpdir(), "macrobox-ra-e2e-"));
const workspace = join(work, "ws");
const env: NodeJS.ProcessEnv = {};
let server = "";
let failing = "";

function setUp(): void {
  const toolchain = findToolchain();
  // The workspace, with the example crate's path made absolute.
  cpSync(join(ROOT, "examples/ra-workspace"), workspace, { recursive: true });
  const manifest = join(workspace, "app/Cargo.toml");
  writeFileSync(manifest, readFileSync(manifest, "utf8").replace('path = "../../demo-macros"', `path = ${JSON.stringify(join(ROOT, "examples/demo-macros"))}`));
  // Offline cargo: the local registry as a directory source (its own directory: the builder's
  // source is another, and cargo refuses two sources over one directory).
  const vendor = join(work, "vendor");
  syncDirectorySource(registryRoots(toolchain), vendor);
  const cargoHome = join(work, "cargo-home");
  mkdirSync(cargoHome);
  writeFileSync(
    join(cargoHome, "config.toml"),
    `[source.crates-io]\nreplace-with = "local"\n[source.local]\ndirectory = ${JSON.stringify(vendor)}\n[net]\noffline = true\n`,
  );
  // The sysroot's crate folders without the library workspace's Cargo.toml.
  const src = join(work, "rust-src");
  mkdirSync(src);
  for (const entry of readdirSync(toolchain.librarySource, { withFileTypes: true })) {
    if (entry.isDirectory()) symlinkSync(join(toolchain.librarySource, entry.name), join(src, entry.name));
  }
  // An empty module store: the server builds every module itself. The builder's cargo artifacts
  // (std for the sandbox target, staged copies, the target dir) stay shared: cargo keys them by
  // path, so a fresh cache directory would only cost minutes of recompiling the same artifacts.
  const store = join(work, "modules-built");
  // The server as rust-analyzer starts it: one executable (the package bin, from sources here).
  server = join(work, "macrobox-proc-macro-srv");
  const tsx = pathToFileURL(join(ROOT, "node_modules/tsx/dist/esm/index.mjs")).href;
  writeFileSync(server, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import ${tsx} ${JSON.stringify(join(ROOT, "src/cli/srv-run.ts"))} "$@"\n`);
  chmodSync(server, 0o755);
  // The control: the same server with every crate mapped to a module that is not there.
  failing = join(work, "failing-proc-macro-srv");
  const missing = ["serde_derive", "thiserror_impl", "demo_macros"].map((c) => `--module ${c}=/nonexistent/${c}.wasm`).join(" ");
  writeFileSync(failing, `#!/bin/sh\nexec ${JSON.stringify(server)} ${missing} "$@"\n`);
  chmodSync(failing, 0o755);
  Object.assign(env, {
    ...process.env,
    // Debian's toolchain, not a rustup one earlier in PATH (rust-analyzer runs cargo from PATH).
    PATH: `/usr/bin:/bin:${dirname(process.execPath)}`,
    CARGO_HOME: cargoHome,
    RUST_SRC_PATH: src,
    MACROBOX_MODULE_STORE: store,
  });
}

function ra(args: string[], mayFail = false): { stdout: string; stderr: string } {
  const r = spawnSync(RUST_ANALYZER, args, { cwd: workspace, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (!mayFail) assert.equal(r.status, 0, `rust-analyzer ${args.join(" ")} failed:\n${r.stderr.slice(-4000)}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** analysis-stats' item statistics line, e.g. `crates: 2, mods: 2, decls: 31, ...`. */
function statsLine(args: string[]): string {
  const { stdout, stderr } = ra(["analysis-stats", ".", ...args]);
  const line = (stdout + stderr).split("\n").find((l) => /^\s*crates: \d+, mods: \d+, decls: \d+/.test(l));
  assert.ok(line, `no statistics line in:\n${(stdout + stderr).slice(-3000)}`);
  return line.trim();
}

describe("rust-analyzer 1.96 with macrobox-proc-macro-srv", { timeout: 20 * 60_000 }, () => {
  before(() => {
    assert.ok(existsSync(RUST_ANALYZER), "rust-analyzer is part of the setup (Debian's rust-web-analyzer)");
    setUp();
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test("analysis-stats: the native server's statistics, not those without proc macros", () => {
    const native = statsLine(["--proc-macro-srv", PROC_MACRO_SRV]);
    const ours = statsLine(["--proc-macro-srv", server]);
    const disabled = statsLine(["--disable-proc-macros"]);
    assert.equal(ours, native);
    assert.notEqual(disabled, native);
    // The modules were built by the server itself, into the empty cache.
    const built = readdirSync(env.MACROBOX_MODULE_STORE!);
    for (const crate of ["serde_derive", "thiserror-impl", "demo-macros"])
      assert.ok(
        built.some((f) => f.startsWith(`${crate}-`) && f.endsWith(".wasm")),
        `${crate} built: ${built.join(", ")}`,
      );
  });

  test("diagnostics: no unresolved proc macro, as natively", () => {
    // rust-analyzer 1.96 reports a proc macro it cannot expand as `macro-error` (formerly unresolved-proc-macro).
    const count = (r: { stdout: string; stderr: string }) => ((r.stdout + r.stderr).match(/unresolved-proc-macro|"macro-error"/g) ?? []).length;
    assert.equal(count(ra(["diagnostics", ".", "--proc-macro-srv", PROC_MACRO_SRV])), 0);
    const ours = ra(["diagnostics", ".", "--proc-macro-srv", server]);
    assert.equal(count(ours), 0, ours.stdout);
    assert.ok(count(ra(["diagnostics", ".", "--proc-macro-srv", failing], true)) > 0, "a server that cannot expand is reported (the check can fail)");
  });

  test("language server: expand-macro at a derive returns the expansion", async () => {
    const lsp = new LspClient(spawn(RUST_ANALYZER, [], { cwd: workspace, env, stdio: ["pipe", "pipe", "pipe"] }));
    try {
      const root = pathToFileURL(workspace).href;
      await lsp.request("initialize", {
        processId: process.pid,
        rootUri: root,
        capabilities: { experimental: { serverStatusNotification: true } },
        initializationOptions: { procMacro: { enable: true, server }, cargo: { buildScripts: { enable: true } }, checkOnSave: false },
      });
      lsp.notify("initialized", {});
      const file = join(workspace, "app/src/main.rs");
      const text = readFileSync(file, "utf8");
      const uri = pathToFileURL(file).href;
      lsp.notify("textDocument/didOpen", { textDocument: { uri, languageId: "rust", version: 1, text } });
      await lsp.quiescent();
      // The `Serialize` of the first derive list.
      const offset = text.indexOf("Serialize, Deserialize, Describe") + 2;
      const before = text.slice(0, offset).split("\n");
      const position = { line: before.length - 1, character: before[before.length - 1].length };
      // Quiescent can be reported before the proc-macro server has answered: ask until it has.
      type Expanded = { name: string; expansion: string };
      let expanded = null as Expanded | null;
      for (let attempt = 0; attempt < 60 && expanded === null; attempt++) {
        expanded = (await lsp.request("rust-analyzer/expandMacro", { textDocument: { uri }, position })) as Expanded | null;
        if (expanded === null || !/impl/.test(expanded.expansion)) {
          expanded = null;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      assert.ok(expanded, `an expansion; rust-analyzer said:\n${lsp.log.join("").slice(-3000)}`);
      assert.equal(expanded.name, "Serialize");
      assert.match(expanded.expansion, /impl\s*(<[^>]*>)?\s*_serde::Serialize\s+for\s+User/);
      assert.match(expanded.expansion, /"name"/, 'the #[serde(rename = "name")] attribute was honoured');
    } finally {
      await lsp.close();
    }
  });
});

/** Just enough of a language-server client: Content-Length framing, requests, the quiescent status. */
class LspClient {
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly waiting = new Map<number, (result: unknown) => void>();
  private quiet = false;
  private onQuiet: (() => void) | null = null;
  readonly log: string[] = [];

  constructor(private readonly child: ReturnType<typeof spawn>) {
    child.stdout!.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const headerEnd = this.buffer.indexOf("\r\n\r\n");
        if (headerEnd < 0) return;
        const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString())?.[1]);
        if (this.buffer.length < headerEnd + 4 + length) return;
        const message = JSON.parse(this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString()) as {
          id?: number;
          method?: string;
          params?: { quiescent?: boolean };
          result?: unknown;
          error?: { message: string };
        };
        this.buffer = this.buffer.subarray(headerEnd + 4 + length);
        if (message.method === "experimental/serverStatus" && message.params?.quiescent) {
          this.quiet = true;
          this.onQuiet?.();
        } else if (message.method !== undefined && message.id !== undefined) {
          // A request from the server (work-done progress, configuration): answer it plainly.
          this.send({ jsonrpc: "2.0", id: message.id, result: null });
        } else if (message.id !== undefined && this.waiting.has(message.id)) {
          this.waiting.get(message.id)!(message.error ? new Error(message.error.message) : message.result);
          this.waiting.delete(message.id);
        }
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => this.log.push(chunk.toString()));
  }

  private send(message: object): void {
    const body = Buffer.from(JSON.stringify(message));
    this.child.stdin!.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.child.stdin!.write(body);
  }

  async request(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    const result = await new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send({ jsonrpc: "2.0", id, method, params });
    });
    if (result instanceof Error) throw result;
    return result;
  }

  notify(method: string, params: unknown): void {
    this.send({ jsonrpc: "2.0", method, params });
  }

  quiescent(): Promise<void> {
    if (this.quiet) return Promise.resolve();
    return new Promise((resolve) => (this.onQuiet = resolve));
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.request("shutdown", null), new Promise((r) => setTimeout(r, 5000))]);
      this.notify("exit", null);
    } finally {
      setTimeout(() => this.child.kill("SIGKILL"), 5000).unref();
    }
  }
}
