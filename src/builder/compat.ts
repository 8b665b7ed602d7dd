// Compatibility for dependencies that switch `proc_macro` off on wasm32.
//
// Older releases of proc-macro2, quote, syn, synstructure and their kind assume wasm32 has no
// `proc_macro` crate (true before macrobox) and compile their proc_macro support out, by cfg
// (`#[cfg(not(all(target_arch = "wasm32", ..)))] extern crate proc_macro;`) or, in build.rs, by
// target name (`target.contains("wasm32")`). Current upstream releases do not. The rule is not a
// list of crate names: a dependency qualifies when its own sources show it, and within it every
// wasm32 test is made false, so it builds as it does for a target with proc_macro. We never edit
// the user's crate: the affected *dependencies* are copied into the stage, rewritten there, and
// substituted with `[patch.crates-io]`; every rewrite is reported in the build output and recorded
// in the module's metadata.
//
// One more rule, of the same kind (a dependency rewritten in the stage, decided by its own files): a
// crate whose WASI backend imports the `wasi` crate that its Cargo.toml no longer declares (Debian's
// getrandom 0.2.8, packaged without its `cfg(target_os = "wasi")` dependency) gets the one WASI
// import it uses declared in place.

import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

export interface CompatPatch {
  crate: string;
  version: string;
  file: string;
  change: string;
  count: number;
}

// ---- cfg predicates ----

/** A `key = "value"` leaf of a cfg predicate that only holds on wasm: the test the rule makes false. */
const WASM_LEAF = /^(target_arch\s*=\s*"wasm32"|target_family\s*=\s*"wasm")$/;

/** `(start, end)` offsets of the wasm leaves of every cfg predicate in `text`, and where each attribute ends. */
interface CfgSite {
  /** `#[cfg(..)]` (an attribute gating the next item), or `cfg_attr`/`cfg!` (a condition elsewhere). */
  gatesItem: boolean;
  leaves: Array<[number, number]>;
  /** Offset just past the attribute's closing `]` (gatesItem only). */
  end: number;
}

const CFG_OPENER = /#!?\[\s*(cfg|cfg_attr)\s*\(|\bcfg\s*!\s*\(/g;

/**
 * Parses the predicate starting at `pos` (just inside `cfg(`): a predicate is `name`,
 * `name = "str"`, or `name(pred, ..)`. Returns the wasm leaves it contains and where it ends, or
 * null when the text is not a predicate (e.g. the word `cfg` in prose).
 */
function parsePredicate(text: string, pos: number, leaves: Array<[number, number]>): number | null {
  const skip = (i: number) => {
    while (i < text.length && /\s/.test(text[i])) i++;
    return i;
  };
  let i = skip(pos);
  const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 64));
  if (!ident) return null;
  const start = i;
  i = skip(i + ident[0].length);
  if (text[i] === "=") {
    i = skip(i + 1);
    if (text[i] !== '"') return null;
    const close = text.indexOf('"', i + 1);
    if (close < 0) return null;
    i = close + 1;
    if (WASM_LEAF.test(text.slice(start, i))) leaves.push([start, i]);
    return i;
  }
  if (text[i] === "(") {
    i = skip(i + 1);
    while (text[i] !== ")") {
      const next = parsePredicate(text, i, leaves);
      if (next === null) return null;
      i = skip(next);
      if (text[i] === ",") i = skip(i + 1);
      else if (text[i] !== ")") return null;
    }
    return i + 1;
  }
  return i;
}

function cfgSites(text: string): CfgSite[] {
  const sites: CfgSite[] = [];
  CFG_OPENER.lastIndex = 0;
  for (let m = CFG_OPENER.exec(text); m; m = CFG_OPENER.exec(text)) {
    const leaves: Array<[number, number]> = [];
    const end = parsePredicate(text, m.index + m[0].length, leaves);
    if (end === null) continue;
    const gatesItem = m[1] === "cfg";
    let attrEnd = end;
    if (gatesItem) {
      const close = /^\s*\)\s*\]/.exec(text.slice(end));
      if (!close) continue;
      attrEnd = end + close[0].length;
    }
    sites.push({ gatesItem, leaves, end: attrEnd });
    CFG_OPENER.lastIndex = end;
  }
  return sites;
}

