// The wall-clock backstop of `macrobox expand`: with fuel raised out of reach, a runaway macro is
// stopped by the watchdog after --timeout, with a message naming the macro, the limit and the flag;
// an ordinary expansion under the same deadline is unaffected.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { buildModule } from "../support/build.js";
import { macroboxArgs } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const wasm = join(mkdtempSync(join(tmpdir(), "macrobox-timeout-")), "hostile.wasm");

function expand(args: string[]) {
  const started = Date.now();
  const r = spawnSync(process.execPath, macroboxArgs("expand", wasm, ...args), {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

describe("macrobox expand --timeout", { timeout: 10 * 60_000 }, () => {
  before(async () => {
    await buildModule({ crate: join(root, "test/fixtures/hostile"), output: wasm });
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

// The proc-macro server's backstop: its main thread answers the runaway request with the limit's
// error, stops the worker, and a fresh one (in the connection's span mode) serves what comes next.
describe("macrobox proc-macro-server --timeout", { timeout: 10 * 60_000 }, () => {
  before(async () => {
    await buildModule({ crate: join(root, "test/fixtures/hostile"), output: wasm });
  });

  it("answers a runaway expansion with the limit's error and keeps serving", async () => {
    const { encodeFlatTree } = await import("../../src/server/flat.js");
    const { encodeRequestLine, decodeResponseLine, encodeSpanDataTable } = await import("../../src/server/protocol.js");
    const { lexSource } = await import("../oracle/native.js");
    const expandLine = (macroName: string) =>
      encodeRequestLine({
        type: "ExpandMacro",
        lib: wasm,
        env: [],
        currentDir: null,
        macroBody: encodeFlatTree(lexSource("x"), { rootSpan: 0 }),
        macroName,
        attributes: null,
        globals: { defSite: 0, callSite: 0, mixedSite: 0 },
        spanDataTable: encodeSpanDataTable(Array.from({ length: 64 }, (_, i) => ({ fileId: 0, astId: 0, start: i, end: i + 1, ctx: 0 }))),
      });
    const input = [
      encodeRequestLine({ type: "ApiVersionCheck" }),
      encodeRequestLine({ type: "SetConfig", spanMode: "RustAnalyzer" }),
      expandLine("infinite_loop"),
      expandLine("hello"),
    ].join("");
    const started = Date.now();
    const r = spawnSync(process.execPath, macroboxArgs("proc-macro-server", "--fuel", "1000000000000000", "--timeout", "1500"), {
      cwd: root,
      encoding: "utf8",
      input,
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const replies = r.stdout.trim().split("\n").map(decodeResponseLine);
    assert.equal(replies.length, 4, r.stdout);
    assert.deepEqual(replies[0], { type: "ApiVersionCheck", version: 6 });
    const stopped = replies[2];
    // The mode the connection was in: the error comes as an ExpandMacroExtended.
    assert.equal(stopped.type, "ExpandMacroExtended");
    assert.ok(stopped.type === "ExpandMacroExtended" && !stopped.result.ok);
    assert.match(stopped.result.error, /proc-macro `infinite_loop` exceeded its wallClockMs limit \(1500 ms for one expansion\) and was stopped/);
    // The fresh worker kept the span mode.
    assert.equal(replies[3].type, "ExpandMacroExtended");
    assert.ok(replies[3].type === "ExpandMacroExtended" && replies[3].result.ok, JSON.stringify(replies[3]));
    assert.ok(Date.now() - started < 60_000);
  });
});
