// Unmodified registry crates that read the world, built with `macrobox build` and expanded in the
// sandbox, against the same crates built natively and run by rust-analyzer's proc-macro server
// with the environment and current directory cargo would give them:
//   - pest_derive reads its grammar file through CARGO_MANIFEST_DIR and emits include_str! of its
//     absolute path;
//   - num_enum_derive (feature proc-macro-crate) reads $CARGO_MANIFEST_DIR/Cargo.toml to find what
//     the user calls the num_enum crate;
//   - ctor's #[ctor] emits a compile_error! under a #[cfg] false on this host: not an error.
// Neither declares anything: the user grants exactly the file it needs (CARGO_MANIFEST_DIR is
// package env, which every macro sees, as natively).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { formatMessages, loadMacroModule, type MacroModule, type SandboxGrant } from "../../src/index.js";
import { compileErrors } from "../../src/host/compile-errors.js";
import { NodeReadOnlyFs } from "../../src/node/fs.js";
import { effectiveGrant, type Capabilities } from "../../src/sandbox/capabilities.js";
import { compareStreams, printTokens } from "../oracle/compare.js";
import { buildNativeMacro, closeNativeOracle, expandNative, oracleCacheDir, type NativeCrate } from "../oracle/native.js";
import { macroboxArgs } from "../support/cli.js";
import { buildModule } from "../support/build.js";

type Crate = { name: string; version: string; features?: string[] };
const PEST: Crate = { name: "pest_derive", version: "2.5.2" };
const NUM_ENUM: Crate = { name: "num_enum_derive", version: "0.5.7", features: ["proc-macro-crate"] };
const CTOR: Crate = { name: "ctor", version: "0.1.26" };

async function wasmBuild(crate: Crate): Promise<string> {
  const dir = join(oracleCacheDir(), "realworld-wasm");
  mkdirSync(dir, { recursive: true });
  const output = join(dir, `${crate.name}@${crate.version}${crate.features ? `+${crate.features.join(",")}` : ""}.wasm`);
  return (await buildModule({ crate: `${crate.name}@${crate.version}`, output, features: crate.features })).output;
}

/** The user's crate: a manifest naming num_enum differently (so the answer shows it was read) and a grammar. */
let crateDir: string;
const PEST_INPUT = '#[grammar = "grammar.pest"]\npub struct Calc;';
const ENUM_INPUT = "#[repr(u8)]\nenum E { A = 1, B = 2 }";

before(() => {
  crateDir = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-realworld-crate-")));
  mkdirSync(join(crateDir, "src"));
  writeFileSync(
    join(crateDir, "Cargo.toml"),
    '[package]\nname = "user"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nmy_enum = { package = "num_enum", version = "0.5" }\npest = "2"\n',
  );
  writeFileSync(join(crateDir, "src", "grammar.pest"), 'WHITESPACE = _{ " " }\nnum = @{ ASCII_DIGIT+ }\nsum = { num ~ ("+" ~ num)* }\n');
  writeFileSync(join(crateDir, "secret.txt"), "TOP SECRET\n");
});

after(async () => {
  await closeNativeOracle();
  if (crateDir) rmSync(crateDir, { recursive: true, force: true });
});

/** What cargo sets for the compilation, and where it runs rustc. */
const cargoEnv = () => ({ CARGO_MANIFEST_DIR: crateDir });

function sandbox(crate: string, granted: Capabilities): SandboxGrant {
  const g = effectiveGrant(crate, { env: [], read: [] }, granted);
  assert.ok(g.ok);
  return {
    crate,
    declared: { env: [], read: [] },
    granted: g.grant,
    fs: new NodeReadOnlyFs(crateDir),
    env: { ...cargoEnv(), HOME: "/root" },
    crateDir,
    currentDir: crateDir,
  };
}

async function native(crate: Crate, kind: "derive" | "attr", name: string, input: string) {
  const dylib = buildNativeMacro(crate as NativeCrate);
  const r = await expandNative({ dylib, kind, name, input, args: kind === "attr" ? "" : undefined, env: cargoEnv(), currentDir: crateDir });
  assert.ok(r.ok, r.ok ? "" : r.error);
  return r.output;
}

describe("pest_derive: a grammar file through CARGO_MANIFEST_DIR", () => {
  let module: MacroModule;
  before(async () => {
    module = await loadMacroModule(readFileSync(await wasmBuild(PEST)));
  });

  test("granted exactly the file, it expands like native, absolute include_str! path included", async () => {
    const r = await module.expand({
      kind: "derive",
      name: "Parser",
      input: PEST_INPUT,
      sandbox: sandbox("pest_derive", { env: [], read: ["src/grammar.pest"] }),
    });
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    const expected = await native(PEST, "derive", "Parser", PEST_INPUT);
    assert.equal(compareStreams(r.output, expected), null, printTokens(r.output).slice(0, 400));
    assert.ok(
      r.text.includes(`include_str! ("${crateDir}/src/grammar.pest")`) || r.text.includes(`include_str!("${crateDir}/src/grammar.pest")`),
      r.text.slice(0, 300),
    );
    assert.ok(r.reads.includes("src/grammar.pest"));
  });

  test("without the read grant it fails with a note naming it", async () => {
    const none = sandbox("pest_derive", { env: [], read: [] });
    const f = await module.expand({ kind: "derive", name: "Parser", input: PEST_INPUT, sandbox: none });
    assert.equal(f.ok, false);
    const notes = formatMessages(f, { sandbox: none });
    assert.doesNotMatch(notes, /--allow-env/);
    assert.match(
      notes,
      new RegExp(
        `tried to read file ${crateDir}/src/grammar\\.pest, which it does not declare; the macro sees EACCES .*--allow-read pest_derive:src/grammar\\.pest`,
      ),
    );
  });
});

