// `TokenStream::from_str` and `Literal::from_str` as rustc 1.96's proc-macro server answers
// them (rustc_expand/src/proc_macro_server.rs: ts_from_str, literal_from_str), plus
// `symbol_normalize_and_validate_ident`.
//
// The stream is built like rustc_parse::lexer::tokentrees (delimiter matching and its error
// recovery, rustc's Spacing of each token) and then converted the way the server hands trees
// to a proc macro (`FromInternal<TokenStream>`): multi-character operators split into Puncts,
// lifetimes into `'` + Ident, doc comments into `#` [`!`] `[doc = "..."]`.
//
// Browser-safe: no Node APIs here.

import { Cooker, FatalLexError, nfc, type Edition, type LexDiagnostic, type RichToken } from "./cook.js";
import { escapeDebugChar } from "./escape.js";
import type { Delimiter, Literal, Span, Spacing, TokenStream, TokenTree } from "./model.js";
import { isIdent, utf8Length } from "./unicode.js";
import { RawCursor, Raw, DocStyle } from "./lexer.js";

export type { Edition, LexDiagnostic } from "./cook.js";

export interface ParseOptions {
  /** The edition of the call site (it decides reserved prefixes, c-strings, guarded strings). Default 2021. */
  edition?: Edition;
  /**
   * Groups nested deeper than this fail the parse (kind `depth`) at the first delimiter past it,
   * before any tree is built. Default: unlimited (building trees is iterative; whoever walks the
   * result recursively should set it).
   */
  maxDepth?: number;
}

/**
 * Why `TokenStream::from_str` failed.
 * - `lex`: it returns `Err(LexError)` whose Display is `message` (unclosed/unexpected delimiters).
 * - `fatal`: rustc emits `message` as an error and aborts the call: the proc macro panics
 *   with a non-string payload (unterminated literals and block comments, bad raw strings).
 * - `ice`: mismatched delimiters. rustc 1.96 itself panics turning the diagnostic into a
 *   LexError: the proc macro sees a panic whose payload is `ICE_PANIC_MESSAGE`; `message` is
 *   the diagnostic rustc meant to report.
 * - `depth`: groups nested deeper than `ParseOptions.maxDepth` (ours, not rustc's); `lo..hi` is
 *   the first delimiter too deep.
 */
export interface LexFailure {
  kind: "lex" | "fatal" | "ice" | "depth";
  message: string;
  /** UTF-8 byte range in the source. */
  lo: number;
  hi: number;
}

/** The panic payload a proc macro sees for a mismatched delimiter in rustc 1.96. */
export const ICE_PANIC_MESSAGE = "no diagnostic has a message";

/**
 * `diagnostics` are what rustc emits while lexing without failing the call (bad escapes,
 * unknown characters, reserved prefixes, ...): the stream is still returned, but the crate
 * using the macro gets these errors (and warnings).
 */
export type ParseResult = { ok: true; stream: TokenStream; diagnostics: LexDiagnostic[] } | { ok: false; error: LexFailure; diagnostics: LexDiagnostic[] };

const CLOSE_OF: Record<string, string> = { "(": ")", "[": "]", "{": "}" };
const OPEN_OF: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
const DELIM_OF: Record<string, Delimiter> = { "(": "Parenthesis", "[": "Bracket", "{": "Brace" };

/** rustc_lexer::strip_shebang: the length (UTF-16) of a leading shebang line, or 0. */
export function shebangLength(src: string): number {
  if (!src.startsWith("#!")) return 0;
  const c = new RawCursor(src, 2);
  for (;;) {
    const k = c.advance();
    if (k === Raw.Whitespace) continue;
    if ((k === Raw.LineComment || k === Raw.BlockComment) && c.docStyle === DocStyle.None) continue;
    if (k === Raw.Single && c.ch === 0x5b) return 0;
    break;
  }
  let end = src.indexOf("\n", 2);
  if (end < 0) end = src.length;
  else if (src.charCodeAt(end - 1) === 0x0d) end--;
  return end;
}

interface Frame {
  open: RichToken;
  openSpacing: Spacing;
  trees: TokenTree[];
}

