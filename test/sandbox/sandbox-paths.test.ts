// Absolute paths inside a grant, as macros build them from CARGO_MANIFEST_DIR (include_dir's
// `"$CARGO_MANIFEST_DIR/assets"`, rust-embed's `#[folder]`): resolving one looks at every
// ancestor of the crate directory (realpath stats each component), which the sandbox shows as
// directories to pass through, never to list or read (`check` in src/sandbox/wasi-fs.ts).
//
// Oracle: the same crates built natively and run by rust-analyzer's proc-macro server with the
// environment and current directory cargo gives them. The crate directory is a fresh one under the
// temporary directory, at its real path, so paths compare as they are.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";

import { buildModule } from "../support/build.js";
import { formatMessages, loadMacroModule, type ExpandResult, type MacroModule, type SandboxGrant } from "../../src/index.js";
import { NodeReadOnlyFs } from "../../src/node/fs.js";
import { effectiveGrant, type Capabilities } from "../../src/sandbox/capabilities.js";
import type { TokenStream } from "../../src/tokens/model.js";
import { compareStreams, printTokens } from "../oracle/compare.js";
import { buildNativeMacro, closeNativeOracle, expandNative, oracleCacheDir, type NativeCrate } from "../oracle/native.js";
import { macroboxArgs } from "../support/cli.js";

const ROOT = join(import.meta.dirname, "../..");
const FIXTURE = join(ROOT, "test", "fixtures", "paths");
const INCLUDE_DIR: NativeCrate = { name: "include_dir_macros", version: "0.7.3" };

let crateDir: string;
/** A file next to the crate directory: never readable. */
let sibling: string;
/** A directory next to the crate directory: its name is never shown. */
let other: string;
let paths: MacroModule;
let pathsDylib: string;

before(async () => {
  crateDir = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-paths-crate-")));
  mkdirSync(join(crateDir, "assets", "sub", "deeper"), { recursive: true });
  mkdirSync(join(crateDir, "src"));
  writeFileSync(join(crateDir, "Cargo.toml"), '[package]\nname = "user"\nversion = "0.1.0"\n');
  writeFileSync(join(crateDir, "src", "lib.rs"), "// not granted\n");
  writeFileSync(join(crateDir, "assets", "a.txt"), "alpha\n");
  writeFileSync(join(crateDir, "assets", "sub", "b.txt"), "beta beta\n");
  writeFileSync(join(crateDir, "assets", "sub", "deeper", "c.bin"), new Uint8Array([0, 1, 2, 255]));
  sibling = `${crateDir}-sibling.txt`;
  writeFileSync(sibling, "SIBLING SECRET\n");
  symlinkSync(sibling, join(crateDir, "assets", "to-sibling"));
  // Links inside the grant, resolved by realpath as natively: relative, up, absolute, a chain, a
  // directory, and one whose text climbs through the crate directory's ancestors.
  symlinkSync("a.txt", join(crateDir, "assets", "link-a"));
  symlinkSync("../a.txt", join(crateDir, "assets", "sub", "up"));
  symlinkSync(join(crateDir, "assets", "sub", "b.txt"), join(crateDir, "assets", "abs-b"));
  symlinkSync("link-a", join(crateDir, "assets", "chain"));
  symlinkSync("sub", join(crateDir, "assets", "dirlink"));
  symlinkSync(`../../${basename(crateDir)}/assets/a.txt`, join(crateDir, "assets", "via-ancestors"));
  // A link whose text names a directory next to the crate directory on its way back in: it leads
  // to a granted file, but its text must not show the other directory's name.
  other = `${crateDir}-other`;
  mkdirSync(other);
  mkdirSync(join(crateDir, "traps"));
  symlinkSync(`../../${basename(other)}/../${basename(crateDir)}/assets/a.txt`, join(crateDir, "traps", "sneaky"));
  const dir = join(oracleCacheDir(), "paths-wasm");
  mkdirSync(dir, { recursive: true });
  const built = await buildModule({ crate: FIXTURE, output: join(dir, "path_macros.wasm") });
  paths = await loadMacroModule(readFileSync(built.output));
  pathsDylib = buildNativeMacro({ path: FIXTURE });
});

