// The compat rule (src/builder/compat.ts) is decided by what a dependency's own sources show, not
// by its name: real registry crates that gate proc_macro on wasm32 qualify, crates that test wasm32
// for other reasons do not, and crates unknown to the rule are handled the same way.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { findPatches } from "../../src/builder/compat.js";

const REGISTRY = "/usr/share/cargo/registry";

function crate(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "macrobox-compat-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

test("registry crates that switch proc_macro off on wasm32 are patched; others are not", () => {
  const patched = (name: string, version: string) => findPatches(name, version, join(REGISTRY, `${name}-${version}`)).map((p) => p.file);
  assert.deepEqual(patched("synstructure", "0.12.3"), ["src/lib.rs", "src/macros.rs"]);
  assert.deepEqual(patched("proc-macro2", "1.0.47"), ["build.rs"]);
  assert.ok(patched("syn", "1.0.107").includes("src/lib.rs"));
  // serde's build.rs and memchr's sources test wasm32, but not to turn proc_macro off.
  assert.deepEqual(patched("serde", "1.0.152"), []);
  assert.deepEqual(patched("memchr", "2.5.0"), []);
});

test("any crate gating proc_macro on wasm by cfg gets every wasm test made false", () => {
  const dir = crate({
    "src/lib.rs": [
      '#[cfg(not(target_family = "wasm"))]',
      "extern crate proc_macro;",
      '#[cfg(all(feature = "x", not(target_arch = "wasm32")))]',
      "impl From<proc_macro::TokenStream> for T { fn from(_: proc_macro::TokenStream) -> T { T } }",
      'const ON_WASM: bool = cfg!(target_arch = "wasm32");',
      "",
    ].join("\n"),
  });
  const [p, ...rest] = findPatches("made-up", "0.1.0", dir);
  assert.equal(rest.length, 0);
  assert.equal(p.patch.count, 3);
  assert.match(p.text, /#\[cfg\(not\(any\(\)\)\)\]\nextern crate proc_macro;/);
  assert.match(p.text, /#\[cfg\(all\(feature = "x", not\(any\(\)\)\)\)\]/);
  assert.match(p.text, /cfg!\(any\(\)\)/);
});

test("a wasm32 cfg that does not gate proc_macro leaves the crate alone", () => {
  const dir = crate({
    "src/lib.rs": '#[cfg(not(target_arch = "wasm32"))]\nuse std::time::Instant;\npub fn f(_: proc_macro2::TokenStream) {}\n',
  });
  assert.deepEqual(findPatches("timing", "0.1.0", dir), []);
});

test("a build script testing the target name for wasm32 is patched when the crate uses proc_macro", () => {
  const build = 'fn main() { let t = std::env::var("TARGET").unwrap(); if !t.starts_with("wasm32") { println!("cargo:rustc-cfg=use_pm"); } }\n';
  const uses = crate({ "build.rs": build, "src/lib.rs": "#[cfg(use_pm)]\nextern crate proc_macro;\n" });
  const [p] = findPatches("pm-wrapper", "1.0.0", uses);
  assert.equal(p.file, "build.rs");
  assert.match(p.text, /t\.starts_with\("\\0wasm32"\)/);
  const other = crate({ "build.rs": build, "src/lib.rs": "pub fn f() {}\n" });
  assert.deepEqual(findPatches("not-pm", "1.0.0", other), []);
});

test("getrandom's WASI backend without its `wasi` dependency (as Debian packages it) declares the import itself", () => {
  const [p, ...rest] = findPatches("getrandom", "0.2.8", join(REGISTRY, "getrandom-0.2.8"));
  assert.equal(rest.length, 0);
  assert.equal(p.file, "src/wasi.rs");
  assert.doesNotMatch(p.text, /use wasi::/);
  assert.match(p.text, /#\[link\(wasm_import_module = "wasi_snapshot_preview1"\)\]\nextern "C" \{\n {4}fn random_get\(buf: i32, buf_len: i32\) -> i32;\n\}/);
  // With the dependency declared (getrandom as published), the crate is left alone.
  const wasi = "use crate::Error;\nuse wasi::wasi_snapshot_preview1::random_get;\n";
  const published = crate({ "src/wasi.rs": wasi, "Cargo.toml": '[target."cfg(target_os = \\"wasi\\")".dependencies.wasi]\nversion = "0.11"\n' });
  assert.deepEqual(findPatches("getrandom", "0.2.9", published), []);
  const stripped = crate({ "src/wasi.rs": wasi, "Cargo.toml": '[package]\nname = "getrandom"\n' });
  assert.deepEqual(
    findPatches("getrandom", "0.2.9", stripped).map((x) => x.file),
    ["src/wasi.rs"],
  );
});
