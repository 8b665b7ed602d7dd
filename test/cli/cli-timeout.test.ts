// The wall-clock backstop of `macrobox expand`: with fuel raised out of reach, a runaway macro is
// stopped by the watchdog after --timeout, with a message naming the macro, the limit and the flag;
// an ordinary expansion under the same deadline is unaffected.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { encodeFlatTree } from "../../src/server/flat.js";
import { decodeBidirectionalFrame, encodeBidirectionalFrame, FrameSplitter } from "../../src/server/postcard.js";
import { decodeResponseLine, encodeRequestLine, encodeSpanDataTable, type Request } from "../../src/server/protocol.js";
import { lexSource } from "../oracle/native.js";
import { macroboxArgs } from "../support/cli.js";
import { buildModule } from "../support/build.js";

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
// The clock times the request's own work: a worker that is slow to start (a loaded machine;
// made certain here by test/support/worker-faults.mjs, which node also runs in worker threads)
// does not use it up, and a request the worker never answered gets its own kind of reply.
describe("macrobox proc-macro-server --timeout", { timeout: 10 * 60_000 }, () => {
  before(async () => {
    await buildModule({ crate: join(root, "test/fixtures/hostile"), output: wasm });
  });

  const faults = join(root, "test/support/worker-faults.mjs");
  const spanData = () => encodeSpanDataTable(Array.from({ length: 64 }, (_, i) => ({ fileId: 0, astId: 0, start: i, end: i + 1, ctx: 0 })));
  const expandRequest = (macroName: string): Request => ({
    type: "ExpandMacro",
    lib: wasm,
    env: [],
    currentDir: null,
    macroBody: encodeFlatTree(lexSource("x"), { rootSpan: 0 }),
    macroName,
    attributes: null,
    globals: { defSite: 0, callSite: 0, mixedSite: 0 },
    spanDataTable: spanData(),
  });
  /** The server with fuel out of reach and a 1.5 s wall clock; `env`: worker-faults.mjs's variables. */
  const serve = (input: string | Buffer, options: { format?: string; env?: Record<string, string> } = {}) => {
    const started = Date.now();
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        ...(options.env !== undefined ? ["--import", faults] : []),
        join(root, "src/cli/run.ts"),
        "proc-macro-server",
        ...(options.format !== undefined ? ["--format", options.format] : []),
        "--fuel",
        "1000000000000000",
        "--timeout",
        "1500",
      ],
      { cwd: root, input, timeout: 180_000, env: { ...process.env, ...options.env } },
    );
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString(), ms: Date.now() - started };
  };
  const lines = (...requests: Request[]) => requests.map(encodeRequestLine).join("");
  const replies = (stdout: Buffer) => stdout.toString().trim().split("\n").map(decodeResponseLine);
  const stoppedError = /proc-macro `infinite_loop` exceeded its wallClockMs limit \(1500 ms for one expansion\) and was stopped/;

  it("answers a runaway expansion with the limit's error and keeps serving", () => {
    const r = serve(
      lines({ type: "ApiVersionCheck" }, { type: "SetConfig", spanMode: "RustAnalyzer" }, expandRequest("infinite_loop"), expandRequest("hello")),
    );
    assert.equal(r.status, 0, r.stderr);
    const out = replies(r.stdout);
    assert.equal(out.length, 4, r.stdout.toString());
    assert.deepEqual(out[0], { type: "ApiVersionCheck", version: 6 });
    const stopped = out[2];
    // The mode the connection was in: the error comes as an ExpandMacroExtended.
    assert.equal(stopped.type, "ExpandMacroExtended");
    assert.ok(stopped.type === "ExpandMacroExtended" && !stopped.result.ok);
    assert.match(stopped.result.error, stoppedError);
    // The fresh worker kept the span mode.
    assert.equal(out[3].type, "ExpandMacroExtended");
    assert.ok(out[3].type === "ExpandMacroExtended" && out[3].result.ok, JSON.stringify(out[3]));
    assert.ok(r.ms < 120_000, `took ${r.ms} ms`);
  });

  it("does not count a worker's slow start against the requests waiting for it", () => {
    // Each worker takes 4 s to start, over twice the limit: the requests sent meanwhile are timed
    // from when the worker begins them; the fresh worker after the runaway one is as slow.
    const r = serve(
      lines(
        { type: "ApiVersionCheck" },
        { type: "SetConfig", spanMode: "RustAnalyzer" },
        { type: "ListMacros", dylibPath: wasm },
        expandRequest("hello"),
        expandRequest("infinite_loop"),
        expandRequest("hello"),
      ),
      { env: { MACROBOX_TEST_WORKER_START_DELAY_MS: "4000" } },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = replies(r.stdout);
    assert.equal(out.length, 6, r.stdout.toString());
    assert.deepEqual(out[1], { type: "SetConfig", spanMode: "RustAnalyzer" });
    assert.ok(out[2].type === "ListMacros" && out[2].result.ok, JSON.stringify(out[2]));
    assert.ok(out[3].type === "ExpandMacroExtended" && out[3].result.ok, JSON.stringify(out[3]));
    assert.ok(out[4].type === "ExpandMacroExtended" && !out[4].result.ok, JSON.stringify(out[4]));
    assert.match(out[4].result.error, stoppedError);
    assert.ok(out[5].type === "ExpandMacroExtended" && out[5].result.ok, JSON.stringify(out[5]));
  });

  it("does the same for postcard frames", () => {
    const frame = (request: Request) => Buffer.from(encodeBidirectionalFrame({ type: "Request", request }));
    const input = Buffer.concat(
      [
        { type: "ApiVersionCheck" } as const,
        { type: "SetConfig", spanMode: "RustAnalyzer" } as const,
        expandRequest("infinite_loop"),
        expandRequest("hello"),
      ].map(frame),
    );
    const r = serve(input, { format: "bidirectional-postcard-prototype", env: { MACROBOX_TEST_WORKER_START_DELAY_MS: "4000" } });
    assert.equal(r.status, 0, r.stderr);
    const out = new FrameSplitter().push(r.stdout).map(decodeBidirectionalFrame);
    const responses = out.map((m) => (m.type === "Response" ? m.response : assert.fail(`not a response: ${JSON.stringify(m)}`)));
    assert.equal(responses.length, 4);
    assert.deepEqual(responses[1], { type: "SetConfig", spanMode: "RustAnalyzer" });
    assert.ok(responses[2].type === "ExpandMacroExtended" && !responses[2].result.ok, JSON.stringify(responses[2]));
    assert.match(responses[2].result.error, stoppedError);
    assert.ok(responses[3].type === "ExpandMacroExtended" && responses[3].result.ok, JSON.stringify(responses[3]));
  });

  it("answers a request whose worker died with that request's own kind of reply", () => {
    // The first worker dies holding the SetConfig: the reply is still a SetConfig, and the fresh
    // worker serves in the mode it set.
    const marker = join(mkdtempSync(join(tmpdir(), "macrobox-worker-dies-")), "died");
    const r = serve(lines({ type: "ApiVersionCheck" }, { type: "SetConfig", spanMode: "RustAnalyzer" }, expandRequest("hello")), {
      env: { MACROBOX_TEST_WORKER_DIES_ONCE: marker },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(marker), "the first worker did not die");
    const out = replies(r.stdout);
    assert.equal(out.length, 3, r.stdout.toString());
    assert.deepEqual(out[1], { type: "SetConfig", spanMode: "RustAnalyzer" });
    assert.ok(out[2].type === "ExpandMacroExtended" && out[2].result.ok, JSON.stringify(out[2]));
  });

  it("answers a list request whose worker died with a list error", () => {
    const marker = join(mkdtempSync(join(tmpdir(), "macrobox-worker-dies-")), "died");
    const r = serve(lines({ type: "ListMacros", dylibPath: wasm }, { type: "ListMacros", dylibPath: wasm }), {
      env: { MACROBOX_TEST_WORKER_DIES_ONCE: marker },
    });
    assert.equal(r.status, 0, r.stderr);
    const out = replies(r.stdout);
    assert.equal(out.length, 2, r.stdout.toString());
    assert.ok(out[0].type === "ListMacros" && !out[0].result.ok, JSON.stringify(out[0]));
    assert.match(out[0].result.error, /the expansion worker stopped: exit code 70/);
    assert.ok(out[1].type === "ListMacros" && out[1].result.ok, JSON.stringify(out[1]));
  });
  it("stops, with an error, when its workers keep dying before they take a request (never restarts them forever)", () => {
    const r = serve(lines({ type: "ApiVersionCheck" }), { env: { MACROBOX_TEST_WORKER_NEVER_STARTS: "1" } });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /the expansion worker died 3 times in a row before taking a request \(macrobox: the expansion worker stopped: exit code 71\)/);
    assert.equal(r.stdout.length, 0);
  });
});
