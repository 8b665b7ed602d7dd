// Who grants: the user, never the code. Shown by attacking, as a hostile repository would:
//   - a repository granting itself (its macrobox.toml, its Cargo.toml's [workspace.metadata.macrobox],
//     an env glob "?*" meaning the whole environment, a remote cache of its own) gets nothing before
//     `macrobox trust`, and each refusal says which command would grant it;
//   - after `macrobox trust` the legitimate grants work (examples/config-macros reads its file and
//     env var, through the CLI and the proc-macro server); an edit makes them inactive until trusted again;
//   - a crate directory that is a committed symlink to outside the trusted workspace gets no grants
//     (the server walks up the real path);
//   - a grants file planted by another user (nobody, via setpriv) in a world-writable parent of the
//     workspace is ignored with a note; so is a root-owned one in a directory anyone can write;
//   - env globs from a file are ignored with a note, from a flag honoured;
//   - the user's own file grants only per workspace real path; a top-level [grants] there is refused.
// Every test runs with a temporary HOME, XDG_CONFIG_HOME and XDG_DATA_HOME.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { findToolchain } from "../../src/builder/index.js";
import { requestSandbox } from "../../src/node/expansion-sandbox.js";
import { grantFor } from "../../src/node/grants.js";
import { ProcMacroServerClient } from "../support/server-client.js";
import { remoteCacheSetting } from "../../src/node/settings.js";
import {
  decideGrants,
  listTrust,
  pendingHint,
  readTrustStore,
  revokeTrust,
  trust,
  trustStorePath,
  unsafeFileReason,
  userDirs,
  type UserDirs,
} from "../../src/node/trust.js";
import { effectiveGrant, envAllowed } from "../../src/sandbox/capabilities.js";
import { encodeRequestLine } from "../../src/server/protocol.js";
import { lexSource } from "../oracle/native.js";
import { idRequest } from "../oracle/server-requests.js";
import { macroboxArgs } from "../support/cli.js";
import { buildModule } from "../support/build.js";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = join(HERE, "..");
const LAUNCHER = join(HERE, "oracle/native/macrobox-server.ts");

let root = "";
let env: NodeJS.ProcessEnv = {};
let dirs: UserDirs;
let configWasm = "";

before(async () => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-trust-")));
  chmodSync(root, 0o755); // user nobody plants files below it
  const home = join(root, "home");
  mkdirSync(home, { mode: 0o700 });
  env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };
  dirs = userDirs(env);
  const out = join(root, "config-macros.wasm");
  configWasm = (await buildModule({ crate: join(ROOT, "examples/config-macros"), output: out })).output;
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

function macrobox(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, macroboxArgs(...args), { cwd, env: { ...env, ...extraEnv }, encoding: "utf8" });
}

/** A workspace with one crate `app` (app.conf, other.conf), and its files. */
function workspace(name: string, files: Record<string, string> = {}): { ws: string; app: string } {
  const ws = join(root, name);
  const app = join(ws, "app");
  mkdirSync(join(app, "src"), { recursive: true });
  writeFileSync(join(app, "Cargo.toml"), '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n');
  writeFileSync(join(app, "src", "lib.rs"), "");
  writeFileSync(join(app, "app.conf"), "name = demo\n");
  for (const [file, text] of Object.entries(files)) writeFileSync(join(ws, file), text);
  return { ws, app };
}

const SELF_GRANT = '[grants.config-macros]\nenv = ["APP_LABEL", "?*"]\nread = ["app.conf"]\n';
const CARGO_SELF_GRANT =
  '[workspace]\nmembers = ["app"]\n\n[workspace.metadata.macrobox]\nremote-cache = "http://attacker.example:8080"\n\n[workspace.metadata.macrobox.grants.config-macros]\nenv = ["APP_LABEL", "?*"]\nread = ["."]\n';

