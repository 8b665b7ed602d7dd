// The expansion cache keys an input by where its spans sit relative to each other, not where they
// sit in their file (src/host/cache.ts, `SpanTable.cacheView`): an item that moved (a line
// inserted above it, as in every edit-compile loop) keeps its entry, and the hit's output spans,
// diagnostics and compile errors point at where the item is now. Every answer that tells where an
// input sits (a line, a column, a byte range, a diagnostic's location) is recorded and asked again
// on lookup, so a macro that reads its call site's line gets the fresh line, as rustc gives it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { loadMacroModule, printTokenStream, type ExpandRequest, type ExpandResult } from "../../src/index.js";
import { MemoryCacheStore } from "../../src/host/cache.js";
import { CountingStore } from "../support/counting-store.js";
import { compileErrors } from "../../src/host/compile-errors.js";
import { compileNative, macroWasm, runNative, unescapeRustStr } from "../support/bridge-build.js";

/** Everything an expansion shows, its output spans resolved (lines, columns, global positions) through its own table. */
function observable(r: ExpandResult): string {
  const spans = (r.output ?? []).flatMap(function walk(t): unknown[] {
    return t.type === "group"
      ? [r.spans.location(t.span.open), r.spans.location(t.span.close), r.spans.debug(t.span.entire), ...t.stream.flatMap(walk)]
      : [r.spans.location(t.span), r.spans.debug(t.span)];
  });
  return JSON.stringify([
    r.ok,
    r.output ? printTokenStream(r.output) : null,
    spans,
    r.error ?? null,
    r.diagnostics,
    r.output ? compileErrors(r.output, r.spans) : null,
    r.stdout,
    r.stderr,
  ]);
}

/** `text` with `lines` empty lines inserted at the top. */
const shifted = (text: string, lines: number) => "\n".repeat(lines) + text;

/** A derive request for `item` where it sits in `file` (the derive attribute above it is the file's business). */
function deriveIn(file: string, item: string, name: string): ExpandRequest {
  const at = file.indexOf(item);
  assert.ok(at >= 0);
  return { kind: "derive", name, input: item, fileName: "src/model.rs", source: { text: file, inputOffset: Buffer.byteLength(file.slice(0, at)) } };
}

/** A function-like macro request for `invocation` (whose input is `input`) where it sits in `file`. */
function bangIn(file: string, invocation: string, input: string, name: string): ExpandRequest {
  const at = file.indexOf(invocation);
  assert.ok(at >= 0);
  const lo = Buffer.byteLength(file.slice(0, at));
  const inputOffset = lo + Buffer.byteLength(invocation.slice(0, invocation.indexOf(input)));
  return { kind: "bang", name, input, fileName: "main.rs", source: { text: file, callSite: { lo, hi: lo + Buffer.byteLength(invocation) }, inputOffset } };
}

const SERDE_ITEMS = [
  // A plain item, and one whose `#[serde]` misuse makes serde_derive emit a compile_error! pointing into the item.
  `#[serde(rename_all = "camelCase")]\nstruct User {\n    id: u64,\n    #[serde(default)]\n    display_name: String,\n    tags: Vec<String>,\n}`,
  `struct Bad {\n    #[serde(rename = 1)]\n    id: u64,\n}`,
];

