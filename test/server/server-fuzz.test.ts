// Fuzz: thousands of malformed, truncated and deeply nested messages, in both formats,
// to the macrobox-proc-macro-srv process; it must stay alive, answer each with an error (never
// with anything but protocol on stdout), and then answer a normal expansion correctly.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, test } from "node:test";

import { buildModule } from "../support/build.js";
import { decodeFlatTree, encodeFlatTree } from "../../src/server/flat.js";
import { decodeBidirectionalFrame, encodeBidirectionalFrame, FrameSplitter } from "../../src/server/postcard.js";
import { decodeResponseLine, encodeRequestLine, type Request } from "../../src/server/protocol.js";
import { lexSource } from "../oracle/native.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LIB = "/w/target/debug/deps/libdemo_macros-0123456789abcdef.so";
let wasm = "";

/** A small deterministic generator (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const good: Request = {
  type: "ExpandMacro",
  lib: LIB,
  env: [],
  currentDir: null,
  macroBody: encodeFlatTree(lexSource("struct P { x: u8 }"), { rootSpan: 1 }),
  macroName: "Describe",
  attributes: null,
  globals: { defSite: 0, callSite: 1, mixedSite: 2 },
  spanDataTable: [],
};

function mutations(valid: Uint8Array, count: number, seed: number, terminator: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const b = Uint8Array.from(valid);
    switch (i % 4) {
      case 0: // flipped bytes
        for (let k = 0; k < 1 + Math.floor(r() * 8); k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
        break;
      case 1: // truncated
        out.push(b.subarray(0, Math.floor(r() * b.length)));
        continue;
      case 2: // random bytes
        out.push(Uint8Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
        continue;
      case 3: // spliced with itself
        out.push(Uint8Array.from([...b.subarray(0, Math.floor(r() * b.length)), ...b.subarray(Math.floor(r() * b.length))]));
        continue;
    }
    out.push(b);
  }
  // Never the terminator inside a message: each fuzzed message stays one message.
  return out.map((m) => m.map((x) => (x === terminator ? terminator + 1 : x)));
}

function serve(format: string, input: Buffer) {
  return spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/srv-run.ts"), "--module", `demo_macros=${wasm}`, "--format", format], {
    cwd: ROOT,
    input,
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, MACROBOX_EXPANSION_CACHE: "off" },
  });
}

describe("the server survives hostile input", { timeout: 10 * 60_000 }, () => {
  before(async () => {
    wasm = join(mkdtempSync(join(tmpdir(), "macrobox-fuzz-")), "demo_macros.wasm");
    await buildModule({ crate: join(ROOT, "examples/demo-macros"), output: wasm });
  });

  test("json-legacy: 3000 broken lines, a deeply nested one, a truncated one, then a normal expansion", () => {
    const valid = Buffer.from(encodeRequestLine(good).slice(0, -1));
    const fuzz = mutations(valid, 3000, 1, 0x0a).map((m) => Buffer.from(m).toString("latin1").replace(/\r/g, " "));
    // Lines that do not start with `{` are noise (the native reader skips them too); the rest get an answer each.
    const lines = fuzz.filter((l) => l.length > 0);
    const nested = `{"ExpandMacro":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const input = Buffer.from([...lines, nested, '{"ExpandMacro":{"lib"', encodeRequestLine(good).slice(0, -1)].join("\n") + "\n", "latin1");
    const r = serve("json-legacy", input);
    assert.equal(r.status, 0, r.stderr.toString().slice(-2000));
    const replies = r.stdout.toString().trim().split("\n");
    const expected = lines.filter((l) => l.startsWith("{")).length + 3;
    assert.equal(replies.length, expected);
    for (const line of replies) decodeResponseLine(line); // every line is protocol
    const last = decodeResponseLine(replies[replies.length - 1]);
    assert.ok(last.type === "ExpandMacro" && last.result.ok, JSON.stringify(last));
    assert.match(
      decodeFlatTree(last.result.value)
        .map((t) => (t.type === "ident" ? t.sym : ""))
        .join(" "),
      /impl P/,
    );
  });

  test("postcard: 3000 broken frames, then a normal expansion", () => {
    const valid = encodeBidirectionalFrame({ type: "Request", request: good });
    const frames = mutations(valid.subarray(0, -1), 3000, 2, 0).map((f) => Buffer.concat([Buffer.from(f), Buffer.from([0])]));
    const r = serve("bidirectional-postcard-prototype", Buffer.concat([...frames, Buffer.from(valid)]));
    assert.equal(r.status, 0, r.stderr.toString().slice(-2000));
    const out = new FrameSplitter().push(r.stdout);
    const messages = out.map((f) => decodeBidirectionalFrame(f)); // every frame is protocol
    assert.ok(messages.length >= 3000, `${messages.length} replies`);
    const last = messages[messages.length - 1];
    assert.ok(last.type === "Response" && last.response.type === "ExpandMacro" && last.response.result.ok, JSON.stringify(last).slice(0, 500));
    assert.match(
      decodeFlatTree(last.response.result.value)
        .map((t) => (t.type === "ident" ? t.sym : ""))
        .join(" "),
      /impl P/,
    );
  });
});
