// Where the remote cache setting comes from (src/node/settings.ts), how bad settings are reported,
// and the credentials a request carries (src/node/remote-cache.ts), seen by a real HTTP server.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MacroboxError } from "../src/errors.js";
import { loadGrants } from "../src/node/grants.js";
import { RemoteCache } from "../src/node/remote-cache.js";
import { remoteCacheSetting } from "../src/node/settings.js";

describe("remote cache settings", () => {
  it("takes the flag over the environment over the file, and reads macrobox.toml and Cargo.toml", () => {
    const dir = mkdtempSync(join(tmpdir(), "macrobox-settings-"));
    writeFileSync(join(dir, "macrobox.toml"), 'remote-cache = "http://file:1"\nremote-cache-read-only = true\n[grants.x]\nenv = ["A"]\n');
    assert.deepEqual(remoteCacheSetting({ cwd: dir, env: {} }), { url: "http://file:1", readOnly: true });
    assert.deepEqual(remoteCacheSetting({ cwd: dir, env: { MACROBOX_REMOTE_CACHE: "http://env:2", MACROBOX_REMOTE_CACHE_READ_ONLY: "0" } }), {
      url: "http://env:2",
      readOnly: false,
    });
    assert.deepEqual(remoteCacheSetting({ cwd: dir, env: { MACROBOX_REMOTE_CACHE: "http://env:2" }, remoteCache: "https://flag:3" }), {
      url: "https://flag:3",
      readOnly: true,
    });
    assert.equal(remoteCacheSetting({ cwd: dir, env: {}, remoteCache: "off" }), null);
    // The grants in the same file still read.
    assert.deepEqual(loadGrants({ cwd: dir }).grants.get("x"), { env: ["A"], read: [] });

    const ws = mkdtempSync(join(tmpdir(), "macrobox-settings-ws-"));
    writeFileSync(join(ws, "Cargo.toml"), '[workspace]\nmembers = []\n[workspace.metadata.macrobox]\nremote-cache = "http://ws:4"\n');
    assert.deepEqual(remoteCacheSetting({ cwd: ws, env: {} }), { url: "http://ws:4", readOnly: false });
    assert.equal(remoteCacheSetting({ cwd: mkdtempSync(join(tmpdir(), "macrobox-settings-none-")), env: {} }), null);
  });

  it("names a setting that is not an http(s) URL", () => {
    assert.throws(
      () => remoteCacheSetting({ env: { MACROBOX_REMOTE_CACHE: "cache.internal:8080" }, cwd: tmpdir() }),
      (e: unknown) => e instanceof MacroboxError && /MACROBOX_REMOTE_CACHE: "cache.internal:8080" is not an http or https URL/.test(e.message),
    );
    assert.throws(() => remoteCacheSetting({ remoteCache: "not a url", cwd: tmpdir(), env: {} }), /--remote-cache: "not a url" is not a URL/);
    const dir = mkdtempSync(join(tmpdir(), "macrobox-settings-bad-"));
    writeFileSync(join(dir, "macrobox.toml"), "remote-cache = 8080\n");
    assert.throws(() => remoteCacheSetting({ cwd: dir, env: {} }), /macrobox.toml: remote-cache must be a string/);
  });

  it("sends a bearer token or basic auth from the environment, under the URL's path", async () => {
    const seen: Array<string | undefined> = [];
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      paths.push(req.url ?? "");
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const { port } = server.address() as AddressInfo;
    const key = "ab".repeat(32);
    try {
      await new RemoteCache({ url: `http://127.0.0.1:${port}`, env: { MACROBOX_REMOTE_CACHE_TOKEN: "s3cret" } }).get("expansion", key);
      await new RemoteCache({ url: `http://127.0.0.1:${port}`, env: { MACROBOX_REMOTE_CACHE_BASIC_AUTH: "ci:pw" } }).get("expansion", key);
      await new RemoteCache({ url: `http://bot:p%40ss@127.0.0.1:${port}/prefix`, env: {} }).get("expansion", key);
      await new RemoteCache({ url: `http://127.0.0.1:${port}`, env: {} }).get("expansion", key);
    } finally {
      server.close();
    }
    assert.deepEqual(seen, [
      "Bearer s3cret",
      `Basic ${Buffer.from("ci:pw").toString("base64")}`,
      `Basic ${Buffer.from("bot:p@ss").toString("base64")}`,
      undefined,
    ]);
    assert.deepEqual(paths, [`/ac/${key}`, `/ac/${key}`, `/prefix/ac/${key}`, `/ac/${key}`], "a URL path is a prefix");
  });
});
