// The one unescaper (tokens/escape.ts `unescapeStr`, used by compile_error! scanning and by
// expand_expr) against the one escaper: whatever rustc's escape_default and escape_debug write,
// unescaping gives back; escapes rustc does not know give null.

import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeDebugChar, escapeDefault, unescapeStr } from "../../src/tokens/escape.js";

test("unescapeStr undoes escape_default and escape_debug, continuations included, and refuses unknown escapes", () => {
  let value = "";
  for (let c = 0; c < 0x3000; c += 7) if (c < 0xd800 || c > 0xdfff) value += String.fromCodePoint(c);
  value += "\u{1F600}\u{10FFFF}\\\"'\n\r\t\0";
  const escaped = (escape: (c: number) => string) => [...value].map((ch) => escape(ch.codePointAt(0)!)).join("");
  assert.equal(unescapeStr(escaped(escapeDefault)), value);
  assert.equal(unescapeStr(escaped(escapeDebugChar)), value);
  // A backslash-newline skips the ASCII whitespace after it, and only that.
  assert.equal(unescapeStr("a\\\n \t\n  b\\x41\\u{1_F6_00}"), "abA\u{1F600}");
  assert.equal(unescapeStr("a\\\n\u3000b"), "a\u3000b");
  for (const bad of ["\\q", "tail\\", "\\u{110000}", "\\x4"]) assert.equal(unescapeStr(bad), null, bad);
});