/** The text of the item after an attribute: further attributes, then up to `;` or its `{..}` block. */
function itemAfter(text: string, pos: number): string {
  let depth = 0;
  for (let i = pos; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "(" || c === "[") depth++;
    else if (c === "}" || c === ")" || c === "]") {
      if (--depth <= 0 && c === "}") return text.slice(pos, i + 1);
    } else if (c === ";" && depth === 0) return text.slice(pos, i + 1);
  }
  return text.slice(pos);
}

/** `proc_macro` the crate (not proc_macro2, not the `#[proc_macro]` attribute of a proc-macro crate). */
const USES_PROC_MACRO = /\bextern\s+crate\s+proc_macro\b|\bproc_macro\s*::|\buse\s+proc_macro\b/;

/** True when some `#[cfg]` with a wasm test gates an item that uses the `proc_macro` crate. */
function gatesProcMacroOnWasm(text: string): boolean {
  return cfgSites(text).some((s) => s.gatesItem && s.leaves.length > 0 && USES_PROC_MACRO.test(itemAfter(text, s.end)));
}

/** Replaces every wasm leaf of every cfg predicate with `any()` (false). */
function falsifyWasmCfgs(text: string): { text: string; count: number } {
  const leaves = cfgSites(text).flatMap((s) => s.leaves);
  let out = "";
  let last = 0;
  for (const [start, end] of leaves) {
    out += text.slice(last, start) + "any()";
    last = end;
  }
  return { text: out + text.slice(last), count: leaves.length };
}

// ---- build scripts ----

/** String literals in a build script that name wasm targets: `"wasm32"`, `"wasm32-unknown-unknown"`, `"wasm"`. */
const WASM_TARGET_LITERAL = /"(wasm32[A-Za-z0-9_-]*|wasm)"/g;

/**
 * Makes a build script's target-name tests for wasm fail: the literal gets a leading NUL, which no
 * target name or cfg value contains, so `target.contains("\0wasm32")` and
 * `arch == "\0wasm32"` are false and the script configures the crate as for a target with proc_macro.
 */
function unmatchableWasmNames(text: string): { text: string; count: number } {
  let count = 0;
  const out = text.replace(WASM_TARGET_LITERAL, (_all, name: string) => {
    count++;
    return `"\\0${name}"`;
  });
  return { text: out, count };
}

// ---- a stripped `wasi` dependency ----

/** getrandom 0.2's WASI backend (src/wasi.rs): its one use of the `wasi` crate. */
const WASI_RANDOM_GET_USE = /^use wasi::wasi_snapshot_preview1::random_get;$/m;

/** Whether a manifest declares a dependency on the `wasi` crate (any table: `[dependencies.wasi]`, `[target."cfg(..)".dependencies.wasi]`, `wasi = ..`). */
function declaresWasi(manifest: string): boolean {
  return /^\[(?:target\.[^\]]*\.)?dependencies\.wasi\]\s*$/m.test(manifest) || /^wasi\s*=/m.test(manifest);
}

/**
 * Replaces the import of `wasi`'s `random_get` by a declaration of the same WASI import (what the
 * `wasi` crate's raw binding is: `random_get(buf: i32, len: i32) -> i32`, errno 0 on success), so
 * the backend builds without the crate. The call sites are left as they are.
 */
function declareRandomGet(text: string): { text: string; count: number } {
  let count = 0;
  const out = text.replace(WASI_RANDOM_GET_USE, () => {
    count++;
    return ['#[link(wasm_import_module = "wasi_snapshot_preview1")]', 'extern "C" {', "    fn random_get(buf: i32, buf_len: i32) -> i32;", "}"].join("\n");
  });
  return { text: out, count };
}

// ---- the rules ----

interface Rule {
  /** Does this crate need the rule? Given the crate's texts by relative path, and its Cargo.toml. */
  applies: (files: Map<string, string>, manifest: string) => boolean;
  /** Which files of the crate the rule rewrites. */
  file: (path: string) => boolean;
  describe: string;
  apply: (text: string) => { text: string; count: number };
}

const isSource = (p: string) => p !== "build.rs";

/** Bumped whenever RULES change, so patched copies made by older rules are not reused. */
const RULES_VERSION = "r2";

