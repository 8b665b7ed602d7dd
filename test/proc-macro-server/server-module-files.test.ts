// The module paths the proc-macro server loads are someone else's choice (rust-analyzer's dylib
// path and the `<dylib>.wasm` beside it, `--module`, MACROBOX_MODULES): a FIFO (whose read would
// block the worker, and the server's exit with it), a link to /dev/zero (read until memory runs
// out), a file over the module bound (src/node/module-file.ts MAX_MODULE_BYTES). Each gets an
// error reply naming the path, the next request is served, and the server exits when stdin closes.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, ftruncateSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

import { ProcMacroServerClient } from "../support/server-client.js";
import { MAX_MODULE_BYTES } from "../../src/node/module-file.js";
import { conformanceWasm } from "../oracle/server-requests.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

test(
  "the server refuses module paths that are not regular files within the bound, keeps serving, and exits at end of input",
  { timeout: 5 * 60_000 },
  async () => {
    const wasm = await conformanceWasm({ path: join(ROOT, "test/oracle/native/span-probe") });
    const scratch = mkdtempSync(join(tmpdir(), "macrobox-module-files-"));

    // `<dylib>.wasm` beside the dylib rust-analyzer names: a FIFO no one writes to.
    const fifoDylib = join(scratch, "libfifo_macros-0123456789abcdef.so");
    const mk = spawnSync("mkfifo", [`${fifoDylib}.wasm`]);
    assert.equal(mk.status, 0, String(mk.stderr));
    // --module: a symbolic link to /dev/zero.
    const zero = join(scratch, "zero.wasm");
    symlinkSync("/dev/zero", zero);
    // MACROBOX_MODULES: a (sparse) file one byte over the bound.
    const big = join(scratch, "big.wasm");
    const fd = openSync(big, "w");
    ftruncateSync(fd, MAX_MODULE_BYTES + 1);
    closeSync(fd);
    // A directory as the module.
    const dir = join(scratch, "dir.wasm");
    writeFileSync(join(scratch, "placeholder"), "");
    spawnSync("mkdir", [dir]);

    const server = new ProcMacroServerClient({
      command: process.execPath,
      args: [
        "--import",
        "tsx",
        join(ROOT, "src/cli/srv-run.ts"),
        "--module",
        `zero_macros=${zero}`,
        "--module",
        `span_probe=${wasm}`,
        "--format",
        "json-legacy",
      ],
      env: { MACROBOX_EXPANSION_CACHE: "off", MACROBOX_MODULES: `big_macros=${big}` },
    });
    const listed = async (dylib: string) => {
      const r = await server.listMacros(dylib);
      return r;
    };
    const ok = async () => {
      const r = await listed("/w/target/debug/deps/libspan_probe-0123456789abcdef.so");
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(r.value.some((m) => m.name === "ok"));
    };

    await ok();
    const cases: [string, RegExp][] = [
      [fifoDylib, new RegExp(`the module ${fifoDylib}\\.wasm is a FIFO, not a regular file`)],
      ["/w/target/debug/deps/libzero_macros-0123456789abcdef.so", new RegExp(`the module ${zero} is a device, not a regular file`)],
      [
        "/w/target/debug/deps/libbig_macros-0123456789abcdef.so",
        new RegExp(`the module ${big} is ${MAX_MODULE_BYTES + 1} bytes, over the bound of ${MAX_MODULE_BYTES} bytes`),
      ],
      [dir, new RegExp(`the module ${dir} is a directory, not a regular file`)],
    ];
    for (const [dylib, expected] of cases) {
      const started = Date.now();
      const r = await listed(dylib);
      assert.ok(!r.ok, `${dylib}: ${JSON.stringify(r)}`);
      assert.match(r.error, expected);
      assert.ok(Date.now() - started < 10_000, `${dylib} answered at once`);
      await ok();
    }

    // End of input: the server exits (a worker blocked on a FIFO would keep it alive).
    const exited = await Promise.race([server.close().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000).unref())]);
    assert.ok(exited, "the server exits within 20 s of stdin closing");
  },
);
