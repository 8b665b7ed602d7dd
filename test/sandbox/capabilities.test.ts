// Capabilities: declarations, grants (never beyond the declaration), matching, notes, config files.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checkDeclaration,
  denial,
  denialNote,
  describeGrant,
  ungrantedEnvNotes,
  effectiveGrant,
  envAllowed,
  normalizePath,
  parseGrantFlags,
  pathInside,
  readAllowed,
  readLeadsTo,
  resolveAbsolute,
} from "../../src/sandbox/capabilities.js";
import { fileVersion, grantFor, parseGrants, readGrantsFile } from "../../src/node/grants.js";
import { loadGrants, trust, userDirs } from "../../src/node/trust.js";
import { workspaceSettingsFile } from "../../src/node/expansion-sandbox.js";

const declared = { env: ["DATABASE_URL", "MYMAC_*"], read: ["migrations", "*.sql", "conf/app.toml"] };

test("a grant within the declaration is effective; '*' means all declared", () => {
  const r = effectiveGrant("sqlm", declared, { env: ["DATABASE_URL", "MYMAC_DEBUG"], read: ["migrations/2024", "schema.sql"] });
  assert.ok(r.ok);
  assert.deepEqual(r.grant, { env: ["DATABASE_URL", "MYMAC_DEBUG"], read: ["migrations/2024", "schema.sql"] });
  const all = effectiveGrant("sqlm", declared, { env: ["*"], read: ["*"] });
  assert.ok(all.ok);
  assert.deepEqual(all.grant, declared);
  const glob = effectiveGrant("sqlm", declared, { env: [], read: ["migrations/*.sql", "./*.sql"] });
  assert.ok(glob.ok);
  assert.deepEqual(glob.grant.read, ["migrations/*.sql", "*.sql"]);
});

test("a grant beyond the declaration is honoured and described as such; '*' stays what is declared", () => {
  const r = effectiveGrant("sqlm", declared, { env: ["HOME", "DATABASE_URL"], read: ["src", "conf", "./Cargo.toml", "*"] });
  assert.ok(r.ok);
  assert.deepEqual(r.grant, { env: ["HOME", "DATABASE_URL"], read: ["src", "conf", "Cargo.toml", "migrations", "*.sql", "conf/app.toml"] });
  assert.deepEqual(r.beyond, { env: ["HOME"], read: ["src", "conf", "Cargo.toml"] });
  const d = describeGrant("sqlm", declared, r.grant);
  assert.deepEqual(d.beyond, r.beyond);
  assert.deepEqual(
    d.lines.filter((l) => l.declared).map((l) => l.item),
    ["DATABASE_URL", "migrations", "*.sql", "conf/app.toml"],
  );
  assert.equal(
    d.note,
    'macro crate sqlm is granted env var HOME, read access to src, read access to conf, read access to Cargo.toml, beyond what the crate declares (it declares env = ["DATABASE_URL", "MYMAC_*"], read = ["migrations", "*.sql", "conf/app.toml"])',
  );
  // An undeclared crate: explicit grants work, '*' gives nothing.
  const none = { env: [], read: [] };
  const u = effectiveGrant("pest_derive", none, { env: ["CARGO_MANIFEST_DIR", "*"], read: ["src/grammar.pest", "*"] });
  assert.ok(u.ok);
  assert.deepEqual(u.grant, { env: ["CARGO_MANIFEST_DIR"], read: ["src/grammar.pest"] });
  assert.equal(
    describeGrant("pest_derive", none, u.grant).note,
    "macro crate pest_derive is granted env var CARGO_MANIFEST_DIR, read access to src/grammar.pest, beyond what the crate declares (it declares nothing)",
  );
  assert.equal(describeGrant("sqlm", declared, { env: ["DATABASE_URL"], read: ["migrations/x"] }).note, null);
  // Glob grants wider than the declaration are beyond it.
  const g = effectiveGrant("c", { env: ["A"], read: ["a.sql"] }, { env: ["A*"], read: ["*.sql"] });
  assert.ok(g.ok);
  assert.deepEqual(g.beyond, { env: ["A*"], read: ["*.sql"] });
});

