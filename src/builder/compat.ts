// Compatibility for dependencies that switch `proc_macro` off on wasm32.
//
// Older releases of proc-macro2, quote and syn assume wasm32 has no `proc_macro` crate (true
// before macrobox) and compile their proc_macro support out by cfg or by target name. Current
// upstream releases do not. We never edit the user's crate: the affected *dependencies* are copied
// into the stage, rewritten there, and substituted with `[patch.crates-io]`; every rewrite is
// reported in the build output and recorded in the module's metadata.

import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

export interface CompatPatch {
  crate: string;
  version: string;
  file: string;
  change: string;
  count: number;
}

interface Rule {
  crates: string[];
  /** Which files of the crate the rule reads. */
  file: (path: string) => boolean;
  describe: string;
  apply: (text: string) => { text: string; count: number };
}

/**
 * Replaces every cfg predicate `not(all(target_arch = "wasm32", ...))` with `all()` (always true).
 * These crates use exactly that shape to mean "proc_macro is unavailable here".
 */
function enableOnWasm(text: string): { text: string; count: number } {
  const opener = /not\(\s*all\(\s*target_arch\s*=\s*"wasm32"/g;
  let out = "";
  let last = 0;
  let count = 0;
  for (let m = opener.exec(text); m; m = opener.exec(text)) {
    // Find the parenthesis closing `not(`.
    let depth = 0;
    let end = -1;
    for (let i = m.index + 3; i < text.length; i++) {
      if (text[i] === "(") depth++;
      else if (text[i] === ")" && --depth === 0) {
        end = i + 1;
        break;
      }
    }
    if (end < 0) break;
    out += text.slice(last, m.index) + "all()";
    last = end;
    opener.lastIndex = end;
    count++;
  }
  return { text: out + text.slice(last), count };
}

/** Bumped whenever RULES change, so patched copies made by older rules are not reused. */
const RULES_VERSION = "r1";

const RULES: Rule[] = [
  {
    crates: ["proc-macro2"],
    file: (p) => p === "build.rs",
    describe: '`target.contains("wasm32")` → `false` (keep the proc_macro wrapper on wasm32)',
    apply: (text) => {
      const count = text.split('target.contains("wasm32")').length - 1;
      return { text: text.split('target.contains("wasm32")').join("false"), count };
    },
  },
  {
    crates: ["proc-macro2", "quote", "syn"],
    file: (p) => p.endsWith(".rs"),
    describe: 'cfg `not(all(target_arch = "wasm32", ..))` → `all()` (keep proc_macro support on wasm32)',
    apply: enableOnWasm,
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
function findPatches(name: string, version: string, dir: string): Array<{ file: string; text: string; patch: CompatPatch }> {
  const found: Array<{ file: string; text: string; patch: CompatPatch }> = [];
  const texts = new Map<string, string>();
  for (const rule of RULES) {
    if (!rule.crates.includes(name)) continue;
    for (const file of rsFiles(dir).filter(rule.file)) {
      const before = texts.get(file) ?? readFileSync(join(dir, file), "utf8");
      const { text, count } = rule.apply(before);
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
