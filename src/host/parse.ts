// The public `parseTokenStream` ("macrobox"): the token layer's `TokenStream::from_str` with its
// messages as the one public `Diagnostic` type and its result in the one public result shape.
//
// The token layer reports raw UTF-8 byte ranges (src/tokens/parse.ts), which is what the bridge
// and the server use internally; this maps them to spans with lines and columns through the span
// table (src/bridge/spans.ts), as rustc counts them. Browser-safe.

import { tokenStreamFromStr, type ParseOptions as LexOptions } from "../tokens/index.js";
import type { Span, TokenStream } from "../tokens/model.js";
import { SpanTable } from "../bridge/spans.js";
import type { Diagnostic } from "../errors.js";

export interface ParseOptions extends LexOptions {
  /** The file name the diagnostics' spans name. Default "<input>". */
  file?: string;
}

/**
 * Why `TokenStream::from_str` failed (the last diagnostic is this error, with its span).
 * - `lex`: it returns `Err(LexError)` whose Display is `message` (unclosed/unexpected delimiters).
 * - `fatal`: rustc emits `message` as an error and aborts the call: the proc macro panics.
 * - `ice`: mismatched delimiters: rustc 1.96 itself panics; `message` is the diagnostic it meant to report.
 * - `depth`: groups nested deeper than `ParseOptions.maxDepth` (ours, not rustc's).
 */
export interface ParseError {
  kind: "lex" | "fatal" | "ice" | "depth";
  message: string;
}

/**
 * `diagnostics` are what rustc emits while lexing (bad escapes, unknown characters, reserved
 * prefixes, ...), then, on failure, the error itself. On success the stream is still returned,
 * but the crate using the macro gets these errors (and warnings).
 */
export type ParseResult = { ok: true; stream: TokenStream; diagnostics: Diagnostic[] } | { ok: false; error: ParseError; diagnostics: Diagnostic[] };

/** `TokenStream::from_str(src)`; `makeSpan(lo, hi)` makes the span of a UTF-8 byte range of `src`. */
export function parseTokenStream(src: string, makeSpan: (lo: number, hi: number) => Span, options: ParseOptions = {}): ParseResult {
  const lexed = tokenStreamFromStr(src, makeSpan, options);
  const raw: { level: "error" | "warning"; message: string; lo: number; hi: number }[] = [...lexed.diagnostics];
  if (!lexed.ok) raw.push({ level: "error", message: lexed.error.message, lo: lexed.error.lo, hi: lexed.error.hi });
  const diagnostics = raw.length === 0 ? [] : toDiagnostics(src, options.file ?? "<input>", raw);
  if (lexed.ok) return { ok: true, stream: lexed.stream, diagnostics };
  return { ok: false, error: { kind: lexed.error.kind, message: lexed.error.message }, diagnostics };
}

function toDiagnostics(src: string, name: string, raw: { level: "error" | "warning"; message: string; lo: number; hi: number }[]): Diagnostic[] {
  const table = new SpanTable();
  const file = table.addFile(name, src);
  const toNormalized = normalizedOffsets(src);
  const size = file.bytes.length;
  const at = (b: number) => Math.min(size, Math.max(0, toNormalized(b)));
  // Lines and columns from the table; lo..hi stay the caller's offsets (those makeSpan got), as
  // rustc's JSON diagnostics count bytes of the file as given.
  return raw.map((d) => ({
    level: d.level,
    message: d.message,
    spans: [{ ...table.location(table.span(file, at(d.lo), Math.max(at(d.lo), at(d.hi)))), lo: d.lo, hi: d.hi }],
    children: [],
  }));
}

/**
 * The lexer's byte offsets are into the caller's text; the span table's are into the text as
 * rustc normalises it (no BOM, CRLF as LF): subtract the BOM and every CR of a CRLF before `b`.
 */
function normalizedOffsets(src: string): (b: number) => number {
  const bom = src.charCodeAt(0) === 0xfeff ? 3 : 0;
  const crs: number[] = [];
  const utf8 = new TextEncoder();
  let bytes = 0;
  let last = 0;
  for (let i = src.indexOf("\r\n"); i >= 0; i = src.indexOf("\r\n", i + 2)) {
    bytes += utf8.encode(src.slice(last, i)).length;
    crs.push(bytes);
    last = i;
  }
  return (b: number) => {
    let lo = 0; // CRs before b (binary search)
    let hi = crs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (crs[mid] < b) lo = mid + 1;
      else hi = mid;
    }
    return b - bom - lo;
  };
}
