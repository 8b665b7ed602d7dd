// The shims' answer index (src/patch/answers.ts, shim-runtime.rs `macrobox_indexed`) in real cargo
// builds, with the host's own replies as the oracle: after a line is inserted at the top of a
// module, the moved derives are answered by the shims alone (the host serves only the macros that
// asked where their input is, or printed), and rustc's expanded crate is byte for byte the one
// the host gives with the index off. An entry whose key differs by one byte, an index directory
// others could enter, and a changed settings file each send the shim to the host again; an index
// planted beside another socket a repository's env names is never read.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { findToolchain } from "../../src/builder/index.js";
import { macroboxArgs } from "../support/cli.js";
import { patchUserEnv } from "../support/cargo-home.js";
import { FIXTURES } from "../support/paths.js";
import { answersDir } from "../../src/patch/answers.js";

const toolchain = findToolchain();
const scratch = mkdtempSync(join(tmpdir(), "macrobox-answers-"));
const runtime = join(scratch, "run");
mkdirSync(runtime, { mode: 0o700 });
// The host's socket, log and index then live in <runtime>/macrobox (host-socket.ts).
const env: NodeJS.ProcessEnv = { ...patchUserEnv(scratch, toolchain), XDG_RUNTIME_DIR: runtime, MACROBOX_HOST_IDLE_MS: "20000" };
delete env.MACROBOX_HOST_SOCKET;
delete env.MACROBOX_SHIM_ANSWERS;

const app = join(scratch, "app");
mkdirSync(join(app, "src"), { recursive: true });
writeFileSync(
  join(app, "Cargo.toml"),
  `[package]\nname = "answers-app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nserde = { version = "1", features = ["derive"] }\nbridge_probe = { path = ${JSON.stringify(join(FIXTURES, "bridge-probe"))} }\n\n[workspace]\n`,
);
writeFileSync(join(app, "src", "lib.rs"), "pub mod model;\n");
const SERDE_ITEMS = 12;
const items = Array.from(
  { length: SERDE_ITEMS },
  (_, i) =>
    `#[derive(Debug, Serialize, Deserialize)]\n#[serde(rename_all = "camelCase")]\npub struct Item${i} {\n    pub id: u64,\n    #[serde(default)]\n    pub display_name: Option<String>,\n    pub tags: Vec<String>,\n}\n`,
).join("\n");
// Asked where its input is: never indexed. Same for printing.
const located = `pub const LINES: &str = bridge_probe::spans!(first second\n    third);\n#[derive(bridge_probe::Tokens)]\npub struct Reported { pub a: u8 }\n`;
const printing = `pub const IO: &str = bridge_probe::io!();\n`;
// Asks nothing: indexed.
const probed = `#[derive(bridge_probe::Probe)]\npub struct Probed;\n`;
const model = join(app, "src", "model.rs");
const source = `use serde::{Deserialize, Serialize};\n\n${items}\n${located}${printing}${probed}`;
writeFileSync(model, source);
/** Macro calls in the module: a Serialize and a Deserialize per item, the four bridge_probe ones. */
const CALLS = SERDE_ITEMS * 2 + 4;
const NOT_INDEXED = 3;

