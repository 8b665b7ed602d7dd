// The hostile-macro suite: fixture crates (test/fixtures/hostile, test/fixtures/capable) built with
// `macrobox build` and run through the host. Every attack ends with its clear error or a
// deterministic output, nothing escapes, and a normal expansion right after it succeeds. A macro
// that needs capabilities works once they are granted.
//
// (Forged and dropped handles and malformed buffers are covered by test/bridge*.test.ts.)

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadMacroModule, type ExpandResult, type MacroModule, type SandboxGrant } from "../../src/index.js";
import { NodeReadOnlyFs } from "../../src/node/fs.js";
import { MemoryFs } from "../../src/sandbox/fs.js";
import { effectiveGrant, type Capabilities } from "../../src/sandbox/capabilities.js";
import { instrumentFuel } from "../../src/sandbox/fuel.js";
import { reusedInstanceCount, warmSnapshotCount } from "../../src/bridge/snapshot.js";
import { fixtureModule, macroboxArgs } from "../support/cli.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** Runs the macrobox command. */
function macrobox(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync(process.execPath, macroboxArgs(...args), {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    encoding: "utf8",
  });
}

const HOSTILE_DECLARED: Capabilities = { env: ["HOSTILE_DECLARED"], read: ["data"] };
const CAPABLE_DECLARED: Capabilities = { env: ["CAPABLE_GREETING"], read: ["templates", "*.sql"] };

let hostilePath: string;
let capablePath: string;
let hostile: MacroModule;
let capable: MacroModule;
/** The crate being compiled: where macros read from. */
let crateDir: string;
let crateFs: NodeReadOnlyFs;
/** The host's environment as the CLI would pass it: with values for the declared variables and more. */
const hostEnv = { HOME: "/root", PATH: "/usr/bin", HOSTILE_DECLARED: "declared-value", CAPABLE_GREETING: "Howdy" };

before(async () => {
  hostilePath = fixtureModule("hostile");
  capablePath = fixtureModule("capable");
  hostile = await loadMacroModule(new Uint8Array(readFileSync(hostilePath)));
  capable = await loadMacroModule(new Uint8Array(readFileSync(capablePath)));

  crateDir = mkdtempSync(join(tmpdir(), "macrobox-user-crate-"));
  mkdirSync(join(crateDir, "data"));
  mkdirSync(join(crateDir, "templates"));
  mkdirSync(join(crateDir, "src"));
  writeFileSync(join(crateDir, "Cargo.toml"), '[package]\nname = "user"\nversion = "0.1.0"\n');
  writeFileSync(join(crateDir, "src", "lib.rs"), "// not granted\n");
  writeFileSync(join(crateDir, "data", "ok.txt"), "granted data\n");
  writeFileSync(join(crateDir, "secret.txt"), "TOP SECRET\n");
  symlinkSync("/etc/passwd", join(crateDir, "data", "passwd"));
  symlinkSync("../secret.txt", join(crateDir, "data", "inner"));
  writeFileSync(join(crateDir, "templates", "hello.txt"), "Hello from the template\n");
  writeFileSync(join(crateDir, "a.sql"), "select 1;\n");
  writeFileSync(join(crateDir, "b.sql"), "select 22;\n");
  crateFs = new NodeReadOnlyFs(crateDir);
});

after(() => {
  if (crateDir) rmSync(crateDir, { recursive: true, force: true });
});

function hostileSandbox(granted: Capabilities = HOSTILE_DECLARED): SandboxGrant {
  const g = effectiveGrant("hostile_macros", HOSTILE_DECLARED, granted);
  assert.ok(g.ok);
  // The crate directory at its real path, and the macro's current directory in it (as cargo runs rustc).
  return { crate: "hostile_macros", declared: HOSTILE_DECLARED, granted: g.grant, fs: crateFs, env: hostEnv, crateDir: crateFs.root, currentDir: crateFs.root };
}

/** Runs an attack, then checks that a normal expansion of the same module right after works. */
async function attack(name: string, input = "", extra: Partial<Parameters<MacroModule["expand"]>[0]> = {}): Promise<ExpandResult> {
  const r = await hostile.expand({ kind: "bang", name, input, sandbox: hostileSandbox(), ...extra });
  const next = await hostile.expand({ kind: "bang", name: "hello", input: "" });
  assert.equal(next.ok, true, `the expansion after ${name} failed: ${next.error?.message}`);
  assert.equal(next.text, 'const HELLO: &str = "hello";');
  return r;
}

function basenameOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The string a macro emitted (its output is one string literal). */
function emitted(r: ExpandResult): string {
  assert.equal(r.ok, true, r.error?.message);
  const t = r.output?.[0];
  assert.ok(t?.type === "literal" && t.kind === "Str", `not a string literal: ${r.text}`);
  return JSON.parse(`"${t.symbol.replace(/\\'/g, "'")}"`) as string;
}

describe("resource attacks end with an error naming the macro, the limit and the flag", () => {
  test("infinite loop: fuel", async () => {
    const r = await attack("infinite_loop", "", { limits: { fuel: 300_000_000 } });
    assert.equal(r.error?.kind, "limit");
    assert.equal(r.error?.limit, "fuel");
    assert.match(r.error!.message, /^proc macro `infinite_loop` exceeded its fuel limit: .* 300000000 instructions; raise it with --fuel/);
    assert.equal(r.diagnostics[0].message, r.error!.message);
  });

  test("memory bomb: memory cap", async () => {
    const small = await loadMacroModule(new Uint8Array(readFileSync(hostilePath)), { limits: { memoryPages: 1024 } }); // 64 MiB
    const r = await small.expand({ kind: "bang", name: "memory_bomb", input: "" });
    assert.equal(r.error?.kind, "limit");
    assert.equal(r.error?.limit, "memoryPages");
    assert.match(r.error!.message, /^proc macro `memory_bomb` exceeded its memoryPages limit: .*1024 pages.*raise it with --memory/);
    assert.equal((await small.expand({ kind: "bang", name: "hello", input: "" })).ok, true);
    // and with the default cap (256 MiB)
    const d = await attack("memory_bomb");
    assert.equal(d.error?.limit, "memoryPages");
  });

  test("unbounded recursion: a trap, not a crash", async () => {
    const r = await attack("recurse");
    assert.equal(r.error?.kind, "trap");
    assert.match(r.error!.message, /stack overflow|out of bounds/);
    assert.match(r.diagnostics[0].message, /^proc macro `recurse` trapped/);
    assert.deepEqual(
      r.diagnostics[0].children.map((c) => c.message),
      ["this is most likely a stack overflow: the macro recursed too deeply"],
    );
  });

  test("emitting tokens without end: bounded by the output limit while it builds", async () => {
    const r = await attack("token_flood");
    assert.equal(r.error?.kind, "limit");
    assert.equal(r.error?.limit, "outputBytes");
    assert.match(r.error!.message, /^proc macro `token_flood` exceeded its outputBytes limit: .*raise it with --max-output/);
    const tight = await attack("token_flood", "", { limits: { outputBytes: 1000 } });
    assert.match(tight.error!.message, /limited to 1000 bytes \(needed \d+/);
  });

  test("making the host work (a megabyte to lex, again and again): host work is charged as fuel", async () => {
    const started = Date.now();
    const r = await attack("host_work");
    assert.equal(r.error?.kind, "limit");
    assert.equal(r.error?.limit, "fuel");
    assert.match(r.error!.message, /^proc macro `host_work` exceeded its fuel limit: .*raise it with --fuel/);
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    // Deterministic: the same fuel stops it at the same call.
    const a = await hostile.expand({ kind: "bang", name: "host_work", input: "", limits: { fuel: 800_000_000 } });
    const b = await hostile.expand({ kind: "bang", name: "host_work", input: "", limits: { fuel: 800_000_000 } });
    assert.deepEqual([a.error, a.stderr], [b.error, b.stderr]);
  });

  test("asking WASI for 32 MiB of randomness per call: WASI work is charged as fuel too", async () => {
    const started = Date.now();
    const r = await attack("random_flood");
    assert.equal(r.error?.limit, "fuel");
    assert.match(r.error!.message, /^proc macro `random_flood` exceeded its fuel limit/);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  test("printing without end: captured output is bounded", async () => {
    const r = await attack("chatty", "", { limits: { capturedOutputBytes: 100_000 } });
    assert.equal(r.error?.kind, "limit");
    assert.equal(r.error?.limit, "capturedOutputBytes");
    assert.match(r.error!.message, /^proc macro `chatty` exceeded its capturedOutputBytes limit: .*raise it with --max-captured-output/);
    assert.ok(r.stdout.length > 0 && r.stdout.length <= 64 * 1024, `kept ${r.stdout.length} bytes`);
    assert.match(r.stdout, /^spam spam/);
  });

  test("panicking inside Drop during a panic", async () => {
    const r = await attack("panic_in_drop");
    assert.equal(r.ok, false);
    assert.ok(r.error?.kind === "panic" || r.error?.kind === "trap", `${r.error?.kind}: ${r.error?.message}`);
    assert.match(r.diagnostics[0].message, /proc macro panicked|proc macro `panic_in_drop` trapped/);
  });
});

describe("file system: read-only, inside the grant, denials noted", () => {
  test("a granted file is read and recorded", async () => {
    const r = await attack("read_file", '"data/ok.txt"');
    assert.equal(emitted(r), 'OK:"granted data\\n"');
    assert.deepEqual(r.reads, ["data/ok.txt"]);
    assert.deepEqual(r.denials, []);
  });

  test("a file outside the grant: Permission denied, and a note", async () => {
    const r = await attack("read_file", '"secret.txt"');
    assert.equal(emitted(r), "ERR:PermissionDenied:Permission denied (os error 2)");
    assert.deepEqual(r.reads, []);
    assert.equal(r.denials.length, 1);
    assert.deepEqual(
      { ...r.denials[0], note: undefined },
      {
        crate: "hostile_macros",
        kind: "read",
        name: join(crateFs.root, "secret.txt"),
        reason: "undeclared",
        grant: "secret.txt",
        errno: "EACCES",
        note: undefined,
      },
    );
    assert.match(
      r.denials[0].note,
      /macro crate hostile_macros tried to read file \/.*\/secret\.txt, which it does not declare; the macro sees EACCES .*; grant it with `--allow-read hostile_macros:secret\.txt`/,
    );
    const src = await attack("list_dir", '"src"');
    assert.match(emitted(src), /^ERR:PermissionDenied/);
  });

  test("declared but not granted: denied with the flag that grants it", async () => {
    const r = await attack("read_file", '"data/ok.txt"', { sandbox: hostileSandbox({ env: [], read: [] }) });
    assert.match(emitted(r), /^ERR:PermissionDenied/);
    assert.equal(r.denials[0].reason, "not-granted");
    assert.match(r.denials[0].note, /grant it with `--allow-read hostile_macros:data\/ok\.txt`/);
  });

  test("a read grant does not outlive its expansion: the same kept instance, granted then not, alternating", async () => {
    // The grant's WASI functions (src/sandbox/wasi-fs.ts) are made at the first call that needs them,
    // per run: a run without the read grant, in the very instance a granted run left, must not reach
    // the earlier run's file table or grant. The env grant is the same, so both share a snapshot.
    const compiled = await WebAssembly.compile(instrumentFuel(new Uint8Array(readFileSync(hostilePath))));
    const mod = await loadMacroModule(compiled);
    const withRead = hostileSandbox(HOSTILE_DECLARED);
    const withoutRead = hostileSandbox({ env: HOSTILE_DECLARED.env, read: [] });
    await mod.expand({ kind: "bang", name: "hello", input: "", sandbox: withRead }); // takes the snapshot
    const before = reusedInstanceCount(compiled);
    for (let round = 0; round < 3; round++) {
      const granted = await mod.expand({ kind: "bang", name: "read_file", input: '"data/ok.txt"', sandbox: withRead });
      assert.equal(emitted(granted), 'OK:"granted data\\n"', `round ${round}, granted`);
      const denied = await mod.expand({ kind: "bang", name: "read_file", input: '"data/ok.txt"', sandbox: withoutRead });
      assert.match(emitted(denied), /^ERR:PermissionDenied/, `round ${round}, not granted`);
      assert.deepEqual(denied.reads, []);
      assert.equal(denied.denials[0]?.reason, "not-granted");
    }
    assert.ok(reusedInstanceCount(compiled) - before >= 5, `${reusedInstanceCount(compiled) - before} reuses`);
  });

  for (const [how, path, reason] of [
    ["via ..", "../../../../../../../../etc/passwd", "escape"],
    ["via .. from inside the grant", "data/../../etc/passwd", "escape"],
    ["via a symlink", "data/passwd", "symlink"],
    ["via an absolute path", "/etc/passwd", "outside"],
  ] as const) {
    test(`/etc/passwd ${how}`, async () => {
      const r = await attack("read_file", JSON.stringify(path));
      const seen = emitted(r);
      assert.equal(seen, "ERR:PermissionDenied:Permission denied (os error 2)");
      assert.doesNotMatch(seen + r.stdout + r.stderr, /root:/);
      assert.equal(r.denials[0]?.reason, reason);
      assert.deepEqual(r.reads, []);
    });
  }

  test("absolute paths inside the grant are served; ../outside, symlinks and absolute paths leaving it are not", async () => {
    const outside = join(dirname(crateFs.root), `${basenameOf(crateFs.root)}-outside.txt`);
    writeFileSync(outside, "OUTSIDE\n");
    symlinkSync(outside, join(crateDir, "data", "to-outside"));
    try {
      const r = await attack("read_file", JSON.stringify(join(crateFs.root, "data", "ok.txt")));
      assert.equal(emitted(r), 'OK:"granted data\\n"');
      assert.deepEqual(r.reads, ["data/ok.txt"]);
      for (const [path, reason] of [
        [`../${basenameOf(outside)}`, "escape"],
        [`data/../../${basenameOf(outside)}`, "escape"],
        [`${crateFs.root}/data/../../${basenameOf(outside)}`, "escape"],
        ["data/to-outside", "symlink"],
        [outside, "outside"],
        [join(crateFs.root, "secret.txt"), "undeclared"],
      ] as const) {
        const d = await attack("read_file", JSON.stringify(path));
        assert.equal(emitted(d), "ERR:PermissionDenied:Permission denied (os error 2)", path);
        assert.equal(d.denials[0]?.reason, reason, path);
        assert.deepEqual(d.reads, []);
        assert.doesNotMatch(JSON.stringify(d), /OUTSIDE|TOP SECRET/);
        // One note, naming the exact path the macro asked for (resolved), and the error by its Linux name.
        assert.equal(d.denials.length, 1);
        assert.match(d.denials[0].note, /EACCES "Permission denied"/);
        if (reason === "undeclared") assert.match(d.denials[0].note, /--allow-read hostile_macros:secret\.txt/);
        else assert.doesNotMatch(d.denials[0].note, /--allow-read/);
      }
    } finally {
      rmSync(join(crateDir, "data", "to-outside"));
      rmSync(outside);
    }
  });

  test("current_dir() is the current directory the host gives; relative paths resolve against it", async () => {
    const r = await attack("current_dir", '"ok.txt"', { sandbox: { ...hostileSandbox(), currentDir: join(crateFs.root, "data") } });
    assert.equal(emitted(r), `cwd=OK:${JSON.stringify(join(crateFs.root, "data"))} rel=OK:"granted data\\n" abs=OK:"granted data\\n"`);
    const root = await attack("current_dir", '"data/ok.txt"');
    assert.match(emitted(root), new RegExp(`^cwd=OK:${JSON.stringify(crateFs.root).replace(/[/.]/g, "\\$&")} rel=OK`));
  });

  test("a symlink inside the grant to an ungranted file of the crate", async () => {
    const r = await attack("read_file", '"data/inner"');
    assert.match(emitted(r), /^ERR:PermissionDenied/);
    assert.equal(r.denials[0].reason, "symlink");
    assert.doesNotMatch(emitted(r), /TOP SECRET/);
  });

  test("writing, creating, truncating: read-only file system", async () => {
    const r = await attack("write_file", '"data/new.txt"');
    assert.equal(emitted(r), "ERR:ReadOnlyFilesystem:Read-only file system (os error 69)");
    assert.equal(r.denials[0].reason, "write");
    assert.equal(existsSync(join(crateDir, "data", "new.txt")), false);
    const over = await attack("write_file", '"data/ok.txt"');
    assert.match(emitted(over), /^ERR:ReadOnlyFilesystem/);
    assert.equal(readFileSync(join(crateDir, "data", "ok.txt"), "utf8"), "granted data\n");
  });

  test("no file system at all without a sandbox grant", async () => {
    const r = await hostile.expand({ kind: "bang", name: "read_file", input: '"data/ok.txt"' });
    assert.match(emitted(r), /^ERR:PermissionDenied/);
    assert.equal(r.denials[0].reason, "not-granted");
  });
});

describe("environment: only granted variables", () => {
  test("an undeclared variable is absent (std and tracked), and noted", async () => {
    const r = await attack("read_env", '"HOME"');
    assert.equal(emitted(r), "std=Err(NotPresent) tracked=Err(NotPresent)");
    assert.ok(r.denials.some((d) => d.kind === "env" && d.name === "HOME" && d.reason === "undeclared"));
    assert.ok(!JSON.stringify(r).includes("/root"), "the host's HOME never reaches the result");
  });

  test("a declared but not granted variable is absent, with the flag to grant it", async () => {
    const r = await attack("read_env", '"HOSTILE_DECLARED"', { sandbox: hostileSandbox({ env: [], read: [] }) });
    assert.equal(emitted(r), "std=Err(NotPresent) tracked=Err(NotPresent)");
    const notes = r.denials.filter((d) => d.name === "HOSTILE_DECLARED").map((d) => d.note);
    assert.ok(
      notes.some((n) => n.includes("grant it with `--allow-env hostile_macros:HOSTILE_DECLARED`")),
      notes.join("\n"),
    );
    assert.ok(!JSON.stringify(r).includes("declared-value"));
  });

  test("a granted variable is seen and recorded", async () => {
    const r = await attack("read_env", '"HOSTILE_DECLARED"');
    assert.equal(emitted(r), 'std=Ok("declared-value") tracked=Ok("declared-value")');
    assert.deepEqual(r.trackedEnv, [{ name: "HOSTILE_DECLARED", value: "declared-value" }]);
    assert.deepEqual(r.denials, []);
  });
});

describe("environment: the package env without a grant", () => {
  test("CARGO_PKG_* and CARGO_CRATE_NAME are seen; CARGO_MANIFEST_DIR is the crate directory as the macro sees it, CARGO_MANIFEST_PATH its manifest", async () => {
    // What cargo sets for the crate being compiled, with a manifest dir that is not the real path.
    const manifestDir = `${crateDir}/./data/..`;
    const env = {
      ...hostEnv,
      CARGO_PKG_VERSION: "1.2.3-beta.1",
      CARGO_CRATE_NAME: "user",
      CARGO_MANIFEST_DIR: manifestDir,
      CARGO_MANIFEST_PATH: `${manifestDir}/Cargo.toml`,
    };
    const none = { ...hostileSandbox({ env: [], read: [] }), env };
    for (const [name, value] of [
      ["CARGO_PKG_VERSION", "1.2.3-beta.1"],
      ["CARGO_CRATE_NAME", "user"],
      ["CARGO_MANIFEST_DIR", crateFs.root],
      ["CARGO_MANIFEST_PATH", `${crateFs.root}/Cargo.toml`],
    ]) {
      const r = await attack("read_env", JSON.stringify(name), { sandbox: none });
      assert.equal(emitted(r), `std=Ok(${JSON.stringify(value)}) tracked=Ok(${JSON.stringify(value)})`);
      assert.deepEqual(r.denials, []);
    }
    // A manifest path naming anything but a file in the manifest dir is withheld.
    const elsewhere = { ...none, env: { ...env, CARGO_MANIFEST_PATH: "/etc/passwd" } };
    const withheld = await attack("read_env", '"CARGO_MANIFEST_PATH"', { sandbox: elsewhere });
    assert.equal(emitted(withheld), "std=Err(NotPresent) tracked=Err(NotPresent)");
    // Not cargo's package facts: still only where granted.
    const home = await attack("read_env", '"HOME"', { sandbox: none });
    assert.equal(emitted(home), "std=Err(NotPresent) tracked=Err(NotPresent)");
    // Unset in the compilation's environment: unset for the macro too.
    const unset = await attack("read_env", '"CARGO_PKG_HOMEPAGE"', { sandbox: none });
    assert.equal(emitted(unset), "std=Err(NotPresent) tracked=Err(NotPresent)");
    assert.deepEqual(unset.denials, []);
  });
});

describe("network, processes, time and randomness", () => {
  test("sockets fail", async () => {
    const r = await attack("open_socket");
    const seen = emitted(r);
    assert.match(seen, /^connect=ERR:Unsupported:.* bind=ERR:Unsupported:.* accept=ERR:\w+:Capabilities insufficient \(os error 76\)$/);
  });

  test("spawning a process fails", async () => {
    const r = await attack("spawn_process");
    assert.equal(emitted(r), "ERR:Unsupported:operation not supported on this platform");
  });

  test("time is a fixed instant and randomness a fixed stream: identical across runs and processes", async () => {
    const a = emitted(await attack("time_and_random"));
    const b = emitted(await attack("time_and_random"));
    assert.equal(a, b);
    assert.match(a, /^time=Ok\(946684800000000000\),Ok\(946684800000000000\) elapsed=0 hash=(\d+),(\d+) order=\[/);
    const [, h1, h2] = /hash=(\d+),(\d+)/.exec(a)!;
    assert.notEqual(h1, h2, "two RandomStates in one run differ, as natively");
    const child = macrobox(["expand", hostilePath, "--bang", "time_and_random", "", "--no-format", "--check-determinism"]);
    assert.equal(child.status, 0, child.stderr);
    assert.equal(JSON.parse(child.stdout.trim()), a);
  });
});

describe("a macro that needs capabilities works once granted", () => {
  const sandbox = (granted: Capabilities, fs: SandboxGrant["fs"] = crateFs): SandboxGrant => {
    const g = effectiveGrant("capable_macros", CAPABLE_DECLARED, granted);
    assert.ok(g.ok, g.ok ? "" : g.error.message);
    return { crate: "capable_macros", declared: CAPABLE_DECLARED, granted: g.grant, fs, env: hostEnv };
  };

  test("include_str!-with-env: file and env var granted", async () => {
    const r = await capable.expand({ kind: "bang", name: "include_greeting", input: '"templates/hello.txt"', sandbox: sandbox(CAPABLE_DECLARED) });
    assert.equal(emitted(r), "Howdy, Hello from the template");
    assert.deepEqual(r.reads, ["templates/hello.txt"]);
    assert.deepEqual(r.trackedEnv, [{ name: "CAPABLE_GREETING", value: "Howdy" }]);
  });

  test("without the grant it fails with notes naming what to grant", async () => {
    const r = await capable.expand({
      kind: "bang",
      name: "include_greeting",
      input: '"templates/hello.txt"',
      sandbox: sandbox({ env: [], read: ["templates"] }),
    });
    assert.match(r.text ?? "", /compile_error/);
    assert.ok(r.denials.some((d) => d.note.includes("--allow-env capable_macros:CAPABLE_GREETING")));
    const f = await capable.expand({
      kind: "bang",
      name: "include_greeting",
      input: '"templates/hello.txt"',
      sandbox: sandbox({ env: ["CAPABLE_GREETING"], read: [] }),
    });
    assert.match(f.text ?? "", /cannot read templates\/hello\.txt: Permission denied/);
    assert.ok(f.denials.some((d) => d.note.includes("--allow-read capable_macros:templates/hello.txt")));
  });

  test("listing the crate root shows only granted entries; glob grants", async () => {
    const r = await capable.expand({ kind: "bang", name: "sql_files", input: "", sandbox: sandbox({ env: [], read: ["*.sql"] }) });
    assert.equal(emitted(r), "a.sql:10,b.sql:11");
    assert.deepEqual(r.reads, [".", "a.sql", "b.sql"]);
  });

  test("served from memory (the browser-safe file system)", async () => {
    const fs = new MemoryFs({ "templates/hello.txt": "from memory", "x.sql": "1234", "secret.txt": "no" });
    const r = await capable.expand({ kind: "bang", name: "include_greeting", input: '"templates/hello.txt"', sandbox: sandbox(CAPABLE_DECLARED, fs) });
    assert.equal(emitted(r), "Howdy, from memory");
    const l = await capable.expand({ kind: "bang", name: "sql_files", input: "", sandbox: sandbox(CAPABLE_DECLARED, fs) });
    assert.equal(emitted(l), "templates:0,x.sql:4");
  });
});

describe("macrobox expand: grants, notes, determinism check", () => {
  test("flags grant; notes tell what to grant; a grant beyond the declaration is honoured with a note", () => {
    const denied = macrobox(["expand", capablePath, "--bang", "include_greeting", '"templates/hello.txt"', "--crate-dir", crateDir], {
      cwd: crateDir,
      env: { ...process.env, CAPABLE_GREETING: "Hey" },
    });
    assert.equal(denied.status, 1);
    assert.match(
      denied.stderr,
      /note: macro crate capable_macros tried to read env var CAPABLE_GREETING; grant it with `--allow-env capable_macros:CAPABLE_GREETING`/,
    );
    const granted = macrobox(
      [
        "expand",
        capablePath,
        "--bang",
        "include_greeting",
        '"templates/hello.txt"',
        "--crate-dir",
        crateDir,
        "--allow-env",
        "capable_macros:CAPABLE_GREETING",
        "--allow-read",
        "capable-macros:templates",
        "--check-determinism",
      ],
      { cwd: crateDir, env: { ...process.env, CAPABLE_GREETING: "Hey" } },
    );
    assert.equal(granted.status, 0, granted.stderr);
    assert.equal(granted.stdout.trim(), '"Hey, Hello from the template"');
    assert.equal(granted.stderr, "");
    const beyond = macrobox(["expand", capablePath, "--bang", "sql_files", "", "--allow-read", "capable_macros:src", "--allow-read", "capable_macros:*.sql"], {
      cwd: crateDir,
    });
    assert.equal(beyond.status, 0, beyond.stderr);
    assert.match(
      beyond.stderr,
      /^note: macro crate capable_macros is granted read access to src, beyond what the crate declares \(it declares env = \["CAPABLE_GREETING"\], read = \["templates", "\*\.sql"\]\)\n$/,
    );
    const bad = macrobox(["expand", capablePath, "--bang", "sql_files", "", "--allow-read", "capable_macros:../x"], { cwd: crateDir });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /error: macro crate capable_macros is granted read access to "\.\.\/x" \(read paths are relative to the crate directory/);
  });

  test("macrobox.toml in the current directory, once trusted; the crate dir found from the input file", () => {
    writeFileSync(join(crateDir, "macrobox.toml"), '[grants.capable_macros]\nread = ["*.sql"]\n');
    writeFileSync(join(crateDir, "src", "item.rs"), "");
    // The user's own directories, empty: the repository's file is a request until trusted.
    const home = mkdtempSync(join(tmpdir(), "macrobox-hostile-home-"));
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };
    try {
      const untrusted = macrobox(["expand", capablePath, "--bang", "sql_files", "--file", join(crateDir, "src", "item.rs"), "--json"], { cwd: crateDir, env });
      assert.match(untrusted.stderr, /macrobox\.toml asks for grants\.capable_macros: read = \["\*\.sql"\].*not in effect/);
      assert.ok(!untrusted.stdout.includes("a.sql:10"), untrusted.stdout);
      const trusted = macrobox(["trust", crateDir], { cwd: crateDir, env });
      assert.equal(trusted.status, 0, trusted.stderr);
      const r = macrobox(["expand", capablePath, "--bang", "sql_files", "--file", join(crateDir, "src", "item.rs"), "--json"], { cwd: crateDir, env });
      assert.equal(r.status, 0, r.stderr);
      const [job] = JSON.parse(r.stdout) as Array<{ code: string; reads: string[] }>;
      assert.equal(job.code, '"a.sql:10,b.sql:11"');
      assert.deepEqual(job.reads, [".", "a.sql", "b.sql"]);
    } finally {
      rmSync(join(crateDir, "macrobox.toml"));
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("limits from the command line; the message names the flag that exists", () => {
    const r = macrobox(["expand", hostilePath, "--bang", "infinite_loop", "", "--fuel", "10m"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /proc macro `infinite_loop` exceeded its fuel limit: .*10000000 instructions; raise it with --fuel/);
  });
});

describe("warm starts (an instance restored from a snapshot taken after the constructors and warm-up)", () => {
  // What a run reports, everything but the span table.
  const report = (r: ExpandResult) => ({
    ok: r.ok,
    text: r.ok ? r.text : r.error?.message,
    stdout: r.stdout,
    stderr: r.stderr,
    trackedEnv: r.trackedEnv,
    reads: r.reads,
    denials: r.denials,
  });

  test("every expansion starts fresh: statics, the heap and the random stream are a new instance's, and match a run without snapshots", async () => {
    const compiled = await WebAssembly.compile(instrumentFuel(new Uint8Array(readFileSync(hostilePath))));
    const warm = await loadMacroModule(compiled);
    const cold = await loadMacroModule(compiled, { warmSnapshots: false });
    const jobs: Array<Parameters<MacroModule["expand"]>[0]> = [
      { kind: "bang", name: "state", input: "" },
      { kind: "bang", name: "state", input: "", sandbox: hostileSandbox() },
      { kind: "bang", name: "time_and_random", input: "" },
      { kind: "bang", name: "read_env", input: "HOSTILE_DECLARED", sandbox: hostileSandbox() },
      { kind: "bang", name: "chatty", input: "" },
      { kind: "bang", name: "state", input: "", forceShowPanics: true },
    ];
    const first = new Map<number, ReturnType<typeof report>>();
    for (let round = 0; round < 3; round++) {
      for (const [i, job] of jobs.entries()) {
        const w = report(await warm.expand(job));
        assert.deepEqual(w, report(await cold.expand(job)), `${job.name} (job ${i}, round ${round}): with and without a snapshot`);
        if (round === 0) first.set(i, w);
        else assert.deepEqual(w, first.get(i), `${job.name} (job ${i}) in round ${round}: as in the first`);
      }
    }
    assert.match(first.get(0)!.text!, /^"calls=1 seen=1 hash=\d+ ctor=[1-9]\d* random=\d+ leaked=\d+ scratch=4096 greeting=none"$/);
    assert.match(first.get(1)!.text!, /greeting=declared-value"$/);
    assert.deepEqual(first.get(1)!.trackedEnv, [{ name: "HOSTILE_DECLARED", value: "declared-value" }]);
    // One snapshot per distinct thing the warm-up can see: no environment, the granted one, panics shown.
    assert.equal(warmSnapshotCount(compiled), 3);
  });

  test("an instance reused after a result, a panic, a trap and a fuel stop starts as a fresh one", async () => {
    const compiled = await WebAssembly.compile(instrumentFuel(new Uint8Array(readFileSync(hostilePath))));
    const warm = await loadMacroModule(compiled);
    const cold = await loadMacroModule(compiled, { warmSnapshots: false });
    const state = { kind: "bang" as const, name: "state", input: "" };
    const fresh = report(await cold.expand(state));
    assert.match(fresh.text!, /^"calls=1 seen=1 hash=\d+ ctor=[1-9]\d* random=\d+ leaked=\d+ scratch=4096 greeting=none"$/);
    await warm.expand(state); // takes the snapshot
    const before = reusedInstanceCount(compiled);
    const between: Array<[Parameters<MacroModule["expand"]>[0], RegExp]> = [
      [state, /^"calls=1 /],
      [{ kind: "bang", name: "dirty_panic", input: "" }, /dirty panic after calls=1 /],
      [{ kind: "bang", name: "panic_in_drop", input: "" }, /second panic, inside Drop/],
      [{ kind: "bang", name: "recurse", input: "" }, /wasm trap|stack overflow/],
      [{ kind: "bang", name: "infinite_loop", input: "", limits: { fuel: 20_000_000 } }, /fuel limit/],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [job, outcome] of between) {
        const w = report(await warm.expand(job));
        assert.deepEqual(w, report(await cold.expand(job)), `${job.name} (round ${round}): with and without a snapshot`);
        assert.match(w.text!, outcome, job.name);
        // Byte-identical to a fresh instance's: statics, the heap's addresses, the random stream.
        assert.deepEqual(report(await warm.expand(state)), fresh, `state after ${job.name} (round ${round})`);
      }
    }
    // Not vacuous: runs after a result and after a panic started in a kept instance.
    assert.ok(reusedInstanceCount(compiled) - before >= 2 * 2 + 2, `${reusedInstanceCount(compiled) - before} reuses`);
  });

  test("a run with less fuel or output than its snapshot's warm-up used takes the slow path and fails as it would", async () => {
    const compiled = await WebAssembly.compile(instrumentFuel(new Uint8Array(readFileSync(hostilePath))));
    const warm = await loadMacroModule(compiled);
    const cold = await loadMacroModule(compiled, { warmSnapshots: false });
    await warm.expand({ kind: "bang", name: "state", input: "" });
    assert.equal(warmSnapshotCount(compiled), 1);
    for (const limits of [{ fuel: 1000 }, { capturedOutputBytes: 1 }]) {
      const job = { kind: "bang" as const, name: "state", input: "", limits };
      assert.deepEqual(report(await warm.expand(job)), report(await cold.expand(job)), JSON.stringify(limits));
    }
  });
});
