// The token layer against rustc 1.96 itself: every corpus snippet (test/corpus/lexer) goes
// through the native oracle proc macro (test/oracle/lexer) and through src/tokens, and the
// two must agree on the TokenStream::from_str result (trees, literal kinds, errors), the
// diagnostics rustc emits, to_string() of the parsed and of the rebuilt stream, spans of
// valid snippets, Literal::from_str, and to_string() of streams built with the API.
//
// Differences that are known and not fixed are listed in KNOWN_DIFFERENCES with the reason;
// the test fails on any other difference, and on a listed one that no longer occurs.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  fromClientTree,
  ICE_PANIC_MESSAGE,
  normalizeAndValidateIdent,
  PUNCT_CHARS,
  parseLiteral,
  tokenStreamFromStr,
  printLiteral,
  printTokenStream,
  printTokenTree,
  type Edition,
  type LexDiagnostic,
  type TokenStream,
} from "../../src/tokens/index.js";
import { litKindDebug, loadCorpus, oracleTrees, rebuiltTrees, runOracle, type OracleRecord } from "../oracle/lexer/harness.js";

/** `edition|kind|payload|aspect` → why it differs. */
const KNOWN_DIFFERENCES: Record<string, string> = {};

type SpanRange = [number, number];
const spans: SpanRange[] = [];
const makeSpan = (lo: number, hi: number): number => spans.push([lo, hi]) - 1;

/**
 * rustc reports identifiers with emoji once per symbol per crate, after expansion (attributed
 * to the first occurrence): those are compared across the whole corpus instead.
 */
const CRATE_LEVEL = /^(identifiers cannot contain emoji: |Ferris cannot be used as an identifier)/;
const crateLevel = { ours: [] as { level: string; message: string }[], theirs: [] as { level: string; message: string }[] };
function splitCrateLevel<T extends { message: string }>(list: T[]): [T[], T[]] {
  return [list.filter((d) => CRATE_LEVEL.test(d.message)), list.filter((d) => !CRATE_LEVEL.test(d.message))];
}

function normSpans(list: { level: string; message: string; lo?: number; hi?: number }[]): string[] {
  return [...new Set(list.map((d) => `${d.level}: ${d.message} @${d.lo}..${d.hi}`))].sort();
}

function normDiags(list: { level: string; message: string }[]): string[] {
  return [...new Set(list.map((d) => `${d.level}: ${d.message}`))].sort();
}

/** proc_macro's `Symbol::new_ident`: ASCII is checked by the client, the rest by the server. */
function clientIdent(s: string, isRaw: boolean): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) || s === "$crate") {
    const canBeRaw = !["_", "super", "self", "Self", "crate", "$crate"].includes(s);
    if (isRaw && !canBeRaw) throw new Error(`\`${s}\` cannot be a raw identifier`);
    return s;
  }
  // eslint-disable-next-line no-control-regex -- "all ASCII", NUL included
  const sym = /^[\x00-\x7f]*$/.test(s) ? null : normalizeAndValidateIdent(s);
  if (sym === null) throw new Error(`${JSON.stringify(s)} is not a valid identifier`);
  return sym;
}

