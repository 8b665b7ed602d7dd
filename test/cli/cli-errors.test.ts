// Errors a user can cause print as one clear message naming the problem (CLI) or come back as an
// error reply (server), never as a stack trace; only a bug in macrobox is reported as one, and says so.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { buildModule } from "../support/build.js";
import { describeFailure } from "../../src/cli/main.js";
import { INTERNAL_ERROR, isMacroboxError, MacroboxError } from "../../src/errors.js";
import { loadMacroModule } from "../../src/host/module.js";
import { LimitExceeded } from "../../src/sandbox/limits.js";
import { CURRENT_API_VERSION } from "../../src/server/flat.js";
import { createServerSession, type ProcMacroBackend } from "../../src/server/serve.js";
import { createWasmBackend } from "../../src/server/wasm-backend.js";
import { cli } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "macrobox-errors-"));
const demo = join(dir, "demo_macros.wasm");

/** The command failed with exactly one `error:` message matching `pattern`, and no stack trace. */
function assertOneMessage(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^error: /);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.match(/^error: /gm)?.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "a stack trace");
  assert.doesNotMatch(r.stderr, new RegExp(INTERNAL_ERROR.replace(/[()]/g, "\\$&")));
}

/** A well-formed module with nothing in it: WebAssembly, but no macro module. */
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

describe("errors a user can cause", { timeout: 10 * 60_000 }, () => {
  const garbage = join(dir, "garbage.wasm");
  const truncated = join(dir, "truncated.wasm");
  const plain = join(dir, "plain.wasm");

  before(async () => {
    writeFileSync(garbage, "this is not wasm at all\n");
    writeFileSync(plain, EMPTY_MODULE);
    await buildModule({ crate: join(root, "examples/demo-macros"), output: demo });
    // A real macro module cut off in the middle of its sections.
    const bytes = readFileSync(demo);
    writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
  });

  it("a truncated or garbage .wasm file: one message naming the file and the problem", () => {
    for (const file of [truncated, garbage]) {
      assertOneMessage(cli(["inspect", file]), new RegExp(`${file.replace(/[.]/g, "\\.")} is not a WebAssembly module`));
      assertOneMessage(cli(["expand", file, "--bang", "sql", "x"]), /is not a WebAssembly module/);
    }
    assertOneMessage(cli(["inspect", truncated]), /extends past end of the module|unexpected end/);
  });

  it("a wasm module that is not a macro module", () => {
    assertOneMessage(cli(["inspect", plain]), /not a proc-macro module: it exports no `__rustc_proc_macro_decls_\*__` global/);
    assertOneMessage(cli(["expand", plain, "--bang", "sql", "x"]), /cannot tell which proc_macro bridge the module was built for/);
  });

  it("an invalid limit value", () => {
    assertOneMessage(cli(["expand", demo, "--bang", "sql", "SELECT 1", "--fuel=-3"]), /--fuel expects a number of instructions, got `-3`/);
    assertOneMessage(cli(["expand", demo, "--bang", "sql", "SELECT 1", "--memory", "lots"]), /--memory expects a number of pages/);
    assertOneMessage(cli(["expand", demo, "--bang", "sql", "SELECT 1", "--fuel", "-3"]), /Option '--fuel' argument is ambiguous/);
  });

  it("a nonexistent input file or module", () => {
    const missing = join(dir, "no-such-file.rs");
    assertOneMessage(cli(["expand", demo, "--derive", "Describe", missing]), new RegExp(`cannot read ${missing.replace(/[.]/g, "\\.")}: ENOENT`));
    assertOneMessage(cli(["expand", demo, "--bang", "sql", "--file", missing]), /cannot read .*no-such-file\.rs: ENOENT/);
    assertOneMessage(cli(["inspect", join(dir, "no-such-module.wasm")]), /cannot read .*no-such-module\.wasm: ENOENT/);
    assertOneMessage(cli(["expand", demo, "--bang", "sql", "x", "--bogus"]), /Unknown option '--bogus'/);
  });

  it("the library rejects such modules with a MacroboxError and its code", async () => {
    await assert.rejects(loadMacroModule(readFileSync(garbage)), (e) => isMacroboxError(e) && e.code === "wasm-format");
    await assert.rejects(loadMacroModule(readFileSync(truncated)), (e) => isMacroboxError(e) && e.code === "wasm-format");
    await assert.rejects(loadMacroModule(EMPTY_MODULE), (e) => isMacroboxError(e) && e.code === "bridge-abi");
  });

  it("the server answers an unloadable module and a failing backend with error replies, then keeps serving", async () => {
    const wasm = createWasmBackend({ loadModule: async () => loadMacroModule(readFileSync(truncated)) });
    const broken: ProcMacroBackend = {
      ...wasm,
      listMacros: (lib) => (lib === "/bug.so" ? Promise.reject(new TypeError("x is undefined")) : wasm.listMacros(lib)),
    };
    const session = createServerSession(broken);
    const bad = await session.handle({ type: "ListMacros", dylibPath: "/truncated.so" });
    assert.equal(bad.type, "ListMacros");
    assert.ok(bad.type === "ListMacros" && !bad.result.ok);
    assert.match(bad.result.error, /cannot load a macro module for \/truncated\.so: section \d+ runs past the end of the module/);
    assert.doesNotMatch(bad.result.error, /internal error/);
    const bug = await session.handle({ type: "ListMacros", dylibPath: "/bug.so" });
    assert.ok(bug.type === "ListMacros" && !bug.result.ok);
    assert.equal(bug.result.error, "macrobox: x is undefined");
    assert.deepEqual(await session.handle({ type: "ApiVersionCheck" }), { type: "ApiVersionCheck", version: CURRENT_API_VERSION });
    const garbled = (await session.answerLine("{not json")).response;
    assert.match(garbled, /proc-macro protocol/);
    assert.doesNotMatch(garbled, /internal error/);
  });

  it("the CLI prints a MacroboxError as its message alone, anything else as an internal error with its stack", () => {
    const limit = new LimitExceeded("fuel", 10, 11);
    assert.equal(describeFailure(limit), `error: ${limit.message}\n`);
    const bug = new TypeError("cannot read properties of undefined");
    const printed = describeFailure(bug);
    assert.ok(printed.startsWith(`error: ${INTERNAL_ERROR}: TypeError: cannot read properties of undefined\n`), printed);
    assert.match(printed, /^\s+at /m);
  });
});

