// `macrobox build` and `macrobox inspect` on real crates: the repository's example, crates from
// Debian's registry, and one fixture per error the build must explain.

import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { build } from "../../src/builder/build.js";
import { cli } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const fixtures = join(root, "test/fixtures/build");
const out = mkdtempSync(join(tmpdir(), "macrobox-build-test-"));

function inspect(wasm: string) {
  const r = cli(["inspect", wasm, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { macros: Array<{ kind: string; name: string; helpers: string[] }>; metadata: any };
}

/** Sets the times of every file under `dir` (following symbolic links) to now, as an edit would. */
function touchTree(dir: string): void {
  const now = new Date();
  for (const entry of readdirSync(dir, { recursive: true })) {
    const path = join(dir, String(entry));
    if (statSync(path).isFile()) utimesSync(path, now, now);
  }
}

describe("macrobox build", { timeout: 30 * 60_000 }, () => {
  /** demo-macros built in a fresh cache, by the two-caches test. */
  let freshDemo: Buffer | undefined;

  it("builds the example crate; inspect lists exactly its derive, attribute and function-like macros", () => {
    const wasm = join(out, "demo.wasm");
    const r = cli(["build", join(root, "examples/demo-macros"), "-o", wasm]);
    assert.equal(r.code, 0, r.stderr);
    const { macros, metadata } = inspect(wasm);
    assert.deepEqual(macros, [
      { kind: "derive", name: "Describe", helpers: ["describe"] },
      { kind: "attr", name: "route", helpers: [] },
      { kind: "bang", name: "sql", helpers: [] },
    ]);
    assert.equal(metadata.crate.name, "demo-macros");
    assert.match(metadata.rustc, /^rustc 1\.\d+/);
    assert.match(metadata.bridgeAbi, /^rustc-1\.\d+\/[0-9a-f]{12}$/);
    assert.match(metadata.sourceHash, /^sha256:[0-9a-f]{64}$/);
    // syn 1 / quote 1.0.21 / proc-macro2 1.0.47 switch proc_macro off on wasm32: patched, and said so.
    assert.ok(
      metadata.build.compat.some((c: any) => c.crate === "syn"),
      JSON.stringify(metadata.build.compat),
    );
    assert.match(r.stderr, /Compat syn 1\.0\.107/);
    // The human-readable inspect names the macros too.
    const text = cli(["inspect", wasm]);
    assert.match(text.stdout, /#\[derive\(Describe\)\]\s+helper attributes: describe/);
    assert.match(text.stdout, /sql!/);
  });

  it("builds serde_derive 1.0.152 from the local registry, unmodified", () => {
    const wasm = join(out, "serde_derive.wasm");
    const r = cli(["build", "serde_derive@1.0.152", "-o", wasm, "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "--quiet prints nothing on success");
    const { macros, metadata } = inspect(wasm);
    assert.deepEqual(
      macros.map((m) => [m.kind, m.name, m.helpers]),
      [
        ["derive", "Serialize", ["serde"]],
        ["derive", "Deserialize", ["serde"]],
      ],
    );
    assert.deepEqual(metadata.crate, { name: "serde_derive", version: "1.0.152", edition: "2015" });
  });

  it("builds thiserror-impl 1.0.38 from the local registry, with --json progress", () => {
    const wasm = join(out, "thiserror_impl.wasm");
    const r = cli(["build", "thiserror-impl@1.0.38", "-o", wasm, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(events.length >= 2);
    assert.equal(events.at(-1).event, "done");
    assert.ok(
      events.some((e) => e.event === "compiled" && e.crate === "thiserror-impl"),
      "reports compiled crates",
    );
    const { macros } = inspect(wasm);
    assert.deepEqual(macros, [{ kind: "derive", name: "Error", helpers: ["backtrace", "error", "from", "source"] }]);
  });

  it("builds a workspace member that inherits its version, edition and dependencies", () => {
    const wasm = join(out, "ws.wasm");
    const r = cli(["build", join(fixtures, "workspace/crates/m"), "-o", wasm, "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    const { macros, metadata } = inspect(wasm);
    assert.deepEqual(macros, [{ kind: "bang", name: "m", helpers: [] }]);
    assert.deepEqual(metadata.crate, { name: "ws-macro", version: "2.3.4", edition: "2021" });
    assert.ok(metadata.build.dependencies.includes("quote 1.0.21"), metadata.build.dependencies.join(", "));
  });

  it("gives byte-identical modules for the same crate in two different directories", async () => {
    const a = mkdtempSync(join(tmpdir(), "macrobox-repro-a-"));
    const b = mkdtempSync(join(tmpdir(), "macrobox-repro-b-"));
    cpSync(join(root, "examples/demo-macros"), join(a, "demo-macros"), { recursive: true });
    cpSync(join(root, "examples/demo-macros"), join(b, "nested/dir/copy"), { recursive: true });
    const first = await build({ crate: join(a, "demo-macros"), output: join(out, "repro-a.wasm") });
    // Force a real recompilation of the crate for the second build (not a cache hit).
    rmSync(first.stageDir, { recursive: true, force: true });
    const second = await build({ crate: join(b, "nested/dir/copy"), output: join(out, "repro-b.wasm") });
    assert.equal(first.stageDir, second.stageDir);
    const bytesA = readFileSync(first.output);
    const bytesB = readFileSync(second.output);
    assert.ok(bytesA.length > 10_000);
    assert.ok(bytesA.equals(bytesB), "the two builds differ");
  });

  it("gives the same bytes from two fresh caches in different places (two machines' layouts)", () => {
    // std, the dependencies (patched syn included) and the crate all compile in each cache.
    const base = mkdtempSync(join(tmpdir(), "macrobox-two-caches-"));
    // The embed fixture calls std::fs::canonicalize: the libc shim, compiled in each cache, too.
    const crates = [join(root, "examples/demo-macros"), join(root, "test/fixtures/embed")];
    const built = [join(base, "c"), join(base, "x", "y", "z", "c")].map((cache, i) =>
      crates.map((crate, j) => {
        const wasm = join(out, `cache-${i}-${j}.wasm`);
        const r = cli(["build", crate, "-o", wasm, "--quiet"], { env: { MACROBOX_CACHE: cache } });
        assert.equal(r.code, 0, r.stderr);
        return readFileSync(wasm);
      }),
    );
    crates.forEach((crate, j) => assert.ok(built[0][j].equals(built[1][j]), `modules of ${crate} built in two caches differ`));
    freshDemo = built[0][0];
    rmSync(base, { recursive: true, force: true });
  });

  it("gives the same bytes in a cache that built other crates and profiles first as in a fresh cache", async () => {
    // The suite's cache is the one with a history. The dependencies cargo compiles from inside a
    // stage (the compat copies of syn, quote and proc-macro2) are shared by every stage; rustc
    // hashed the stage it ran in into their crate hashes, which reached the embedded crate hash
    // of every later module (issue 18). Touching the shared copies makes the next build compile
    // them in another crate's stage, whatever this cache built before.
    assert.ok(freshDemo, "the fresh caches' build ran first");
    const other = mkdtempSync(join(tmpdir(), "macrobox-history-"));
    cpSync(join(root, "examples/demo-macros"), other, { recursive: true });
    writeFileSync(join(other, "src/lib.rs"), `// another crate, same dependencies\n${readFileSync(join(other, "src/lib.rs"), "utf8")}`);
    const released = await build({ crate: other, output: join(out, "history-release.wasm"), profile: "release" });
    touchTree(join(released.stageDir, ".macrobox-compat"));
    const otherDev = await build({ crate: other, output: join(out, "history-dev.wasm") });
    assert.ok(!readFileSync(otherDev.output).equals(freshDemo), "the other crate is another module");
    const demo = await build({ crate: join(root, "examples/demo-macros"), output: join(out, "history-demo.wasm") });
    assert.ok(readFileSync(demo.output).equals(freshDemo), "demo-macros built after other crates differs from its build in a fresh cache");
    rmSync(other, { recursive: true, force: true });
  });
});

describe("macrobox build errors", { timeout: 10 * 60_000 }, () => {
  const failing = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const wasm = join(out, `failed-${Math.random().toString(36).slice(2)}.wasm`);
    const r = cli(["build", ...args, "-o", wasm], { env });
    assert.equal(r.code, 1, `expected failure, got ${r.code}\n${r.stderr}`);
    assert.equal(existsSync(wasm), false, "a failed build leaves no output");
    return r.stderr;
  };

  it("an edited and reverted crate builds its own sources again, not the last edit's (shared target dir, cargo's mtimes)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "macrobox-revert-"));
    writeFileSync(join(dir, "Cargo.toml"), '[package]\nname = "revert_probe"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\nproc-macro = true\n');
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(dir, "src"));
    const write = (name: string) =>
      writeFileSync(join(dir, "src/lib.rs"), `#[proc_macro]\npub fn ${name}(_: proc_macro::TokenStream) -> proc_macro::TokenStream { Default::default() }\n`);
    const names = async (label: string) => {
      const r = await build({ crate: dir, output: join(out, `revert-${label}.wasm`) });
      return r.metadata.macros.map((m) => m.name);
    };
    write("first");
    assert.deepEqual(await names("a"), ["first"]);
    write("second");
    assert.deepEqual(await names("b"), ["second"]);
    write("first");
    assert.deepEqual(await names("c"), ["first"], "the reverted sources were built, not the previous module reused");
  });

  it("refuses a crate that is not a proc-macro crate", () => {
    assert.match(failing([join(fixtures, "not-proc-macro")]), /plain-lib is not a proc-macro crate: .*Cargo\.toml has no `\[lib\] proc-macro = true`/);
  });

  it("shows rustc's diagnostics for a crate that does not compile", () => {
    const err = failing([join(fixtures, "broken")]);
    assert.match(err, /broken-macro 0\.1\.0 does not compile/);
    assert.match(err, /error\[E0308\]: mismatched types/);
    assert.match(err, /src\/lib\.rs:5:22/);
  });

  it("names the packages to install when the toolchain is missing", () => {
    const err = failing([join(root, "examples/demo-macros")], { MACROBOX_RUSTC: "/nonexistent/rustc", MACROBOX_CARGO: "/nonexistent/cargo" });
    assert.match(err, /no usable Rust toolchain/);
    assert.match(err, /apt-get install rustc-web cargo-web rust-web-src lld-22 wasi-libc/);
  });

  it("names each missing piece of an incomplete toolchain", () => {
    // A toolchain whose rustc answers but whose sysroot has no std sources, linker or wasi libc.
    const fake = mkdtempSync(join(tmpdir(), "macrobox-fake-toolchain-"));
    const rustc = join(fake, "rustc");
    writeFileSync(
      rustc,
      `#!/bin/sh\ncase "$1" in\n  -vV) printf 'rustc 1.96.0\\nhost: x86_64-unknown-linux-gnu\\nrelease: 1.96.0\\n';;\n  --print) echo ${fake};;\nesac\n`,
      { mode: 0o755 },
    );
    const err = failing([join(root, "examples/demo-macros")], { MACROBOX_RUSTC: rustc, MACROBOX_CARGO: "/nonexistent/cargo" });
    assert.match(err, /lacks cargo/);
    assert.match(err, /the standard library sources .*rust-web-src, or rustup component rust-src/);
  });

  it("reports an unknown crate and an unknown version in the registry", () => {
    assert.match(failing(["macrobox-no-such-derive@1.0.0"]), /crate `macrobox-no-such-derive` is not in the local registry/);
    assert.match(failing(["serde_derive@0.9.99"]), /serde_derive 0\.9\.99 is not in the local registry; it has 1\.0\.152/);
  });

  it("names a dependency missing from the registry", () => {
    assert.match(failing([join(fixtures, "missing-dep")]), /dependency `macrobox-no-such-crate` is not available in the local registry/);
  });

  it("refuses a module whose imports the host does not provide, naming the import", () => {
    assert.match(failing([join(fixtures, "foreign-import")]), /env\.host_secret \(function\)/);
  });

  it("names a C function wasi-libc lacks and who calls it, without the linker's output", () => {
    const err = failing([join(fixtures, "missing-libc")]);
    assert.match(
      err,
      /missing-libc 0\.1\.0 does not link for wasm32-macro: it calls C functions that the module's C library \(wasi-libc\) does not provide:\n {2}getuid \(called from missing_libc\)\n/,
    );
    assert.match(err, /conditional on `not\(target_os = "wasi"\)`/);
    assert.doesNotMatch(err, /wasm-ld|rust-lld|linking with|rcgu\.o|-flavor/);
  });
});
