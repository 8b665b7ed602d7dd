// The cargo host's boundary, attacked. A second local user (nobody, through setpriv) prepares the
// places a socket could be looked for (the old `$TMPDIR/macrobox-<uid>`, a hostile
// XDG_RUNTIME_DIR, a world-writable directory, a symbolic link to theirs) and listens there:
// a patched build either goes through a directory of the user's own or fails with an error naming
// the directory, and the attacker's sockets receive no connection. A symbolic link planted as the
// host's log is not followed. The host refuses a request over its size bound (a 4 GiB length
// prefix) and keeps serving with little memory, and closes a connection that sends nothing.
// A workspace member's macro runs in the sandbox (it cannot see an env var it sees natively),
// `--keep-native` keeps it native, and an edit to its sources after patching is a compile error
// asking for `macrobox patch` again, never a stale module; a dependent whose version requirement
// excludes the member's shim makes the command fail instead of leaving the macro native.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync, utimesSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findToolchain } from "../../src/builder/index.js";
import { cacheRoot } from "../../src/node/cache-env.js";
import { HostSocketError, hostSocketPath, privateDirProblem } from "../../src/patch/host-socket.js";
import { macroboxArgs } from "../support/cli.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const toolchain = findToolchain();
const NOBODY = 65534;

const scratch = mkdtempSync(join(tmpdir(), "macrobox-host-boundary-"));
// The attacker must reach their own directories inside.
chmodSync(scratch, 0o755);
const ws = join(scratch, "ws");
cpSync(join(repo, "test/fixtures/host-boundary"), ws, { recursive: true });
const cargoHome = join(scratch, "cargo-home");
mkdirSync(cargoHome);
writeFileSync(join(cargoHome, "config.toml"), "[net]\noffline = true\n");
// A shared temporary directory like /tmp, where the old socket directory lived.
const sharedTmp = join(scratch, "tmp");
mkdirSync(sharedTmp);
chmodSync(sharedTmp, 0o1777);
const record = join(scratch, "attacker-record");
mkdirSync(record);
chmodSync(record, 0o777);

const env: NodeJS.ProcessEnv = {
  ...process.env,
  CARGO_HOME: cargoHome,
  CARGO_TARGET_DIR: join(scratch, "target"),
  PATH: `${join(toolchain.cargo, "..")}:${process.env.PATH}`,
  RUSTC: toolchain.rustc,
  CARGO_TERM_COLOR: "never",
  TMPDIR: sharedTmp,
  MEMBER_SECRET: "hunter2",
};
delete env.MACROBOX_HOST_SOCKET;
delete env.XDG_RUNTIME_DIR;

function asNobody(args: string[]) {
  const r = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, `as nobody: ${args.join(" ")}: ${r.stderr}`);
}

// The attacker: listens on every socket path given (making each directory 0777 first), and
// writes down every connection it receives.
const ATTACKER = `
const net = require("node:net"), fs = require("node:fs"), path = require("node:path");
const [record, ...sockets] = process.argv.slice(2);
let ready = 0;
for (const s of sockets) {
  fs.mkdirSync(path.dirname(s), { recursive: true });
  try { fs.chmodSync(path.dirname(s), 0o777); } catch {}
  const server = net.createServer((c) => {
    fs.appendFileSync(path.join(record, "connections"), s + "\\n");
    c.on("data", (d) => fs.appendFileSync(path.join(record, "received"), d));
  });
  server.listen(s, () => { if (++ready === sockets.length) process.stdout.write("ready\\n"); });
}
`;
writeFileSync(join(scratch, "attacker.cjs"), ATTACKER);
chmodSync(join(scratch, "attacker.cjs"), 0o644);

const attackers: ChildProcess[] = [];
async function attacker(sockets: string[]): Promise<void> {
  const child = spawn(
    "setpriv",
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, join(scratch, "attacker.cjs"), record, ...sockets],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  attackers.push(child);
  await new Promise<void>((ready, fail) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && ready());
    child.once("exit", (code) => fail(new Error(`the attacker exited (${code})`)));
  });
}
const connectionsReceived = () => (existsSync(join(record, "connections")) ? readFileSync(join(record, "connections"), "utf8") : "");

