// compile_error! in a macro's output is reported where rustc would report it: not under a #[cfg]
// that is false for the target of the compilation; as a note when the cfg cannot be decided.
// (ctor's real output against rustc's target is in test/sandbox/sandbox-realworld.test.ts.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { SpanTable } from "../../src/bridge/spans.js";
import { compileErrors, DEFAULT_CFG_TARGET, type CfgTarget } from "../../src/host/compile-errors.js";
import { tokenStreamFromStr } from "../../src/tokens/index.js";

function errors(src: string, target?: CfgTarget): Array<[string, string]> {
  const spans = new SpanTable();
  const file = spans.addFile("out.rs", src);
  const parsed = tokenStreamFromStr(src, (lo: number, hi: number) => spans.span(file, lo, hi));
  assert.ok(parsed.ok);
  return compileErrors(parsed.stream, spans, { target }).map((d) => [d.level, d.message]);
}

const E: [string, string] = ["error", "boom"];

test("cfg predicates on the compile_error! itself, for x86_64-unknown-linux-gnu", () => {
  assert.deepEqual(errors('compile_error!("boom");'), [E]);
  assert.deepEqual(errors('#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))] compile_error!("boom");'), []);
  assert.deepEqual(errors('#[cfg(any(target_os = "linux"))] compile_error!("boom");'), [E]);
  assert.deepEqual(
    errors(
      '#[cfg(all(unix, target_arch = "x86_64", target_pointer_width = "64", target_env = "gnu", target_vendor = "unknown", target_family = "unix"))] compile_error!("boom");',
    ),
    [E],
  );
  assert.deepEqual(errors('#[cfg(windows)] compile_error!("boom");'), []);
  assert.deepEqual(errors('#[cfg(all(unix, not(unix)))] compile_error!("boom");'), []);
  assert.deepEqual(errors('#[cfg(any())] compile_error!("boom");'), []);
  assert.deepEqual(errors('#[cfg(all())] compile_error!("boom");'), [E]);
  // Only the next item is configured: the second error stands.
  assert.deepEqual(errors('#[cfg(windows)] compile_error!("boom"); compile_error!("boom");'), [E]);
  assert.deepEqual(errors('#[cfg(windows)] fn f() {} compile_error!("boom");'), [E]);
});

test("cfg on an enclosing item configures what is inside", () => {
  assert.deepEqual(errors('#[cfg(windows)] mod m { compile_error!("boom"); }'), []);
  assert.deepEqual(errors('#[cfg(windows)] const _: () = { compile_error!("boom"); };'), []);
  assert.deepEqual(errors('#[cfg(unix)] mod m { compile_error!("boom"); }'), [E]);
});

test("what cannot be decided is a note saying so", () => {
  const [[level, message]] = errors('#[cfg(feature = "std")] compile_error!("boom");');
  assert.equal(level, "note");
  assert.match(message, /compile_error!\("boom"\)` under #\[cfg\(feature = "std"\)\], which this host cannot evaluate/);
  assert.equal(errors('#[cfg(test)] compile_error!("boom");')[0][0], "note");
  assert.equal(errors('#[cfg(debug_assertions)] compile_error!("boom");')[0][0], "note");
  // ... but not when something else decides it.
  assert.deepEqual(errors('#[cfg(all(feature = "std", windows))] compile_error!("boom");'), []);
  assert.deepEqual(errors('#[cfg(any(feature = "std", unix))] compile_error!("boom");'), [E]);
  // Known features and debug_assertions are options of the target.
  const dev: CfgTarget = { ...DEFAULT_CFG_TARGET, debugAssertions: true, features: ["std"] };
  assert.deepEqual(errors('#[cfg(all(debug_assertions, feature = "std"))] compile_error!("boom");', dev), [E]);
  assert.deepEqual(errors('#[cfg(feature = "alloc")] compile_error!("boom");', dev), []);
});

test("another target: what ctor refuses is reported", () => {
  const wasi: CfgTarget = { arch: "wasm32", os: "wasi", family: ["wasm"], env: "p1", vendor: "unknown", pointerWidth: "32", endian: "little" };
  assert.deepEqual(errors('#[cfg(not(any(target_os = "linux", windows)))] compile_error!("boom");', wasi), [E]);
});
