// `macrobox proc-macro-server` as rust-analyzer launches it: a dylib path maps to a wasm module
// through --module or MACROBOX_MODULES, and requests are answered on stdout.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { buildModule } from "../support/build.js";
import { macroboxArgs } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const wasm = join(mkdtempSync(join(tmpdir(), "macrobox-server-cli-")), "demo_macros.wasm");
const dylib = "/project/target/debug/deps/libdemo_macros-0123456789abcdef.so";

function serve(lines: object[], args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, macroboxArgs("proc-macro-server", ...args), {
    cwd: root,
    encoding: "utf8",
    input: lines.map((l) => JSON.stringify(l)).join("\n") + "\n",
    env: { ...process.env, ...env },
  });
  return {
    code: r.status,
    replies: r.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
    stderr: r.stderr,
  };
}

describe("macrobox proc-macro-server", { timeout: 10 * 60_000 }, () => {
  before(async () => {
    await buildModule({ crate: join(root, "examples/demo-macros"), output: wasm });
  });

  it("lists a module's macros for the dylib rust-analyzer names, mapped by --module", () => {
    const r = serve([{ ListMacros: { dylib_path: dylib } }], ["--module", `demo_macros=${wasm}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.replies, [
      {
        ListMacros: {
          Ok: [
            ["Describe", "CustomDerive"],
            ["route", "Attr"],
            ["sql", "FuncLike"],
          ],
        },
      },
    ]);
  });

  it("maps through MACROBOX_MODULES, and answers a dylib it cannot trace to a crate with an error, then keeps serving", () => {
    const r = serve([{ ListMacros: { dylib_path: "/elsewhere/libother-0123456789abcdef.so" } }, { ListMacros: { dylib_path: dylib } }], [], {
      MACROBOX_MODULES: `demo_macros=${wasm}`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.replies.length, 2);
    // Not mapped, so the server looks for the crate behind the dylib, and says why it cannot build one.
    assert.match(JSON.stringify(r.replies[0]), /\/elsewhere\/libother-0123456789abcdef\.so is not a dylib cargo built in a workspace's target directory/);
    assert.equal(r.replies[1].ListMacros.Ok.length, 3);
  });

  it("rejects a malformed --module entry", () => {
    const r = serve([], ["--module", "nonsense"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--module expects <crate>=<module\.wasm>/);
  });
});
