// `selfContained` (src/host/module.ts): whether an expansion asked nothing but its tokens, which
// is what lets `macrobox patch`'s shims answer it from their index wherever the item sits
// (src/patch/answers.ts). Macros of the bridge probe that ask nothing, that ask a line, that read
// only source text, that touch the env and the file system: each says what it did, the same on a
// hit of the expansion cache, and nothing is claimed when the expansion was not observed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { loadMacroModule, MemoryCacheStore, type ExpandRequest } from "../../src/index.js";
import { macroWasm } from "../support/bridge-build.js";

const main = "fn main() {\n    let _ = bridge_probe::probe!(alpha beta\n        gamma);\n}\n";

/** A function-like macro request with its input where it sits in `main`. */
function bang(name: string): ExpandRequest {
  const invocation = "bridge_probe::probe!(alpha beta\n        gamma)";
  const lo = Buffer.byteLength(main.slice(0, main.indexOf(invocation)));
  const inputOffset = lo + Buffer.byteLength("bridge_probe::probe!(");
  return {
    kind: "bang",
    name,
    input: "alpha beta\n        gamma",
    fileName: "src/main.rs",
    source: { text: main, callSite: { lo, hi: lo + Buffer.byteLength(invocation) }, inputOffset },
  };
}

test("an expansion says whether it asked anything beyond its tokens, and a cache hit says the same", async () => {
  const bytes = await macroWasm("bridge-probe");
  const probe = await loadMacroModule(bytes, { expansionCache: new MemoryCacheStore() });
  const cases: Array<[ExpandRequest, boolean, string]> = [
    [bang("echo"), true, "returns its input"],
    [bang("rebuild"), true, "takes its trees apart and rebuilds them"],
    [{ kind: "derive", name: "Probe", input: "struct S;" }, true, "derives from the item's name"],
    [bang("spans"), false, "asks each token's line and column"],
    [bang("text"), false, "reads the source text under its input (and nothing else)"],
    [bang("io"), false, "reads the env, a tracked env var and a tracked path"],
    [bang("every_method"), false, "asks everything"],
  ];
  for (const [request, expected, what] of cases) {
    const first = await probe.expand(request);
    assert.equal(first.fromCache, undefined);
    assert.equal(first.selfContained, expected, `${request.name} ${what}`);
    const hit = await probe.expand(request);
    assert.equal(hit.fromCache, true, `${request.name} again is a cache hit`);
    assert.equal(hit.selfContained, expected, `${request.name} from the cache`);
  }
  const text = await probe.expand(bang("text"));
  assert.match(text.text ?? "", /^"Some\(\\"alpha beta\\\\n {8}gamma\\"\)"$/, "text! read the source between its first and last token");

  // Not observed (no expansion cache): nothing is claimed.
  const plain = await loadMacroModule(bytes);
  assert.equal((await plain.expand(bang("echo"))).selfContained, undefined);
});