describe("a repository's own grants are a request", () => {
  for (const [kind, files] of [
    ["macrobox.toml", { "macrobox.toml": SELF_GRANT }],
    ["[workspace.metadata.macrobox]", { "Cargo.toml": CARGO_SELF_GRANT }],
  ] as const) {
    test(`${kind}: nothing before trust, the legitimate grants after, globs never, an edit asks again`, () => {
      const { ws, app } = workspace(`request-${kind.replace(/\W/g, "")}`, files);
      const file = join(ws, Object.keys(files)[0]);
      const before = decideGrants({ dirs, repoFile: file, crateDir: app });
      assert.deepEqual(grantFor(before.grants, "config-macros"), { env: [], read: [] });
      assert.equal(before.notes.length, 1);
      assert.match(before.notes[0], new RegExp(`${file.replace(/[.[\]]/g, "\\$&")} asks for grants\\.config_macros: env = \\["APP_LABEL"\\].*not in effect`));
      assert.equal(pendingHint(before, "config_macros"), `\`macrobox trust ${ws}\` would grant what ${file} asks`);
      assert.equal(pendingHint(before, "serde_derive"), undefined);
      // The repository's remote cache is not used either.
      assert.equal(remoteCacheSetting({ dirs, cwd: ws, env: {} }), null);

      const report = trust(dirs, ws);
      assert.equal(report.file, file);
      // Recorded by real path and the sha256 of the bytes, in a 0600 file.
      const store = trustStorePath(dirs);
      assert.equal(statSync(store).mode & 0o777, 0o600);
      assert.deepEqual(
        readTrustStore(dirs).map((e) => [e.path, e.sha256]),
        [[file, createHash("sha256").update(readFileSync(file)).digest("hex")]],
      );
      const after = decideGrants({ dirs, repoFile: file, crateDir: app });
      const granted = grantFor(after.grants, "config-macros");
      // "?*" (the whole environment) is left out, with a note; the named variable and the file are granted.
      assert.deepEqual(granted.env, ["APP_LABEL"]);
      assert.ok(!envAllowed(granted, "AWS_SECRET_ACCESS_KEY"));
      assert.match(after.notes.join("\n"), /env = \["\?\*"\] is ignored: an env glob may match any variable, so it is honoured from the command line only/);
      assert.equal(pendingHint(after, "config_macros"), undefined);
      if (kind === "[workspace.metadata.macrobox]") {
        assert.deepEqual(remoteCacheSetting({ dirs, cwd: ws, env: {} }), { url: "http://attacker.example:8080", readOnly: false });
      }

      // An edit (here: one more variable) is a new request.
      writeFileSync(file, readFileSync(file, "utf8").replace('"APP_LABEL"', '"APP_LABEL", "AWS_SECRET_ACCESS_KEY"'));
      const edited = decideGrants({ dirs, repoFile: file, crateDir: app });
      assert.deepEqual(grantFor(edited.grants, "config-macros"), { env: [], read: [] });
      assert.match(edited.notes[0], /AWS_SECRET_ACCESS_KEY.*not in effect: it changed since you trusted it/);
      assert.deepEqual(
        listTrust(dirs)
          .filter((e) => e.path === file)
          .map((e) => e.status),
        ["changed"],
      );
      trust(dirs, ws);
      assert.deepEqual(grantFor(decideGrants({ dirs, repoFile: file, crateDir: app }).grants, "config-macros").env, ["APP_LABEL", "AWS_SECRET_ACCESS_KEY"]);
      assert.equal(revokeTrust(dirs, ws).length, 1);
      assert.deepEqual(grantFor(decideGrants({ dirs, repoFile: file, crateDir: app }).grants, "config-macros"), { env: [], read: [] });
    });
  }

  test("the server's decision per expansion: every change to the request, the trust store or the user's file is seen by the next one", () => {
    const { ws, app } = workspace("decided-again", { "macrobox.toml": SELF_GRANT });
    const file = join(ws, "macrobox.toml");
    const module = { crate: { name: "config-macros", version: "0.1.0" }, declared: { env: ["APP_LABEL", "HOME_PATH"], read: ["app.conf"] } };
    const granted = () => requestSandbox(module, [["CARGO_MANIFEST_DIR", app]], app, dirs).sandbox.granted;
    const nothing = { env: [], read: [] };
    assert.deepEqual(granted(), nothing);
    assert.deepEqual(granted(), nothing, "asked again: still a request");
    trust(dirs, ws);
    assert.deepEqual(granted().env, ["APP_LABEL"]);
    assert.deepEqual(granted().read, ["app.conf"]);
    // The attack on a decision kept by the files' versions: the trusted file rewritten in place to ask
    // for another variable, with the same size and its old times put back (only its ctime moves).
    const { atime, mtime, size } = statSync(file);
    const forged = readFileSync(file, "utf8").replace('"APP_LABEL"', '"HOME_PATH"');
    assert.equal(Buffer.byteLength(forged), size);
    writeFileSync(file, forged);
    utimesSync(file, atime, mtime);
    assert.deepEqual(granted(), nothing, "the rewritten file is a new request");
    // Renamed over it (a new inode), with the trusted bytes back and the same times: trusted again.
    writeFileSync(`${file}.new`, forged.replace('"HOME_PATH"', '"APP_LABEL"'));
    utimesSync(`${file}.new`, atime, mtime);
    renameSync(`${file}.new`, file);
    assert.deepEqual(granted().env, ["APP_LABEL"]);
    // The user's own file and the trust store count at once too.
    mkdirSync(dirs.config, { recursive: true });
    writeFileSync(join(dirs.config, "macrobox.toml"), `[workspace.${JSON.stringify(ws)}.grants.config-macros]\nenv = ["HOME_PATH"]\n`);
    assert.deepEqual([...granted().env].sort(), ["APP_LABEL", "HOME_PATH"], "the user's grant joins");
    rmSync(join(dirs.config, "macrobox.toml"));
    assert.ok(!granted().env.includes("HOME_PATH"), "and goes with the file");
    assert.equal(revokeTrust(dirs, ws).length, 1);
    assert.deepEqual(granted(), nothing);
  });

  test("a trusted workspace's grants hold only for crates whose real path lies inside it", () => {
    const { ws } = workspace("symlinked", { "macrobox.toml": SELF_GRANT });
    const outside = workspace("outside-target").app;
    symlinkSync(outside, join(ws, "linked"));
    trust(dirs, ws);
    const decision = decideGrants({ dirs, repoFile: join(ws, "macrobox.toml"), crateDir: join(ws, "linked") });
    assert.deepEqual(grantFor(decision.grants, "config-macros"), { env: [], read: [] });
    assert.match(decision.notes.join("\n"), new RegExp(`crate being compiled, ${join(ws, "linked")} \\(real path ${outside}\\), lies outside that workspace`));
    // A repository's settings file that is a symlink to a trusted one elsewhere lends it nothing.
    const { ws: evil, app: evilApp } = workspace("borrower");
    symlinkSync(join(ws, "macrobox.toml"), join(evil, "macrobox.toml"));
    assert.deepEqual(grantFor(decideGrants({ dirs, repoFile: join(evil, "macrobox.toml"), crateDir: evilApp }).grants, "config-macros"), {
      env: [],
      read: [],
    });
  });
});

