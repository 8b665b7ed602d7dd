// The raw lexer (src/tokens/lexer.ts) against rustc_lexer's own unit tests
// (/usr/src/rustc-1.96.0/compiler/rustc_lexer/src/tests.rs, rustc 1.96): the same inputs must
// give the same tokens, printed in rustc_lexer's Debug form, and the same shebang lengths.
// The expected texts below are copied from that file (FrontmatterAllowed::No cases only:
// `TokenStream::from_str` never allows frontmatter).

import assert from "node:assert/strict";
import { test } from "node:test";
import { DocStyle, Lit, Raw, RawCursor, shebangLength } from "../../src/tokens/index.js";
import { utf8Length } from "../../src/tokens/unicode.js";

const SINGLE_NAMES: Record<string, string> = {
  ";": "Semi",
  ",": "Comma",
  ".": "Dot",
  "(": "OpenParen",
  ")": "CloseParen",
  "{": "OpenBrace",
  "}": "CloseBrace",
  "[": "OpenBracket",
  "]": "CloseBracket",
  "@": "At",
  "#": "Pound",
  "~": "Tilde",
  "?": "Question",
  ":": "Colon",
  $: "Dollar",
  "=": "Eq",
  "!": "Bang",
  "<": "Lt",
  ">": "Gt",
  "-": "Minus",
  "&": "And",
  "|": "Or",
  "+": "Plus",
  "*": "Star",
  "/": "Slash",
  "^": "Caret",
  "%": "Percent",
};
const BASES: Record<number, string> = { 2: "Binary", 8: "Octal", 10: "Decimal", 16: "Hexadecimal" };

function docStyle(d: DocStyle): string {
  return d === DocStyle.None ? "None" : d === DocStyle.Outer ? "Some(Outer)" : "Some(Inner)";
}

/** rustc_lexer's `{:?}` of the cursor's current token. */
function debugToken(c: RawCursor): string {
  const src = c.src;
  const len = utf8Length(src, c.start, c.end);
  let kind: string;
  switch (c.kind) {
    case Raw.LineComment:
      kind = `LineComment { doc_style: ${docStyle(c.docStyle)} }`;
      break;
    case Raw.BlockComment:
      kind = `BlockComment { doc_style: ${docStyle(c.docStyle)}, terminated: ${c.terminated} }`;
      break;
    case Raw.Whitespace:
      kind = "Whitespace";
      break;
    case Raw.Ident:
      kind = "Ident";
      break;
    case Raw.InvalidIdent:
      kind = "InvalidIdent";
      break;
    case Raw.RawIdent:
      kind = "RawIdent";
      break;
    case Raw.UnknownPrefix:
      kind = "UnknownPrefix";
      break;
    case Raw.UnknownPrefixLifetime:
      kind = "UnknownPrefixLifetime";
      break;
    case Raw.RawLifetime:
      kind = "RawLifetime";
      break;
    case Raw.GuardedStrPrefix:
      kind = "GuardedStrPrefix";
      break;
    case Raw.Lifetime:
      kind = `Lifetime { starts_with_number: ${c.startsWithNumber} }`;
      break;
    case Raw.Single:
      kind = SINGLE_NAMES[String.fromCharCode(c.ch)];
      break;
    case Raw.Unknown:
      kind = "Unknown";
      break;
    case Raw.Literal: {
      const n = c.nHashes < 0 ? "None" : `Some(${c.nHashes})`;
      const lit = {
        [Lit.Int]: `Int { base: ${BASES[c.base]}, empty_int: ${c.emptyInt} }`,
        [Lit.Float]: `Float { base: ${BASES[c.base]}, empty_exponent: ${c.emptyExponent} }`,
        [Lit.Char]: `Char { terminated: ${c.terminated} }`,
        [Lit.Byte]: `Byte { terminated: ${c.terminated} }`,
        [Lit.Str]: `Str { terminated: ${c.terminated} }`,
        [Lit.ByteStr]: `ByteStr { terminated: ${c.terminated} }`,
        [Lit.CStr]: `CStr { terminated: ${c.terminated} }`,
        [Lit.RawStr]: `RawStr { n_hashes: ${n} }`,
        [Lit.RawByteStr]: `RawByteStr { n_hashes: ${n} }`,
        [Lit.RawCStr]: `RawCStr { n_hashes: ${n} }`,
      }[c.lit];
      kind = `Literal { kind: ${lit}, suffix_start: ${utf8Length(src, c.start, c.suffixStart)} }`;
      break;
    }
    default:
      throw new Error(`unexpected raw kind ${c.kind}`);
  }
  return `Token { kind: ${kind}, len: ${len} }`;
}

