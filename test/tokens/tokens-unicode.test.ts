// Identifier character classes against rustc 1.96: every code point of planes 0-3 and 14 is
// lexed after an identifier start (`xC`, XID_Continue) and on its own before one (`Cx`,
// XID_Start and emoji recovery) by rustc's `TokenStream::from_str` (native oracle) and by
// src/tokens. The JS engine's Unicode tables (ICU) must classify them as rustc's
// unicode-ident / unicode-properties do; code points the two Unicode versions disagree on
// are listed in KNOWN_UNICODE_DIFFERENCES. The same code points in doc comments check the
// `char::escape_debug` rustc applies to doc-comment text (printability, grapheme extenders).

import assert from "node:assert/strict";
import { test } from "node:test";
import { tokenStreamFromStr } from "../../src/tokens/index.js";
import { CONFUSABLES } from "../../src/tokens/confusables.js";
import { oracleTrees, runOracleRecords, type InputRecord, type OracleRecord } from "../oracle/lexer/harness.js";

/** Code points whose classes differ between Node's ICU and rustc's Unicode tables. */
const KNOWN_UNICODE_DIFFERENCES: Record<string, string> = {};

const RANGES: [number, number][] = [
  [0x80, 0xffff],
  [0x10000, 0x3ffff],
  [0xe0000, 0xeffff],
];
const CHUNK = 0x4000;

/** Every tree where our lexer and rustc disagree (the first 40 or so), with the record's category. */
function treeDifferences(answers: OracleRecord[]): string[] {
  const problems: string[] = [];
  for (const r of answers) {
    const ours = tokenStreamFromStr(r.payload, () => 0);
    if (r.answer.result !== "ok" || !ours.ok) {
      problems.push(`${r.category}: rustc ${r.answer.result}, ours ${ours.ok ? "ok" : ours.error.message}`);
      continue;
    }
    const a = oracleTrees(ours.stream);
    const b = r.answer.trees!;
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) {
        problems.push(`${r.category}: tree ${i}: ours ${JSON.stringify(a[i])}, rustc ${JSON.stringify(b[i] ?? null)}`);
        if (problems.length > 40) break;
      }
    }
  }
  return problems;
}

function chunkSource(from: number, to: number, asStart: boolean): string {
  const parts: string[] = [];
  for (let cp = from; cp < to; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    // Confusables rustc recovers as delimiters would unbalance the stream: left out here,
    // they are in the corpus.
    const sub = CONFUSABLES.get(cp);
    if (sub && "()[]{}".includes(sub)) continue;
    const c = String.fromCodePoint(cp);
    parts.push(asStart ? `${c}x` : `x${c}`);
  }
  return parts.join(" ");
}

test("identifier character classes agree with rustc for planes 0-3 and 14", { timeout: 600_000 }, () => {
  const records: InputRecord[] = [];
  for (const [lo, hi] of RANGES) {
    for (let from = lo; from <= hi; from += CHUNK) {
      const to = Math.min(from + CHUNK, hi + 1);
      for (const asStart of [false, true]) {
        records.push({
          kind: "stream",
          payload: chunkSource(from, to, asStart),
          category: `${asStart ? "start" : "continue"} ${from.toString(16)}-${to.toString(16)}`,
        });
      }
    }
  }
  const answers = runOracleRecords(records, "2021", "unicode");
  const problems: string[] = [];
  for (const r of answers) {
    const ours = tokenStreamFromStr(r.payload, () => 0);
    if (r.answer.result !== "ok" || !ours.ok) {
      problems.push(`${r.category}: rustc ${r.answer.result}, ours ${ours.ok ? "ok" : ours.error.message}`);
      continue;
    }
    const a = oracleTrees(ours.stream);
    const b = r.answer.trees!;
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) {
        const at = JSON.stringify(b[i] ?? null);
        if (!(at in KNOWN_UNICODE_DIFFERENCES)) problems.push(`${r.category}: tree ${i}: ours ${JSON.stringify(a[i])}, rustc ${at}`);
        break;
      }
    }
  }
  assert.deepEqual(problems, [], problems.join("\n"));
});

test("doc comments escape every code point of planes 0-3 and 14 as rustc does", { timeout: 600_000 }, () => {
  const records: InputRecord[] = [];
  for (const [lo, hi] of RANGES) {
    for (let from = lo; from <= hi; from += CHUNK) {
      const to = Math.min(from + CHUNK, hi + 1);
      // 64 code points per doc comment keeps rustc's answer small.
      const lines: string[] = [];
      let line = "";
      for (let cp = from; cp < to; cp++) {
        // (CR is an error in doc comments and LF ends them: both are in the corpus.)
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp === 0x0a || cp === 0x0d) continue;
        line += String.fromCodePoint(cp);
        if (line.length >= 64) {
          lines.push(`///${line}`);
          line = "";
        }
      }
      if (line) lines.push(`///${line}`);
      records.push({ kind: "stream", payload: lines.join("\n"), category: `doc ${from.toString(16)}-${to.toString(16)}` });
    }
  }
  const answers = runOracleRecords(records, "2021", "unicode-doc");
  const problems = treeDifferences(answers);
  assert.deepEqual(problems, [], problems.join("\n"));
});

test("identifiers are NFC-normalised as rustc normalises them (every decomposable code point)", { timeout: 600_000 }, () => {
  // `x` + the NFD form of each code point that has one: rustc must recompose it (or not, for
  // composition exclusions) exactly as String.prototype.normalize does.
  const idents: string[] = [];
  for (const [lo, hi] of RANGES) {
    for (let cp = lo; cp <= hi; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      const nfd = c.normalize("NFD");
      if (nfd !== c) idents.push(`x${nfd}`);
    }
  }
  const records: InputRecord[] = [];
  for (let i = 0; i < idents.length; i += 2048) {
    records.push({ kind: "stream", payload: idents.slice(i, i + 2048).join(" "), category: `nfc ${i}` });
  }
  const answers = runOracleRecords(records, "2021", "unicode-nfc");
  const problems = treeDifferences(answers);
  assert.ok(idents.length > 2000, `only ${idents.length} decomposable code points`);
  assert.deepEqual(problems, [], problems.join("\n"));
});
