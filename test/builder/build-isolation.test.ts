// Trust domains of module builds (src/builder/build.ts, `trustDomain`), attacked:
// test/fixtures/hostile-cache is a local proc-macro crate (not from a registry) whose build script
// alters every rlib of the target directory cargo gives it (keeping the mtimes, so that fingerprints
// stay fresh), writes a `config.toml` naming a rustc wrapper into the CARGO_HOME it is given, and
// plants that wrapper in the target directory. Built as a user would, none of it may reach what
// later builds read: the cache's shared target directory and cargo-home (where registry crates
// build) are byte for byte as before, and a registry module
// compiled and linked again afterwards is the bytes it was before the attack; so is another local
// crate's target directory. The attack did write: into the crate's own target directory and
// CARGO_HOME (the record baked into its module says so). Its crate directory removed, the next
// build removes that domain. A cache keeps at most eight local domains, the least recently built
// removed first.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { describe, it } from "node:test";
import { build, type BuildEvent } from "../../src/builder/build.js";
import { toolchainCache } from "../../src/builder/cache.js";
import { findToolchain } from "../../src/builder/toolchain.js";
import { FIXTURES } from "../support/paths.js";

const scratch = mkdtempSync(join(tmpdir(), "macrobox-build-isolation-"));
const REGISTRY_CRATE = "ref-cast-impl@1.0.3";

/** Every file under `dir` (recursively) with a hash of its bytes (or a symlink's target); empty if there is no `dir`. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  if (!existsSync(dir)) return files;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const key = relative(dir, path);
    if (entry.isSymbolicLink()) files.set(key, `-> ${readlinkSync(path)}`);
    else if (entry.isFile()) files.set(key, `${createHash("sha256").update(readFileSync(path)).digest("hex")} ${lstatSync(path).mtimeMs}`);
    else if (entry.isDirectory()) files.set(key, "dir");
  }
  return files;
}

/** What changed between two snapshots: files added, removed or altered. */
function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const changed: string[] = [];
  for (const [path, hash] of after) if (before.get(path) !== hash) changed.push(before.has(path) ? `altered ${path}` : `added ${path}`);
  for (const path of before.keys()) if (!after.has(path)) changed.push(`removed ${path}`);
  return changed;
}

/** The build script's record, as baked into the module. */
function record(bytes: Buffer): string[] {
  const m = /MACROBOX-RECORD-BEGIN\n([^]*?)MACROBOX-RECORD-END/.exec(bytes.toString("latin1"));
  assert.ok(m, "the module holds the build script's record");
  return m[1].split("\n").filter(Boolean);
}

