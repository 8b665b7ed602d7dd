// The answer index's directory (src/patch/answers.ts): named by format and version beside the
// socket; kept within its bound, oldest entries out first; other versions' indexes and temporary
// files a dead host left are removed; a reply too large for it is not written.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANSWER_INDEX_MAX_BYTES, AnswerIndex, answersDir, pruneAnswers } from "../../src/patch/answers.js";
import { decodeRequest } from "../../src/patch/protocol.js";
import { encodeShimRequest } from "./shim-client.js";

test("the index stays within its bound (oldest out), and other versions' indexes and stale temporary files go", () => {
  const run = mkdtempSync(join(tmpdir(), "macrobox-answers-unit-"));
  const dir = answersDir(join(run, "host-0123456789abcdef.sock"));
  assert.match(dir, /host-0123456789abcdef\.answers-\d+\.\d+-\d+\.\d+\.\d+/);
  mkdirSync(dir, { mode: 0o700 });
  const other = join(run, "host-0123456789abcdef.answers-0.1-0.0.1");
  const unrelated = join(run, "host-fedcba9876543210.answers-0.1-0.0.1");
  mkdirSync(other);
  mkdirSync(unrelated);
  const size = 4096;
  const max = 40 * size;
  const now = Date.now() / 1000;
  for (let i = 0; i < 50; i++) {
    const p = join(dir, i.toString(16).padStart(16, "0"));
    writeFileSync(p, Buffer.alloc(size));
    utimesSync(p, now - 1000 + i, now - 1000 + i); // entry i is older than entry i + 1
  }
  const stale = join(dir, "0000000000000000.tmp-1-x");
  writeFileSync(stale, Buffer.alloc(10));
  utimesSync(stale, now - 120, now - 120);
  const fresh = join(dir, "0000000000000001.tmp-2-y");
  writeFileSync(fresh, Buffer.alloc(10));

  pruneAnswers(dir, max);
  const left = readdirSync(dir).filter((n) => !n.includes(".tmp-"));
  assert.equal(left.length, 30, "down to three quarters of the bound");
  assert.deepEqual(
    left.sort(),
    Array.from({ length: 30 }, (_, i) => (i + 20).toString(16).padStart(16, "0")),
    "the newest entries are kept",
  );
  assert.ok(!existsSync(stale), "a temporary file older than a minute is removed");
  assert.ok(existsSync(fresh), "one being written is left alone");
  assert.ok(!existsSync(other), "another version's index of the same host is removed");
  assert.ok(existsSync(unrelated), "another host's is not");

  pruneAnswers(dir, max);
  assert.equal(readdirSync(dir).filter((n) => !n.includes(".tmp-")).length, 30, "within the bound: nothing more goes");
  assert.ok(ANSWER_INDEX_MAX_BYTES >= 16 * 1024 * 1024);
});

test("an entry is written for a reply within an eighth of the bound, none for a larger one", () => {
  const run = mkdtempSync(join(tmpdir(), "macrobox-answers-size-"));
  const dirs = { config: join(run, "config"), data: join(run, "data") };
  const req = decodeRequest(encodeShimRequest({ module: "m", crate: "demo", kind: "derive", name: "D", input: "struct S;", cwd: run }).subarray(4));
  const framed = (bytes: number) => {
    const reply = Buffer.alloc(4 + bytes);
    reply.writeUInt32LE(bytes, 0);
    return reply;
  };
  const small = new AnswerIndex(join(run, "small.answers"));
  small.write(dirs, req, framed(1024));
  assert.equal(readdirSync(small.dir).length, 1, "a small reply is indexed");
  const large = new AnswerIndex(join(run, "large.answers"));
  large.write(dirs, req, framed(ANSWER_INDEX_MAX_BYTES / 8 + 1));
  assert.deepEqual(readdirSync(large.dir), [], "a reply over an eighth of the bound is not");
});
