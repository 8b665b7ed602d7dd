// How a build script's grant is put together (build-scripts.ts, grants.ts): the package's request
// from `[package.metadata.macrobox.build]`, the user's file's build-grants and `--grant-build`. The
// attacks and the sandbox itself are in build-script-grants.test.ts; here, the parsing and joining.

import assert from "node:assert/strict";
import { test } from "node:test";

import { buildScriptGrants, parseGrantBuildFlags } from "../../src/patch/build-scripts.js";
import { parseSettings } from "../../src/node/grants.js";

const pkg = (request: unknown) => ({ name: "openssl-sys", version: "0.9.0", manifestDir: "/reg/openssl-sys-0.9.0", request });

test("a package's request alone grants nothing; what it asks that is not granted is listed as --grant-build items", () => {
  const { scripts, notes } = buildScriptGrants([pkg({ network: true, read: ["vendor", "/opt/ssl"], env: ["OPENSSL_DIR"] })]);
  assert.deepEqual(notes, []);
  assert.deepEqual(scripts[0].granted, { network: false, read: [], write: [], env: [] });
  assert.deepEqual(scripts[0].requested.read, ["/reg/openssl-sys-0.9.0/vendor", "/opt/ssl"], "a relative path is the package's");
  assert.deepEqual(scripts[0].ungranted, ["network", "read=/reg/openssl-sys-0.9.0/vendor", "read=/opt/ssl", "env=OPENSSL_DIR"]);
});

test("--grant-build: one capability each, or the package alone for all it asks (the network only if asked)", () => {
  const request = { read: ["/opt/ssl"], env: ["OPENSSL_DIR"] };
  const all = buildScriptGrants([pkg(request)], parseGrantBuildFlags(["openssl_sys"])).scripts[0];
  assert.deepEqual(all.granted, { network: false, read: ["/opt/ssl"], write: [], env: ["OPENSSL_DIR"] }, "- and _ equal; no network it did not ask for");
  assert.deepEqual(all.ungranted, []);
  const one = buildScriptGrants([pkg({ ...request, network: true })], parseGrantBuildFlags(["openssl-sys:network", "openssl-sys:write=/tmp/x"])).scripts[0];
  assert.deepEqual(one.granted, { network: true, read: [], write: ["/tmp/x"], env: [] }, "the user may grant beyond the request");
  assert.deepEqual(one.ungranted, ["read=/opt/ssl", "env=OPENSSL_DIR"]);
  for (const bad of ["openssl-sys:net", "openssl-sys:read=", "a b:network", ":network"])
    assert.throws(() => parseGrantBuildFlags([bad]), /--grant-build expects <package>:network/, bad);
});

test('the user\'s file: [workspace."<dir>".build-grants.<package>], one parser for the grant and the request', () => {
  const file = parseSettings(
    `[workspace."/src/app".grants.pest_derive]\nread = ["g.pest"]\n[workspace."/src/app".build-grants.openssl-sys]\nnetwork = true\nenv = ["OPENSSL_DIR"]\n`,
    "/u/macrobox.toml",
    "user",
  );
  assert.deepEqual(file.buildWorkspaces.get("/src/app")?.get("openssl_sys"), { network: true, read: [], write: [], env: ["OPENSSL_DIR"] });
  assert.throws(
    () => parseSettings(`[workspace."/src/app".build-grants.x]\nnetwork = "yes"\n`, "/u/macrobox.toml", "user"),
    /\/u\/macrobox\.toml: \[workspace\."\/src\/app"\]\.build-grants\.x\.network must be true or false/,
  );
  assert.throws(
    () => parseSettings(`[workspace."/src/app".build-grants.x]\nexec = ["sh"]\n`, "/u/macrobox.toml", "user"),
    /unknown key `exec` \(known: network, read, write, env\)/,
  );
  // A request that does not parse is a note, not a failure of the patch.
  const { scripts, notes } = buildScriptGrants([pkg({ network: "please" })]);
  assert.deepEqual(scripts[0].requested, { network: false, read: [], write: [], env: [] });
  assert.match(notes[0], /\/reg\/openssl-sys-0\.9\.0\/Cargo\.toml: \[package\.metadata\.macrobox\.build\]\.network must be true or false/);
});
