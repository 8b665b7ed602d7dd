// How a build script's grant is put together (build-scripts.ts, grants.ts): the package's request
// from `[package.metadata.macrobox.build]`, the user's file's build-grants and `--grant-build`, and
// which package each grant reaches: a bare name crates.io's package only, a repository's own
// package (path, in-repo, git, another registry) by its directory only. The attacks and the
// sandbox itself are in build-script-grants.test.ts and build-script-grant-squat.test.ts; here, the
// parsing and joining.

import assert from "node:assert/strict";
import { test } from "node:test";

import { buildScriptGrants, parseGrantBuildFlags, type RepositorySources } from "../../src/patch/build-scripts.js";
import { parseSettings } from "../../src/node/grants.js";

const CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index";
const pkg = (request: unknown, over: { name?: string; version?: string; manifestDir?: string; source?: string | null } = {}) => ({
  name: "openssl-sys",
  version: "0.9.0",
  manifestDir: "/reg/openssl-sys-0.9.0",
  source: CRATES_IO,
  request,
  ...over,
});
const WS: RepositorySources = { workspace: "/ws", dirs: [], files: [] };
/** The squatter: a package of the repository named like crates.io's, asking the network and a secret. */
const SQUAT = { network: true, read: ["/root/.ssh"] };
const REAL = { env: ["OPENSSL_DIR"] };
const nothing = { network: false, read: [], write: [], env: [] };

test("a package's request alone grants nothing; what it asks that is not granted is listed as --grant-build items", () => {
  const { scripts, notes } = buildScriptGrants([pkg({ network: true, read: ["vendor", "/opt/ssl"], env: ["OPENSSL_DIR"] })], WS);
  assert.deepEqual(notes, []);
  assert.deepEqual(scripts[0].granted, nothing);
  assert.deepEqual(scripts[0].requested.read, ["/reg/openssl-sys-0.9.0/vendor", "/opt/ssl"], "a relative path is the package's");
  assert.deepEqual(scripts[0].ungranted, ["network", "read=/reg/openssl-sys-0.9.0/vendor", "read=/opt/ssl", "env=OPENSSL_DIR"]);
  assert.equal(scripts[0].grantAs, "openssl-sys");
});

test("--grant-build: one capability each, or the package alone for all it asks (the network only if asked)", () => {
  const request = { read: ["/opt/ssl"], env: ["OPENSSL_DIR"] };
  const all = buildScriptGrants([pkg(request)], WS, parseGrantBuildFlags(["openssl_sys"])).scripts[0];
  assert.deepEqual(all.granted, { network: false, read: ["/opt/ssl"], write: [], env: ["OPENSSL_DIR"] }, "- and _ equal; no network it did not ask for");
  assert.deepEqual(all.ungranted, []);
  const one = buildScriptGrants([pkg({ ...request, network: true })], WS, parseGrantBuildFlags(["openssl-sys:network", "openssl-sys:write=/tmp/x"])).scripts[0];
  assert.deepEqual(one.granted, { network: true, read: [], write: ["/tmp/x"], env: [] }, "the user may grant beyond the request");
  assert.deepEqual(one.ungranted, ["read=/opt/ssl", "env=OPENSSL_DIR"]);
  for (const bad of ["openssl-sys:net", "openssl-sys:read=", "a b:network", ":network", "openssl-sys@:network"])
    assert.throws(() => parseGrantBuildFlags([bad]), /--grant-build expects <package>:network/, bad);
  assert.deepEqual(
    parseGrantBuildFlags(["./crates/gen:read=/a:b", "/abs/x:y:network"], "/home/me/app").map((g) => g.spec),
    [{ dir: "/home/me/app/crates/gen" }, { dir: "/abs/x:y" }],
    "a directory relative to the working directory; the first `:` before an item splits",
  );
});