describe("files another user could have written are ignored", () => {
  test("planted by nobody in a world-writable parent (1777 and 0777): ignored with a note, and cannot be trusted", () => {
    for (const mode of [0o1777, 0o777]) {
      const shared = join(root, `shared-${mode.toString(8)}`);
      mkdirSync(shared);
      chmodSync(shared, mode);
      const { ws, app } = workspace(`shared-${mode.toString(8)}/ws`);
      const planted = join(shared, "macrobox.toml");
      const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", `printf '%s' "$0" > "$1"`, SELF_GRANT, planted]);
      assert.equal(r.status, 0, String(r.stderr));
      assert.equal(statSync(planted).uid, 65534);
      // Even if the user ran `macrobox trust` somewhere above: trust refuses it.
      assert.throws(() => trust(dirs, shared), /cannot be trusted: .*owned by uid 65534/);
      const decision = decideGrants({ dirs, repoFile: planted, crateDir: app });
      assert.deepEqual(grantFor(decision.grants, "config-macros"), { env: [], read: [] });
      assert.match(decision.notes.join("\n"), /macrobox\.toml is ignored: .* is owned by uid 65534, not by you \(uid 0\) or root/);
      // Root's own file there counts no more: anyone could have replaced it (0777), or put it there.
      rmSync(planted);
      writeFileSync(planted, SELF_GRANT);
      assert.match(unsafeFileReason(planted) ?? "", /the directory of .* is writable by its group or by others/);
      // The workspace's own files, below it: a sticky parent (/tmp's kind) is accepted, a 0777 one is not.
      const below = unsafeFileReason(join(ws, "app", "Cargo.toml"));
      if (mode === 0o1777) assert.equal(below, null);
      else assert.match(below ?? "", /a directory above .* is writable by its group or by others/);
    }
  });

  test("the proc-macro server walking up from a crate obeys no planted file", async () => {
    const shared = join(root, "shared-server");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const { app } = workspace("shared-server/ws");
    const planted = join(shared, "macrobox.toml");
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", `printf '%s' "$0" > "$1"`, SELF_GRANT, planted]);
    assert.equal(r.status, 0, String(r.stderr));
    await withServer(async (server) => {
      const reply = await server.requestLine(encodeRequestLine(configConsts(app)));
      assert.ok(!reply.includes("demo") && reply.includes("Permission denied"), reply.slice(0, 300));
      await stderrMatching(server, /macrobox\.toml is ignored: .*owned by uid 65534/);
    });
  });
});

