// The cargo host expands concurrent connections in parallel (worker threads, src/patch/host.ts):
// many shim-like clients at once (more than there are workers, so some wait) get byte-for-byte the
// replies the same requests get one at a time, from a host with one worker, and from a host with
// several: outputs, span indices, panics and error replies alike. The corpus's serde_derive and
// thiserror-impl cases (and the ones whose expansion must fail) are the requests.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { loadCorpus } from "../corpus/expand/load.js";
import { CONFORMANCE_CRATES, conformanceWasm } from "../oracle/server-requests.js";
import { encodeShimRequest, replyKind, shimExchange, startHostProcess } from "./shim-client.js";

const scratch = mkdtempSync(join(tmpdir(), "macrobox-host-concurrency-"));

async function requests(): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const crate of CONFORMANCE_CRATES.slice(0, 2)) {
    if ("path" in crate) continue;
    const module = await conformanceWasm(crate);
    const cases = loadCorpus().filter((c) => "name" in c.crate && c.crate.name === crate.name && c.kind === "derive" && !c.input.includes("///"));
    for (const c of cases.slice(0, 20)) {
      for (const name of c.macros) out.push(encodeShimRequest({ module, crate: crate.name, kind: "derive", name, input: c.input }));
    }
  }
  // A request no module answers: an error reply, concurrently as alone.
  out.push(encodeShimRequest({ module: join(scratch, "missing.wasm"), crate: "missing", kind: "derive", name: "X", input: "struct S;" }));
  return out;
}

async function host(name: string, workers: number) {
  const dir = join(scratch, name);
  mkdirSync(dir, { mode: 0o700 });
  const socket = join(dir, "host.sock");
  const h = await startHostProcess(socket, ["--workers", String(workers), "--idle-ms", "120000"], { ...process.env, MACROBOX_EXPANSION_CACHE: "off" });
  return { socket, ...h };
}

test("concurrent shims get the replies sequential ones get, from one worker and from several", { timeout: 600_000 }, async (t) => {
  const reqs = await requests();
  assert.ok(reqs.length > 40, `${reqs.length} requests`);

  const one = await host("one", 1);
  t.after(() => one.child.kill());
  const sequential: Buffer[] = [];
  for (const r of reqs) sequential.push(await shimExchange(one.socket, r));
  const kinds = sequential.map(replyKind);
  assert.ok(kinds.filter((k) => k === 0).length > 30, `outputs: ${kinds.join(",")}`);
  assert.ok(kinds.includes(2), "the missing module's request is an error reply");
  assert.ok(kinds.includes(1) || kinds.filter((k) => k === 0).length === kinds.length - 1, "panics stay panics");

  const many = await host("many", 3);
  t.after(() => many.child.kill());
  // Every request at once, twice over: more connections than workers.
  for (const h of [one, many]) {
    const concurrent = await Promise.all([...reqs, ...reqs].map((r) => shimExchange(h.socket, r)));
    concurrent.forEach((reply, i) => {
      const j = i % reqs.length;
      assert.ok(reply.equals(sequential[j]), `request ${j}: the concurrent reply differs from the sequential one (host with ${h === one ? 1 : 3} workers)`);
    });
  }
  // Sequential again on the many-worker host: a worker that served others answers the same.
  for (const [i, r] of reqs.entries()) assert.ok((await shimExchange(many.socket, r)).equals(sequential[i]), `request ${i} after concurrency`);
});