/** The TS side's view of a built stream (see the oracle's `build`). */
function buildStream(items: string[], edition: Edition): TokenStream {
  const stack: { delim: string; trees: TokenStream }[] = [{ delim: "<", trees: [] }];
  const DELIMS: Record<string, "Parenthesis" | "Bracket" | "Brace" | "None"> = { "(": "Parenthesis", "[": "Bracket", "{": "Brace", "<": "None" };
  for (const item of items) {
    const tag = item[0];
    const rest = item.slice(1);
    const top = stack[stack.length - 1].trees;
    const span = makeSpan(0, 0);
    switch (tag) {
      case "P":
      case "J":
        // Punct::new panics on anything else.
        if (rest.length !== 1 || !PUNCT_CHARS.includes(rest)) throw new Error(`unsupported character ${rest}`);
        top.push(...fromClientTree({ type: "punct", ch: rest, joint: tag === "J", span }));
        break;
      case "I":
      case "R":
        top.push(...fromClientTree({ type: "ident", sym: clientIdent(rest, tag === "R"), isRaw: tag === "R", span }));
        break;
      case "L": {
        const r = parseLiteral(rest, span, { edition });
        if (!r.ok) throw new Error(`built literal ${rest}: ${r.error}`);
        top.push(...fromClientTree(r.literal));
        break;
      }
      case "S": {
        const r = tokenStreamFromStr(rest, makeSpan, { edition });
        if (!r.ok) throw new Error(`built stream ${rest}: ${r.error.message}`);
        top.push(...r.stream);
        break;
      }
      case "(":
      case "[":
      case "{":
      case "<":
        stack.push({ delim: tag, trees: [] });
        break;
      default: {
        const frame = stack.pop()!;
        stack[stack.length - 1].trees.push(
          ...fromClientTree({ type: "group", delimiter: DELIMS[frame.delim], stream: frame.trees, span: { open: span, close: span, entire: span } }),
        );
      }
    }
  }
  return stack[0].trees;
}

function compareRecord(r: OracleRecord, edition: Edition, problems: Map<string, string>): void {
  const a = r.answer;
  const key = (aspect: string) => `${edition}|${r.kind}|${r.payload}|${aspect}`;
  const check = (aspect: string, ours: unknown, theirs: unknown) => {
    try {
      assert.deepEqual(ours, theirs);
    } catch {
      problems.set(key(aspect), `ours:   ${JSON.stringify(ours)}\nrustc:  ${JSON.stringify(theirs)}`);
    }
  };
  spans.length = 0;
  if (r.kind === "stream") {
    const res = tokenStreamFromStr(r.payload, makeSpan, { edition });
    const diags: LexDiagnostic[] = res.diagnostics;
    const fatalDiag = !res.ok && res.error.kind === "fatal" ? [{ level: "error", message: res.error.message, lo: res.error.lo, hi: res.error.hi }] : [];
    const [ourCrate, ourOwn] = splitCrateLevel([...diags, ...fatalDiag]);
    const [theirCrate, theirOwn] = splitCrateLevel(r.diagnostics);
    crateLevel.ours.push(...ourCrate);
    crateLevel.theirs.push(...theirCrate);
    check("diagnostics", normDiags(ourOwn), normDiags(theirOwn));
    // Where: the byte ranges rustc's lexer gives when it lexes the same text with real spans,
    // which `Literal::from_str` does first (so it is our parseLiteral's lexing stage).
    if (r.sourced && !/[\r\ufeff]/.test(r.payload)) {
      const [theirCrateSourced, theirSourced] = splitCrateLevel(r.sourced);
      const [ourCrateSourced, ourSourced] = splitCrateLevel(parseLiteral(r.payload, 0, { edition }).diagnostics);
      crateLevel.theirs.push(...theirCrateSourced);
      crateLevel.ours.push(...ourCrateSourced);
      check("diagnostic spans", normSpans(ourSourced), normSpans(theirSourced));
    }
    if (a.result === "ok") {
      if (!res.ok) return void check("result", res.error, "ok");
      check("trees", oracleTrees(res.stream), a.trees);
      check("display", printTokenStream(res.stream, { edition }), a.display);
      check("rebuilt", printTokenStream(rebuiltTrees(res.stream), { edition }), a.rebuilt);
      check(
        "pieces",
        res.stream.map((tt) => printTokenTree(tt, { edition })),
        a.pieces,
      );
      if (r.spans)
        check(
          "spans",
          oracleTrees(res.stream, (i) => spans[i]),
          r.spans,
        );
    } else if (a.result === "err") {
      check("result", res.ok ? "ok" : { kind: res.error.kind, message: res.error.message }, { kind: "lex", message: a.message });
    } else {
      const theirs = a.message === ICE_PANIC_MESSAGE ? "ice" : a.message === "<non-string panic>" ? "fatal" : `panic ${a.message}`;
      check("result", res.ok ? "ok" : res.error.kind, theirs);
    }
  } else if (r.kind === "literal") {
    const res = parseLiteral(r.payload, makeSpan(0, 0), { edition });
    const [ourCrate, ourOwn] = splitCrateLevel(res.diagnostics);
    const [theirCrate, theirOwn] = splitCrateLevel(r.diagnostics);
    crateLevel.ours.push(...ourCrate);
    crateLevel.theirs.push(...theirCrate);
    check("diagnostics", normDiags(ourOwn), normDiags(theirOwn));
    if (!/[\r\ufeff]/.test(r.payload)) check("diagnostic spans", normSpans(ourOwn), normSpans(theirOwn));
    if (a.result === "ok") {
      if (!res.ok) return void check("result", res, "ok");
      check(
        "literal",
        { kind: litKindDebug(res.literal.kind, res.literal.hashes), s: printLiteral(res.literal), suffix: res.literal.suffix },
        { kind: a.kind, s: a.s, suffix: a.suffix },
      );
      check("display", printTokenStream([res.literal], { edition }), a.display);
    } else if (a.result === "err") {
      check("result", res.ok ? "ok" : res.kind === "lex" ? res.error : res.kind, a.message);
    } else {
      const theirs = a.message === ICE_PANIC_MESSAGE ? "ice" : a.message === "<non-string panic>" ? "fatal" : `panic ${a.message}`;
      check("result", res.ok ? "ok" : res.kind, theirs);
    }
  } else {
    let stream: TokenStream;
    try {
      stream = buildStream(r.payload.split("\n"), edition);
    } catch (e) {
      return void check("build", `failed: ${String(e)}`, a.result === "panic" ? `failed: ${String(e)}` : a.result);
    }
    check("trees", oracleTrees(stream), a.trees);
    check("display", printTokenStream(stream, { edition }), a.display);
    check(
      "pieces",
      stream.map((tt) => printTokenTree(tt, { edition })),
      a.pieces,
    );
  }
}

