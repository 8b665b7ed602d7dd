// Where the remote cache setting comes from (src/node/settings.ts), how bad settings are reported,
// and the credentials a request carries (src/node/remote-cache.ts), seen by a real HTTP server.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MacroboxError } from "../../src/errors.js";
import { grantFor } from "../../src/node/grants.js";
import { loadGrants, trust, userDirs } from "../../src/node/trust.js";
import { RemoteCache } from "../../src/node/remote-cache.js";
import { remoteCacheSetting } from "../../src/node/settings.js";

// The user's directories, empty: nothing trusted, no file of their own.
const dirs = userDirs({ HOME: realpathSync(mkdtempSync(join(tmpdir(), "macrobox-settings-home-"))) });

describe("remote cache settings", () => {
  it("takes the flag over the environment over the file, and reads macrobox.toml and Cargo.toml once trusted", () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-settings-")));
    writeFileSync(join(dir, "macrobox.toml"), 'remote-cache = "http://file:1"\nremote-cache-read-only = true\n[grants.x]\nenv = ["A"]\n');
    // An untrusted repository does not point the user's cache traffic at its server.
    const notes: string[] = [];
    assert.equal(
      remoteCacheSetting({ dirs, cwd: dir, env: {} }, (n) => notes.push(n)),
      null,
    );
    assert.match(notes.join("\n"), /remote-cache = "http:\/\/file:1".*not in effect/);
    trust(dirs, dir);
    assert.deepEqual(remoteCacheSetting({ dirs, cwd: dir, env: {} }), { url: "http://file:1", readOnly: true });
    assert.deepEqual(remoteCacheSetting({ dirs, cwd: dir, env: { MACROBOX_REMOTE_CACHE: "http://env:2", MACROBOX_REMOTE_CACHE_READ_ONLY: "0" } }), {
      url: "http://env:2",
      readOnly: false,
    });
    assert.deepEqual(remoteCacheSetting({ dirs, cwd: dir, env: { MACROBOX_REMOTE_CACHE: "http://env:2" }, remoteCache: "https://flag:3" }), {
      url: "https://flag:3",
      readOnly: true,
    });
    assert.equal(remoteCacheSetting({ dirs, cwd: dir, env: {}, remoteCache: "off" }), null);
    // The grants in the same file still read.
    assert.deepEqual(grantFor(loadGrants({ dirs, cwd: dir }).grants, "x"), { env: ["A"], read: [] });

    const ws = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-settings-ws-")));
    writeFileSync(join(ws, "Cargo.toml"), '[workspace]\nmembers = []\n[workspace.metadata.macrobox]\nremote-cache = "http://ws:4"\n');
    assert.equal(remoteCacheSetting({ dirs, cwd: ws, env: {} }), null);
    trust(dirs, ws);
    assert.deepEqual(remoteCacheSetting({ dirs, cwd: ws, env: {} }), { url: "http://ws:4", readOnly: false });
    const none = mkdtempSync(join(tmpdir(), "macrobox-settings-none-"));
    assert.equal(remoteCacheSetting({ dirs, cwd: none, env: {} }), null);
    // The user's own file sets it for every directory.
    mkdirSync(dirs.config, { recursive: true });
    writeFileSync(join(dirs.config, "macrobox.toml"), 'remote-cache = "http://mine:5"\n');
    assert.deepEqual(remoteCacheSetting({ dirs, cwd: none, env: {} }), { url: "http://mine:5", readOnly: false });
    // A trusted repository's setting is more specific than the user's default.
    assert.deepEqual(remoteCacheSetting({ dirs, cwd: ws, env: {} }), { url: "http://ws:4", readOnly: false });
  });

  it("names a setting that is not an http(s) URL", () => {
    assert.throws(
      () => remoteCacheSetting({ dirs, env: { MACROBOX_REMOTE_CACHE: "cache.internal:8080" }, cwd: tmpdir() }),
      (e: unknown) => e instanceof MacroboxError && /MACROBOX_REMOTE_CACHE: "cache.internal:8080" is not an http or https URL/.test(e.message),
    );
    assert.throws(() => remoteCacheSetting({ dirs, remoteCache: "not a url", cwd: tmpdir(), env: {} }), /--remote-cache: "not a url" is not a URL/);
    const dir = mkdtempSync(join(tmpdir(), "macrobox-settings-bad-"));
    writeFileSync(join(dir, "macrobox.toml"), "remote-cache = 8080\n");
    assert.throws(() => remoteCacheSetting({ dirs, cwd: dir, env: {} }), /macrobox.toml: remote-cache must be a string/);
    // A file's URL is checked by the one settings parser, as the file's other keys are (a capability error naming the file).
    writeFileSync(join(dir, "macrobox.toml"), 'remote-cache = "ftp://cache:21"\n');
    assert.throws(
      () => remoteCacheSetting({ dirs, cwd: dir, env: {} }),
      (e: unknown) =>
        e instanceof MacroboxError && e.code === "capability" && /macrobox\.toml: remote-cache: "ftp:\/\/cache:21" is not an http or https URL/.test(e.message),
    );
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