describe("every error class macrobox exports is a MacroboxError", () => {
  /** Every .ts module under src/ (entry points included). */
  function modules(at: string): string[] {
    return readdirSync(at, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? modules(join(at, e.name)) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [join(at, e.name)] : [],
    );
  }

  it("holds for the entry points and for each module file", async () => {
    const errorClasses = new Map<Function, string>();
    for (const file of modules(join(root, "src"))) {
      const where = relative(root, file);
      // These run when imported: the commands, the cargo host's process and its expansion threads, the server's expansion worker,
      // and the playground's page and worker (browser globals).
      const entries = [
        "src/cli/run.ts",
        "src/cli/srv-run.ts",
        "src/patch/host-main.ts",
        "src/patch/host-worker.ts",
        "src/proc-macro-server/expansion-worker-main.ts",
        "src/proc-macro-server/expansion-worker-boot.ts",
        "src/playground/main.ts",
        "src/playground/worker.ts",
      ];
      if (entries.includes(where)) continue;
      const exports = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(exports)) {
        if (typeof value === "function" && (value === Error || value.prototype instanceof Error)) {
          if (!errorClasses.has(value)) errorClasses.set(value, `${where}: ${name}`);
        }
      }
    }
    const offenders = [...errorClasses].filter(([c]) => c !== MacroboxError && !(c.prototype instanceof MacroboxError)).map(([, at]) => at);
    assert.deepEqual(offenders, []);
    // The walk really found them (about twenty, among them these).
    const found = [...errorClasses.values()].map((at) => at.split(": ")[1]);
    for (const name of ["LimitExceeded", "WasmFormatError", "MacroModuleError", "UsageError", "BuildError", "ProtocolError", "FsError"]) {
      assert.ok(found.includes(name), `${name} not found among ${found.join(", ")}`);
    }
    assert.ok(errorClasses.size >= 20, `only ${errorClasses.size} error classes found`);
  });
});