function lex(src: string): string {
  const c = new RawCursor(src);
  const out: string[] = [];
  while (c.advance() !== Raw.Eof) out.push(debugToken(c));
  return out.join("\n");
}

/** An `expect![[r#"..."#]]` block: its lines, unindented. */
function expected(block: string): string {
  return block
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l)
    .join("\n");
}

test("smoke_test", () => {
  assert.equal(
    lex('/* my source file */ fn main() { println!("zebra"); }\n'),
    expected(`
            Token { kind: BlockComment { doc_style: None, terminated: true }, len: 20 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Ident, len: 2 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Ident, len: 4 }
            Token { kind: OpenParen, len: 1 }
            Token { kind: CloseParen, len: 1 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: OpenBrace, len: 1 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Ident, len: 7 }
            Token { kind: Bang, len: 1 }
            Token { kind: OpenParen, len: 1 }
            Token { kind: Literal { kind: Str { terminated: true }, suffix_start: 7 }, len: 7 }
            Token { kind: CloseParen, len: 1 }
            Token { kind: Semi, len: 1 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: CloseBrace, len: 1 }
            Token { kind: Whitespace, len: 1 }`),
  );
});

test("comment_flavors", () => {
  const src =
    "\n// line\n//// line as well\n/// outer doc line\n//! inner doc line\n/* block */\n/**/\n/*** also block */\n/** outer doc block */\n/*! inner doc block */\n";
  assert.equal(
    lex(src),
    expected(`
            Token { kind: Whitespace, len: 1 }
            Token { kind: LineComment { doc_style: None }, len: 7 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: LineComment { doc_style: None }, len: 17 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: LineComment { doc_style: Some(Outer) }, len: 18 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: LineComment { doc_style: Some(Inner) }, len: 18 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: BlockComment { doc_style: None, terminated: true }, len: 11 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: BlockComment { doc_style: None, terminated: true }, len: 4 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: BlockComment { doc_style: None, terminated: true }, len: 18 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: BlockComment { doc_style: Some(Outer), terminated: true }, len: 22 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: BlockComment { doc_style: Some(Inner), terminated: true }, len: 22 }
            Token { kind: Whitespace, len: 1 }`),
  );
});

test("nested_block_comments", () => {
  assert.equal(
    lex("/* /* */ */'a'"),
    expected(`
            Token { kind: BlockComment { doc_style: None, terminated: true }, len: 11 }
            Token { kind: Literal { kind: Char { terminated: true }, suffix_start: 3 }, len: 3 }`),
  );
});

test("characters", () => {
  assert.equal(
    lex("'a' ' ' '\\n'"),
    expected(`
            Token { kind: Literal { kind: Char { terminated: true }, suffix_start: 3 }, len: 3 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Char { terminated: true }, suffix_start: 3 }, len: 3 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Char { terminated: true }, suffix_start: 4 }, len: 4 }`),
  );
});

test("lifetime", () => {
  assert.equal(lex("'abc"), "Token { kind: Lifetime { starts_with_number: false }, len: 4 }");
});

test("raw_string", () => {
  assert.equal(lex('r###""#a\\b\x00c""###'), "Token { kind: Literal { kind: RawStr { n_hashes: Some(3) }, suffix_start: 17 }, len: 17 }");
});

