// The module and expansion caches (src/host/cache.ts, src/node/disk-cache.ts): a hit is
// byte-identical to running the macro; whatever could change the result makes a miss (a granted
// file, the grant, an env value the macro may see, the module, the limits); corrupt and truncated
// entries are ignored; processes sharing a cache directory at once lose nothing.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMacroModule, printTokenStream, type ExpandRequest, type ExpandResult, type SandboxGrant } from "../../src/index.js";
import { SpanTable } from "../../src/bridge/spans.js";
import { MemoryCacheStore } from "../../src/host/cache.js";
import type { CacheStore } from "../../src/host/cache-store.js";
import { CountingStore } from "../support/counting-store.js";
import { DiskCacheStore } from "../../src/node/disk-cache.js";
import { NodeReadOnlyFs } from "../../src/node/fs.js";
import { macroWasm } from "../support/bridge-build.js";

/** Everything an expansion shows, with output spans resolved through the result's own table. */
function observable(r: ExpandResult): string {
  const spans = (r.output ?? []).flatMap(function walk(t): unknown[] {
    return t.type === "group"
      ? [r.spans.location(t.span.open), r.spans.debug(t.span.entire), ...t.stream.flatMap(walk)]
      : [r.spans.location(t.span), r.spans.debug(t.span)];
  });
  return JSON.stringify([
    r.ok,
    r.text ?? null,
    r.output ? printTokenStream(r.output) : null,
    spans,
    r.error ?? null,
    r.diagnostics,
    r.stdout,
    r.stderr,
    r.trackedEnv,
    r.trackedPaths,
    r.reads,
    r.denials,
  ]);
}

const SERDE_INPUT = '#[serde(rename_all = "camelCase")]\nstruct User { id: u64, #[serde(default)] display_name: String, tags: Vec<String> }';

test("a hit is byte-identical to a run, and runs nothing", async () => {
  const bytes = await macroWasm("serde_derive");
  const store = new CountingStore();
  const cached = await loadMacroModule(bytes, { expansionCache: store });
  const plain = await loadMacroModule(bytes);
  for (const name of ["Serialize", "Deserialize"]) {
    const request: ExpandRequest = { kind: "derive", name, input: SERDE_INPUT, fileName: "src/model.rs" };
    const reference = await plain.expand(request);
    assert.ok(reference.ok, reference.error?.message);
    const first = await cached.expand(request);
    const setsAfterFirst = store.sets;
    const second = await cached.expand(request);
    assert.equal(store.sets, setsAfterFirst, "the second expansion was answered from the cache");
    assert.equal(observable(first), observable(reference));
    assert.equal(observable(second), observable(reference));
    assert.deepEqual(second.output, reference.output, "every field of every tree, as the run made it");
  }
  // Trees with the fields only text-parsed tokens carry (printer spacing, doc comments), handed back as they came.
  const probe = await loadMacroModule(await macroWasm("bridge-probe"), { expansionCache: store });
  const echo: ExpandRequest = { kind: "bang", name: "echo", input: "/// a doc\n//! inner\nfn f(a: u8) -> u8 { a.b == c::<T>() }\n/** block */ x" };
  const ran = await probe.expand(echo);
  const hit = await probe.expand(echo);
  assert.equal(hit.fromCache, true);
  assert.deepEqual(hit.output, ran.output);
  assert.ok(JSON.stringify(ran.output).includes('"doc"') && JSON.stringify(ran.output).includes('"spacing"'), "the input had such fields");
});

test("a hit replays the span table: a shared table goes on exactly as after a run", async () => {
  const bytes = await macroWasm("serde_derive");
  const store = new MemoryCacheStore();
  const cached = await loadMacroModule(bytes, { expansionCache: store });
  const plain = await loadMacroModule(bytes);
  const run = async (m: typeof plain) => {
    const spans = new SpanTable();
    const results = [];
    for (const name of ["Serialize", "Deserialize", "Serialize"]) results.push(observable(await m.expand({ kind: "derive", name, input: SERDE_INPUT, spans })));
    return { results, fingerprint: spans.fingerprint() };
  };
  const reference = await run(plain);
  await run(cached); // fills
  const replayed = await run(cached);
  assert.deepEqual(replayed, reference);
});

// The capable fixture reads a granted file and an env var (test/fixtures/capable).
const DECLARED = { env: ["CAPABLE_GREETING"], read: ["templates", "*.sql"] };

function crateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "macrobox-cache-crate-"));
  writeFileSync(join(dir, "Cargo.toml"), '[package]\nname = "user"\nversion = "0.1.0"\n');
  writeFileSync(join(dir, "a.sql"), "select 1;\n");
  return dir;
}