const RULES: Rule[] = [
  {
    // proc-macro2 1.0.47: `if target.contains("wasm32") { return false; }` decides `use_proc_macro`.
    applies: (files) =>
      [...files].some(([p, t]) => isSource(p) && USES_PROC_MACRO.test(t)) && (files.get("build.rs")?.match(WASM_TARGET_LITERAL)?.length ?? 0) > 0,
    file: (p) => p === "build.rs",
    describe: 'build script target test "wasm32" → "\\0wasm32" (matches no target: keep proc_macro on wasm32)',
    apply: unmatchableWasmNames,
  },
  {
    // syn 1, quote 1.0.21, synstructure 0.12: `#[cfg(not(all(target_arch = "wasm32", ..)))] extern crate proc_macro;`.
    applies: (files) => [...files].some(([p, t]) => isSource(p) && gatesProcMacroOnWasm(t)),
    file: isSource,
    describe: 'cfg `target_arch = "wasm32"` / `target_family = "wasm"` → `any()` (false: keep proc_macro support on wasm32)',
    apply: falsifyWasmCfgs,
  },
  {
    // getrandom 0.2.8 as Debian packages it: the `cfg(target_os = "wasi")` dependency on `wasi` is
    // stripped from its Cargo.toml, but src/wasi.rs (the backend on wasm32-macro) still imports it.
    applies: (files, manifest) => WASI_RANDOM_GET_USE.test(files.get("src/wasi.rs") ?? "") && !declaresWasi(manifest),
    file: (p) => p === "src/wasi.rs",
    describe: "`use wasi::wasi_snapshot_preview1::random_get` (the `wasi` dependency is missing) → the same WASI import declared in place",
    apply: declareRandomGet,
  },
];

function rsFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    const st = statSync(full);
    if (st.isDirectory()) {
      if (entry !== "target" && entry !== "tests" && entry !== "benches") out.push(...rsFiles(full, base));
    } else if (entry.endsWith(".rs")) out.push(relative(base, full).split(sep).join("/"));
  }
  return out;
}

/** The patches a crate needs, without writing anything. */
export function findPatches(name: string, version: string, dir: string): Array<{ file: string; text: string; patch: CompatPatch }> {
  const texts = new Map<string, string>();
  for (const file of rsFiles(dir)) texts.set(file, readFileSync(join(dir, file), "utf8"));
  const manifestPath = join(dir, "Cargo.toml");
  const manifest = existsSync(manifestPath) ? readFileSync(manifestPath, "utf8") : "";
  const found: Array<{ file: string; text: string; patch: CompatPatch }> = [];
  for (const rule of RULES) {
    if (!rule.applies(texts, manifest)) continue;
    for (const file of [...texts.keys()].filter(rule.file)) {
      const { text, count } = rule.apply(texts.get(file)!);
      if (count === 0) continue;
      texts.set(file, text);
      found.push({ file, text, patch: { crate: name, version, file, change: rule.describe, count } });
    }
  }
  return found;
}

/**
 * Copies and patches every resolved registry package that needs it into `compatDir`; returns the
 * `[patch.crates-io]` entries to add and what was changed.
 */
export function applyCompat(
  packages: Array<{ name: string; version: string; dir: string }>,
  compatDir: string,
): { patches: Array<{ key: string; name: string; path: string }>; report: CompatPatch[] } {
  const patches: Array<{ key: string; name: string; path: string }> = [];
  const report: CompatPatch[] = [];
  for (const pkg of packages) {
    const changes = findPatches(pkg.name, pkg.version, pkg.dir);
    if (changes.length === 0) continue;
    // Shared by every build of this toolchain, so a patched syn compiles once, not once per crate.
    const dest = join(compatDir, `${pkg.name}-${pkg.version}-${RULES_VERSION}`);
    if (!existsSync(dest)) {
      const tmp = `${dest}.${process.pid}.tmp`;
      rmSync(tmp, { recursive: true, force: true });
      cpSync(pkg.dir, tmp, { recursive: true, dereference: true });
      // Later rules saw the earlier rules' output, so the last text of each file is the final one.
      const finalText = new Map<string, string>();
      for (const c of changes) finalText.set(c.file, c.text);
      for (const [file, text] of finalText) writeFileSync(join(tmp, file), text);
      renameSync(tmp, dest);
    }
    patches.push({ key: `macrobox-compat-${pkg.name}-${pkg.version.replace(/[^A-Za-z0-9]/g, "_")}`, name: pkg.name, path: dest });
    report.push(...changes.map((c) => c.patch));
  }
  return { patches, report };
}
