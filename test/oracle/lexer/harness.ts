// Runs rustc 1.96 as the oracle for the token layer: builds the native proc-macro crate in
// test/oracle/lexer (cached by rustc version and oracle source), feeds it the corpus through a
// generated driver file with one `probe!(K);` per line, and collects its answers and the
// diagnostics rustc emitted for each line. Answers are cached by corpus content, so reruns
// cost nothing. Node-only (test helper).

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { printLiteral } from "../../../src/tokens/index.js";
import type { TokenStream } from "../../../src/tokens/model.js";

const here = dirname(fileURLToPath(import.meta.url));
export const ORACLE_DIR = here;
export const CORPUS_FILE = join(here, "../../corpus/lexer/corpus.json");
const RUSTC = "/usr/bin/rustc";
const CARGO = "/usr/bin/cargo";

export type Edition = "2015" | "2018" | "2021" | "2024";

export interface Corpus {
  /** Category name → snippets for `TokenStream::from_str`. */
  streams: Record<string, string[]>;
  /** Snippets for `Literal::from_str`. */
  literals: string[];
  /** Streams built with the API, one item per entry (see oracle's `build`). */
  built: string[][];
}

export type OracleTree =
  | { t: "group"; d: string; s: OracleTree[]; open?: [number, number]; close?: [number, number]; entire?: [number, number] }
  | { t: "punct"; c: string; j: boolean; span?: [number, number] }
  | { t: "ident"; s: string; span?: [number, number] }
  | { t: "literal"; kind: string; s: string; suffix: string | null; span?: [number, number] };

export interface OracleAnswer {
  index: number;
  kind: "stream" | "literal" | "built";
  result: "ok" | "err" | "panic";
  message?: string;
  trees?: OracleTree[];
  display?: string;
  rebuilt?: string;
  /** `to_string()` of each top-level tree. */
  pieces?: string[];
  // literal records
  s?: string;
  suffix?: string | null;
}

export interface OracleDiagnostic {
  level: string;
  message: string;
  /** Byte range, for diagnostics with a real span (from `Literal::from_str`'s own file). */
  lo?: number;
  hi?: number;
}

export interface OracleRecord {
  kind: "stream" | "literal" | "built";
  /** stream/literal: the source; built: the items joined by "\n". */
  payload: string;
  category: string;
  answer: OracleAnswer;
  diagnostics: OracleDiagnostic[];
  /**
   * For stream records: the diagnostics rustc's lexer gives the same text lexed with real
   * spans (through `Literal::from_str`, which lexes it whole first).
   */
  sourced?: OracleDiagnostic[];
  /** For valid stream snippets: the trees with byte ranges from real source, relative to the snippet. */
  spans?: OracleTree[];
}

export function loadCorpus(): Corpus {
  return JSON.parse(readFileSync(CORPUS_FILE, "utf8")) as Corpus;
}

function cacheRoot(): string {
  return process.env.MACROBOX_CACHE ?? join(homedir(), ".cache/macrobox");
}

function sha(...parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex").slice(0, 16);
}

/**
 * Builds the oracle proc macro for one edition (once per rustc version, oracle source and
 * edition); returns the .so path. The edition matters: `TokenStream::from_str` gives its
 * tokens the call-site span, whose edition is the *macro crate's* edition, and that decides
 * reserved prefixes, c-strings, raw lifetimes and guarded strings.
 */
