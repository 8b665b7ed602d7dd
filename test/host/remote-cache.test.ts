// The remote cache (src/node/remote-cache.ts) against a real server of the Bazel HTTP cache
// protocol: Debian's nginx with WebDAV PUT, run by the test on a loopback port. Each "process" is
// a real `macrobox` command with its own empty local cache (MACROBOX_CACHE); what it did is read
// from the server's directory and access log, and from the command's own account of the remote
// cache (MACROBOX_REMOTE_CACHE_STATS=1).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, macroWasm } from "../support/bridge-build.js";
import { freePort, startBadServer, startNginx, type NginxCache } from "../support/cache-server.js";
import { decodeActionResult } from "../../src/node/reapi.js";
import { cliAsync } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "macrobox-remote-cache-"));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `macrobox <args>` as its own process (asynchronously: the misbehaving servers live in this one). */
function cli(args: string[], env: Record<string, string | undefined>, cwd = root): Promise<Run> {
  return cliAsync(args, { cwd, env: { MACROBOX_RUSTFMT: "/nonexistent", MACROBOX_REMOTE_CACHE: undefined, MACROBOX_REMOTE_CACHE_STATS: "1", ...env } });
}

/** A fresh, empty local cache. */
function emptyCache(): string {
  return mkdtempSync(join(work, "local-"));
}