/**
 * rustc_span's normalize_src: a source file loses its BOM and has CRLF turned into LF before
 * lexing (so `"a\r\n"` is the string `a\n`). Returns the normalised text and a map from
 * its byte offsets back to the caller's.
 */
export function normalizeSource(src: string): { text: string; toOriginal: (byte: number) => number } {
  let text = src;
  let bom = 0;
  if (text.charCodeAt(0) === 0xfeff) {
    text = text.slice(1);
    bom = 3;
  }
  if (text.indexOf("\r\n") < 0) return { text, toOriginal: bom ? (b) => b + bom : (b) => b };
  // Normalised byte offsets of each LF that lost its CR.
  const lfs: number[] = [];
  let out = "";
  let last = 0;
  let bytes = 0;
  for (let i = text.indexOf("\r\n"); i >= 0; i = text.indexOf("\r\n", i + 2)) {
    const chunk = text.slice(last, i);
    bytes += utf8Length(chunk, 0, chunk.length);
    out += chunk;
    lfs.push(bytes);
    last = i + 1;
  }
  out += text.slice(last);
  const toOriginal = (b: number): number => {
    let lo = 0;
    let hi = lfs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lfs[mid] < b) lo = mid + 1;
      else hi = mid;
    }
    return b + bom + lo;
  };
  return { text: out, toOriginal };
}

/** `TokenStream::from_str(src)`; `makeSpan(lo, hi)` makes the span of a UTF-8 byte range of `src`. */
export function tokenStreamFromStr(src: string, makeSpan: (lo: number, hi: number) => Span, options: ParseOptions = {}): ParseResult {
  return lex(src, makeSpan, options, false);
}

/** `asSource`: lexed as a file of its own (Literal::from_str): no shebang stripping, bidi lints. */
function lex(src: string, makeSpan: (lo: number, hi: number) => Span, options: ParseOptions, asSource: boolean): ParseResult {
  const { text, toOriginal } = normalizeSource(src);
  const cooker = new Cooker(text, options.edition ?? "2021", asSource ? 0 : shebangLength(text), asSource);
  const span = (lo: number, hi: number) => makeSpan(toOriginal(lo), toOriginal(hi));
  const remap = <T extends { lo: number; hi: number }>(d: T): T => ({ ...d, lo: toOriginal(d.lo), hi: toOriginal(d.hi) });
  let result: ParseResult;
  try {
    result = buildTrees(cooker, span, options.maxDepth ?? Infinity);
  } catch (e) {
    if (!(e instanceof FatalLexError)) throw e;
    result = { ok: false, error: { kind: "fatal", message: e.message, lo: e.lo, hi: e.hi }, diagnostics: cooker.diagnostics };
  }
  result.diagnostics = result.diagnostics.map(remap);
  if (!result.ok) result.error = remap(result.error);
  return result;
}

function isPunctToken(t: RichToken): boolean {
  return t.k === "punct";
}