test("pest_derive granted by the workspace's macrobox.toml: nothing until `macrobox trust`, then the grammar", async () => {
  // The user's own directories, empty; the crate's macrobox.toml asks for the grammar.
  const home = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-realworld-home-")));
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };
  const settings = join(crateDir, "macrobox.toml");
  writeFileSync(settings, '[grants.pest_derive]\nread = ["src/grammar.pest"]\n');
  writeFileSync(join(crateDir, "src", "lib.rs"), `#[derive(Parser)]\n${PEST_INPUT}\n`);
  const wasm = await wasmBuild(PEST);
  const cli = (...args: string[]) => spawnSync(process.execPath, macroboxArgs(...args), { cwd: crateDir, env, encoding: "utf8" });
  const expand = () => cli("expand", wasm, "--derive", "Parser", join(crateDir, "src", "lib.rs"), "--no-format");
  try {
    const before = expand();
    assert.notEqual(before.status, 0);
    assert.match(before.stderr, new RegExp(`tried to read file ${crateDir}/src/grammar\\.pest.*\`macrobox trust ${crateDir}\` would grant what ${settings}`));
    const trusted = cli("trust");
    assert.equal(trusted.status, 0, trusted.stderr);
    assert.match(trusted.stdout, /grants\.pest_derive: read = \["src\/grammar\.pest"\]/);
    const after = expand();
    assert.equal(after.status, 0, after.stderr);
    assert.match(after.stdout, new RegExp(`include_str\\s*!\\s*\\("${crateDir}/src/grammar\\.pest"\\)`));
  } finally {
    rmSync(settings);
    rmSync(home, { recursive: true, force: true });
  }
});

test("macrobox inspect shows a grant beyond what the crate declares", async () => {
  const cli = spawnSync(
    process.execPath,
    macroboxArgs("inspect", await wasmBuild(PEST), "--allow-read", "pest_derive:src/grammar.pest", "--allow-env", "pest_derive:CARGO_MANIFEST_DIR"),
    { cwd: crateDir, encoding: "utf8" },
  );
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(
    cli.stdout,
    /capabilities declared:\n {2}none\ncapabilities granted:\n {2}env: {2}CARGO_MANIFEST_DIR {2}\(beyond what the crate declares\)\n {2}read: src\/grammar\.pest {2}\(beyond what the crate declares\)\nnote: macro crate pest_derive is granted env var CARGO_MANIFEST_DIR, read access to src\/grammar\.pest, beyond what the crate declares \(it declares nothing\)\n/,
  );
});

describe("num_enum_derive with proc-macro-crate: $CARGO_MANIFEST_DIR/Cargo.toml", () => {
  let module: MacroModule;
  before(async () => {
    module = await loadMacroModule(readFileSync(await wasmBuild(NUM_ENUM)));
  });

  test("granted exactly Cargo.toml, it expands like native (the renamed crate)", async () => {
    const r = await module.expand({
      kind: "derive",
      name: "TryFromPrimitive",
      input: ENUM_INPUT,
      sandbox: sandbox("num_enum_derive", { env: [], read: ["Cargo.toml"] }),
    });
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    const expected = await native(NUM_ENUM, "derive", "TryFromPrimitive", ENUM_INPUT);
    assert.equal(compareStreams(r.output, expected), null);
    assert.match(r.text, /:: my_enum ::/);
    assert.deepEqual(r.reads, ["Cargo.toml"]);
  });

  test("without the read grant its answer differs from native, with a note naming the grant", async () => {
    const expected = await native(NUM_ENUM, "derive", "TryFromPrimitive", ENUM_INPUT);
    const none = sandbox("num_enum_derive", { env: [], read: [] });
    const f = await module.expand({ kind: "derive", name: "TryFromPrimitive", input: ENUM_INPUT, sandbox: none });
    assert.ok(!f.ok || compareStreams(f.output, expected) !== null);
    assert.match(
      formatMessages(f, { sandbox: none }),
      new RegExp(`note: macro crate num_enum_derive tried to read file ${crateDir}/Cargo\\.toml.*--allow-read num_enum_derive:Cargo\\.toml`),
    );
  });
});

describe("ctor: compile_error! under a #[cfg] false for this host", () => {
  test("#[ctor] expands like native, and macrobox expand exits 0 in text and --json", async () => {
    const wasm = await wasmBuild(CTOR);
    const module = await loadMacroModule(readFileSync(wasm));
    const r = await module.expand({ kind: "attr", name: "ctor", args: "", input: "fn init() {}" });
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    assert.equal(compareStreams(r.output, await native(CTOR, "attr", "ctor", "fn init() {}")), null);
    assert.deepEqual(compileErrors(r.output, r.spans), []);
    // For a target #[ctor] does not support, rustc would report it.
    const wasi = compileErrors(r.output, r.spans, {
      target: { arch: "wasm32", os: "wasi", family: ["wasm"], env: "p1", vendor: "unknown", pointerWidth: "32", endian: "little" },
    });
    assert.deepEqual(
      wasi.map((d) => [d.level, d.message]),
      [["error", "#[ctor] is not supported on the current target"]],
    );

    const item = join(crateDir, "src", "init.rs");
    writeFileSync(item, "fn init() {}\n");
    for (const json of [false, true]) {
      const cli = spawnSync(process.execPath, macroboxArgs("expand", wasm, "--attr", "ctor", item, ...(json ? ["--json"] : [])), {
        cwd: crateDir,
        encoding: "utf8",
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.doesNotMatch(cli.stderr, /error/);
      if (json) assert.equal((JSON.parse(cli.stdout) as Array<{ ok: boolean }>)[0].ok, true);
    }
  });
});