const corpus = loadCorpus();
const counts = Object.values(corpus.streams).reduce((n, l) => n + l.length, 0) + corpus.literals.length + corpus.built.length;

test("the corpus has at least 300 snippets", () => {
  assert.ok(counts >= 300, `only ${counts} snippets`);
});

for (const edition of ["2021", "2015", "2018", "2024"] as Edition[]) {
  test(`tokens agree with rustc 1.96 (edition ${edition}) on every corpus snippet`, { timeout: 600_000 }, () => {
    const records = runOracle(corpus, edition);
    const problems = new Map<string, string>();
    crateLevel.ours = [];
    crateLevel.theirs = [];
    for (const r of records) compareRecord(r, edition, problems);
    try {
      assert.deepEqual(normDiags(crateLevel.ours), normDiags(crateLevel.theirs));
    } catch {
      problems.set(
        `${edition}|crate|*|diagnostics`,
        `ours:   ${JSON.stringify(normDiags(crateLevel.ours))}\nrustc:  ${JSON.stringify(normDiags(crateLevel.theirs))}`,
      );
    }
    const unexpected = [...problems].filter(([k]) => !(k in KNOWN_DIFFERENCES));
    const fixed = Object.keys(KNOWN_DIFFERENCES).filter((k) => k.startsWith(edition + "|") && !problems.has(k));
    const report = unexpected.map(([k, v]) => `--- ${JSON.stringify(k)}\n${v}`).join("\n");
    assert.equal(unexpected.length, 0, `${unexpected.length} difference(s) from rustc:\n${report}`);
    assert.deepEqual(fixed, [], "known differences that no longer occur: remove them from KNOWN_DIFFERENCES");
  });
}