test("grants that cannot be served are errors naming them", () => {
  const r = effectiveGrant("sqlm", declared, { env: ["A=B"], read: ["../secret", "/etc", "ok"] });
  assert.ok(!r.ok);
  assert.deepEqual(r.error.exceeding, { env: ["A=B"], read: ["../secret", "/etc"] });
  assert.match(r.error.message, /macro crate sqlm is granted env var "A=B" \(not a variable name\), read access to "\.\.\/secret" \(read paths are relative/);
});

test("absolute paths resolve like the kernel's, and are placed in the crate directory or not", () => {
  assert.deepEqual(resolveAbsolute("/w/c", "src/../x"), { abs: "/w/c/x", dotdot: true });
  assert.deepEqual(resolveAbsolute("/w/c", "/etc//passwd"), { abs: "/etc/passwd", dotdot: false });
  assert.deepEqual(resolveAbsolute("/", "../../x"), { abs: "/x", dotdot: true });
  assert.equal(pathInside("/w/c", "/w/c/src/a"), "src/a");
  assert.equal(pathInside("/w/c", "/w/c"), "");
  assert.equal(pathInside("/w/c", "/w/cc/a"), null);
  assert.equal(pathInside("/", "/a/b"), "a/b");
});

test("env names and read patterns match as documented", () => {
  const g = { env: ["DATABASE_URL", "MYMAC_*"], read: ["migrations", "*.sql", "data/**/x?.txt"] };
  assert.ok(envAllowed(g, "DATABASE_URL"));
  assert.ok(envAllowed(g, "MYMAC_LEVEL"));
  assert.ok(!envAllowed(g, "DATABASE_URL2"));
  assert.ok(!envAllowed(g, "HOME"));
  assert.ok(readAllowed(g, "migrations"));
  assert.ok(readAllowed(g, "migrations/001/up.sql"));
  assert.ok(readAllowed(g, "schema.sql"));
  assert.ok(!readAllowed(g, "sub/schema.sql"), "`*` stays within one segment");
  assert.ok(readAllowed(g, "data/x1.txt"));
  assert.ok(readAllowed(g, "data/a/b/x2.txt"));
  assert.ok(!readAllowed(g, "data/a/y2.txt"));
  assert.ok(!readAllowed(g, "migrationsX/a"));
  assert.ok(!readAllowed(g, "Cargo.toml"));
  assert.ok(!readAllowed(g, ""));
  assert.ok(readLeadsTo(g, ""));
  assert.ok(readLeadsTo(g, "data/a"));
  assert.ok(readLeadsTo(g, "migrations/deep"));
  assert.ok(!readLeadsTo(g, "src"));
  assert.ok(!readLeadsTo({ env: [], read: [] }, ""));
});

test("paths are resolved inside the crate root or refused", () => {
  assert.equal(normalizePath("./a//b/./c"), "a/b/c");
  assert.equal(normalizePath("a/../b"), "b");
  assert.equal(normalizePath("."), "");
  assert.equal(normalizePath("../etc/passwd"), null);
  assert.equal(normalizePath("a/../../etc/passwd"), null);
  assert.equal(normalizePath("/etc/passwd"), null);
  assert.equal(normalizePath("a\0b"), null);
});

test("declarations that climb out of the crate are refused", () => {
  assert.doesNotThrow(() => checkDeclaration("c", declared));
  assert.throws(() => checkDeclaration("c", { env: [], read: ["../x"] }), /read paths must be relative/);
  assert.throws(() => checkDeclaration("c", { env: [], read: ["/etc"] }), /read paths must be relative/);
  assert.throws(() => checkDeclaration("c", { env: ["A=B"], read: [] }), /bad env var name/);
});

test("denial notes name the capability and how to grant it", () => {
  assert.equal(
    denialNote("sqlm", "env", "DATABASE_URL", "not-granted"),
    'macro crate sqlm tried to read env var DATABASE_URL; grant it with `--allow-env sqlm:DATABASE_URL`, or in the workspace\'s macrobox.toml (`[grants.sqlm] env = ["DATABASE_URL"]`) and `macrobox trust`',
  );
  // An untrusted request for this crate: the note names the command that would grant it.
  assert.match(
    denialNote("sqlm", "env", "DATABASE_URL", "not-granted", undefined, "`macrobox trust /w` would grant what /w/macrobox.toml asks"),
    /and `macrobox trust`; `macrobox trust \/w` would grant what \/w\/macrobox\.toml asks$/,
  );
  assert.match(denialNote("sqlm", "read", "x.sql", "not-granted"), /--allow-read sqlm:x\.sql/);
  assert.match(denialNote("sqlm", "env", "HOME", "undeclared"), /does not declare; grant it with `--allow-env sqlm:HOME`/);
  assert.match(
    denialNote("sqlm", "read", "/w/c/Cargo.toml", "undeclared", "Cargo.toml"),
    /tried to read file \/w\/c\/Cargo\.toml, which it does not declare; .*EACCES.*; grant it with `--allow-read sqlm:Cargo\.toml`/,
  );
  assert.doesNotMatch(denialNote("sqlm", "read", "/etc/passwd", "outside"), /--allow-read/);
  assert.match(denialNote("sqlm", "read", "../etc/passwd", "escape"), /outside the crate directory/);
});

test("notes for declared env vars left ungranted (for failed expansions)", () => {
  const notes = ungrantedEnvNotes("m", { env: ["A", "B", "C"], read: [] }, { env: ["A"], read: [] }, [denial("m", "env", "C", "not-granted")]);
  assert.deepEqual(
    notes.map((n) => [n.name, n.reason]),
    [["B", "environ"]],
  );
  // The package env is visible without a grant: declaring it leaves nothing to note.
  assert.deepEqual(ungrantedEnvNotes("m", { env: ["CARGO_MANIFEST_DIR", "CARGO_PKG_VERSION"], read: [] }, { env: [], read: [] }), []);
  assert.equal(
    notes[0].note,
    'macro crate m declares env var B, which is not granted (the macro sees it unset); grant it with `--allow-env m:B`, or in the workspace\'s macrobox.toml (`[grants.m] env = ["B"]`) and `macrobox trust`',
  );
});

test("command-line grants", () => {
  const g = parseGrantFlags("env", ["sqlx-macros:DATABASE_URL", "other"]);
  parseGrantFlags("read", ["sqlx_macros:migrations"], g);
  assert.deepEqual(grantFor(g, "sqlx_macros"), { env: ["DATABASE_URL"], read: ["migrations"] });
  assert.deepEqual(grantFor(g, "other"), { env: ["*"], read: [] });
  assert.deepEqual(grantFor(g, "nobody"), { env: [], read: [] });
  assert.throws(() => parseGrantFlags("env", ["crate:"]), /--allow-env expects <crate>:<VAR>/);
  assert.throws(() => parseGrantFlags("read", ["a b:c"]), /--allow-read expects/);
});

test("macrobox.toml and [workspace.metadata.macrobox.grants]", () => {
  const g = parseGrants('[grants.my-mac]\nenv = ["A"]\nread = ["data", "*.sql"]\n[grants.other]\nenv = []\n', "macrobox.toml", "macrobox");
  assert.deepEqual(grantFor(g, "my_mac"), { env: ["A"], read: ["data", "*.sql"] });
  assert.deepEqual(grantFor(g, "other"), { env: [], read: [] });
  const c = parseGrants('[package]\nname="x"\n[workspace.metadata.macrobox.grants.my_mac]\nread = ["r"]\n', "Cargo.toml", "cargo");
  assert.deepEqual(grantFor(c, "my-mac"), { env: [], read: ["r"] });
  assert.throws(() => parseGrants("[grants.x]\nwrite = []\n", "m.toml", "macrobox"), /unknown key `write`/);
  assert.throws(() => parseGrants("[grants.x]\nenv = [1]\n", "m.toml", "macrobox"), /array of non-empty strings/);
  assert.throws(() => parseGrants("[grant.x]\n", "m.toml", "macrobox"), /unknown table `grant`/);
  assert.throws(() => parseGrants("[grants\n", "m.toml", "macrobox"), /not valid TOML/);

  const dir = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-grants-")));
  const dirs = userDirs({ HOME: join(dir, "home") });
  writeFileSync(join(dir, "macrobox.toml"), '[grants.m]\nenv = ["X"]\n');
  // The current directory's file is a request: in effect once trusted, added to the flags.
  assert.deepEqual(grantFor(loadGrants({ dirs, cwd: dir, allowEnv: ["m:Y"], allowRead: ["m:data"] }).grants, "m"), { env: ["Y"], read: ["data"] });
  trust(dirs, dir);
  const loaded = loadGrants({ dirs, cwd: dir, allowEnv: ["m:Y"], allowRead: ["m:data"] });
  assert.deepEqual(grantFor(loaded.grants, "m"), { env: ["X", "Y"], read: ["data"] });
  assert.throws(() => loadGrants({ dirs, cwd: dir, config: "missing.toml" }), /cannot read .*missing\.toml: ENOENT/);
});

test("the workspace of a crate: the nearest macrobox.toml, or a Cargo.toml with [workspace]", () => {
  const ws = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-ws-")));
  for (const d of ["a/src", "b", "c"]) mkdirSync(join(ws, d), { recursive: true });
  writeFileSync(join(ws, "Cargo.toml"), '[workspace]\nmembers = ["a", "b", "c"]\n');
  writeFileSync(join(ws, "a", "Cargo.toml"), '[package]\nname = "a"\n');
  writeFileSync(join(ws, "a", "macrobox.toml"), '[grants.m]\nenv = ["X"]\n');
  writeFileSync(join(ws, "b", "Cargo.toml"), '[package]\nname = "b"\n');
  writeFileSync(join(ws, "c", "Cargo.toml"), "[package\n");
  assert.equal(workspaceSettingsFile(join(ws, "a", "src"))?.path, join(ws, "a", "macrobox.toml"));
  // A member's own manifest (no [workspace]; or one that does not parse) is walked past.
  assert.equal(workspaceSettingsFile(join(ws, "b"))?.path, join(ws, "Cargo.toml"));
  assert.equal(workspaceSettingsFile(join(ws, "c"))?.path, join(ws, "Cargo.toml"));
  // Found with its version: the one a decision is kept by (expansion-sandbox.ts `decisionFrom`).
  assert.equal(workspaceSettingsFile(join(ws, "b"))?.version, fileVersion(join(ws, "Cargo.toml")));
  writeFileSync(join(ws, "c", "Cargo.toml"), '[package]\nname = "c"\n[workspace]\n');
  assert.equal(workspaceSettingsFile(join(ws, "c"))?.path, join(ws, "c", "Cargo.toml"), "an edit making it a workspace's is seen");
  // The file is remembered per version: an edit is seen, and callers get their own copy.
  const file = join(ws, "a", "macrobox.toml");
  const first = readGrantsFile(file);
  first.get("m")!.env.push("mutated");
  assert.deepEqual(readGrantsFile(file).get("m"), { env: ["X"], read: [] });
  writeFileSync(file, '[grants.m]\nenv = ["Y", "Z"]\n');
  assert.deepEqual(readGrantsFile(file).get("m"), { env: ["Y", "Z"], read: [] });
});