function macrobox(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, macroboxArgs(...args), {
    cwd: ws,
    env: { ...env, ...extraEnv },
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function run(extraEnv: NodeJS.ProcessEnv = {}) {
  // The expansion happens again only when app is compiled again.
  const main = join(ws, "app/src/main.rs");
  const now = new Date();
  utimesSync(main, now, now);
  const r = spawnSync(toolchain.cargo, ["run", "-q", "-p", "app"], { cwd: ws, env: { ...env, ...extraEnv }, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

/** The socket path `macrobox patch` baked into the member's shim. */
function bakedSocket(): string {
  const patchToml = readFileSync(join(ws, ".cargo/macrobox-patch.toml"), "utf8");
  const shimDir = /path = "([^"]+)"/.exec(patchToml)![1];
  const lib = readFileSync(join(shimDir, "src/lib.rs"), "utf8");
  return JSON.parse(/const MACROBOX_SOCKET: &'static str = ("[^"]+");/.exec(lib)![1]) as string;
}

test("the cargo host's boundary against a second local user", { timeout: 900_000 }, async (t) => {
  t.after(() => {
    for (const a of attackers) a.kill();
  });

  // Natively the member's macro sees the build's env.
  const native = run();
  assert.equal(native.status, 0, native.stderr);
  assert.equal(native.stdout, "hunter2");

  // A hostile XDG_RUNTIME_DIR (theirs, 0777) is not used; the socket goes to the user's cache.
  const hostileRuntime = join(sharedTmp, "hostile-runtime");
  asNobody(["mkdir", "-m", "0777", hostileRuntime]);
  const patched = macrobox(["patch"], { XDG_RUNTIME_DIR: hostileRuntime });
  assert.equal(patched.status, 0, patched.stderr);
  assert.match(patched.stdout, /member-macro 0\.1\.0 \(edition 2021, workspace member\): module (built|reused)/);
  const socket = bakedSocket();
  assert.equal(socket, join(cacheRoot(env), "run", basename(socket)));

  // The attacker listens at the old location (a 0777 directory in the shared tmp, and a link
  // to their directory in the hostile runtime dir), under the very name the shim uses, and
  // plants a symbolic link as the old log.
  const theirs = join(sharedTmp, "theirs");
  asNobody(["mkdir", "-m", "0777", join(sharedTmp, `macrobox-${process.getuid!()}`), theirs]);
  asNobody(["ln", "-s", theirs, join(hostileRuntime, "macrobox")]);
  asNobody(["ln", "-s", join(scratch, "victim"), join(sharedTmp, `macrobox-${process.getuid!()}`, `${basename(socket)}.log`)]);
  await attacker([join(sharedTmp, `macrobox-${process.getuid!()}`, basename(socket)), join(theirs, basename(socket))]);

  // The member's macro runs in the sandbox, through the user's own directory.
  const sandboxed = run({ XDG_RUNTIME_DIR: hostileRuntime });
  assert.equal(sandboxed.status, 0, sandboxed.stderr);
  assert.equal(sandboxed.stdout, "no secret (sandboxed)");
  assert.equal(connectionsReceived(), "", "the attacker received a connection");

  // A socket directory the shim is pointed at (MACROBOX_HOST_SOCKET) that is theirs, world
  // writable, or a symbolic link: a compile error naming it, and no connection.
  const worldWritable = join(scratch, "world-writable");
  mkdirSync(worldWritable);
  chmodSync(worldWritable, 0o777);
  const privateDir = join(scratch, "private");
  mkdirSync(privateDir, { mode: 0o700 });
  symlinkSync(theirs, join(privateDir, "link"));
  await attacker([join(theirs, "pointed.sock"), join(worldWritable, "pointed.sock"), join(theirs, "linked.sock")]);
  const refusals: [string, RegExp][] = [
    [join(theirs, "pointed.sock"), new RegExp(`socket directory ${theirs} is owned by uid ${NOBODY}, not by this user`)],
    [join(worldWritable, "pointed.sock"), new RegExp(`socket directory ${worldWritable} has mode 0777, not 0700`)],
    [join(privateDir, "link", "linked.sock"), new RegExp(`socket directory ${join(privateDir, "link")} is a symbolic link`)],
  ];
  for (const [pointed, expected] of refusals) {
    const r = run({ MACROBOX_HOST_SOCKET: pointed });
    assert.notEqual(r.status, 0, `a build through ${pointed} failed`);
    assert.match(r.stderr, expected);
    assert.equal(connectionsReceived(), "", `the attacker received a connection through ${pointed}`);
  }
  assert.equal(existsSync(join(record, "received")), false);

  // The host refuses such a directory too.
  const host = spawnSync(
    process.execPath,
    ["--import", import.meta.resolve("tsx"), join(repo, "src/patch/host-main.ts"), "--socket", join(theirs, "host.sock")],
    {
      env,
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  assert.equal(host.status, 1, host.stderr);
  assert.match(host.stderr, new RegExp(`socket directory ${theirs} is owned by uid ${NOBODY}`));

  // A symbolic link planted as the log of a host a shim starts is not followed.
  const fresh = join(scratch, "fresh-run");
  mkdirSync(fresh, { mode: 0o700 });
  writeFileSync(join(scratch, "victim"), "untouched\n");
  symlinkSync(join(scratch, "victim"), join(fresh, "host.sock.log"));
  const logged = run({ MACROBOX_HOST_SOCKET: join(fresh, "host.sock"), MACROBOX_HOST_IDLE_MS: "2000" });
  assert.equal(logged.status, 0, logged.stderr);
  assert.equal(logged.stdout, "no secret (sandboxed)");
  assert.equal(readFileSync(join(scratch, "victim"), "utf8"), "untouched\n");

  // An edit to the member's sources after patching: a compile error asking to patch again,
  // then the edited macro in the sandbox once patched; --keep-native keeps it native.
  const lib = join(ws, "member-macro/src/lib.rs");
  writeFileSync(lib, readFileSync(lib, "utf8").replace("no secret (sandboxed)", "edited, no secret"));
  const stale = run();
  assert.notEqual(stale.status, 0);
  assert.match(
    stale.stderr,
    /member-macro\/src\/lib\.rs changed since `macrobox patch` built the sandboxed module of `member-macro` from it: run `macrobox patch` again/,
  );
  assert.equal(macrobox(["patch"]).status, 0);
  assert.equal(run().stdout, "edited, no secret");
  const kept = macrobox(["patch", "--keep-native", "member-macro"]);
  assert.equal(kept.status, 0, kept.stderr);
  assert.match(kept.stdout, /member-macro 0\.1\.0 \(workspace member\): stays native \(--keep-native\)/);
  assert.equal(run().stdout, "hunter2");
  assert.equal(macrobox(["patch", "--undo"]).status, 0);
  assert.equal(existsSync(join(ws, ".cargo")), false, "--undo removed the .cargo it created");

  // A dependent whose version requirement the member's shim cannot meet (cargo would ignore the
  // [patch] and run the macro natively): the command fails, naming the crate, and changes nothing.
  const appManifest = join(ws, "app/Cargo.toml");
  const lock = readFileSync(join(ws, "Cargo.lock"));
  writeFileSync(appManifest, readFileSync(appManifest, "utf8").replace('path = "../member-macro" }', 'path = "../member-macro", version = "0.1" }'));
  const unmet = macrobox(["patch"]);
  assert.notEqual(unmet.status, 0);
  assert.match(unmet.stderr, /cargo does not use the sandboxed shim of member-macro 0\.1\.0 \([^)]*member-macro\).*`--keep-native <crate>` leaves it native/);
  assert.equal(existsSync(join(ws, ".cargo")), false);
  assert.deepEqual(readFileSync(join(ws, "Cargo.lock")), lock);
});

/** A host of its own, on a socket in a private directory. */
async function startHost(dir: string, extra: string[]): Promise<{ child: ChildProcess; socket: string }> {
  const socket = join(dir, "host.sock");
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), join(repo, "src/patch/host-main.ts"), "--socket", socket, ...extra], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  for (let i = 0; !/listening on/.test(log); i++) {
    assert.ok(i < 600, `the host did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, socket };
}

/** Writes `bytes` (and then `flood` bytes more, if the host still reads), returns the reply's error message. */
function exchange(socket: string, bytes: Buffer, flood = 0): Promise<string> {
  return new Promise((answer, fail) => {
    const c = createConnection(socket);
    const chunks: Buffer[] = [];
    c.on("data", (d: Buffer) => chunks.push(d));
    c.on("error", () => {}); // EPIPE once the host has closed: expected while flooding
    c.on("close", () => {
      const reply = Buffer.concat(chunks);
      if (reply.length < 4) return fail(new Error("no reply"));
      let at = 4;
      const str = () => {
        const n = reply.readUInt32LE(at);
        const s = reply.subarray(at + 4, at + 4 + n).toString("utf8");
        at += 4 + n;
        return s;
      };
      str(); // stdout
      str(); // stderr
      const kind = reply[at++];
      assert.equal(kind, 2, "an error reply");
      answer(str());
    });
    c.write(bytes);
    const block = Buffer.alloc(1 << 20, 0x61);
    let sent = 0;
    const more = () => {
      while (sent < flood && !c.destroyed) {
        sent += block.length;
        if (!c.write(block)) return c.once("drain", more);
      }
    };
    more();
  });
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

test("the host bounds a request's size and a connection's silence, and keeps serving", { timeout: 300_000 }, async (t) => {
  const dir = join(scratch, "bounds");
  mkdirSync(dir, { mode: 0o700 });
  const { child, socket } = await startHost(dir, ["--read-timeout-ms", "1000", "--idle-ms", "120000"]);
  t.after(() => child.kill());
  const before = rssBytes(child.pid!);

  // A 4 GiB length prefix, then 64 MiB of it: refused by the prefix, not buffered.
  const huge = Buffer.alloc(4);
  huge.writeUInt32LE(0xffffffff, 0);
  assert.match(
    await exchange(socket, huge, 64 << 20),
    /a request of 4294967295 bytes is over the host's bound of 268435456 bytes \(MACROBOX_HOST_MAX_MESSAGE\)/,
  );
  const after = rssBytes(child.pid!);
  assert.ok(after - before < 64 << 20, `the host grew by ${after - before} bytes`);

  // The next connection is served (a malformed request gets its error).
  const small = Buffer.from([3, 0, 0, 0, 1, 2, 3]);
  assert.match(await exchange(socket, small), /malformed request from a macrobox shim/);

  // A connection that sends nothing, or half a length prefix, is closed.
  for (const first of [Buffer.alloc(0), Buffer.from([1, 2])]) {
    const started = Date.now();
    await new Promise<void>((closed) => {
      const c = createConnection(socket, () => c.write(first));
      c.on("error", () => {});
      c.on("close", () => closed());
    });
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 10_000, `closed after ${took} ms`);
  }
  // And the host still serves.
  assert.match(await exchange(socket, small), /malformed request/);
});

test("the socket path fits sun_path: a long XDG_RUNTIME_DIR falls back to the cache, too long everywhere is a clear error", () => {
  const longRuntime = join(scratch, "r".repeat(90));
  mkdirSync(longRuntime, { mode: 0o700 });
  const shortCache = join(scratch, "c");
  const name = "host-0123456789abcdef.sock";
  assert.equal(hostSocketPath(name, { XDG_RUNTIME_DIR: longRuntime, MACROBOX_CACHE: shortCache }), join(shortCache, "run", name));
  assert.equal(privateDirProblem(join(shortCache, "run")), null, "created 0700");
  const shortRuntime = join(scratch, "rt");
  mkdirSync(shortRuntime, { mode: 0o700 });
  assert.equal(hostSocketPath(name, { XDG_RUNTIME_DIR: shortRuntime, MACROBOX_CACHE: shortCache }), join(shortRuntime, "macrobox", name));
  assert.throws(
    () => hostSocketPath(name, { XDG_RUNTIME_DIR: longRuntime, MACROBOX_CACHE: join(scratch, "c".repeat(90)) }),
    (e: unknown) =>
      e instanceof HostSocketError &&
      e.code === "host-socket" &&
      /longer than a Unix socket path may be \(107 bytes\)/.test(e.message) &&
      /MACROBOX_CACHE/.test(e.message),
  );
});
