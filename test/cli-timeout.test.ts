// The wall-clock backstop of `macrobox expand`: with fuel raised out of reach, a runaway macro is
// stopped by the watchdog after --timeout, with a message naming the macro, the limit and the flag;
// an ordinary expansion under the same deadline is unaffected.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { build } from "../src/builder/build.js";

const root = new URL("..", import.meta.url).pathname;
const wasm = join(mkdtempSync(join(tmpdir(), "macrobox-timeout-")), "hostile.wasm");

function expand(args: string[]) {
  const started = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/run.ts"), "expand", wasm, ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

describe("macrobox expand --timeout", { timeout: 10 * 60_000 }, () => {
  before(async () => {
    await build({ crate: join(root, "test/fixtures/hostile"), output: wasm });
  });

  it("stops a runaway macro at the deadline when fuel does not", () => {
    const r = expand(["--bang", "infinite_loop", "x", "--fuel", "1000000000000000", "--timeout", "1500"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bang macro `infinite_loop` exceeded its wallClockMs limit: .*1500 milliseconds; raise it with --timeout/);
    assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
  });

  it("leaves an ordinary expansion alone", () => {
    const r = expand(["--bang", "hello", "x", "--timeout", "1500"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello/);
  });
});