test("a changed granted file, grant, env value, module or limit is a miss", async () => {
  const store = new CountingStore();
  const capableBytes = await macroWasm("capable");
  const capable = await loadMacroModule(capableBytes, { expansionCache: store });
  const dir = crateDir();
  writeFileSync(join(dir, "b.sql"), "select 22;\n");
  const grant = (read: string[], env: Record<string, string> = { CAPABLE_GREETING: "Howdy", HOME: "/root" }): SandboxGrant => ({
    crate: "capable_macros",
    declared: DECLARED,
    granted: { env: ["CAPABLE_GREETING"], read },
    fs: new NodeReadOnlyFs(dir),
    env,
  });
  const list = (g: SandboxGrant, limits?: ExpandRequest["limits"]) => capable.expand({ kind: "bang", name: "sql_files", input: "", sandbox: g, limits });
  const text = (r: ExpandResult) => r.text ?? r.error?.message;

  const first = await list(grant(["*.sql"]));
  assert.equal(text(first), '"a.sql:10,b.sql:11"');
  let sets = store.sets;
  const expectHit = async (g: SandboxGrant, expected: string, limits?: ExpandRequest["limits"]) => {
    const r = await list(g, limits);
    assert.equal(text(r), expected);
    assert.equal(store.sets, sets, "answered from the cache");
  };
  const expectMiss = async (g: SandboxGrant, expected: string, limits?: ExpandRequest["limits"]) => {
    const r = await list(g, limits);
    assert.equal(text(r), expected);
    assert.equal(store.sets, sets + 1, "ran the macro");
    sets = store.sets;
  };
  await expectHit(grant(["*.sql"]), '"a.sql:10,b.sql:11"');
  // A variable the grant does not let through is not part of the key.
  await expectHit(grant(["*.sql"], { CAPABLE_GREETING: "Howdy", HOME: "/elsewhere" }), '"a.sql:10,b.sql:11"');
  // The file system behind the grant changed: a file's size, then a new file.
  writeFileSync(join(dir, "b.sql"), "select 333;\n");
  await expectMiss(grant(["*.sql"]), '"a.sql:10,b.sql:12"');
  writeFileSync(join(dir, "c.sql"), "\n");
  await expectMiss(grant(["*.sql"]), '"a.sql:10,b.sql:12,c.sql:1"');
  await expectHit(grant(["*.sql"]), '"a.sql:10,b.sql:12,c.sql:1"');
  // The grant changed.
  await expectMiss(grant(["a.sql"]), '"a.sql:10"');
  // A visible env value changed (the macro sees its whole granted environment).
  await expectMiss(grant(["*.sql"], { CAPABLE_GREETING: "Hi" }), '"a.sql:10,b.sql:12,c.sql:1"');
  // The package env is visible without a grant (clap's `version` reads it): a changed
  // CARGO_PKG_VERSION is a miss, an unchanged one a hit.
  await expectMiss(grant(["*.sql"], { CAPABLE_GREETING: "Hi", CARGO_PKG_VERSION: "1.0.0" }), '"a.sql:10,b.sql:12,c.sql:1"');
  await expectHit(grant(["*.sql"], { CAPABLE_GREETING: "Hi", CARGO_PKG_VERSION: "1.0.0", HOME: "/x" }), '"a.sql:10,b.sql:12,c.sql:1"');
  await expectMiss(grant(["*.sql"], { CAPABLE_GREETING: "Hi", CARGO_PKG_VERSION: "1.0.1" }), '"a.sql:10,b.sql:12,c.sql:1"');
  // The limits changed.
  await expectMiss(grant(["*.sql"]), '"a.sql:10,b.sql:12,c.sql:1"', { fuel: 1_000_000_000 });

  // Reading a file whose content changes but not its size: the content is what is compared.
  const greet = (g: SandboxGrant) => capable.expand({ kind: "bang", name: "include_greeting", input: '"templates/t.txt"', sandbox: g });
  const tdir = join(dir, "templates");
  (await import("node:fs")).mkdirSync(tdir);
  writeFileSync(join(tdir, "t.txt"), "aaaa");
  assert.equal(text(await greet(grant(["templates"]))), '"Howdy, aaaa"');
  sets = store.sets;
  assert.equal(text(await greet(grant(["templates"]))), '"Howdy, aaaa"');
  assert.equal(store.sets, sets);
  writeFileSync(join(tdir, "t.txt"), "bbbb");
  assert.equal(text(await greet(grant(["templates"]))), '"Howdy, bbbb"');
  assert.equal(store.sets, sets + 1);

  // Another module with the same macros: its own entries.
  const demo = await loadMacroModule(await macroWasm("serde_derive"), { expansionCache: store });
  const before = store.sets;
  await demo.expand({ kind: "derive", name: "Serialize", input: "struct A;" });
  assert.equal(store.sets, before + 1);
});