export function buildOracle(edition: Edition): { lib: string; dir: string } {
  const version = execFileSync(RUSTC, ["-vV"], { encoding: "utf8" });
  const lib_rs = readFileSync(join(ORACLE_DIR, "src/lib.rs"), "utf8");
  const manifest = readFileSync(join(ORACLE_DIR, "Cargo.toml"), "utf8").replace(/^edition = "\d+"$/m, `edition = "${edition}"`);
  const dir = join(cacheRoot(), "lexer-oracle", sha(version, lib_rs, manifest));
  const lib = join(dir, "target/release/liblexer_oracle.so");
  if (!existsSync(lib)) {
    // Builds of an older oracle source or toolchain are of no further use; those of the last
    // hour are kept, as a concurrent test run may still be using them.
    const sourceKey = sha(version, lib_rs);
    const root = join(cacheRoot(), "lexer-oracle");
    if (existsSync(root)) {
      for (const d of readdirSync(root)) {
        const marker = join(root, d, "source-key");
        const stale = !existsSync(marker) || (readFileSync(marker, "utf8") !== sourceKey && Date.now() - statSync(marker).mtimeMs > 3_600_000);
        if (stale) rmSync(join(root, d), { recursive: true, force: true });
      }
    }
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "source-key"), sourceKey);
    const crate = join(dir, "crate");
    mkdirSync(join(crate, "src"), { recursive: true });
    writeFileSync(join(crate, "Cargo.toml"), manifest);
    writeFileSync(join(crate, "src/lib.rs"), lib_rs);
    const r = spawnSync(CARGO, ["build", "--release", "--offline", "--quiet", "--manifest-path", join(crate, "Cargo.toml")], {
      // byte_range is unstable: RUSTC_BOOTSTRAP lets the stable 1.96 compiler build this test oracle.
      env: { ...process.env, RUSTC, RUSTC_BOOTSTRAP: "1", CARGO_TARGET_DIR: join(dir, "target") },
      encoding: "utf8",
    });
    if (r.status !== 0 || !existsSync(lib)) throw new Error(`building the lexer oracle failed:\n${r.stderr}`);
  }
  return { lib, dir };
}

export interface InputRecord {
  kind: "stream" | "literal" | "built";
  payload: string;
  category: string;
}

export function corpusRecords(corpus: Corpus): InputRecord[] {
  const out: InputRecord[] = [];
  for (const [category, list] of Object.entries(corpus.streams)) for (const s of list) out.push({ kind: "stream", payload: s, category });
  for (const s of corpus.literals) out.push({ kind: "literal", payload: s, category: "literal" });
  for (const items of corpus.built) out.push({ kind: "built", payload: items.join("\n"), category: "built" });
  return out;
}

function encodeInput(records: InputRecord[]): Buffer {
  const parts: Buffer[] = [];
  records.forEach((r, i) => {
    const payload = Buffer.from(r.payload, "utf8");
    parts.push(Buffer.from(`${r.kind} ${i} ${payload.length}\n`), payload, Buffer.from("\n"));
  });
  return Buffer.concat(parts);
}

const IGNORED_MESSAGES = [/^aborting due to/, /^For more information/, /^Some errors have detailed explanations/, /^the compiler unexpectedly panicked/];

/** Runs rustc on a driver; returns the lines of its stderr (written to a file: it can be huge). */
function runRustc(lib: string, driver: string, input: string, out: string, edition: Edition): string[] {
  const errFile = join(out, "stderr.txt");
  const fd = openSync(errFile, "w");
  try {
    spawnSync(
      RUSTC,
      ["--edition", edition, "--crate-type", "lib", "--error-format=json", "--extern", `lexer_oracle=${lib}`, driver, "-o", join(out, "driver.rlib")],
      { env: { ...process.env, MACROBOX_ORACLE_INPUT: input, MACROBOX_ORACLE_OUT: out, RUST_BACKTRACE: "0" }, stdio: ["ignore", "ignore", fd] },
    );
  } finally {
    closeSync(fd);
  }
  const buf = readFileSync(errFile);
  const lines: string[] = [];
  for (let start = 0; start < buf.length;) {
    let end = buf.indexOf(10, start);
    if (end < 0) end = buf.length;
    lines.push(buf.toString("utf8", start, end));
    start = end + 1;
  }
  return lines;
}

/**
 * Diagnostics rustc emitted, by driver line (1-based). `TokenStream::from_str` reports at the
 * call site (the probe's line). `Literal::from_str` lexes a file of its own, named
 * `<proc-macro source code>`, with real spans: those are attributed to the record whose
 * marker warning (`macrobox-probe K`, emitted first by each probe) precedes them.
 */
