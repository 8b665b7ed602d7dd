// Reads the expansion corpus: test/corpus/expand/*.rs, one file per proc-macro crate.
// The format is described at the top of serde_derive.rs.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const CORPUS_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(CORPUS_DIR, "../../..");

export type MacroKind = "derive" | "attr" | "bang";

/** Which crate a corpus file exercises: a registry crate, or a local crate directory. */
export type CrateRef = { name: string; version: string } | { path: string };

export interface CorpusCase {
  /** `<file stem>/<case id>`, unique across the corpus. */
  id: string;
  file: string;
  /** 1-based line of the `@case` marker. */
  line: number;
  crate: CrateRef;
  kind: MacroKind;
  macros: string[];
  expect: "ok" | "error";
  input: string;
  /** Attribute arguments (attr macros only). */
  args?: string;
  /**
   * The output embeds `TokenStream::to_string()` text, which rust-analyzer's server prints
   * differently from rustc: compare such outputs with string literal contents ignored.
   */
  usesToString: boolean;
}

export class CorpusError extends Error {}

const CASE_RE = /^\/\/ @case (\S+) (derive|attr|bang):(\S+) expect:(ok|error)((?: uses:to_string)?)\s*$/;

export function parseCorpusFile(text: string, file: string): CorpusCase[] {
  const stem = file.replace(/^.*\//, "").replace(/\.rs$/, "");
  const lines = text.split("\n");
  let crate: CrateRef | undefined;
  const cases: CorpusCase[] = [];
  let current: (Omit<CorpusCase, "input"> & { body: string[] }) | undefined;
  const finish = () => {
    if (current === undefined) return;
    const { body, ...rest } = current;
    // Trailing comment lines belong to the next section header, not to this input.
    while (body.length > 0 && (body[body.length - 1].trim() === "" || body[body.length - 1].startsWith("// ---"))) body.pop();
    const input = body.join("\n").trim();
    if (input === "" && rest.kind !== "bang") throw new CorpusError(`${file}:${rest.line}: case ${rest.id} has no input`);
    cases.push({ ...rest, input });
    current = undefined;
  };
  lines.forEach((line, i) => {
    const crateMatch = /^\/\/ @crate (\S+)\s*$/.exec(line);
    if (crateMatch !== null) {
      const spec = crateMatch[1];
      if (spec.startsWith("path:")) crate = { path: resolve(REPO_ROOT, spec.slice(5)) };
      else {
        const at = spec.lastIndexOf("@");
        if (at <= 0) throw new CorpusError(`${file}:${i + 1}: @crate needs name@version or path:<dir>`);
        crate = { name: spec.slice(0, at), version: spec.slice(at + 1) };
      }
      return;
    }
    if (line.startsWith("// @case")) {
      finish();
      const m = CASE_RE.exec(line);
      if (m === null) throw new CorpusError(`${file}:${i + 1}: bad @case line: ${line}`);
      if (crate === undefined) throw new CorpusError(`${file}:${i + 1}: @case before @crate`);
      current = {
        id: `${stem}/${m[1]}`,
        file,
        line: i + 1,
        crate,
        kind: m[2] as MacroKind,
        macros: m[3].split(","),
        expect: m[4] as "ok" | "error",
        usesToString: m[5] !== "",
        body: [],
      };
      return;
    }
    if (current === undefined) return;
    const args = /^\/\/ @args ?(.*)$/.exec(line);
    if (args !== null && current.body.length === 0) {
      current.args = args[1];
      return;
    }
    current.body.push(line);
  });
  finish();
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.id)) throw new CorpusError(`${file}:${c.line}: duplicate case id ${c.id}`);
    seen.add(c.id);
    if (c.kind === "attr" && c.args === undefined) c.args = "";
  }
  return cases;
}

/** Every case of every corpus file, in file then source order. */
export function loadCorpus(dir: string = CORPUS_DIR): CorpusCase[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".rs"))
    .sort()
    .flatMap((f) => parseCorpusFile(readFileSync(join(dir, f), "utf8"), join(dir, f)));
}

/** A stable key naming the crate, e.g. `serde_derive@1.0.152` or the local path. */
export function crateKey(crate: CrateRef): string {
  return "path" in crate ? crate.path : `${crate.name}@${crate.version}`;
}