describe("the user's own file", () => {
  test("grants per workspace real path; env globs there ignored; globs from flags honoured; top-level [grants] refused", () => {
    const { ws, app } = workspace("user-scoped");
    const other = workspace("user-other").app;
    mkdirSync(dirs.config, { recursive: true });
    const userFile = join(dirs.config, "macrobox.toml");
    writeFileSync(userFile, `[workspace.${JSON.stringify(ws)}.grants.config-macros]\nenv = ["APP_LABEL", "APP_*"]\nread = ["app.conf"]\n`);
    try {
      const inside = decideGrants({ dirs, repoFile: null, crateDir: app });
      assert.deepEqual(grantFor(inside.grants, "config_macros"), { env: ["APP_LABEL"], read: ["app.conf"] });
      assert.match(inside.notes.join("\n"), /env = \["APP_\*"\] is ignored: an env glob/);
      // Another workspace's crate of the same name gets nothing, nor one symlinked into the workspace.
      assert.deepEqual(grantFor(decideGrants({ dirs, repoFile: null, crateDir: other }).grants, "config_macros"), { env: [], read: [] });
      symlinkSync(other, join(ws, "linked"));
      assert.deepEqual(grantFor(decideGrants({ dirs, repoFile: null, crateDir: join(ws, "linked") }).grants, "config_macros"), { env: [], read: [] });
      // A glob from the command line is the user's: honoured.
      const flagged = grantFor(decideGrants({ dirs, repoFile: null, crateDir: other, allowEnv: ["config-macros:APP_*"] }).grants, "config_macros");
      const effective = effectiveGrant("config-macros", { env: [], read: [] }, flagged);
      assert.ok(effective.ok && envAllowed(effective.grant, "APP_ANYTHING"));
      writeFileSync(userFile, '[grants.config-macros]\nenv = ["DATABASE_URL"]\n');
      assert.throws(() => decideGrants({ dirs, repoFile: null, crateDir: app }), /would grant any crate of that name in any repository/);
    } finally {
      rmSync(userFile);
    }
  });

  test("userDirs: XDG values when absolute, else under HOME", () => {
    assert.deepEqual(userDirs({ HOME: "/h", XDG_CONFIG_HOME: "/c", XDG_DATA_HOME: "/d" }), { config: "/c/macrobox", data: "/d/macrobox" });
    assert.deepEqual(userDirs({ HOME: "/h", XDG_CONFIG_HOME: "rel", XDG_DATA_HOME: "" }), { config: "/h/.config/macrobox", data: "/h/.local/share/macrobox" });
  });
});