test("a corrupt or truncated entry is ignored and recomputed", async () => {
  const bytes = await macroWasm("serde_derive");
  const request: ExpandRequest = { kind: "derive", name: "Serialize", input: SERDE_INPUT };
  const reference = observable(await (await loadMacroModule(bytes)).expand(request));
  // In a store that hands back damaged bytes.
  for (const damage of [
    (b: Uint8Array) => b.subarray(0, b.length >> 1),
    (_b: Uint8Array) => new TextEncoder().encode("{}"),
    (b: Uint8Array) => b.map((x, i) => (i === 10 ? x ^ 0x20 : x)),
  ]) {
    const store = new MemoryCacheStore();
    const damaging: CacheStore = {
      get: (k) => {
        const v = store.get(k);
        return v && damage(v);
      },
      set: (k, v) => store.set(k, v),
    };
    const m = await loadMacroModule(bytes, { expansionCache: damaging });
    await m.expand(request);
    assert.equal(observable(await m.expand(request)), reference);
  }
  // On disk: a flipped byte and a truncated file are misses, and the file is removed.
  const dir = mkdtempSync(join(tmpdir(), "macrobox-cache-disk-"));
  const disk = new DiskCacheStore(dir);
  const m = await loadMacroModule(bytes, { expansionCache: disk });
  await m.expand(request);
  const [shard] = readdirSync(dir);
  const [name] = readdirSync(join(dir, shard));
  const file = join(dir, shard, name);
  const good = readFileSync(file);
  for (const bad of [good.subarray(0, good.length - 7), Buffer.concat([good.subarray(0, 100), Buffer.from([good[100] ^ 1]), good.subarray(101)])]) {
    writeFileSync(file, bad);
    assert.equal(disk.get(name), null);
    assert.deepEqual(readdirSync(join(dir, shard)), [], "the damaged entry was removed");
    assert.equal(observable(await m.expand(request)), reference);
  }
});

test("two processes writing one cache directory at once lose nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "macrobox-cache-shared-"));
  const script = `
    import { DiskCacheStore } from ${JSON.stringify(new URL("../../src/node/disk-cache.ts", import.meta.url).pathname)};
    import { createHash } from "node:crypto";
    const store = new DiskCacheStore(process.argv[1]);
    const me = process.argv[2];
    for (let i = 0; i < 300; i++) {
      // Half the keys are shared between the processes, half are each one's own.
      const name = i % 2 === 0 ? "shared-" + i : me + "-" + i;
      const key = createHash("sha256").update(name).digest("hex");
      store.set(key, new TextEncoder().encode(name.repeat(200)));
      const back = store.get(key);
      if (back === null || new TextDecoder().decode(back) !== name.repeat(200)) { console.error("lost " + name); process.exit(1); }
    }
  `;
  const tsx = new URL("../../node_modules/tsx/dist/esm/index.mjs", import.meta.url).pathname;
  const run = (me: string) =>
    new Promise<number>((resolve) => {
      const p = spawn(process.execPath, ["--import", tsx, "--input-type=module", "-e", script, dir, me], { stdio: ["ignore", "inherit", "inherit"] });
      p.on("close", (code) => resolve(code ?? 1));
    });
  assert.deepEqual(await Promise.all([run("a"), run("b")]), [0, 0]);
  const store = new DiskCacheStore(dir);
  const { createHash } = await import("node:crypto");
  for (let i = 0; i < 300; i++) {
    for (const name of i % 2 === 0 ? [`shared-${i}`] : [`a-${i}`, `b-${i}`]) {
      const back = store.get(createHash("sha256").update(name).digest("hex"));
      assert.ok(back !== null, `entry ${name} is there`);
      assert.equal(new TextDecoder().decode(back), name.repeat(200));
    }
  }
});

test("instrumented modules are cached: a second load skips instrumentation and behaves the same", async () => {
  const bytes = await macroWasm("serde_derive");
  const store = new CountingStore();
  const a = await loadMacroModule(bytes, { moduleCache: store });
  // The instrumented bytes and what the module's libc does with paths (src/wasm/libc.ts).
  assert.equal(store.sets, 2);
  const b = await loadMacroModule(bytes, { moduleCache: store });
  assert.equal(store.sets, 2, "the instrumented bytes and the libc facts came from the cache");
  assert.ok(b.metered);
  const request: ExpandRequest = { kind: "derive", name: "Serialize", input: SERDE_INPUT };
  assert.equal(observable(await b.expand(request)), observable(await a.expand(request)));
  // Another memory limit is another instrumentation (the cap is written into the module).
  await loadMacroModule(bytes, { moduleCache: store, limits: { memoryPages: 512 } });
  assert.equal(store.sets, 3);
});