test("a repository's path package named like the crates.io package the user granted gets nothing of it, and a note says how to grant it", () => {
  const squat = pkg(SQUAT, { version: "0.0.1", manifestDir: "/ws/crates/openssl-sys", source: null });
  const file = parseSettings(`[workspace."/ws".build-grants.openssl-sys]\nnetwork = true\nread = ["*"]\n`, "/u/macrobox.toml", "user");
  const { scripts, notes } = buildScriptGrants(
    [pkg(REAL), squat],
    WS,
    file.buildWorkspaces.get("/ws")!,
    parseGrantBuildFlags(["openssl-sys", "openssl-sys:read=/root/.ssh"]),
  );
  const [real, squatter] = scripts;
  assert.deepEqual(real.granted, { network: true, read: ["/root/.ssh"], write: [], env: ["OPENSSL_DIR"] }, "crates.io's package still gets its grant");
  assert.deepEqual(squatter.granted, nothing, "the squatter gets none of it");
  assert.deepEqual(squatter.ungranted, ["network", "read=/root/.ssh"]);
  assert.equal(squatter.grantAs, "/ws/crates/openssl-sys");
  assert.equal(squatter.fileKey, '"./crates/openssl-sys"');
  assert.equal(notes.length, 3, notes.join("\n"));
  for (const n of notes) {
    assert.match(n, /does not grant openssl-sys 0\.0\.1 at \/ws\/crates\/openssl-sys: it is a path package/);
    assert.ok(n.includes("`--grant-build /ws/crates/openssl-sys:<item>`"), n);
    assert.ok(n.includes('[workspace."/ws".build-grants."./crates/openssl-sys"]'), n);
  }
  assert.match(notes[0], /^\/u\/macrobox\.toml \[workspace\."\/ws"\]\.build-grants\.openssl-sys does not grant/);
  assert.match(notes[1], /^--grant-build openssl-sys does not grant/);
});

test("in-repo vendored, git, another registry, or a workspace whose cargo config says where crates come from: a bare name reaches none of them", () => {
  const cases: Array<[ReturnType<typeof pkg>, RepositorySources, RegExp]> = [
    [pkg(SQUAT, { manifestDir: "/ws/vendor/openssl-sys" }), WS, /its directory lies inside the workspace \/ws/],
    [pkg(SQUAT, { manifestDir: "/elsewhere/openssl-sys" }), { ...WS, dirs: ["/elsewhere"] }, /lies in \/elsewhere, a source directory a cargo config file/],
    [pkg(SQUAT), { ...WS, files: ["/ws/.cargo/config.toml"] }, /\/ws\/\.cargo\/config\.toml says where packages come from/],
    [
      pkg(SQUAT, { source: "git+file:///tmp/evil?branch=main#0123abcd", manifestDir: "/h/.cargo/git/checkouts/x/0123abc" }),
      WS,
      /it comes from git \(git\+file:\/\/\/tmp\/evil\?branch=main\), a source the repository chose/,
    ],
    [pkg(SQUAT, { source: "registry+https://evil.example/index" }), WS, /it comes from https:\/\/evil\.example\/index, not crates\.io/],
  ];
  for (const [p, sources, why] of cases) {
    const { scripts, notes } = buildScriptGrants([p], sources, parseGrantBuildFlags(["openssl-sys", "openssl-sys:network", "openssl-sys:read=/root/.ssh"]));
    assert.deepEqual(scripts[0].granted, nothing, `${why}`);
    assert.equal(scripts[0].grantAs, p.manifestDir);
    assert.match(notes[0], why);
  }
});

test("a name matching several crates.io packages is refused, as cargo's -p is; name@version picks one", () => {
  const two = [pkg(REAL), pkg(REAL, { version: "0.10.2", manifestDir: "/reg/openssl-sys-0.10.2" })];
  assert.throws(
    () => buildScriptGrants(two, WS, parseGrantBuildFlags(["openssl-sys:network"])),
    /--grant-build openssl-sys:network: the name is ambiguous, it matches openssl-sys@0\.9\.0 \(\/reg\/openssl-sys-0\.9\.0\), openssl-sys@0\.10\.2 .*name one by its version/,
  );
  const { scripts } = buildScriptGrants(two, WS, parseGrantBuildFlags(["openssl-sys@0.10:network"]));
  assert.deepEqual(
    scripts.map((s) => [s.grantAs, s.granted.network]),
    [
      ["openssl-sys@0.9.0", false],
      ["openssl-sys@0.10.2", true],
    ],
  );
  const { notes } = buildScriptGrants(two, WS, parseGrantBuildFlags(["openssl-sys@0.11:network", "zlib-sys"]));
  assert.deepEqual(notes, [
    "--grant-build openssl-sys@0.11:network grants nothing: no package of that name with a build script is in the graph",
    "--grant-build zlib-sys grants nothing: no package of that name with a build script is in the graph",
  ]);
});