describe("end to end: macrobox expand and macrobox trust", () => {
  test("a self-grant is refused with the command that grants it; after `macrobox trust` the file and the variable are read; an edit asks again", () => {
    const { ws, app } = workspace("cli", { "macrobox.toml": SELF_GRANT });
    const consts = () => macrobox(["expand", configWasm, "--bang", "config_consts", '"app.conf"', "--crate-dir", app, "--no-format"], ws, { APP_LABEL: "x" });
    const refused = consts();
    assert.ok(!refused.stdout.includes("demo"), refused.stdout);
    assert.match(refused.stderr, /note: .*macrobox\.toml asks for grants\.config_macros: env = \["APP_LABEL"\], read = \["app\.conf"\].*not in effect/);
    assert.match(refused.stderr, new RegExp(`tried to read file ${app}/app\\.conf.*\`macrobox trust ${ws}\` would grant what ${ws}/macrobox\\.toml asks`));
    const shown = macrobox(["trust", "--show", ws], ws);
    assert.equal(shown.status, 0, shown.stderr);
    assert.deepEqual(
      readTrustStore(dirs).filter((e) => e.path.startsWith(ws)),
      [],
    );
    const trusted = macrobox(["trust", ws], ws);
    assert.equal(trusted.status, 0, trusted.stderr);
    assert.match(trusted.stdout, /grants\.config_macros: env = \["APP_LABEL"\], read = \["app\.conf"\]/);
    assert.match(trusted.stdout, /ignored even when trusted: .*"\?\*"/);
    assert.match(macrobox(["trust", "--list"], ws).stdout, new RegExp(`trusted +${ws}/macrobox\\.toml`));
    const granted = consts();
    assert.equal(granted.status, 0, granted.stderr);
    assert.match(granted.stdout, /NAME: &str = "demo"/);
    const item = join(app, "src", "item.rs");
    writeFileSync(item, 'fn l() -> &\'static str { "default" }\n');
    const label = macrobox(["expand", configWasm, "--attr", "env_or", "--args", '"APP_LABEL"', item], ws, {
      APP_LABEL: "from-the-user",
      AWS_SECRET_ACCESS_KEY: "hunter2",
    });
    assert.match(label.stdout, /from-the-user/);
    const secret = macrobox(["expand", configWasm, "--attr", "env_or", "--args", '"AWS_SECRET_ACCESS_KEY"', item], ws, { AWS_SECRET_ACCESS_KEY: "hunter2" });
    assert.ok(!secret.stdout.includes("hunter2") && secret.stdout.includes("default"), secret.stdout);
    // ... unless the user says so on the command line, where a glob is honoured.
    const flagged = macrobox(["expand", configWasm, "--attr", "env_or", "--args", '"AWS_SECRET_ACCESS_KEY"', item, "--allow-env", "config-macros:AWS_*"], ws, {
      AWS_SECRET_ACCESS_KEY: "hunter2",
    });
    assert.match(flagged.stdout, /hunter2/);
    writeFileSync(join(ws, "macrobox.toml"), SELF_GRANT.replace('read = ["app.conf"]', 'read = ["."]'));
    const edited = consts();
    assert.ok(!edited.stdout.includes("demo"), edited.stdout);
    assert.match(edited.stderr, /not in effect: it changed since you trusted it/);
    const revoked = macrobox(["trust", "--revoke", ws], ws);
    assert.match(revoked.stdout, /revoked .*macrobox\.toml/);
  });
});

describe("the proc-macro server", () => {
  test("untrusted: nothing granted and a note; trusted: granted; a symlinked crate directory out of the workspace: nothing", async () => {
    const { ws, app } = workspace("server", { "macrobox.toml": SELF_GRANT });
    const outside = workspace("server-outside").app;
    writeFileSync(join(outside, "app.conf"), "name = outside-secret\n");
    symlinkSync(outside, join(ws, "linked"));
    await withServer(async (server) => {
      const untrusted = await server.requestLine(encodeRequestLine(configConsts(app)));
      assert.ok(!untrusted.includes("demo") && untrusted.includes("Permission denied"), untrusted.slice(0, 300));
      await stderrMatching(server, new RegExp(`macrobox\\.toml asks for .*not in effect.*\`macrobox trust ${ws}\``));
      await stderrMatching(server, new RegExp(`tried to read file ${app}/app\\.conf.*\`macrobox trust ${ws}\` would grant`));
      trust(dirs, ws);
      const granted = await server.requestLine(encodeRequestLine(configConsts(app)));
      assert.ok(granted.includes("demo"), granted.slice(0, 300));
      const linked = await server.requestLine(encodeRequestLine(configConsts(join(ws, "linked"))));
      assert.ok(!linked.includes("outside-secret") && linked.includes("Permission denied"), linked.slice(0, 300));
      // An edit is seen at the next request (no stale memo): nothing again.
      writeFileSync(join(ws, "macrobox.toml"), SELF_GRANT + "\n");
      const edited = await server.requestLine(encodeRequestLine(configConsts(app)));
      assert.ok(!edited.includes("demo"), edited.slice(0, 300));
    });
  });
});