function buildTrees(cooker: Cooker, makeSpan: (lo: number, hi: number) => Span, maxDepth: number): ParseResult {
  let cur = cooker.next().tok;
  /** Moves past `cur`; returns rustc's spacing for it. */
  const advance = (): Spacing => {
    const { tok, ws } = cooker.next();
    cur = tok;
    if (ws) return "Alone";
    if (isPunctToken(tok)) return "Joint";
    if (tok.k === "eof") return "Alone";
    return "JointHidden";
  };
  const top: TokenTree[] = [];
  const stack: Frame[] = [];
  /** Frames on the stack by opening delimiter, so that finding an enclosing match costs nothing per level. */
  const openCount: Record<string, number> = { "(": 0, "[": 0, "{": 0 };
  const unmatched: { ch: string; lo: number; hi: number }[] = [];
  let lastUnclosedFoundLo = -1;
  const treesNow = () => (stack.length ? stack[stack.length - 1].trees : top);

  const closeFrame = (frame: Frame, closeTok: RichToken | null, closeSpacing: Spacing): void => {
    const open = makeSpan(frame.open.lo, frame.open.hi);
    // An unclosed group (recovery at EOF) never reaches here: EOF fails the whole parse.
    const close = closeTok ? makeSpan(closeTok.lo, closeTok.hi) : open;
    const entire = makeSpan(frame.open.lo, closeTok ? closeTok.hi : frame.open.hi);
    treesNow().push({
      type: "group",
      delimiter: DELIM_OF[(frame.open as { ch: string }).ch],
      stream: frame.trees,
      span: { open, close, entire },
      delimSpacing: { open: frame.openSpacing, close: closeSpacing },
    });
  };

  for (;;) {
    const tok = cur;
    switch (tok.k) {
      case "open": {
        if (stack.length >= maxDepth) {
          return {
            ok: false,
            error: { kind: "depth", message: `delimiters nested more than ${maxDepth} levels deep`, lo: tok.lo, hi: tok.hi },
            diagnostics: cooker.diagnostics,
          };
        }
        const openSpacing = advance();
        stack.push({ open: tok, openSpacing, trees: [] });
        openCount[(tok as { ch: string }).ch]++;
        continue;
      }
      case "close": {
        const frame = stack.pop();
        if (frame) openCount[(frame.open as { ch: string }).ch]--;
        if (!frame) {
          // rustc reports mismatches first, but their diagnostics carry no plain message,
          // so the LexError's message is this one.
          return {
            ok: false,
            error: { kind: "lex", message: `unexpected closing delimiter: \`${tok.ch}\``, lo: tok.lo, hi: tok.hi },
            diagnostics: cooker.diagnostics,
          };
        }
        const openCh = (frame.open as { ch: string }).ch;
        if (CLOSE_OF[openCh] === tok.ch) {
          closeFrame(frame, tok, advance());
          continue;
        }
        // Mismatched: rustc records it, closes this group, and consumes the delimiter unless
        // it can close an enclosing group.
        if (lastUnclosedFoundLo !== tok.lo) {
          lastUnclosedFoundLo = tok.lo;
          unmatched.push({ ch: tok.ch, lo: tok.lo, hi: tok.hi });
        }
        const closesOuter = openCount[OPEN_OF[tok.ch]] > 0;
        if (!closesOuter) closeFrame(frame, tok, advance());
        else closeFrame(frame, tok, "Alone");
        continue;
      }
      case "eof": {
        if (stack.length) {
          return {
            ok: false,
            error: { kind: "lex", message: "this file contains an unclosed delimiter", lo: tok.lo, hi: tok.hi },
            diagnostics: cooker.diagnostics,
          };
        }
        // Only mismatches: rustc finds no diagnostic with a plain message and panics.
        if (unmatched.length) return ice(unmatched[0], cooker);
        return { ok: true, stream: top, diagnostics: cooker.diagnostics };
      }
      default: {
        const spacing = advance();
        pushToken(treesNow(), tok, spacing, makeSpan);
      }
    }
  }
}

function ice(u: { ch: string; lo: number; hi: number }, cooker: Cooker): ParseResult {
  return {
    ok: false,
    error: { kind: "ice", message: `mismatched closing delimiter: \`${u.ch}\``, lo: u.lo, hi: u.hi },
    diagnostics: cooker.diagnostics,
  };
}