test("a directory grants the package there, item by item: its request is the repository's to change, so it alone (all it asks) is refused", () => {
  const squat = pkg(SQUAT, { version: "0.0.1", manifestDir: "/ws/crates/openssl-sys", source: null });
  const { scripts } = buildScriptGrants([pkg(REAL), squat], WS, parseGrantBuildFlags(["./crates/openssl-sys:network"], "/ws"));
  assert.deepEqual(
    scripts.map((s) => s.granted.network),
    [false, true],
  );
  assert.throws(
    () => buildScriptGrants([squat], WS, parseGrantBuildFlags(["/ws/crates/openssl-sys"])),
    /asks network, read=\/root\/\.ssh now; name what you grant, `--grant-build \/ws\/crates\/openssl-sys:network` `--grant-build \/ws\/crates\/openssl-sys:read=\/root\/\.ssh`/,
  );
  // The user's file: "*" under a directory is left out with a note; the rest holds.
  const file = parseSettings(`[workspace."/ws".build-grants."./crates/openssl-sys"]\nnetwork = true\nread = ["*"]\n`, "/u/macrobox.toml", "user");
  assert.deepEqual(file.buildIgnored, [
    '/u/macrobox.toml: [workspace."/ws"].build-grants."./crates/openssl-sys" read = ["*"] is ignored: a package named by its directory is the repository\'s, which may change what it asks; list what you grant',
  ]);
  const fromFile = buildScriptGrants([squat], WS, file.buildWorkspaces.get("/ws")!).scripts[0];
  assert.deepEqual(fromFile.granted, { network: true, read: [], write: [], env: [] });
  assert.deepEqual(buildScriptGrants([squat], WS, parseGrantBuildFlags(["/ws/nothing-here:network"])).notes, [
    "--grant-build /ws/nothing-here:network grants nothing: no package with a build script in the graph lies at /ws/nothing-here",
  ]);
});

test('the user\'s file: [workspace."<dir>".build-grants.<package>], one parser for the grant and the request', () => {
  const file = parseSettings(
    `[workspace."/src/app".grants.pest_derive]\nread = ["g.pest"]\n[workspace."/src/app".build-grants.openssl-sys]\nnetwork = true\nenv = ["OPENSSL_DIR"]\n` +
      `[workspace."/src/app".build-grants."../shared/gen"]\nread = ["/data"]\n`,
    "/u/macrobox.toml",
    "user",
  );
  assert.deepEqual(file.buildWorkspaces.get("/src/app"), [
    {
      spec: { name: "openssl_sys" },
      caps: { network: true, read: [], write: [], env: ["OPENSSL_DIR"] },
      where: '/u/macrobox.toml [workspace."/src/app"].build-grants.openssl-sys',
    },
    {
      spec: { dir: "/src/shared/gen" },
      caps: { network: false, read: ["/data"], write: [], env: [] },
      where: '/u/macrobox.toml [workspace."/src/app"].build-grants."../shared/gen"',
    },
  ]);
  assert.throws(
    () => parseSettings(`[workspace."/src/app".build-grants.x]\nnetwork = "yes"\n`, "/u/macrobox.toml", "user"),
    /\/u\/macrobox\.toml: \[workspace\."\/src\/app"\]\.build-grants\.x\.network must be true or false/,
  );
  assert.throws(
    () => parseSettings(`[workspace."/src/app".build-grants.x]\nexec = ["sh"]\n`, "/u/macrobox.toml", "user"),
    /unknown key `exec` \(known: network, read, write, env\)/,
  );
  assert.throws(
    () => parseSettings(`[workspace."/src/app".build-grants."git+https://x"]\nnetwork = true\n`, "/u/macrobox.toml", "user"),
    /build-grants\."git\+https:\/\/x": a build grant names a crates\.io package \(name or name@version\) or a package's directory/,
  );
  // A request that does not parse is a note, not a failure of the patch.
  const { scripts, notes } = buildScriptGrants([pkg({ network: "please" })], WS);
  assert.deepEqual(scripts[0].requested, nothing);
  assert.match(notes[0], /\/reg\/openssl-sys-0\.9\.0\/Cargo\.toml: \[package\.metadata\.macrobox\.build\]\.network must be true or false/);
});
