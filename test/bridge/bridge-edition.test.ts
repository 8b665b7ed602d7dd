// The macro crate's edition (recorded by `macrobox build`) decides how the macro's own
// `TokenStream::from_str` lexes: `c"x"` is one C string literal from 2021 on, an ident and a
// string before, as in rustc (checked against rustc in test/tokens/tokens.test.ts per edition).

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildModule } from "../support/build.js";
import { loadMacroModule } from "../../src/index.js";

const root = new URL("../..", import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), "macrobox-edition-"));

describe("edition of the macro crate", { timeout: 10 * 60_000 }, () => {
  for (const [edition, tokens] of [
    ["2018", "2"],
    ["2021", "1"],
  ] as const) {
    it(`lexes from_str by edition ${edition}`, async () => {
      const built = await buildModule({ crate: join(root, `test/fixtures/edition/e${edition}`), output: join(out, `e${edition}.wasm`) });
      assert.equal(built.metadata.crate.edition, edition);
      const module = await loadMacroModule(readFileSync(built.output));
      assert.equal(module.edition, edition);
      const r = await module.expand({ kind: "bang", name: "count_c_string_tokens", input: "" });
      assert.equal(r.ok, true, r.error?.message);
      assert.equal(r.text, tokens);
    });
  }
});