function collectDiagnostics(stderr: string[], records: InputRecord[]): { byLine: Map<number, OracleDiagnostic[]>; sourced: Map<number, OracleDiagnostic[]> } {
  // Lints and stashed diagnostics come after every probe has run. Those of stream records
  // carry the record's tag; those of literal records are found by their source line.
  const literalByLine = new Map<string, number>();
  records.forEach((r, i) => {
    if (r.kind === "literal") literalByLine.set(r.payload.split("\n")[0], i);
  });
  const byLine = new Map<number, OracleDiagnostic[]>();
  const sourced = new Map<number, OracleDiagnostic[]>();
  let current = -1;
  const add = (m: Map<number, OracleDiagnostic[]>, k: number, d: OracleDiagnostic) => {
    const list = m.get(k) ?? [];
    list.push(d);
    m.set(k, list);
  };
  for (const line of stderr) {
    if (!line.startsWith("{")) continue;
    let d: {
      $message_type?: string;
      message: string;
      level: string;
      spans: { line_start: number; is_primary: boolean; file_name: string; byte_start: number; byte_end: number; text: { text: string }[] }[];
    };
    try {
      d = JSON.parse(line);
    } catch {
      continue;
    }
    if (d.$message_type !== "diagnostic" || IGNORED_MESSAGES.some((re) => re.test(d.message))) continue;
    const marker = /^macrobox-probe (\d+)$/.exec(d.message);
    if (marker) {
      current = Number(marker[1]);
      continue;
    }
    const span = d.spans.find((s) => s.is_primary) ?? d.spans[0];
    if (!span) continue;
    if (span.file_name === "<proc-macro source code>") {
      // Stashed diagnostics come at the very end: the record tag on their first line says whose.
      const firstLine = span.line_start === 1 ? (span.text[0]?.text ?? "") : "";
      const tagged = /^\/\*(\d+)\*\//.exec(firstLine);
      const late = current === records.length - 1 && literalByLine.get(firstLine);
      const owner = tagged ? Number(tagged[1]) : late !== undefined && late !== false ? late : current;
      add(sourced, owner, { level: d.level, message: d.message, lo: span.byte_start, hi: span.byte_end });
    } else add(byLine, span.line_start, { level: d.level, message: d.message });
  }
  return { byLine, sourced };
}

/** rustc's answers for every corpus record, for one edition (cached). */
export function runOracle(corpus: Corpus, edition: Edition): OracleRecord[] {
  return runOracleRecords(corpusRecords(corpus), edition, "corpus");
}

/**
 * rustc's answers for the given records, for one edition (cached by content; `tag` names the
 * record set, so a changed set replaces its own stale cache file).
 */
