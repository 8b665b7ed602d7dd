// The public surface is docs/api.md: each entry point's runtime exports are exactly the names in
// its table there, so a new export (or a removed one) changes the list users read too.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";

const root = new URL("../..", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { exports: Record<string, { default: string }> };

/** The names in each `## \`entry\`` section's table of docs/api.md. */
function documented(): Map<string, string[]> {
  const text = readFileSync(new URL("docs/api.md", root), "utf8");
  const out = new Map<string, string[]>();
  let entry: string | null = null;
  for (const line of text.split("\n")) {
    const heading = /^## `([^`]+)`/.exec(line);
    if (heading) entry = heading[1];
    const row = /^\| `([^`]+)`/.exec(line);
    if (entry && row) out.set(entry, [...(out.get(entry) ?? []), row[1]]);
  }
  return out;
}

/** The source file of an entry point: package.json's dist path mapped back to src. */
function sourceOf(target: string): URL {
  return new URL(target.replace(/^\.\/dist\//, "").replace(/\.js$/, ".ts"), root);
}

it("docs/api.md has a table for each entry point of package.json, and only those", () => {
  const entries = Object.keys(pkg.exports).map((e) => (e === "." ? "macrobox" : `macrobox/${e.slice(2)}`));
  assert.deepEqual([...documented().keys()].sort(), entries.sort());
});

for (const [key, target] of Object.entries(pkg.exports)) {
  const entry = key === "." ? "macrobox" : `macrobox/${key.slice(2)}`;
  it(`${entry} exports exactly what docs/api.md lists`, async () => {
    const mod = (await import(sourceOf(target.default).href)) as Record<string, unknown>;
    const listed = documented().get(entry) ?? [];
    assert.equal(new Set(listed).size, listed.length, `${entry}: a name is listed twice`);
    assert.deepEqual(Object.keys(mod).sort(), [...listed].sort(), `${entry}: its runtime exports differ from docs/api.md`);
  });
}