test("literal_suffixes", () => {
  const src = '\n\'a\'\nb\'a\'\n"a"\nb"a"\n1234\n0b101\n0xABC\n1.0\n1.0e10\n2us\nr###"raw"###suffix\nbr###"raw"###suffix\n';
  assert.equal(
    lex(src),
    expected(`
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Char { terminated: true }, suffix_start: 3 }, len: 3 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Byte { terminated: true }, suffix_start: 4 }, len: 4 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Str { terminated: true }, suffix_start: 3 }, len: 3 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: ByteStr { terminated: true }, suffix_start: 4 }, len: 4 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Int { base: Decimal, empty_int: false }, suffix_start: 4 }, len: 4 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Int { base: Binary, empty_int: false }, suffix_start: 5 }, len: 5 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Int { base: Hexadecimal, empty_int: false }, suffix_start: 5 }, len: 5 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Float { base: Decimal, empty_exponent: false }, suffix_start: 3 }, len: 3 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Float { base: Decimal, empty_exponent: false }, suffix_start: 6 }, len: 6 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Int { base: Decimal, empty_int: false }, suffix_start: 1 }, len: 3 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: RawStr { n_hashes: Some(3) }, suffix_start: 12 }, len: 18 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: RawByteStr { n_hashes: Some(3) }, suffix_start: 13 }, len: 19 }
            Token { kind: Whitespace, len: 1 }`),
  );
});

test("frontmatter_disallowed", () => {
  const src = '\n---cargo\n[dependencies]\nclap = "4"\n---\n\nfn main() {}\n';
  assert.equal(
    lex(src),
    expected(`
            Token { kind: Whitespace, len: 1 }
            Token { kind: Minus, len: 1 }
            Token { kind: Minus, len: 1 }
            Token { kind: Minus, len: 1 }
            Token { kind: Ident, len: 5 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: OpenBracket, len: 1 }
            Token { kind: Ident, len: 12 }
            Token { kind: CloseBracket, len: 1 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Ident, len: 4 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Eq, len: 1 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Literal { kind: Str { terminated: true }, suffix_start: 3 }, len: 3 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Minus, len: 1 }
            Token { kind: Minus, len: 1 }
            Token { kind: Minus, len: 1 }
            Token { kind: Whitespace, len: 2 }
            Token { kind: Ident, len: 2 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: Ident, len: 4 }
            Token { kind: OpenParen, len: 1 }
            Token { kind: CloseParen, len: 1 }
            Token { kind: Whitespace, len: 1 }
            Token { kind: OpenBrace, len: 1 }
            Token { kind: CloseBrace, len: 1 }
            Token { kind: Whitespace, len: 1 }`),
  );
});

test("raw strings: hash counts and errors (check_raw_str cases)", () => {
  const check = (s: string) => {
    const c = new RawCursor("r" + s);
    c.advance();
    return c.nHashes;
  };
  assert.equal(check('"abc"'), 0);
  assert.equal(check('"abc"#'), 0);
  assert.equal(check('#"abc"##'), 1);
  assert.equal(check('#"abc'), -1);
  assert.equal(check('##"abc"#'), -1);
  assert.equal(check('#~"abc"#'), -1);
  assert.equal(check('"'), -1);
  const h255 = "#".repeat(255);
  const h256 = "#".repeat(256);
  assert.equal(check(`${h255}"abc"${h255}`), 255);
  assert.equal(check(`${h256}"abc"${h256}`), -1);
  const why = (s: string) => new RawCursor("r" + s, 1).rawDoubleQuotedString(1);
  assert.deepEqual(why('##"abc"#'), { kind: "NoTerminator", expected: 2, found: 1 });
  assert.deepEqual(why('##"abc#'), { kind: "NoTerminator", expected: 2, found: 0 });
  assert.deepEqual(why('#~"abc"#'), { kind: "InvalidStarter", badChar: "~".charCodeAt(0) });
  assert.deepEqual(why(`${h256}"abc"${h256}`), { kind: "TooManyDelimiters", found: 256 });
});

test("test_valid_shebang", () => {
  const cases: [string, number | null][] = [
    ["#!/bin/bash", 11],
    ["#![attribute]", null],
    ["#!    /bin/bash", 15],
    ["#!    [attribute]", null],
    ["#! /* blah */  /bin/bash", 24],
    ["#! /* blah */  [attribute]", null],
    ["#! // blah\n/bin/bash", 10],
    ["#! // blah\n[attribute]", null],
    ["#! /* blah\nblah\nblah */  /bin/bash", 10],
    ["#! /* blah\nblah\nblah */  [attribute]", null],
    ["#!\n/bin/sh", 2],
    ["#!\n[attribute]", null],
    ["\n#!/bin/bash", null],
    ["\n#![attribute]", null],
  ];
  for (const [input, len] of cases) assert.equal(shebangLength(input), len ?? 0, JSON.stringify(input));
});