after(async () => {
  await closeNativeOracle();
  if (crateDir) rmSync(crateDir, { recursive: true, force: true });
  if (sibling) rmSync(sibling, { force: true });
  if (other) rmSync(other, { recursive: true, force: true });
});

function sandbox(crate: string, granted: Capabilities): SandboxGrant {
  const g = effectiveGrant(crate, { env: [], read: [] }, granted);
  assert.ok(g.ok);
  const fs = new NodeReadOnlyFs(crateDir);
  return { crate, declared: { env: [], read: [] }, granted: g.grant, fs, env: { CARGO_MANIFEST_DIR: crateDir }, crateDir: fs.root, currentDir: fs.root };
}

/** The string a macro answered with (its output is one string literal). */
function answer(stream: TokenStream): string {
  const t = stream[0];
  assert.ok(stream.length === 1 && t.type === "literal" && t.kind === "Str", printTokens(stream));
  return JSON.parse(`"${t.symbol}"`) as string;
}

async function wasmAnswer(name: string, path: string, granted: Capabilities = { env: [], read: ["assets"] }): Promise<{ text: string; r: ExpandResult }> {
  const r = await paths.expand({ kind: "bang", name, input: JSON.stringify(path), sandbox: sandbox("path_macros", granted) });
  assert.ok(r.ok, `path_macros ${name}!(${path}): ${r.ok ? "" : r.error.message}`);
  return { text: answer(r.output), r };
}

async function nativeAnswer(dylib: string, name: string, input: string): Promise<TokenStream> {
  const n = await expandNative({ dylib, kind: "bang", name, input, env: { CARGO_MANIFEST_DIR: crateDir }, currentDir: crateDir });
  assert.ok(n.ok, `native ${name}!(${input}): ${n.ok ? "" : n.error}`);
  return n.output;
}

