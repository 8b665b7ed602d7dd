// Build profiles: a module behaves like the native proc macro cargo builds, by default its dev
// profile (debug assertions and overflow checks on, which is what `cargo build` and
// rust-analyzer run), and with `--release` like `cargo build --release`. Oracle: the same
// fixture crate built natively by cargo in each profile and run by rust-analyzer's server.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

import { build, type BuildProfile } from "../../src/builder/build.js";
import { loadMacroModule } from "../../src/index.js";
import { compareStreams, printTokens } from "../oracle/compare.js";
import { buildNativeMacro, closeNativeOracle, expandNative } from "../oracle/native.js";
import { macroboxArgs } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const fixture = join(root, "test/fixtures/profile");
const out = mkdtempSync(join(tmpdir(), "macrobox-profile-test-"));

/** Every case: a bang macro of the fixture and its input. */
const CASES = [
  { name: "debug_assertions", input: "" },
  { name: "add_u8", input: "200 55" },
  { name: "add_u8", input: "200 100" },
];

async function agreesWithNative(profile: BuildProfile): Promise<string[]> {
  const built = await build({ crate: fixture, output: join(out, `profile-${profile}.wasm`), ...(profile === "release" ? { profile } : {}) });
  assert.equal(built.metadata.build.profile, profile);
  const module = await loadMacroModule(readFileSync(built.output));
  const dylib = buildNativeMacro({ path: fixture }, profile);
  const seen: string[] = [];
  for (const c of CASES) {
    const label = `${profile} ${c.name}!(${c.input})`;
    const native = await expandNative({ dylib, kind: "bang", name: c.name, input: c.input });
    const wasm = await module.expand({ kind: "bang", name: c.name, input: c.input });
    if (!native.ok) {
      assert.ok(!wasm.ok, `${label}: native panicked (${native.error}), wasm expanded to ${wasm.ok ? printTokens(wasm.output) : ""}`);
      assert.equal(wasm.error.kind, "panic", `${label}: ${wasm.error.message}`);
      assert.ok(
        wasm.error.message.includes(native.error),
        `${label}: native panicked with ${JSON.stringify(native.error)}, wasm with ${JSON.stringify(wasm.error.message)}`,
      );
      seen.push(`${label} panics: ${native.error}`);
    } else {
      assert.ok(wasm.ok, `${label}: native expanded, wasm failed: ${wasm.ok ? "" : wasm.error.message}`);
      assert.equal(compareStreams(wasm.output, native.output), null, `${label}: wasm ${printTokens(wasm.output)} vs native ${printTokens(native.output)}`);
      seen.push(`${label} = ${printTokens(native.output)}`);
    }
  }
  return seen;
}

describe("build profiles behave like cargo's", { timeout: 20 * 60_000 }, () => {
  after(() => closeNativeOracle());

  it("by default like cargo's dev profile: debug assertions on, overflow panics", async () => {
    const seen = await agreesWithNative("dev");
    // The oracle itself must show the dev behaviour, or the comparison proves nothing.
    assert.ok(
      seen.some((s) => s.includes("debug_assertions") && s.includes("debug assertions are on")),
      seen.join("\n"),
    );
    assert.ok(
      seen.some((s) => s.includes("attempt to add with overflow")),
      seen.join("\n"),
    );
  });

  it("with the release option like cargo's release profile: no assertions, overflow wraps", async () => {
    const seen = await agreesWithNative("release");
    assert.ok(
      seen.some((s) => s.includes("debug_assertions") && s.includes("false")),
      seen.join("\n"),
    );
    assert.ok(
      seen.some((s) => s.includes("200 100") && s.includes("44u8")),
      seen.join("\n"),
    );
  });

  it("inspect shows the profile; `macrobox build --release` records release", () => {
    const wasm = join(out, "profile-cli-release.wasm");
    const cli = (args: string[]) => spawnSync(process.execPath, macroboxArgs(...args), { cwd: root, encoding: "utf8" });
    const b = cli(["build", fixture, "-o", wasm, "--release", "--quiet"]);
    assert.equal(b.status, 0, b.stderr);
    const text = cli(["inspect", wasm]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /profile release \(debug assertions and overflow checks off\)/);
    const dev = cli(["inspect", join(out, "profile-dev.wasm")]);
    assert.match(dev.stdout, /profile dev \(debug assertions and overflow checks on/);
  });
});