function cargo(args: string[], extra: NodeJS.ProcessEnv = {}) {
  return spawnSync(toolchain.cargo, args, {
    cwd: app,
    env: { ...env, ...extra, CARGO_TARGET_DIR: join(scratch, "target"), RUSTC: toolchain.rustc, RUSTC_BOOTSTRAP: "1" },
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
}

function hostDir(): string {
  return join(runtime, "macrobox");
}

let logSeen = 0;
/** The expansions the host served since the last call (its summary lines, host.ts). */
async function served(): Promise<number> {
  await new Promise((r) => setTimeout(r, 1000)); // the host logs a summary 250 ms after its last expansion
  const logs = readdirSync(hostDir()).filter((n) => n.endsWith(".sock.log"));
  assert.equal(logs.length, 1, `one host log in ${hostDir()}: ${logs.join(", ")}`);
  const text = readFileSync(join(hostDir(), logs[0]), "utf8");
  const fresh = text.slice(logSeen);
  logSeen = text.length;
  let n = 0;
  for (const m of fresh.matchAll(/served (\d+) expansions/g)) n += Number(m[1]);
  return n;
}

/** rustc's expanded library, each macro expanded afresh (a check build: nothing is reused). */
async function expanded(extra: NodeJS.ProcessEnv = {}): Promise<{ text: string; served: number }> {
  writeFileSync(join(app, "src", "lib.rs"), "pub mod model;\n"); // newer than any output: cargo runs rustc
  const r = cargo(["rustc", "--lib", "--profile=check", "-q", "--", "-Zunpretty=expanded"], extra);
  assert.equal(r.status, 0, r.stderr);
  return { text: r.stdout, served: await served() };
}

function indexDir(): string {
  const dirs = readdirSync(hostDir()).filter((n) => n.includes(".answers-"));
  assert.equal(dirs.length, 1, `one answer index in ${hostDir()}: ${dirs.join(", ")}`);
  return join(hostDir(), dirs[0]);
}

test(
  "moved derives are answered by the shims' index as the host answers them; a changed key, an open directory or changed settings ask the host",
  { timeout: 900_000 },
  async () => {
    const patched = spawnSync(process.execPath, macroboxArgs("patch"), { cwd: app, env, encoding: "utf8" });
    assert.equal(patched.status, 0, patched.stderr);

    // The first expansion of each macro goes to the host, which indexes what asked nothing.
    const first = await expanded();
    assert.equal(first.served, CALLS);
    assert.equal(readdirSync(indexDir()).length, CALLS - NOT_INDEXED, "every self-contained expansion indexed, nothing else");

    // A line inserted at the top moves every item.
    writeFileSync(model, `// moved\n${source}`);
    const byHost = await expanded({ MACROBOX_SHIM_ANSWERS: "off" });
    assert.equal(byHost.served, CALLS, "with the index off, the host answers every macro");
    const byIndex = await expanded();
    assert.equal(byIndex.served, NOT_INDEXED, "the moved derives are answered by the index; the host serves the macros that asked where they are, or printed");
    assert.equal(byIndex.text, byHost.text, "the index's answers are the host's");
    assert.notEqual(byIndex.text, first.text, "spans! and derive(Tokens) report the lines they moved to");

    // An entry whose key differs by one byte (its name kept, so the shim reads it) is not used.
    const index = indexDir();
    const entries = readdirSync(index).sort();
    const planted = join(index, entries[0]);
    const bytes = readFileSync(planted);
    const keyLength = bytes.readUInt32LE(0);
    bytes[4 + keyLength - 1] ^= 1;
    writeFileSync(planted, bytes);
    const oneByte = await expanded();
    assert.equal(oneByte.served, NOT_INDEXED + 1, "the entry with the changed key went to the host");
    assert.equal(oneByte.text, byHost.text);
    assert.ok(!readFileSync(planted).equals(bytes), "and the host wrote the entry again");

    // An index directory that others could enter is not read.
    chmodSync(index, 0o755);
    const open = await expanded();
    chmodSync(index, 0o700);
    assert.equal(open.served, CALLS, "a directory of mode 0755 is not read");
    assert.equal(open.text, byHost.text);

    // The user's settings file, created or edited, is a changed grant decision: every entry asks again.
    // A file of the user's own in directories only they can write (else it is ignored, with a note).
    mkdirSync(join(scratch, "config", "macrobox"), { recursive: true, mode: 0o700 });
    writeFileSync(join(scratch, "config", "macrobox", "macrobox.toml"), "# nothing granted\n", { mode: 0o600 });
    const settings = await expanded();
    assert.equal(settings.served, CALLS, "entries written before the settings file existed are not used");
    assert.equal(settings.text, byHost.text);
    const after = await expanded();
    assert.equal(after.served, NOT_INDEXED, "entries written since are");
    assert.equal(after.text, byHost.text);

    // A repository's `[env]` can point the shims at another socket (MACROBOX_HOST_SOCKET), beside an
    // index it planted: a shim never reads the index of a host it was not built for. The planted
    // entry is a real one with its reply changed; the control puts it in the index the shims do read.
    const probeEntry = readdirSync(index)
      .map((n) => join(index, n))
      .find((p) => readFileSync(p).includes('"Probed"'));
    assert.ok(probeEntry !== undefined, "derive(Probe)'s entry");
    const forged = Buffer.from(readFileSync(probeEntry).toString("latin1").replace('"Probed"', '"Forged"'), "latin1");
    const elsewhere = join(scratch, "elsewhere");
    mkdirSync(elsewhere, { mode: 0o700 });
    const otherSocket = join(elsewhere, "host.sock");
    mkdirSync(answersDir(otherSocket), { mode: 0o700 });
    writeFileSync(join(answersDir(otherSocket), basename(probeEntry)), forged);
    const redirected = await expanded({ MACROBOX_HOST_SOCKET: otherSocket });
    assert.ok(!redirected.text.includes('"Forged"'), "the planted index beside another socket is not read");
    assert.equal(redirected.text, byHost.text);
    const honest = readFileSync(probeEntry);
    writeFileSync(probeEntry, forged);
    const control = await expanded();
    assert.ok(control.text.includes('"Forged"'), "control: the shims do answer from the index of their own host");
    writeFileSync(probeEntry, honest);

    // The build itself: it compiles, and the program links.
    const built = cargo(["build", "-q"]);
    assert.equal(built.status, 0, built.stderr);
  },
);