test("an item below an inserted line hits the cache, and the hit equals an uncached expansion there (spans, compile errors)", async () => {
  const bytes = await macroWasm("serde_derive");
  const store = new CountingStore();
  const cached = await loadMacroModule(bytes, { expansionCache: store });
  const plain = await loadMacroModule(bytes);
  const file = `use serde::Serialize;\n\n#[derive(Serialize)]\n${SERDE_ITEMS[0]}\n\n#[derive(Serialize)]\n${SERDE_ITEMS[1]}\n`;
  for (const item of SERDE_ITEMS) {
    for (const name of ["Serialize", "Deserialize"]) {
      const before = await cached.expand(deriveIn(file, item, name));
      assert.equal(before.fromCache, undefined);
      const sets = store.sets;
      for (const lines of [1, 3]) {
        const request = deriveIn(shifted(file, lines), item, name);
        const hit = await cached.expand(request);
        assert.equal(hit.fromCache, true, `${name} of an unchanged item ${lines} line(s) down was answered from the cache`);
        assert.equal(store.sets, sets);
        const reference = await plain.expand(request);
        assert.equal(observable(hit), observable(reference));
        assert.notEqual(observable(hit), observable(before), "the hit's spans are where the item is now");
      }
    }
  }
  // The misuse is reported on the item's line, wherever the item is now.
  const bad = await cached.expand(deriveIn(shifted(file, 2), SERDE_ITEMS[1], "Serialize"));
  const [error] = compileErrors(bad.output!, bad.spans);
  const misuseLine =
    shifted(file, 2)
      .split("\n")
      .findIndex((l) => l.includes("rename = 1")) + 1;
  assert.equal(error?.level, "error");
  assert.equal(error.spans[0].line, misuseLine, error.message);
  // An edit inside the item is a miss.
  const edited = file.replace("tags: Vec<String>", "tags: Vec<u8>");
  const miss = await cached.expand(deriveIn(edited, SERDE_ITEMS[0].replace("tags: Vec<String>", "tags: Vec<u8>"), "Serialize"));
  assert.equal(miss.fromCache, undefined);
});

test("a macro that reads its input's lines gets rustc's fresh answer after a line is inserted above, then hits there", async () => {
  const probe = await loadMacroModule(await macroWasm("bridge-probe"), { expansionCache: new MemoryCacheStore() });
  const input = `a + b(1, "é" c)\n  [x::y] 0x1F_u8`;
  const invocation = `bridge_probe::spans!(${input})`;
  const main = `fn main() {\n    println!("{}", ${invocation});\n}\n`;
  const first = await probe.expand(bangIn(main, invocation, input, "spans"));
  assert.equal(literal(first), runNative("bridge-probe", "bridge_probe", main).stdout.trimEnd());
  const moved = shifted(main, 1);
  const native = runNative("bridge-probe", "bridge_probe", moved).stdout.trimEnd();
  assert.notEqual(native, literal(first));
  const fresh = await probe.expand(bangIn(moved, invocation, input, "spans"));
  assert.equal(fresh.fromCache, undefined, "the recorded lines no longer hold: the macro ran");
  assert.equal(literal(fresh), native);
  const again = await probe.expand(bangIn(moved, invocation, input, "spans"));
  assert.equal(again.fromCache, true);
  assert.equal(literal(again), native);
});

test("a derive that reads the item's spans, and a macro's diagnostic, follow the item as rustc does", async () => {
  const probe = await loadMacroModule(await macroWasm("bridge-probe"), { expansionCache: new MemoryCacheStore() });
  const item = `#[tokens(x = 1)]\nstruct Foo { x: &'static str, y: [u8; 2] }`;
  const derive = `#[derive(bridge_probe::Tokens)]\n${item}\nfn main() { print!("{}", Foo::TOKENS); }\n`;
  const input = "first second";
  const invocation = `bridge_probe::errors!(${input})`;
  const errors = `fn main() {\n    ${invocation};\n}\n`;
  for (const lines of [0, 2]) {
    const d = await probe.expand(deriveIn(shifted(derive, lines), item, "Tokens"));
    const lit = d.output!.at(-1)!;
    assert.ok(lit.type === "group");
    const value = lit.stream.find((t) => t.type === "literal");
    assert.ok(value?.type === "literal");
    assert.equal(unescapeRustStr(value.symbol), runNative("bridge-probe", "bridge_probe", shifted(derive, lines)).stdout);

    const e = await probe.expand(bangIn(shifted(errors, lines), invocation, input, "errors"));
    const at = e.diagnostics.find((x) => x.message === "probe error")?.spans[0];
    const rustc = /error: probe error\n\s*--> main\.rs:(\d+):(\d+)/.exec(compileNative("bridge-probe", "bridge_probe", shifted(errors, lines)).stderr);
    assert.ok(rustc, "rustc reports the macro's error");
    assert.deepEqual([at?.line, at?.column], [Number(rustc[1]), Number(rustc[2])]);
  }
});

function literal(r: ExpandResult): string {
  assert.equal(r.ok, true, r.error?.message);
  const lit = r.output![0];
  assert.ok(lit.type === "literal" && lit.kind === "Str");
  return unescapeRustStr(lit.symbol);
}