describe("trust domains of module builds", { timeout: 20 * 60_000 }, () => {
  it("a local crate's build script cannot alter the shared target dir, cargo-home or std, nor a registry module built after it", async () => {
    const cache = toolchainCache(findToolchain());
    const reference = await build({ crate: REGISTRY_CRATE, output: join(scratch, "reference.wasm") });
    assert.equal(reference.targetDir, join(cache, "target"), "a registry crate builds in the shared target dir");
    // Another local crate, built first (its domain seeded from the shared target).
    const benignDir = join(scratch, "benign");
    mkdirSync(join(benignDir, "src"), { recursive: true });
    writeFileSync(join(benignDir, "Cargo.toml"), '[package]\nname = "benign"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\nproc-macro = true\n');
    writeFileSync(
      join(benignDir, "src/lib.rs"),
      "#[proc_macro]\npub fn benign(_: proc_macro::TokenStream) -> proc_macro::TokenStream { Default::default() }\n",
    );
    const benign = await build({ crate: benignDir, output: join(scratch, "benign.wasm") });
    // What builds of other crates read: registry crates' target dir and CARGO_HOME (which every new
    // domain is seeded from), and the other local crate's own.
    const watched = [join(cache, "target"), join(cache, "cargo-home"), benign.targetDir, benign.cargoHome];
    const before = watched.map(snapshot);
    assert.ok(
      [...before[0].keys()].some((f) => /wasm32-macro\/release\/deps\/lib\w+-[0-9a-f]+\.rlib$/.test(f)),
      "the shared target dir holds rlibs to attack",
    );

    const crate = join(scratch, "hostile-cache");
    cpSync(join(FIXTURES, "hostile-cache"), crate, { recursive: true });
    // New sources, so that cargo runs the build script (a cache may have built the fixture before).
    writeFileSync(join(crate, "nonce.txt"), String(Date.now()));
    // A file of the user's that the build script links macrobox's stage markers to, if it finds them.
    const victimFile = join(scratch, "victim-file");
    writeFileSync(victimFile, "the victim's own\n");
    writeFileSync(join(crate, "victim-path.txt"), victimFile);
    const hostile = await build({ crate, output: join(scratch, "hostile.wasm") });
    try {
      const attack = record(readFileSync(hostile.output));
      // The attack ran and its writes succeeded, where it was let write.
      assert.ok(attack.filter((l) => l.startsWith("altered ")).length > 0, attack.join("\n"));
      assert.deepEqual(
        attack.filter((l) => / failed /.test(l)),
        [],
        "every write the build script tried succeeded (in its own domain)",
      );
      assert.ok(attack.some((l) => l.startsWith("planted ")) && attack.some((l) => l.startsWith("configured ")), attack.join("\n"));

      watched.forEach((dir, i) => assert.deepEqual(changes(before[i], snapshot(dir)), [], `the build of a local crate changed ${dir}`));
      assert.equal(existsSync(join(cache, "cargo-home", "config.toml")), false);

      // Where the writes went: the crate's own target directory and CARGO_HOME.
      assert.ok(!watched.includes(hostile.targetDir) && !watched.includes(hostile.cargoHome), hostile.targetDir);
      assert.ok(existsSync(join(hostile.targetDir, "macrobox-planted-wrapper")), "the planted file is in the crate's own target dir");
      assert.ok(existsSync(join(hostile.cargoHome, "config.toml")), "the config is in the crate's own CARGO_HOME");

      // The crate built again from new sources (another stage): macrobox reads and writes its stage
      // markers outside the sandbox, never through what the build script planted.
      // (Its own CARGO_HOME's planted wrapper would stop that build first: it poisons only its own domain.)
      rmSync(join(hostile.cargoHome, "config.toml"));
      writeFileSync(join(crate, "nonce.txt"), `again ${Date.now()}`);
      await build({ crate, output: join(scratch, "hostile-again.wasm") });
      assert.equal(readFileSync(victimFile, "utf8"), "the victim's own\n", "macrobox wrote through a link the build script planted");

      // The registry module, compiled and linked again from this cache: the bytes of before.
      const fingerprints = join(cache, "target", "wasm32-macro", "release", ".fingerprint");
      for (const f of readdirSync(fingerprints)) if (f.startsWith("ref-cast-impl-")) rmSync(join(fingerprints, f), { recursive: true });
      // The crate's directory gone (a temporary checkout), the next build removes its domain.
      rmSync(crate, { recursive: true });
      const compiled: BuildEvent[] = [];
      const again = await build({ crate: REGISTRY_CRATE, output: join(scratch, "again.wasm"), onEvent: (e) => compiled.push(e) });
      assert.ok(
        compiled.some((e) => e.type === "compiled" && e.crate === "ref-cast-impl" && !e.fresh),
        "cargo compiled ref-cast-impl again",
      );
      assert.ok(readFileSync(again.output).equals(readFileSync(reference.output)), "the registry module built after the attack differs");
      assert.equal(existsSync(dirname(hostile.targetDir)), false, "the domain of a crate directory that no longer exists was removed");
      assert.ok(existsSync(benign.targetDir), "the domain of a crate directory that exists was kept");
    } finally {
      // The local crates' own domains (~150 MB each).
      for (const own of [hostile.targetDir, benign.targetDir]) if (!watched.slice(0, 2).includes(own)) rmSync(dirname(own), { recursive: true, force: true });
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it("keeps at most eight local domains, removing the least recently built", async () => {
    const local = join(toolchainCache(findToolchain()), "local");
    const dirs = mkdtempSync(join(tmpdir(), "macrobox-domains-"));
    // Ten domains of crate directories that exist, built long ago (oldest first): a build must remove the oldest.
    const fakes = Array.from({ length: 10 }, (_, i) => join(local, `fake-domain-${i}`));
    fakes.forEach((domain, i) => {
      mkdirSync(join(dirs, String(i)));
      mkdirSync(domain, { recursive: true });
      writeFileSync(join(domain, "crate-dir"), join(dirs, String(i)));
      const when = new Date(Date.now() - (20 - i) * 86_400_000);
      utimesSync(join(domain, "crate-dir"), when, when);
    });
    const crate = join(dirs, "lru");
    mkdirSync(join(crate, "src"), { recursive: true });
    writeFileSync(join(crate, "Cargo.toml"), '[package]\nname = "lru"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\nproc-macro = true\n');
    writeFileSync(join(crate, "src/lib.rs"), "#[proc_macro]\npub fn lru(_: proc_macro::TokenStream) -> proc_macro::TokenStream { Default::default() }\n");
    try {
      const built = await build({ crate, output: join(dirs, "lru.wasm") });
      const domains = readdirSync(local).filter((d) => existsSync(join(local, d, "crate-dir")));
      assert.ok(domains.length <= 8, `${domains.length} local domains: ${domains.join(", ")}`);
      assert.ok(existsSync(built.targetDir), "the domain just built is kept");
      assert.equal(existsSync(fakes[0]), false, "the least recently built domain was removed");
      // Kept ones are never older than removed ones.
      const kept = fakes.map(existsSync);
      assert.deepEqual(
        kept,
        [...kept].sort((x, y) => Number(x) - Number(y)),
        "removed in order of last use",
      );
    } finally {
      for (const domain of fakes) rmSync(domain, { recursive: true, force: true });
      rmSync(dirs, { recursive: true, force: true });
    }
  });
});