export function runOracleRecords(records: InputRecord[], edition: Edition, tag: string): OracleRecord[] {
  const { lib, dir } = buildOracle(edition);
  const input = encodeInput(records);
  const prefix = `answers-${edition}-${tag}-`;
  // Keyed by the records and by this harness (which interprets rustc's output).
  const cacheFile = join(dir, `${prefix}${sha(input.toString("latin1"), readFileSync(fileURLToPath(import.meta.url), "utf8"))}.json`);
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, "utf8")) as OracleRecord[];
  for (const f of readdirSync(dir)) if (f.startsWith(prefix) || /^answers-\d+-[0-9a-f]+\.json$/.test(f)) rmSync(join(dir, f));

  const work = join(dir, `run-${edition}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const inputFile = join(work, "input.txt");
  writeFileSync(inputFile, input);
  const driver = join(work, "driver.rs");
  writeFileSync(driver, records.map((_, i) => `lexer_oracle::probe!(${i});\n`).join(""));
  const diags = collectDiagnostics(runRustc(lib, driver, inputFile, work, edition), records);

  const answers = new Map<number, OracleAnswer>();
  for (const f of readdirSync(work)) {
    const m = /^(\d+)\.json$/.exec(f);
    if (m) answers.set(Number(m[1]), JSON.parse(readFileSync(join(work, f), "utf8")) as OracleAnswer);
  }
  const result: OracleRecord[] = records.map((r, i) => {
    const answer = answers.get(i);
    if (!answer) throw new Error(`oracle gave no answer for record ${i} (${JSON.stringify(r.payload)})`);
    const tag = `/*${i}*/`.length;
    const sourced = (diags.sourced.get(i) ?? []).map((d) => (r.kind === "stream" ? { ...d, lo: d.lo! - tag, hi: d.hi! - tag } : d));
    if (r.kind === "literal") return { ...r, answer, diagnostics: [...(diags.byLine.get(i + 1) ?? []), ...sourced] };
    // (The oracle lexes only small texts a second time: see its `probe`.)
    return { ...r, answer, diagnostics: diags.byLine.get(i + 1) ?? [], sourced: Buffer.byteLength(r.payload) <= 4096 ? sourced : undefined };
  });

  // Second pass: valid snippets placed in real source, to learn rustc's byte ranges.
  const spanDriver: string[] = [];
  const offsets = new Map<number, number>();
  let bytes = 0;
  result.forEach((r, i) => {
    if (r.kind !== "stream" || r.answer.result !== "ok" || r.diagnostics.length > 0 || r.payload.startsWith("#!") || /[\r\ufeff]/.test(r.payload)) return;
    const prefix = `lexer_oracle::spans!(${i}; `;
    offsets.set(i, bytes + Buffer.byteLength(prefix));
    const line = `${prefix}${r.payload}\n);\n`;
    spanDriver.push(line);
    bytes += Buffer.byteLength(line);
  });
  const spanFile = join(work, "spans.rs");
  writeFileSync(spanFile, spanDriver.join(""));
  runRustc(lib, spanFile, inputFile, work, edition);
  const shift = (t: OracleTree, off: number): OracleTree => {
    const mv = (r?: [number, number]): [number, number] | undefined => (r ? [r[0] - off, r[1] - off] : undefined);
    if (t.t === "group") return { ...t, open: mv(t.open), close: mv(t.close), entire: mv(t.entire), s: t.s.map((x) => shift(x, off)) };
    return { ...t, span: mv(t.span) };
  };
  for (const [i, off] of offsets) {
    const f = join(work, `spans-${i}.json`);
    if (!existsSync(f)) continue;
    const got = JSON.parse(readFileSync(f, "utf8")) as { trees: OracleTree[] };
    result[i].spans = got.trees.map((t) => shift(t, off));
  }

  writeFileSync(cacheFile, JSON.stringify(result));
  rmSync(work, { recursive: true, force: true });
  return result;
}

/** `LitKind`'s Debug text as the oracle prints it: raw kinds carry their hash count. */
export function litKindDebug(kind: string, hashes: number): string {
  return kind === "StrRaw" || kind === "ByteStrRaw" || kind === "CStrRaw" ? `${kind}(${hashes})` : kind;
}

/**
 * Our token trees in the oracle's shape, for comparison with its answers. With `range`, every
 * span is given as the byte range it stands for.
 */
export function oracleTrees(stream: TokenStream, range?: (span: number) => [number, number]): OracleTree[] {
  return stream.map((tt): OracleTree => {
    const at = (span: number) => (range ? { span: range(span) } : {});
    switch (tt.type) {
      case "group":
        return range
          ? {
              t: "group",
              d: tt.delimiter,
              open: range(tt.span.open),
              close: range(tt.span.close),
              entire: range(tt.span.entire),
              s: oracleTrees(tt.stream, range),
            }
          : { t: "group", d: tt.delimiter, s: oracleTrees(tt.stream) };
      case "punct":
        return { t: "punct", c: tt.ch, j: tt.joint, ...at(tt.span) };
      case "ident":
        return { t: "ident", s: (tt.isRaw ? "r#" : "") + tt.sym, ...at(tt.span) };
      case "literal":
        return { t: "literal", kind: litKindDebug(tt.kind, tt.hashes), s: printLiteral(tt), suffix: tt.suffix, ...at(tt.span) };
    }
  });
}

/** What a macro gets back after collecting a stream's trees again: top-level trees lose rustc's internal spacing. */
export function rebuiltTrees(stream: TokenStream): TokenStream {
  return stream.map((tt) => {
    switch (tt.type) {
      case "group":
        return { ...tt, delimSpacing: undefined };
      case "punct":
        return { type: "punct", ch: tt.ch, joint: tt.joint, span: tt.span };
      case "ident":
        return { type: "ident", sym: tt.sym, isRaw: tt.isRaw, span: tt.span };
      case "literal":
        return { ...tt, spacing: undefined };
    }
  });
}