describe("absolute paths inside a grant resolve as natively", { timeout: 20 * 60_000 }, () => {
  test("canonicalize, metadata, exists/is_dir/is_file, read_link and read_dir of $CARGO_MANIFEST_DIR/...", async () => {
    const cases = [
      "$CARGO_MANIFEST_DIR/assets",
      "$CARGO_MANIFEST_DIR/assets/",
      "$CARGO_MANIFEST_DIR/assets/a.txt",
      "$CARGO_MANIFEST_DIR/./assets//sub/./b.txt",
      "$CARGO_MANIFEST_DIR/assets/sub/../a.txt",
      "$CARGO_MANIFEST_DIR/assets/sub/deeper",
      "$CARGO_MANIFEST_DIR/assets/sub/deeper/c.bin",
      "$CARGO_MANIFEST_DIR/assets/../assets/sub",
      "$CARGO_MANIFEST_DIR/assets/missing.txt",
      "$CARGO_MANIFEST_DIR/assets/missing/x",
      "$CARGO_MANIFEST_DIR/assets/a.txt/x",
      "$CARGO_MANIFEST_DIR/assets/link-a",
      "$CARGO_MANIFEST_DIR/assets/sub/up",
      "$CARGO_MANIFEST_DIR/assets/abs-b",
      "$CARGO_MANIFEST_DIR/assets/chain",
      "$CARGO_MANIFEST_DIR/assets/dirlink",
      "$CARGO_MANIFEST_DIR/assets/dirlink/b.txt",
      "$CARGO_MANIFEST_DIR/assets/dirlink/up",
      "$CARGO_MANIFEST_DIR/assets/via-ancestors",
    ];
    const failures: string[] = [];
    for (const path of cases) {
      for (const name of ["probe", "list", "read"]) {
        const { text, r } = await wasmAnswer(name, path);
        const native = answer(await nativeAnswer(pathsDylib, name, JSON.stringify(path)));
        if (text !== native) failures.push(`${name}!(${path}):\n  wasm   ${text.replace(/\n/g, "; ")}\n  native ${native.replace(/\n/g, "; ")}`);
        assert.deepEqual(r.denials, [], `${name}!(${path})`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test("the ancestors of the crate directory stat as directories, as natively, and are not recorded as reads", async () => {
    const failures: string[] = [];
    for (const path of [
      "/",
      dirname(crateDir),
      "$CARGO_MANIFEST_DIR",
      "$CARGO_MANIFEST_DIR/..",
      `${dirname(crateDir)}/./${basename(crateDir)}/assets/../assets`,
    ]) {
      const { text, r } = await wasmAnswer("probe", path);
      // Native realpath of "/" and of the temporary directory: the same strings.
      const native = answer(await nativeAnswer(pathsDylib, "probe", JSON.stringify(path)));
      if (text !== native) failures.push(`probe!(${path}):\n  wasm   ${text.replace(/\n/g, "; ")}\n  native ${native.replace(/\n/g, "; ")}`);
      assert.deepEqual(r.denials, [], path);
      assert.ok(
        r.reads.every((p) => !p.startsWith("/")),
        `${path}: ${r.reads.join(", ")}`,
      );
    }
    assert.deepEqual(failures, []);
  });
});

describe('include_dir!("$CARGO_MANIFEST_DIR/assets") (include_dir_macros 0.7.3, unmodified)', { timeout: 20 * 60_000 }, () => {
  let includeDir: MacroModule;
  let includeDirWasm: string;
  before(async () => {
    const dir = join(oracleCacheDir(), "paths-wasm");
    includeDirWasm = (await buildModule({ crate: "include_dir_macros@0.7.3", output: join(dir, "include_dir_macros.wasm") })).output;
    includeDir = await loadMacroModule(readFileSync(includeDirWasm));
  });
  const INPUT = '"$CARGO_MANIFEST_DIR/assets"';

  test("with assets granted it expands token for token as natively", async () => {
    // The symbolic link to the sibling would be refused (and native would embed the sibling): not here.
    rmSync(join(crateDir, "assets", "to-sibling"));
    try {
      const r = await includeDir.expand({
        kind: "bang",
        name: "include_dir",
        input: INPUT,
        sandbox: sandbox("include_dir_macros", { env: [], read: ["assets"] }),
      });
      assert.ok(r.ok, r.ok ? "" : r.error.message);
      const native = await nativeAnswerStream(INPUT);
      // include_bytes! of the canonical paths: the realpath answers are in the output.
      assert.match(printTokens(native), new RegExp(`include_bytes ! \\( "${crateDir.replace(/[.]/g, "\\.")}/assets/sub/deeper/c\\.bin" \\)`));
      assert.equal(compareStreams(r.output, native), null, `wasm ${printTokens(r.output)}\nnative ${printTokens(native)}`);
      assert.deepEqual(r.denials, []);
      // The crate directory itself is stat-ed on the way (realpath): recorded as it always was.
      assert.deepEqual(
        r.reads.filter((p) => p !== "." && p !== "assets" && !p.startsWith("assets/")),
        [],
        "nothing read outside the grant",
      );
    } finally {
      symlinkSync(sibling, join(crateDir, "assets", "to-sibling"));
    }
  });

  test("without a grant it is denied, with a note naming the grant", async () => {
    const none = sandbox("include_dir_macros", { env: [], read: [] });
    const r = await includeDir.expand({ kind: "bang", name: "include_dir", input: INPUT, sandbox: none });
    assert.equal(r.ok, false);
    // include_dir asks `is_dir()` first, which is false for a path it may not stat.
    assert.equal(r.error!.message, `proc macro panicked: "${crateDir}/assets" is not a directory`);
    assert.equal(r.denials.length, 1, JSON.stringify(r.denials));
    assert.equal(r.denials[0].name, join(crateDir, "assets"));
    assert.match(formatMessages(r, { sandbox: none }), /--allow-read include_dir_macros:assets/);
    assert.deepEqual(r.reads, []);
  });

  test("macrobox expand in the crate directory: the same, granted or not", () => {
    const run = (...extra: string[]) =>
      spawnSync(process.execPath, macroboxArgs("expand", includeDirWasm, "--bang", "include_dir", INPUT, "--json", ...extra), {
        cwd: crateDir,
        encoding: "utf8",
      });
    rmSync(join(crateDir, "assets", "to-sibling"));
    try {
      const granted = run("--allow-read", "include_dir_macros:assets");
      assert.equal(granted.status, 0, granted.stderr);
      const [out] = JSON.parse(granted.stdout) as Array<{ ok: boolean; code: string }>;
      assert.ok(out.ok && out.code.includes(`("${crateDir}/assets/sub/deeper/c.bin")`), out.code);
    } finally {
      symlinkSync(sibling, join(crateDir, "assets", "to-sibling"));
    }
    const denied = run();
    assert.equal(denied.status, 1);
    assert.match(denied.stdout + denied.stderr, /--allow-read include_dir_macros:assets/);
  });

  test("granted by the crate's own macrobox.toml: nothing until `macrobox trust`, then as natively; an edit asks again", () => {
    // The user's own directories, empty: the repository's file is a request until trusted.
    const home = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-paths-home-")));
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };
    const cli = (...args: string[]) => spawnSync(process.execPath, macroboxArgs(...args), { cwd: crateDir, env, encoding: "utf8" });
    const expand = () => cli("expand", includeDirWasm, "--bang", "include_dir", INPUT, "--json");
    const settings = join(crateDir, "macrobox.toml");
    writeFileSync(settings, '[grants.include_dir_macros]\nread = ["assets"]\n');
    rmSync(join(crateDir, "assets", "to-sibling"));
    try {
      const before = expand();
      assert.equal(before.status, 1);
      assert.match(before.stdout + before.stderr, new RegExp(`\`macrobox trust ${crateDir}\` would grant`));
      const trusted = cli("trust");
      assert.equal(trusted.status, 0, trusted.stderr);
      const after = expand();
      assert.equal(after.status, 0, after.stderr);
      const [out] = JSON.parse(after.stdout) as Array<{ ok: boolean; code: string }>;
      assert.ok(out.ok && out.code.includes(`("${crateDir}/assets/sub/deeper/c.bin")`), out.code);
      writeFileSync(settings, '[grants.include_dir_macros]\nread = ["assets", "src"]\n');
      const edited = expand();
      assert.equal(edited.status, 1, "a changed request is not in effect until trusted again");
      assert.match(edited.stdout + edited.stderr, /changed since you trusted it|macrobox trust/);
    } finally {
      symlinkSync(sibling, join(crateDir, "assets", "to-sibling"));
      rmSync(settings, { force: true });
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("a symbolic link in the granted directory to a sibling of the crate directory is refused", async () => {
    const r = await includeDir.expand({
      kind: "bang",
      name: "include_dir",
      input: INPUT,
      sandbox: sandbox("include_dir_macros", { env: [], read: ["assets"] }),
    });
    assert.equal(r.ok, false);
    assert.ok(
      r.denials.some((d) => d.reason === "symlink" && d.name === join(crateDir, "assets", "to-sibling")),
      JSON.stringify(r.denials),
    );
    assert.doesNotMatch(JSON.stringify(r), /SIBLING SECRET/);
  });

  async function nativeAnswerStream(input: string): Promise<TokenStream> {
    return nativeAnswer(buildNativeMacro(INCLUDE_DIR), "include_dir", input);
  }
});

describe("#[derive(RustEmbed)] (rust-embed-impl 6.3.1, unmodified): #[folder] joined to CARGO_MANIFEST_DIR and canonicalized", { timeout: 20 * 60_000 }, () => {
  const RUST_EMBED: NativeCrate = { name: "rust-embed-impl", version: "6.3.1" };
  let rustEmbed: MacroModule;
  before(async () => {
    const dir = join(oracleCacheDir(), "paths-wasm");
    rustEmbed = await loadMacroModule(readFileSync((await buildModule({ crate: "rust-embed-impl@6.3.1", output: join(dir, "rust_embed_impl.wasm") })).output));
  });
  const inputs = () => ['#[folder = "assets"]\nstruct Assets;', `#[folder = ${JSON.stringify(`${crateDir}/assets/`)}]\nstruct Assets;`];
  const granted: Capabilities = { env: [], read: ["assets"] };

  test("with assets granted it expands token for token as natively", async () => {
    // rust-embed embeds each file's mtime: the sandbox shows every file at the epoch (for
    // deterministic expansions), so the files are put there for the native run too.
    const files = ["assets/a.txt", "assets/sub/b.txt", "assets/sub/deeper/c.bin"].map((f) => join(crateDir, f));
    for (const f of files) utimesSync(f, 0, 0);
    rmSync(join(crateDir, "assets", "to-sibling"));
    // walkdir checks a followed directory link for loops with same-file, which has no WASI
    // implementation ("same-file is not supported on this platform"): it skips such a directory there.
    rmSync(join(crateDir, "assets", "dirlink"));
    try {
      for (const input of inputs()) {
        const r = await rustEmbed.expand({ kind: "derive", name: "RustEmbed", input, sandbox: sandbox("rust_embed_impl", granted) });
        assert.ok(r.ok, r.ok ? "" : r.error.message);
        const n = await expandNative({
          dylib: buildNativeMacro(RUST_EMBED),
          kind: "derive",
          name: "RustEmbed",
          input,
          env: { CARGO_MANIFEST_DIR: crateDir },
          currentDir: crateDir,
        });
        assert.ok(n.ok, n.ok ? "" : n.error);
        assert.match(printTokens(n.output), new RegExp(`include_bytes ! \\( "${crateDir.replace(/[.]/g, "\\.")}/assets/sub/deeper/c\\.bin" \\)`));
        assert.equal(compareStreams(r.output, n.output), null, `${input}\nwasm ${printTokens(r.output)}\nnative ${printTokens(n.output)}`);
        assert.deepEqual(r.denials, []);
      }
    } finally {
      symlinkSync(sibling, join(crateDir, "assets", "to-sibling"));
      symlinkSync("sub", join(crateDir, "assets", "dirlink"));
    }
  });

  test("without the grant it is denied with a note naming it; a link to a sibling is refused", async () => {
    const none = sandbox("rust_embed_impl", { env: [], read: [] });
    for (const input of inputs()) {
      const r = await rustEmbed.expand({ kind: "derive", name: "RustEmbed", input, sandbox: none });
      assert.equal(r.ok, false, input);
      assert.match(formatMessages(r, { sandbox: none }), /--allow-read rust_embed_impl:assets/, input);
      assert.deepEqual(r.reads, []);
      const linked = await rustEmbed.expand({ kind: "derive", name: "RustEmbed", input, sandbox: sandbox("rust_embed_impl", granted) });
      assert.ok(
        linked.denials.some((d) => d.reason === "symlink" && d.name === join(crateDir, "assets", "to-sibling")),
        JSON.stringify(linked.denials),
      );
      assert.doesNotMatch(JSON.stringify(linked), /SIBLING SECRET/);
    }
  });
});

describe("hostile: the way to the crate directory gives nothing", { timeout: 20 * 60_000 }, () => {
  const granted: Capabilities = { env: [], read: ["assets"] };

  test("listing /, an ancestor, or the crate directory beyond the grant is refused, with a note", async () => {
    for (const [path, reason] of [
      ["/", "outside"],
      [dirname(crateDir), "outside"],
      [dirname(dirname(crateDir)), "outside"],
      ["$CARGO_MANIFEST_DIR/..", "escape"],
      ["$CARGO_MANIFEST_DIR/assets/../../", "escape"],
    ] as const) {
      const { text, r } = await wasmAnswer("list", path, granted);
      assert.equal(text, "error PermissionDenied", path);
      assert.equal(r.denials.length, 1, `${path}: ${JSON.stringify(r.denials)}`);
      assert.equal(r.denials[0].reason, reason, path);
      assert.match(r.denials[0].note, /outside the crate directory/);
      assert.doesNotMatch(r.denials[0].note, /--allow-read/);
      assert.deepEqual(r.reads, []);
    }
    // The crate directory itself, on the way to the grant, shows just the way.
    assert.equal((await wasmAnswer("list", "$CARGO_MANIFEST_DIR", granted)).text, "ok assets/");
    // Not on the way to anything: stat-able, not listable, and the note names the grant.
    const none = await wasmAnswer("list", "$CARGO_MANIFEST_DIR", { env: [], read: [] });
    assert.equal(none.text, "error PermissionDenied");
    assert.match(none.r.denials[0]?.note ?? "", /--allow-read path_macros:\./);
    const probed = await wasmAnswer("probe", "$CARGO_MANIFEST_DIR/assets", { env: [], read: [] });
    assert.match(probed.text, /^canonicalize: error PermissionDenied\nmetadata: error PermissionDenied/);
    assert.ok(
      probed.r.denials.every((d) => d.name === join(crateDir, "assets") && d.grant === "assets"),
      JSON.stringify(probed.r.denials),
    );
  });

  test("a sibling of the crate directory, or an ungranted file in it, stays unreadable by absolute path", async () => {
    for (const [path, reason] of [
      [sibling, "outside"],
      [`$CARGO_MANIFEST_DIR/../${basename(sibling)}`, "escape"],
      [`$CARGO_MANIFEST_DIR/assets/../../${basename(sibling)}`, "escape"],
      ["$CARGO_MANIFEST_DIR/assets/to-sibling", "symlink"],
      ["$CARGO_MANIFEST_DIR/Cargo.toml", "undeclared"],
      ["/etc/passwd", "outside"],
    ] as const) {
      for (const name of ["read", "probe"]) {
        const { text, r } = await wasmAnswer(name, path, granted);
        assert.match(
          text,
          name === "read" ? /^error PermissionDenied$/ : /^canonicalize: error PermissionDenied\nmetadata: error PermissionDenied/,
          `${name}!(${path})`,
        );
        // realpath resolves `..` itself: the host sees the path it leads to, outside.
        const reasons = name === "probe" && reason === "escape" ? ["outside", "escape"] : [reason];
        assert.deepEqual([...new Set(r.denials.map((d) => d.reason))], reasons, `${name}!(${path}): ${JSON.stringify(r.denials)}`);
        assert.doesNotMatch(JSON.stringify(r), /SIBLING SECRET|root:/);
        // realpath stats the directories on its way inside the crate (recorded as they always were), nothing else.
        assert.deepEqual(
          r.reads.filter((p) => p !== "." && p !== "assets"),
          [],
          `${name}!(${path})`,
        );
      }
    }
  });

  test("a link whose text names a place outside the way shows as what it leads to, its text never shown", async () => {
    const both = { env: [], read: ["assets", "traps"] };
    const { text, r } = await wasmAnswer("probe", "$CARGO_MANIFEST_DIR/traps/sneaky", both);
    assert.equal(
      text,
      [
        `canonicalize: ok ${crateDir}/traps/sneaky`,
        "metadata: ok file of 6 bytes",
        "symlink_metadata: ok file of 6 bytes",
        "exists: true is_dir: false is_file: true",
        "try_exists: ok true",
        "read_link: error InvalidInput",
      ].join("\n"),
    );
    assert.equal((await wasmAnswer("read", "$CARGO_MANIFEST_DIR/traps/sneaky", both)).text, 'ok "alpha\\n"');
    assert.equal((await wasmAnswer("list", "$CARGO_MANIFEST_DIR/traps", both)).text, "ok sneaky");
    assert.doesNotMatch(JSON.stringify(r), new RegExp(basename(other)));
    // Natively, its text shows the other directory (what the sandbox keeps from the macro).
    assert.match(answer(await nativeAnswer(pathsDylib, "probe", JSON.stringify("$CARGO_MANIFEST_DIR/traps/sneaky"))), new RegExp(basename(other)));
  });

  test("opening an ancestor gives a directory that cannot be listed or read", async () => {
    for (const path of ["/", dirname(crateDir)]) {
      const { text } = await wasmAnswer("read", path, granted);
      // Natively: reading a directory is EISDIR ("IsADirectory").
      assert.equal(text, answer(await nativeAnswer(pathsDylib, "read", JSON.stringify(path))), path);
    }
  });
});