describe("the cargo host (macrobox patch, cargo build)", () => {
  test("a self-grant gives the build nothing until trusted; trusted, the program has what it legitimately asks; an edit takes it away", () => {
    const toolchain = findToolchain();
    const macros = join(root, "patch-config-macros");
    cpSync(join(ROOT, "examples", "config-macros"), macros, { recursive: true, filter: (p) => !p.includes("/target") });
    const ws = join(root, "patch-ws");
    mkdirSync(join(ws, "src"), { recursive: true });
    writeFileSync(
      join(ws, "Cargo.toml"),
      `[package]\nname = "patch-ws"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nconfig-macros = { path = ${JSON.stringify(macros)} }\n`,
    );
    const main =
      'config_macros::config_consts!("app.conf");\n#[config_macros::env_or("APP_SECRET")]\nfn secret() -> &\'static str { "unset" }\nfn main() { println!("{} {}", NAME, secret()); }\n';
    writeFileSync(join(ws, "src", "main.rs"), main);
    writeFileSync(join(ws, "app.conf"), "name = demo\n");
    writeFileSync(join(ws, "macrobox.toml"), '[grants.config-macros]\nenv = ["APP_SECRET", "?*"]\nread = ["app.conf"]\n');
    const cargoEnv = {
      CARGO_TARGET_DIR: join(root, "patch-target"),
      CARGO_NET_OFFLINE: "true",
      CARGO_TERM_COLOR: "never",
      // cargo's own home stays the real one (its registry configuration); macrobox's dirs are the temporary ones.
      CARGO_HOME: process.env.CARGO_HOME ?? join(process.env.HOME ?? "/root", ".cargo"),
      MACROBOX_HOST_IDLE_MS: "2000",
      RUSTC: toolchain.rustc,
      APP_SECRET: "hunter2",
      OTHER_SECRET: "swordfish",
    };
    const cargo = () => spawnSync(toolchain.cargo, ["run", "-q"], { cwd: ws, env: { ...env, ...cargoEnv }, encoding: "utf8" });
    const patched = macrobox(["patch"], ws, cargoEnv);
    assert.equal(patched.status, 0, patched.stderr);
    assert.match(patched.stdout, /note: .*macrobox\.toml asks for grants\.config_macros: env = \["APP_SECRET"\], read = \["app\.conf"\].*not in effect/);
    assert.match(patched.stdout, /granted: {2}none/);

    const untrusted = cargo();
    assert.notEqual(untrusted.status, 0, untrusted.stdout);
    assert.ok(!`${untrusted.stdout}${untrusted.stderr}`.includes("hunter2"));
    assert.match(untrusted.stderr, new RegExp(`tried to read file ${ws}/app\\.conf.*\`macrobox trust ${ws}\` would grant what ${ws}/macrobox\\.toml asks`));

    const trusted = macrobox(["trust"], ws);
    assert.equal(trusted.status, 0, trusted.stderr);
    const granted = cargo();
    assert.equal(granted.status, 0, granted.stderr);
    // The variable it names, not the whole environment its glob asked for.
    assert.equal(granted.stdout, "demo hunter2\n");

    // An edit asks again: the next build (the source touched, so that cargo compiles it again) gets nothing.
    writeFileSync(join(ws, "macrobox.toml"), '[grants.config-macros]\nenv = ["APP_SECRET", "OTHER_SECRET"]\nread = ["app.conf"]\n');
    writeFileSync(join(ws, "src", "main.rs"), main + "\n");
    const edited = cargo();
    assert.notEqual(edited.status, 0, edited.stdout);
    assert.match(edited.stderr, /changed since you trusted it|would grant what/);
    assert.equal(macrobox(["patch", "--undo"], ws, cargoEnv).status, 0);
  });
});

function configConsts(dir: string) {
  return idRequest("/nowhere/libconfig_macros-0123456789abcdef.so", "config_consts", lexSource('"app.conf"'), null, {
    env: [
      ["CARGO_MANIFEST_DIR", dir],
      ["CARGO_PKG_NAME", "app"],
      ["APP_LABEL", "x"],
    ],
    currentDir: dir,
  });
}

async function withServer(run: (server: ProcMacroServerClient) => Promise<void>): Promise<void> {
  const server = new ProcMacroServerClient({
    command: process.execPath,
    args: ["--import", "tsx", LAUNCHER, "--format", "json-legacy"],
    env: { ...env, MACROBOX_TEST_MODULES: JSON.stringify({ config_macros: configWasm }) },
  });
  try {
    await run(server);
  } finally {
    await server.close();
  }
}

async function stderrMatching(server: ProcMacroServerClient, re: RegExp): Promise<void> {
  for (let i = 0; i < 100 && !re.test(server.stderrTail); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(server.stderrTail, re);
}
