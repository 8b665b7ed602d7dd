// The macrobox-proc-macro-srv process under misbehaving macros and messages, in both formats: an
// expansion that outlives the wall-clock bound (`--timeout`, with fuel set out of the way), a
// request over the size bound (`--max-message`), a macro that panics and one that traps. Each gets
// an error reply naming what happened, and the next normal expansion answers correctly.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { ProcMacroServerClient } from "../support/server-client.js";
import { decodeFlatTree, type FlatTree } from "../../src/server/flat.js";
import { cobsEncode, encodeBidirectional } from "../../src/server/postcard.js";
import { encodeRequestLine, type Request, type Response } from "../../src/server/protocol.js";
import { printTokenStream } from "../../src/tokens/print.js";
import { PostcardClient } from "../oracle/postcard-client.js";
import { conformanceWasm, idRequest } from "../oracle/server-requests.js";
import { lexSource } from "../oracle/native.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LIB = "/w/target/debug/deps/libspan_probe-0123456789abcdef.so";
const WALL_CLOCK_MS = 1500;
const MAX_MESSAGE = 4096;

const expand = (name: string, input = ""): Request => idRequest(LIB, name, lexSource(input), null);

function printed(res: Response): string {
  assert.ok(res.type === "ExpandMacro" && res.result.ok, JSON.stringify(res).slice(0, 500));
  return printTokenStream(decodeFlatTree(res.result.value as FlatTree));
}

function failed(res: Response): string {
  assert.ok(res.type === "ExpandMacro" && !res.result.ok, JSON.stringify(res).slice(0, 500));
  return res.result.error;
}

describe("the server survives misbehaving macros and messages", { timeout: 5 * 60_000 }, () => {
  let args: string[] = [];
  let json: ProcMacroServerClient;
  let postcard: PostcardClient;

  before(async () => {
    const wasm = await conformanceWasm({ path: join(ROOT, "test/oracle/native/span-probe") });
    args = [
      "--import",
      "tsx",
      join(ROOT, "src/cli/srv-run.ts"),
      "--module",
      `span_probe=${wasm}`,
      "--timeout",
      String(WALL_CLOCK_MS),
      // Fuel out of the way: only the wall clock can stop `spin!`.
      "--fuel",
      String(Number.MAX_SAFE_INTEGER),
      "--max-message",
      String(MAX_MESSAGE),
    ];
    const env = { MACROBOX_EXPANSION_CACHE: "off" };
    json = new ProcMacroServerClient({ command: process.execPath, args: [...args, "--format", "json-legacy"], env });
    postcard = new PostcardClient(process.execPath, args, env);
  });
  after(async () => {
    await json.close();
    await postcard.close();
  });

  const formats = {
    "json-legacy": (req: Request) => json.request(req),
    postcard: async (req: Request) => (await postcard.request(req)).response,
  };

  for (const [format, send] of Object.entries(formats)) {
    test(`${format}: past the wall clock, the expansion fails and a new worker serves the next`, async () => {
      assert.match(printed(await send(expand("ok"))), /const OK ?: u8 = 1;/);
      const started = Date.now();
      const error = failed(await send(expand("spin")));
      assert.match(error, new RegExp(`proc-macro \`spin\` exceeded its wallClockMs limit \\(${WALL_CLOCK_MS} ms for one expansion\\) and was stopped`));
      assert.ok(Date.now() - started >= WALL_CLOCK_MS);
      assert.match(printed(await send(expand("ok"))), /const OK ?: u8 = 1;/);
    });

    test(`${format}: a panic and a trap fail that expansion only`, async () => {
      // The native server's reply to a panic: its message alone.
      assert.equal(failed(await send(expand("boom"))), "span-probe: boom");
      assert.match(printed(await send(expand("ok"))), /OK/);
      assert.match(failed(await send(expand("trap"))), /unreachable/);
      assert.match(printed(await send(expand("ok"))), /OK/);
    });
  }

  test("json-legacy: a line over --max-message gets an error reply, unread, and the next request is served", async () => {
    const big = encodeRequestLine(expand("ok", `"${"x".repeat(MAX_MESSAGE * 3)}"`));
    assert.ok(big.length > MAX_MESSAGE);
    const reply = await json.requestLine(big);
    assert.match(reply, new RegExp(`over the ${MAX_MESSAGE}-byte limit; it was not read`));
    const fits = encodeRequestLine(expand("ok", `"${"x".repeat(MAX_MESSAGE / 4)}"`));
    assert.ok(fits.length < MAX_MESSAGE);
    assert.match(await json.requestLine(fits), /"Ok":/);
  });

  test("postcard: a frame over --max-message gets an error reply, unread, and the next request is served", async () => {
    const big = cobsEncode(encodeBidirectional({ type: "Request", request: expand("ok", `"${"x".repeat(MAX_MESSAGE * 3)}"`) }));
    assert.ok(big.length > MAX_MESSAGE);
    postcard.writeRaw(big);
    const reply = (await postcard.response()).response;
    assert.match(failed(reply), new RegExp(`over the ${MAX_MESSAGE}-byte limit; it was not read`));
    assert.match(printed((await postcard.request(expand("ok"))).response), /OK/);
  });
});

test("the executable keeps its stdin and stdout blocking (a full pipe is waited on by the kernel, not by a sleep)", async () => {
  // The bundle rust-analyzer runs (tsx, which the tests' srv-run.ts runs under, opens stdout as a
  // stream itself). Node makes a descriptor non-blocking when it opens it as a stream; piping the
  // worker's stderr into this thread's did (expansion-worker.ts), and then every response over a
  // pipe's 64 KiB waited a millisecond for each refusal.
  const client = new ProcMacroServerClient({ command: process.execPath, args: [join(ROOT, "bin/macrobox-proc-macro-srv.js")] });
  try {
    assert.equal(await client.request({ type: "ApiVersionCheck" }).then((r) => r.type), "ApiVersionCheck");
    const pid = (client as unknown as { child: ChildProcess }).child.pid;
    for (const fd of [0, 1]) {
      const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"))?.[1];
      assert.ok(flags !== undefined);
      assert.equal(Number.parseInt(flags, 8) & 0o4000, 0, `fd ${fd} is O_NONBLOCK (flags ${flags})`);
    }
  } finally {
    await client.close();
  }
});
