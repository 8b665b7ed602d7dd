// Where `macrobox patch` puts the tracking item (src/patch/tracking.ts) in a macro's output, with
// rustc as the oracle: every output with the item placed, at the position a macro of that kind
// could be called in, compiles, and rustc's dep-info then names the tracked file and env var;
// outputs where no item fits are left as they are.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findToolchain } from "../../src/builder/index.js";
import { parseTokenStream, printTokenStream, type MacroKind, type TokenStream } from "../../src/index.js";
import { withTracking, type TrackingPlace } from "../../src/patch/tracking.js";

interface Case {
  name: string;
  kind: MacroKind;
  /** The code around the call; `$OUT` is where the output goes. */
  around: string;
  output: string;
  place: TrackingPlace;
}

const cases: Case[] = [
  { name: "derive_module", kind: "derive", around: "struct S; $OUT", output: "impl S { fn f() -> u8 { 1 } }", place: "after" },
  { name: "derive_in_fn", kind: "derive", around: "fn g() { struct S; $OUT }", output: "impl S { fn f() -> u8 { 1 } }", place: "after" },
  { name: "bang_items", kind: "bang", around: "$OUT", output: "pub struct A; impl A { pub fn f() {} }", place: "after" },
  { name: "bang_let", kind: "bang", around: "fn g() -> u8 { $OUT x }", output: "let x = 5;", place: "after" },
  { name: "bang_extern_block", kind: "bang", around: "$OUT", output: 'extern "C" { fn abs(x: i32) -> i32; }', place: "after" },
  { name: "bang_consts_module", kind: "bang", around: "$OUT", output: 'pub const A: &str = "a"; pub const B: u8 = 1;', place: "initializer" },
  {
    name: "bang_consts_impl",
    kind: "bang",
    around: "struct S; impl S { $OUT }",
    output: 'pub const A: &str = "a"; pub const B: u8 = 1;',
    place: "initializer",
  },
  { name: "bang_static", kind: "bang", around: "$OUT", output: "static mut COUNT: u32 = 0;", place: "after" },
  { name: "const_fn_pointer", kind: "attr", around: "$OUT", output: "const F: fn() -> u8 = { fn one() -> u8 { 1 } one };", place: "initializer" },
  { name: "const_assoc_binding", kind: "attr", around: "$OUT", output: "const I: Option<&dyn Iterator<Item = u8>> = None;", place: "initializer" },
  {
    name: "const_in_trait_impl",
    kind: "attr",
    around: "trait T { const C: u8; } struct S; impl T for S { $OUT }",
    output: "const C: u8 = 4;",
    place: "initializer",
  },
  { name: "attr_method", kind: "attr", around: "struct S; impl S { $OUT }", output: 'pub fn label() -> &\'static str { "x" }', place: "fn-body" },
  {
    name: "attr_trait_impl_method",
    kind: "attr",
    around: "trait T { fn f(&self) -> u8; } struct S; impl T for S { $OUT }",
    output: "fn f(&self) -> u8 { 3 }",
    place: "fn-body",
  },
  { name: "attr_trait_default", kind: "attr", around: "trait T { $OUT }", output: "fn f(&self) -> u8 { 1 }", place: "fn-body" },
  { name: "attr_inner_attribute", kind: "attr", around: "$OUT", output: "fn f() { #![allow(unused)] let a = 1; }", place: "fn-body" },
  { name: "attr_const_generic_signature", kind: "attr", around: "struct W<const N: usize>; $OUT", output: "fn f() -> W<{ 1 + 1 }> { W }", place: "fn-body" },
  { name: "attr_async_fn", kind: "attr", around: "$OUT", output: "pub async fn f() -> u8 { 2 }", place: "fn-body" },
  { name: "bang_expression", kind: "bang", around: "fn g() -> u8 { $OUT }", output: "1 + 2", place: "none" },
  { name: "bang_unsafe_block", kind: "bang", around: "fn g() -> u8 { $OUT }", output: "unsafe { 1 }", place: "none" },
  { name: "bang_impl_trait_type", kind: "bang", around: "fn g() -> $OUT { 0..3 }", output: "impl Iterator<Item = u32>", place: "none" },
  { name: "bang_fn_pointer_type", kind: "bang", around: "type F = $OUT;", output: "fn(u8) -> u8", place: "none" },
  { name: "bang_pattern", kind: "bang", around: "fn g(x: Option<u8>) -> bool { matches!(x, $OUT) }", output: "Some(1)", place: "none" },
  { name: "attr_assoc_type", kind: "attr", around: "trait T { type A; } struct S; impl T for S { $OUT }", output: "type A = u8;", place: "none" },
];

const parse = (text: string): TokenStream => {
  const r = parseTokenStream(text, () => 0);
  assert.ok(r.ok, text);
  return r.stream;
};

test("the tracking item is placed where rustc accepts it, and rustc then tracks the file and the env var", () => {
  const dir = mkdtempSync(join(tmpdir(), "macrobox-tracking-"));
  const modules: string[] = [];
  for (const c of cases) {
    const file = join(dir, `${c.name}.txt`);
    writeFileSync(file, c.name);
    const env = `MACROBOX_TRACK_${c.name.toUpperCase()}`;
    const placed = withTracking(c.kind, parse(c.output), [file], [env], 0);
    assert.equal(placed.place, c.place, c.name);
    if (c.place === "none") assert.equal(printTokenStream(placed.output), printTokenStream(parse(c.output)), `${c.name}: unchanged`);
    modules.push(`mod ${c.name} {\n    #![allow(warnings)]\n    ${c.around.replace("$OUT", printTokenStream(placed.output))}\n}`);
  }
  const lib = join(dir, "lib.rs");
  writeFileSync(lib, modules.join("\n") + "\n");
  const toolchain = findToolchain();
  const r = spawnSync(toolchain.rustc, ["--edition", "2021", "--crate-type", "lib", "--emit", "dep-info,metadata", "--out-dir", dir, lib], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, `rustc:\n${r.stderr}\n${readFileSync(lib, "utf8")}`);
  const depInfo = readFileSync(join(dir, "lib.d"), "utf8");
  for (const c of cases) {
    const tracked = depInfo.includes(join(dir, `${c.name}.txt`)) && depInfo.includes(`# env-dep:MACROBOX_TRACK_${c.name.toUpperCase()}`);
    assert.equal(tracked, c.place !== "none", `${c.name}: tracked`);
  }
});
