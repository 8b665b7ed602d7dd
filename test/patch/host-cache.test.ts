// The cargo host's expansion cache across an edit (src/host/cache.ts, src/patch/protocol.ts): rustc
// expands every macro of a crate again after a one-line change, and an item that only moved (a
// line inserted above it) is answered from the cache with the reply a host without a cache gives
// for it where it is now; a macro that reads its input's lines runs again and gets the new lines.
// The host's log counts what it served and what the cache answered. A relative local file (a
// workspace member's, as cargo names it) is read where the rustc that asked runs.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { macroWasm } from "../support/bridge-build.js";
import { encodeShimRequest, replyKind, shimExchange, startHostProcess, type ShimCall } from "./shim-client.js";

const scratch = mkdtempSync(join(tmpdir(), "macrobox-host-cache-"));

async function moduleFile(crate: string): Promise<string> {
  const path = join(scratch, `${crate}.wasm`);
  writeFileSync(path, await macroWasm(crate));
  return path;
}

async function host(name: string, env: NodeJS.ProcessEnv) {
  const dir = join(scratch, name);
  mkdirSync(dir, { mode: 0o700 });
  const socket = join(dir, "host.sock");
  const h = await startHostProcess(socket, ["--workers", "1", "--idle-ms", "120000"], { ...process.env, ...env });
  let seen = 0;
  /** The host's summaries since the last call: expansions served, and how many the cache answered. */
  const served = async () => {
    await new Promise((r) => setTimeout(r, 800)); // the host writes its summary a moment after the last expansion
    const fresh = h.log().slice(seen);
    seen = h.log().length;
    let expansions = 0;
    let fromCache = 0;
    for (const m of fresh.matchAll(/served (\d+) expansions \((\d+) from the expansion cache\)/g)) {
      expansions += Number(m[1]);
      fromCache += Number(m[2]);
    }
    return { expansions, fromCache };
  };
  return { socket, served, ...h };
}

test("an item that moved down a line is answered from the host's cache, as an uncached host answers it there", { timeout: 600_000 }, async (t) => {
  const serde = await moduleFile("serde_derive");
  const probe = await moduleFile("bridge-probe");
  const cached = await host("cached", { MACROBOX_CACHE: join(scratch, "cache") });
  t.after(() => cached.child.kill());
  const plain = await host("plain", { MACROBOX_EXPANSION_CACHE: "off" });
  t.after(() => plain.child.kill());

  const crate = join(scratch, "app");
  mkdirSync(join(crate, "src"), { recursive: true });
  const localFile = join(crate, "src", "model.rs");
  const item = `#[serde(rename_all = "camelCase")]\npub struct User {\n    pub id: u64,\n    #[serde(default)]\n    pub display_name: Option<String>,\n}`;
  const lines = `first second\n    third`;
  const invocation = `bridge_probe::spans!(${lines})`;
  const file = `use serde::{Deserialize, Serialize};\n\n#[derive(Serialize, Deserialize)]\n${item}\n\nconst LINES: &str = ${invocation};\n`;
  /** The requests rustc's shims send for the file's macros, the file on disk as they are sent. */
  const calls = (text: string): ShimCall[] => {
    writeFileSync(localFile, text);
    const at = (s: string) => Buffer.byteLength(text.slice(0, text.indexOf(s)));
    const derive = text.indexOf("Serialize, Deserialize");
    const derivePath = (name: string): [number, number] => {
      const lo = Buffer.byteLength(text.slice(0, text.indexOf(name, derive)));
      return [lo, lo + name.length];
    };
    return [
      ...["Serialize", "Deserialize"].map((name): ShimCall => ({
        module: serde,
        crate: "serde_derive",
        kind: "derive",
        name,
        input: item,
        source: { localFile, text, inputAt: at(item), callSite: derivePath(name) },
      })),
      {
        module: probe,
        crate: "bridge_probe",
        kind: "bang",
        name: "spans",
        input: lines,
        source: { localFile, text, inputAt: at(lines), callSite: [at(invocation), at(invocation) + Buffer.byteLength(invocation)] },
      },
    ];
  };
  const exchange = async (h: typeof cached, text: string) => {
    const replies: Buffer[] = [];
    for (const call of calls(text)) replies.push(await shimExchange(h.socket, encodeShimRequest(call)));
    for (const r of replies) assert.equal(replyKind(r), 0, "an output reply");
    return replies;
  };

  const before = await exchange(cached, file);
  assert.deepEqual(await cached.served(), { expansions: 3, fromCache: 0 });
  const moved = "// a line inserted above\n" + file;
  const after = await exchange(cached, moved);
  assert.deepEqual(await cached.served(), { expansions: 3, fromCache: 2 }, "both derives from the cache; the macro that reads lines ran");
  const reference = await exchange(plain, moved);
  after.forEach((reply, i) => assert.ok(reply.equals(reference[i]), `reply ${i}: the cached host's reply differs from the uncached host's`));
  assert.ok(!after[2].equals(before[2]), "the line-reading macro's reply has the new lines");
  // The line-reading macro's new answer is cached too, where it is now.
  const again = await exchange(cached, moved);
  assert.deepEqual(await cached.served(), { expansions: 3, fromCache: 3 });
  again.forEach((reply, i) => assert.ok(reply.equals(reference[i]), `reply ${i} again`));
});

test("a span's relative local file is read in the directory of the rustc that asked, not in the host's", { timeout: 600_000 }, async (t) => {
  // cargo gives rustc a workspace member's sources relative to the workspace root, and rustc's
  // `local_file()` says them so; one host serves every workspace, started in whichever came first.
  const probe = await moduleFile("bridge-probe");
  const project = join(scratch, "project");
  const decoy = join(scratch, "decoy");
  const lines = `first second\n    third`;
  const invocation = `bridge_probe::spans!(${lines})`;
  const text = `// the project's file\n\nconst LINES: &str = ${invocation};\n`;
  for (const [dir, content] of [
    [project, text],
    [decoy, `// another workspace's file of the same name\n// is longer\n// above\n${text}`],
  ]) {
    mkdirSync(join(dir, "src"), { recursive: true });
    writeFileSync(join(dir, "src", "lib.rs"), content);
  }
  const dir = join(scratch, "paths");
  mkdirSync(dir, { mode: 0o700 });
  const socket = join(dir, "host.sock");
  const h = await startHostProcess(socket, ["--workers", "1"], { ...process.env, MACROBOX_EXPANSION_CACHE: "off" }, decoy);
  t.after(() => h.child.kill());
  const at = (s: string) => Buffer.byteLength(text.slice(0, text.indexOf(s)));
  const call = (localFile: string): ShimCall => ({
    module: probe,
    crate: "bridge_probe",
    kind: "bang",
    name: "spans",
    input: lines,
    cwd: project,
    source: { localFile, text, inputAt: at(lines), callSite: [at(invocation), at(invocation) + Buffer.byteLength(invocation)] },
  });
  const absolute = await shimExchange(socket, encodeShimRequest(call(join(project, "src", "lib.rs"))));
  const relative = await shimExchange(socket, encodeShimRequest(call("src/lib.rs")));
  assert.equal(replyKind(absolute), 0);
  assert.ok(relative.equals(absolute), "the relative path read the project's file, as the absolute one does");
});