test("the proc-macro server answers a repeated request line from its memo, only for reusable expansions", async () => {
  const { ResponseMemo } = await import("../../src/proc-macro-server/memo.js");
  const { settingsState } = await import("../../src/node/expansion-sandbox.js");
  const { encodeRequestLine } = await import("../../src/server/protocol.js");
  const { encodeFlatTree } = await import("../../src/server/flat.js");
  const { parseTokenStream } = await import("../../src/index.js");
  const dir = mkdtempSync(join(tmpdir(), "macrobox-memo-"));
  const module = join(dir, "serde_derive.wasm");
  writeFileSync(module, await macroWasm("serde_derive"));
  const dirs = { config: join(dir, "config"), data: join(dir, "data") };
  let next = 16;
  const parsed = parseTokenStream(SERDE_INPUT, () => next++);
  assert.ok(parsed.ok);
  const line = encodeRequestLine({
    type: "ExpandMacro",
    lib: "serde_derive.so",
    env: [],
    currentDir: null,
    macroName: "Serialize",
    attributes: null,
    macroBody: encodeFlatTree(parsed.stream, { rootSpan: 1 }),
    globals: { defSite: 0, callSite: 1, mixedSite: 2 },
    spanDataTable: [],
  }).trimEnd();
  // The executable's request loop (the one its worker runs, its memo) driven in-process over the
  // line sent twice, and once more without a memo; the memo's hits and the expansions counted.
  const { MessageReader } = await import("../../src/proc-macro-server/message-reader.js");
  const { RequestLoop } = await import("../../src/proc-macro-server/request-loop.js");
  const { createServerSession } = await import("../../src/server/serve.js");
  const { createWasmBackend } = await import("../../src/server/wasm-backend.js");
  const { requestSandbox } = await import("../../src/node/expansion-sandbox.js");
  const loaded = await loadMacroModule(readFileSync(module));
  let expansions = 0;
  const serve = async (memo: InstanceType<typeof ResponseMemo> | null, times: number): Promise<string[]> => {
    const input = new TextEncoder().encode(`${line}\n`.repeat(times));
    let at = 0;
    const read = (into: Uint8Array) => {
      const n = Math.min(into.length, input.length - at, 1000);
      into.set(input.subarray(at, at + n));
      at += n;
      return n;
    };
    const backend = createWasmBackend({ loadModule: async () => loaded, sandbox: (m, req) => requestSandbox(m, req.env, req.currentDir, dirs) });
    const session = createServerSession({
      ...backend,
      spanModes: backend.spanModes,
      listMacros: (lib) => backend.listMacros(lib),
      expand: (req, how) => (expansions++, backend.expand(req, how)),
    });
    const out: string[] = [];
    const loop = new RequestLoop({
      format: "json-legacy",
      reader: new MessageReader(read, 0x0a, 1 << 20),
      write: (bytes) => out.push(typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes)),
      noise: (l) => assert.fail(`noise: ${l}`),
      session: () => session,
      memo,
      turn: { begin() {}, pause: () => true, resume() {}, claim: () => true, finish() {} },
      maxMessageBytes: 1 << 20,
    });
    assert.equal(await loop.run(), "closed");
    return out;
  };
  const memo = new ResponseMemo(undefined, (where) => settingsState(where, dirs));
  let hits = 0;
  const get = memo.get.bind(memo);
  memo.get = (mode, l) => {
    const known = get(mode, l);
    if (known !== undefined) hits++;
    return known;
  };
  const [reference] = await serve(null, 1);
  assert.match(reference, /^\{"ExpandMacro":\{"Ok"/);
  assert.equal(expansions, 1);
  const twice = await serve(memo, 2);
  assert.deepEqual(twice, [reference, reference]);
  assert.equal(hits, 1, "the second request was answered from the memo");
  assert.equal(expansions, 2, "and not expanded again");
  // An answer the session does not call reusable is not kept; one with a dependency only while it holds.
  const answer = { response: reference ?? "", dependency: null };
  const lone = new ResponseMemo();
  lone.keep("Id", line, { ...answer, reusable: false });
  assert.equal(lone.get("Id", line), undefined);
  lone.keep("Id", line, { ...answer, reusable: true });
  assert.equal(lone.get("Id", line), reference);
  assert.equal(lone.get("RustAnalyzer", line), undefined, "the span mode is part of what a line means");
  lone.keep("Id", "other", { ...answer, reusable: true, dependency: { where: "/w", state: "a" } });
  assert.equal(lone.get("Id", "other"), undefined, "without a state to check, an answer with a dependency is not kept");
  let state = "a";
  const checked = new ResponseMemo(undefined, () => state);
  checked.keep("Id", line, { ...answer, reusable: true, dependency: { where: "/w", state: "a" } });
  assert.equal(checked.get("Id", line), reference);
  state = "b";
  assert.equal(checked.get("Id", line), undefined, "the dependency changed");
});
