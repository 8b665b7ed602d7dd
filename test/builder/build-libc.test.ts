// C functions std needs that Debian's wasi-libc lacks (src/builder/libc-shim.ts): crates calling
// `std::fs::canonicalize` build unmodified, and their answers inside the sandbox are native
// realpath(3)'s. Oracle: the same crates built natively and run by rust-analyzer's server in the
// fixture directory.
//
// The sandbox presents the granted crate directory at "/" today (it runs with current_dir "/"),
// so a native absolute path under the fixture directory is compared as the same path under "/";
// once the sandbox shows granted files at their real absolute paths, the mapping is the identity
// (the test finds out which from the output).

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

import { build } from "../../src/builder/build.js";
import { loadMacroModule, type MacroModule } from "../../src/index.js";
import { NodeReadOnlyFs } from "../../src/node/fs.js";
import type { SandboxGrant } from "../../src/sandbox/grant.js";
import type { TokenStream } from "../../src/tokens/model.js";
import { compareStreams, printTokens } from "../oracle/compare.js";
import { buildNativeMacro, closeNativeOracle, expandNative, type NativeCrate } from "../oracle/native.js";

const root = new URL("../..", import.meta.url).pathname;
const fixture = join(root, "test/fixtures/embed");
const out = mkdtempSync(join(tmpdir(), "macrobox-libc-test-"));

function grant(crate: string): SandboxGrant {
  const read = { env: [], read: ["assets"] };
  return { crate, declared: read, granted: read, fs: new NodeReadOnlyFs(fixture) };
}

/** String literals' contents, everywhere in a stream. */
function strings(stream: TokenStream): string[] {
  return stream.flatMap((t) => (t.type === "group" ? strings(t.stream) : t.type === "literal" && t.kind === "Str" ? [t.symbol] : []));
}

/** Native absolute paths under the fixture, as the sandbox shows them (`shownAt`: the fixture's path there). */
function asSandboxShows(stream: TokenStream, shownAt: string): TokenStream {
  const map = (s: string) => s.split(fixture).join(shownAt);
  return stream.map((t) => {
    if (t.type === "group") return { ...t, stream: asSandboxShows(t.stream, shownAt) };
    if (t.type === "literal" && t.kind === "Str") return { ...t, symbol: map(t.symbol) };
    return t;
  });
}

async function both(crate: NativeCrate, spec: string, name: string, input: string): Promise<{ wasm: TokenStream; native: TokenStream }> {
  const built = await build({ crate: spec, output: join(out, `${name}.wasm`) });
  const module: MacroModule = await loadMacroModule(readFileSync(built.output));
  const wasm = await module.expand({ kind: "bang", name, input, sandbox: grant(built.metadata.crate.name) });
  assert.ok(wasm.ok, `wasm ${name}!(${input}) failed: ${wasm.ok ? "" : wasm.error.message}`);
  const native = await expandNative({ dylib: buildNativeMacro(crate), kind: "bang", name, input, currentDir: fixture });
  assert.ok(native.ok, `native ${name}!(${input}) failed: ${native.ok ? "" : native.error}`);
  return { wasm: wasm.output, native: native.output };
}

function shownAt(wasm: TokenStream): string {
  return strings(wasm).some((s) => s.includes(fixture)) ? fixture : "";
}

describe("std::fs::canonicalize in macros", { timeout: 20 * 60_000 }, () => {
  after(() => closeNativeOracle());

  it("include_dir_macros 0.7.3 builds unmodified and embeds a granted directory like native", async () => {
    const { wasm, native } = await both({ name: "include_dir_macros", version: "0.7.3" }, "include_dir_macros@0.7.3", "include_dir", '"assets"');
    // include_bytes! of canonical paths: the realpath answers are in the output.
    assert.ok(
      strings(native).some((s) => s.endsWith("/assets/sub/b.txt")),
      printTokens(native),
    );
    const expected = asSandboxShows(native, shownAt(wasm));
    assert.equal(compareStreams(wasm, expected), null, `wasm ${printTokens(wasm)}\nnative ${printTokens(expected)}`);
  });

  it("realpath normalises `.`, `..` and `//`, and fails as native does", async () => {
    const paths = [
      ".",
      "assets/a.txt",
      "./assets/sub/../a.txt",
      "assets//sub/./b.txt",
      "assets/sub/",
      "assets/sub/..",
      "assets/missing.txt",
      "assets/a.txt/x",
      "assets/sub/../../assets/a.txt",
    ];
    const failures: string[] = [];
    for (const p of paths) {
      const { wasm, native } = await both({ path: fixture }, fixture, "canonicalize", JSON.stringify(p));
      const [w] = strings(wasm);
      const [n] = strings(asSandboxShows(native, shownAt(wasm)));
      // The fixture directory itself, shown at the root, is "/".
      const expected = n === "ok " ? "ok /" : n;
      if (w !== expected) failures.push(`${p}: wasm ${w}, native ${expected}`);
    }
    assert.deepEqual(failures, []);
  });
});