/** rustc's `FromInternal<TokenStream>` for one token. */
function pushToken(out: TokenTree[], tok: RichToken, spacing: Spacing, makeSpan: (lo: number, hi: number) => Span): void {
  const span = makeSpan(tok.lo, tok.hi);
  switch (tok.k) {
    case "ident":
      out.push({ type: "ident", sym: tok.sym, isRaw: tok.raw, span, spacing });
      return;
    case "lifetime":
      out.push({ type: "punct", ch: "'", joint: true, span, spacing: "Joint" });
      out.push({ type: "ident", sym: tok.sym.slice(1), isRaw: tok.raw, span, spacing });
      return;
    case "lit":
      out.push({ type: "literal", kind: tok.kind, hashes: tok.hashes, symbol: tok.symbol, suffix: tok.suffix, span, spacing });
      return;
    case "punct": {
      const n = tok.ch.length;
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        // Split spans per character only when the token's span is as long as its text.
        const sp = tok.hi - tok.lo === n ? makeSpan(tok.lo + i, tok.lo + i + 1) : span;
        const sg: Spacing = last ? spacing : "Joint";
        out.push({ type: "punct", ch: tok.ch[i], joint: sg === "Joint", span: sp, spacing: sg });
      }
      return;
    }
    case "doc": {
      let escaped = "";
      for (const ch of tok.text) escaped += escapeDebugChar(ch.codePointAt(0)!);
      out.push({
        type: "punct",
        ch: "#",
        joint: false,
        span,
        doc: { kind: tok.comment, style: tok.style, text: tok.text, spacing },
      });
      if (tok.style === "inner") out.push({ type: "punct", ch: "!", joint: false, span });
      out.push({
        type: "group",
        delimiter: "Bracket",
        stream: [
          { type: "ident", sym: "doc", isRaw: false, span },
          { type: "punct", ch: "=", joint: false, span },
          { type: "literal", kind: "Str", hashes: 0, symbol: escaped, suffix: null, span },
        ],
        span: { open: span, close: span, entire: span },
      });
      return;
    }
    default:
      throw new Error(`unexpected token ${tok.k}`);
  }
}

/**
 * `kind` tells how rustc fails (as in LexFailure): "lex" is `Err(LexError(error))`, "fatal"
 * emits `error` and panics the macro, "ice" panics with ICE_PANIC_MESSAGE. `diagnostics` are
 * what rustc emits (with real byte ranges: the text is lexed as a source file of its own),
 * in every case; a fatal error is the last of them.
 */
export type LiteralResult =
  { ok: true; literal: Literal; diagnostics: LexDiagnostic[] } | { ok: false; error: string; kind: LexFailure["kind"]; diagnostics: LexDiagnostic[] };

/**
 * `Literal::from_str(src)` as rustc's `literal_from_str`: one literal token, optionally
 * preceded by `-` for numbers, with nothing around it. Lexing diagnostics (a bad escape)
 * leave an `ErrWithGuar` literal, as in rustc; fatal lexing errors are returned as errors.
 */
export function parseLiteral(src: string, span: Span, options: ParseOptions = {}): LiteralResult {
  // rustc's parser is built on the whole stream (no shebang stripping): lexing errors fail first.
  const whole = lex(src, () => span, options, true);
  const diagnostics = whole.diagnostics;
  if (!whole.ok) {
    const fatal = whole.error.kind === "fatal" ? [{ level: "error" as const, message: whole.error.message, lo: whole.error.lo, hi: whole.error.hi }] : [];
    return { ok: false, error: whole.error.message, kind: whole.error.kind, diagnostics: [...diagnostics, ...fatal] };
  }
  const originalLength = utf8Length(src, 0, src.length);
  src = normalizeSource(src).text;
  const cooker = new Cooker(src, options.edition ?? "2021", 0);
  let first = cooker.next();
  const firstLo = first.tok.lo;
  const minus = first.tok.k === "punct" && first.tok.ch === "-";
  const minusHi = first.tok.hi;
  if (minus) first = cooker.next();
  const t = first.tok;
  const fail = (error: string): LiteralResult => ({ ok: false, error, kind: "lex", diagnostics });
  if (t.k !== "lit") return fail("not a literal");
  // Compared with the caller's length: a BOM or CRLF (removed before lexing) makes it differ.
  if (t.hi - firstLo !== originalLength) return fail("comment or whitespace around literal");
  let symbol = t.symbol;
  if (minus) {
    if (minusHi !== t.lo) return fail("comment or whitespace after minus");
    if (t.kind !== "Integer" && t.kind !== "Float") return fail("non-numeric literal may not be negated");
    symbol = "-" + symbol;
  }
  return { ok: true, literal: { type: "literal", kind: t.kind, hashes: t.hashes, symbol, suffix: t.suffix, span }, diagnostics };
}

/** The bridge's `symbol_normalize_and_validate_ident`: NFC, then rustc_lexer::is_ident. */
export function normalizeAndValidateIdent(s: string): string | null {
  const sym = nfc(s);
  return isIdent(sym) ? sym : null;
}