/** The command's account of one kind: hits, misses, corrupt, uploaded, dropped, failed. */
function stats(run: Run, kind: string): Record<string, number> {
  const m = new RegExp(`remote cache ${kind}: (\\d+) hits, (\\d+) misses, (\\d+) corrupt, (\\d+) uploaded, (\\d+) dropped, (\\d+) failed requests`).exec(
    run.stderr,
  );
  if (!m) return { hits: 0, misses: 0, corrupt: 0, uploaded: 0, dropped: 0, failed: 0 };
  const [hits, misses, corrupt, uploaded, dropped, failed] = m.slice(1).map(Number);
  return { hits, misses, corrupt, uploaded, dropped, failed };
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const MODEL = `
#[derive(Serialize)]
struct Point { x: i32, y: i32 }

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Shape { Circle { radius: f64 }, Square(f64), Empty }

#[derive(Serialize)]
struct Wrapper<'a, T: Clone> { #[serde(skip)] hidden: u8, items: &'a [T], #[serde(rename = "n")] name: String }
`;

describe("remote cache (nginx WebDAV)", { timeout: 20 * 60_000 }, () => {
  let server: NginxCache;
  let serde: string;
  let capable: string;
  const model = join(work, "model.rs");
  let reference: Run;

  before(async () => {
    server = await startNginx();
    serde = join(work, "serde_derive.wasm");
    writeFileSync(serde, await macroWasm("serde_derive"));
    capable = join(work, "capable.wasm");
    writeFileSync(capable, await macroWasm("capable"));
    writeFileSync(model, MODEL);
  });
  after(async () => {
    await server?.stop();
  });

  const expandModel = (extra: string[], env: Record<string, string | undefined>) =>
    cli(["expand", serde, "--derive", "Serialize", model, "--json", ...extra], env);

  it("process A fills the server; process B, with another empty local cache, gets every result from it", async () => {
    const a = await expandModel(["--remote-cache", server.url], { MACROBOX_CACHE: emptyCache() });
    assert.equal(a.code, 0, a.stderr);
    reference = a;
    assert.deepEqual(stats(a, "expansion"), { hits: 0, misses: 3, corrupt: 0, uploaded: 3, dropped: 0, failed: 0 });
    // The module cache holds two entries per module: the instrumented bytes and what readLibcInfo found.
    assert.equal(stats(a, "module").uploaded, 2, "the instrumented module is shared too");
    assert.equal(files(join(server.data, "ac")).length, 5);
    assert.ok(files(join(server.data, "cas")).length >= 4);

    // B: the environment variable; the macro never runs (every expansion and the instrumented
    // module come from the server), and the results are A's, byte for byte.
    const localB = emptyCache();
    const b = await expandModel([], { MACROBOX_CACHE: localB, MACROBOX_REMOTE_CACHE: server.url });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, a.stdout);
    assert.deepEqual(stats(b, "expansion"), { hits: 3, misses: 0, corrupt: 0, uploaded: 0, dropped: 0, failed: 0 });
    assert.deepEqual(stats(b, "module"), { hits: 2, misses: 0, corrupt: 0, uploaded: 0, dropped: 0, failed: 0 });
    // A remote hit fills the local cache: B's next run never touches the network, even with the
    // setting pointing at a port where nothing listens.
    assert.equal(files(join(localB, "expansions")).length > 0, true);
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const b2 = await expandModel(["--remote-cache", nowhere], { MACROBOX_CACHE: localB });
    assert.equal(b2.code, 0, b2.stderr);
    assert.equal(b2.stdout, a.stdout);
    assert.doesNotMatch(b2.stderr, /unreachable|remote cache/, "a local hit asks no remote cache");

    // C: the setting in a macrobox.toml (the grants file). Same working directory: the macro can
    // see it, so it is part of the key.
    const project = mkdtempSync(join(work, "project-"));
    writeFileSync(join(project, "macrobox.toml"), `remote-cache = "${server.url}"\n`);
    const c = await expandModel(["--config", join(project, "macrobox.toml")], { MACROBOX_CACHE: emptyCache() });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, a.stdout);
    assert.equal(stats(c, "expansion").hits, 3);
  });

  it("stores the index entries as REAPI ActionResult messages naming their CAS blobs (decoded by protoc)", () => {
    const acDir = join(server.data, "ac");
    const entries = files(acDir);
    assert.ok(entries.length > 0);
    for (const key of entries) {
      const bytes = readFileSync(join(acDir, key));
      const text = execFileSync(
        "protoc",
        [`-I${join(FIXTURES, "reapi")}`, "-I/usr/include", "--decode", "build.bazel.remote.execution.v2.ActionResult", "remote_execution_subset.proto"],
        { input: bytes, encoding: "utf8" },
      );
      const m = /output_files \{\s*path: "(macrobox\/(?:expansion|module|build))"\s*digest \{\s*hash: "([0-9a-f]{64})"\s*size_bytes: (\d+)\s*\}\s*\}/.exec(
        text,
      );
      assert.ok(m, `not an ActionResult with an output file: ${text}`);
      const blob = readFileSync(join(server.data, "cas", m[2]));
      assert.equal(blob.length, Number(m[3]));
      assert.equal(sha256(blob), m[2], "the CAS blob is named by its sha256");
      // Our decoder reads what protoc read.
      assert.deepEqual(decodeActionResult(bytes).outputFiles, [{ path: m[1], digest: { hash: m[2], sizeBytes: Number(m[3]) } }]);
    }
  });

  it("detects a blob corrupted on the server, recomputes, and puts the right bytes back", async () => {
    const cas = join(server.data, "cas");
    for (const name of files(cas)) {
      const bytes = readFileSync(join(cas, name));
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(join(cas, name), bytes);
    }
    const d = await expandModel(["--remote-cache", server.url], { MACROBOX_CACHE: emptyCache() });
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout, reference.stdout);
    assert.equal(stats(d, "expansion").corrupt, 3);
    assert.equal(stats(d, "expansion").hits, 0);
    assert.equal(stats(d, "expansion").uploaded, 3);
    // Every blob that an entry names hashes to its name again.
    for (const key of files(join(server.data, "ac"))) {
      const digest = decodeActionResult(readFileSync(join(server.data, "ac", key))).outputFiles[0].digest;
      assert.equal(sha256(readFileSync(join(cas, digest.hash))), digest.hash);
    }
  });

  it("misses when a granted file, a grant or a visible env value changed", async () => {
    const crate = mkdtempSync(join(work, "crate-"));
    mkdirSync(join(crate, "templates"));
    writeFileSync(join(crate, "Cargo.toml"), '[package]\nname = "user"\nversion = "0.1.0"\n');
    writeFileSync(join(crate, "templates", "x.txt"), "from the file\n");
    const run = (extraGrant: string[], env: Record<string, string>) =>
      cli(
        [
          "expand",
          capable,
          "--bang",
          "include_greeting",
          '"templates/x.txt"',
          "--crate-dir",
          crate,
          "--allow-env",
          "capable_macros:CAPABLE_GREETING",
          "--allow-read",
          "capable_macros:templates",
          ...extraGrant,
          "--remote-cache",
          server.url,
        ],
        { MACROBOX_CACHE: emptyCache(), ...env },
        crate, // the macro reads relative to its current directory, which is rustc's: the crate's
      );
    const first = await run([], { CAPABLE_GREETING: "hello" });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.trim(), '"hello, from the file"');
    assert.equal(stats(first, "expansion").uploaded, 1);
    const same = await run([], { CAPABLE_GREETING: "hello" });
    assert.equal(same.stdout, first.stdout);
    assert.deepEqual(stats(same, "expansion"), { hits: 1, misses: 0, corrupt: 0, uploaded: 0, dropped: 0, failed: 0 });

    // The file the expansion read changed: the entry is found, its observation fails, the macro runs.
    writeFileSync(join(crate, "templates", "x.txt"), "edited\n");
    const edited = await run([], { CAPABLE_GREETING: "hello" });
    assert.equal(edited.code, 0, edited.stderr);
    assert.equal(edited.stdout.trim(), '"hello, edited"');
    assert.equal(stats(edited, "expansion").uploaded, 1, "recomputed and stored");

    const otherEnv = await run([], { CAPABLE_GREETING: "bonjour" });
    assert.equal(otherEnv.stdout.trim(), '"bonjour, edited"');
    assert.equal(stats(otherEnv, "expansion").misses, 1);

    const widerGrant = await run(["--allow-read", "capable_macros:*.sql"], { CAPABLE_GREETING: "bonjour" });
    assert.equal(widerGrant.stdout.trim(), '"bonjour, edited"');
    assert.equal(stats(widerGrant, "expansion").misses, 1);
    assert.equal(stats(widerGrant, "expansion").hits, 0);
  });

  it("read-only mode never writes", async () => {
    const logBefore = readFileSync(server.accessLog, "utf8").length;
    const acBefore = files(join(server.data, "ac"));
    const casBefore = files(join(server.data, "cas"));
    const fresh = join(work, "fresh.rs");
    writeFileSync(fresh, "#[derive(Serialize)]\nstruct OnlyHere { read_only_mode: bool }\n");
    const r = await cli(["expand", serde, "--derive", "Serialize", fresh, "--remote-cache", server.url, "--remote-cache-read-only"], {
      MACROBOX_CACHE: emptyCache(),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /OnlyHere/);
    assert.equal(stats(r, "expansion").misses, 1);
    const env = await cli(["expand", serde, "--derive", "Serialize", fresh], {
      MACROBOX_CACHE: emptyCache(),
      MACROBOX_REMOTE_CACHE: server.url,
      MACROBOX_REMOTE_CACHE_READ_ONLY: "1",
    });
    assert.equal(env.code, 0, env.stderr);
    const log = readFileSync(server.accessLog, "utf8").slice(logBefore);
    assert.match(log, /GET \/ac\//);
    assert.doesNotMatch(log, /"PUT /);
    assert.deepEqual(files(join(server.data, "ac")), acBefore);
    assert.deepEqual(files(join(server.data, "cas")), casBefore);
  });

  for (const mode of ["stopped", "500", "hang", "reset-after-first"] as const) {
    it(`a server that is ${mode === "stopped" ? "not running" : mode === "500" ? "answering 500" : mode === "hang" ? "hanging" : "gone mid-run"}: expansions still succeed, one warning, bounded`, async () => {
      const bad = mode === "stopped" ? null : await startBadServer(mode);
      const url = bad?.url ?? `http://127.0.0.1:${await freePort()}`;
      try {
        const r = await expandModel(["--remote-cache", url], { MACROBOX_CACHE: emptyCache(), MACROBOX_REMOTE_CACHE_TIMEOUT: "1000" });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, reference.stdout);
        assert.equal(r.stderr.match(/warning: the remote cache .* is unreachable/g)?.length, 1, r.stderr);
        // After the first failure the server is left alone: a hanging one costs one timeout, not one per
        // request. Requests already in flight together when it fails (a lookup and the upload a miss
        // before it queued) fail with it: at most three reach a server that drops connections after one.
        if (bad) assert.ok(bad.requests <= (mode === "reset-after-first" ? 3 : 2), `${bad.requests} requests to a failing server`);
        assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
      } finally {
        await bad?.stop();
      }
    });
  }

  it("macrobox build: process A uploads the module, process B gets it byte-identical without running cargo", async () => {
    // A copy of a fixture crate with sources no one built before, so A's local caches miss.
    const crate = join(work, "built-crate");
    cpSync(join(FIXTURES, "capable"), crate, { recursive: true });
    writeFileSync(join(crate, "src", "lib.rs"), readFileSync(join(crate, "src", "lib.rs"), "utf8") + `\n// ${process.pid}-${Date.now()}\n`);
    const outA = join(work, "a.wasm");
    // A uses the shared cache (std is built there once per toolchain).
    const a = await cli(["build", crate, "-o", outA, "--quiet", "--remote-cache", server.url], {});
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(stats(a, "build"), { hits: 0, misses: 1, corrupt: 0, uploaded: 1, dropped: 0, failed: 0 });

    const localB = emptyCache();
    const outB = join(work, "b.wasm");
    const b = await cli(["build", crate, "-o", outB, "--remote-cache", server.url], { MACROBOX_CACHE: localB });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(stats(b, "build").hits, 1);
    assert.ok(readFileSync(outA).equals(readFileSync(outB)), "B's module differs from A's");
    // cargo never ran in B's cache: no target directory (std, the crate) was made there.
    const toolchainDirs = files(localB).filter((d) => /^\d+\.\d+/.test(d));
    assert.equal(toolchainDirs.length, 1);
    assert.equal(existsSync(join(localB, toolchainDirs[0], "target", "wasm32-macro")), false);
    assert.match(b.stderr, /in the module cache/);
  });
});
