// `TokenStream::expand_expr` (the bridge's `ts_expand_expr`) as rustc 1.96 does it.
//
// rustc parses the stream as one expression, expands every macro in it eagerly, and answers only
// when the result is a literal (`true`/`false` come back as idents) or a negated number; anything
// else is `Err(())`. Macros we can expand without a compiler are rustc's built-ins that need no
// crate context: `concat!`, `stringify!`, `line!`, `column!`, `file!` and `env!` (through the
// environment policy). Anything else — user macros, `cfg!`, `module_path!`, `include_*!` — is
// `Err(())` here, where rustc may succeed. Checked against rustc by test/bridge/bridge.test.ts.
//
// Browser-safe: no Node APIs here.

import type { Literal, Span, TokenStream } from "../tokens/model.js";
import { escapeDefault, printTokenStream, unescapeStr } from "../tokens/index.js";
import type { SpanTable } from "./spans.js";

export interface ExpandExprContext {
  spans: SpanTable;
  /** `env!`: the variable's value as the environment policy allows, or null. */
  env: (name: string) => string | null;
  /** Reports a variable `env!` read (rustc records it as a build dependency). */
  trackEnv: (name: string, value: string | null) => void;
  /** Reports an error rustc would emit while expanding. */
  error: (message: string, span: Span) => void;
}

/**
 * rustc's default `recursion_limit`: nested `concat!(concat!(...))` deeper than this is refused
 * (rustc: "recursion limit reached while expanding"), which also keeps the recursion here far from
 * the host's stack limit whatever the nestingDepth limit lets in.
 */
const RECURSION_LIMIT = 128;

/** The expansion, or null for `Err(())`. `depth`: how many `concat!`s this stream is inside. */
export function expandExpr(stream: TokenStream, ctx: ExpandExprContext, depth = 0): TokenStream | null {
  const trees = unwrapInvisible(stream);
  if (trees.length === 1) {
    const t = trees[0];
    if (t.type === "literal" && t.kind !== "ErrWithGuar" && !t.symbol.startsWith("-")) return [t];
    if (t.type === "ident" && !t.isRaw && (t.sym === "true" || t.sym === "false")) return [t];
    return null;
  }
  if (trees.length === 2 && trees[0].type === "punct" && trees[0].ch === "-") {
    const inner = unwrapInvisible([trees[1]]);
    const lit = inner.length === 1 ? inner[0] : null;
    if (lit?.type === "literal" && (lit.kind === "Integer" || lit.kind === "Float") && !lit.symbol.startsWith("-")) {
      // rustc loses the span of `-` and uses the literal's for both; the `-` prints glued.
      return [{ type: "punct", ch: "-", joint: false, spacing: "JointHidden", span: lit.span }, lit];
    }
    return null;
  }
  const call = builtinCall(trees);
  if (call === null) return null;
  if (depth >= RECURSION_LIMIT) {
    ctx.error(`recursion limit reached while expanding \`${call.name}!\``, call.span);
    return null;
  }
  const value = expandBuiltin(call, ctx, depth);
  return value === null ? null : [value];
}

interface BuiltinCall {
  name: string;
  args: TokenStream;
  /** The macro name's span: where `line!()` and `column!()` point. */
  span: Span;
}

/** `name ! (args)` (any delimiter), or null. */
function builtinCall(trees: TokenStream): BuiltinCall | null {
  if (trees.length !== 3) return null;
  const [name, bang, group] = trees;
  if (name.type !== "ident" || name.isRaw || bang.type !== "punct" || bang.ch !== "!" || group.type !== "group" || group.delimiter === "None") {
    return null;
  }
  return { name: name.sym, args: group.stream, span: name.span };
}

function expandBuiltin(call: BuiltinCall, ctx: ExpandExprContext, depth: number): Literal | null {
  const { spans } = ctx;
  switch (call.name) {
    case "stringify":
      return strLiteral(printTokenStream(call.args), call.span);
    case "line":
      return call.args.length === 0 ? u32Literal(spans.line(call.span), call.span) : null;
    case "column":
      return call.args.length === 0 ? u32Literal(spans.column(call.span), call.span) : null;
    case "file":
      return call.args.length === 0 ? strLiteral(spans.fileName(call.span), call.span) : null;
    case "concat": {
      let out = "";
      for (const arg of splitCommas(call.args)) {
        if (arg.length === 0) continue; // a trailing comma
        const piece = concatPiece(arg, ctx, depth + 1);
        if (piece === null) return null;
        out += piece;
      }
      return strLiteral(out, call.span);
    }
    case "env": {
      const args = splitCommas(call.args).filter((a) => a.length > 0);
      const nameLit = args[0]?.length === 1 ? args[0][0] : null;
      const name = nameLit?.type === "literal" ? stringValue(nameLit) : null;
      if (name === null) return null;
      const value = ctx.env(name);
      ctx.trackEnv(name, value);
      if (value === null) {
        ctx.error(`environment variable \`${name}\` not defined at compile time`, call.span);
        return null;
      }
      return strLiteral(value, call.span);
    }
    default:
      return null;
  }
}

/** What one `concat!` argument contributes, or null when rustc would reject it. */
function concatPiece(arg: TokenStream, ctx: ExpandExprContext, depth: number): string | null {
  const expanded = expandExpr(arg, ctx, depth);
  if (expanded === null) return null;
  if (expanded.length === 2) {
    const lit = expanded[1];
    return lit.type === "literal" ? numberText(lit, true) : null;
  }
  const t = expanded[0];
  if (t.type === "ident") return t.sym; // true / false
  if (t.type !== "literal") return null;
  switch (t.kind) {
    case "Str":
    case "StrRaw":
    case "Char":
      return stringValue(t);
    case "Integer":
    case "Float":
      return numberText(t, false);
    default:
      return null; // byte and C strings cannot be concatenated
  }
}

/** rustc prints an integer's value (`0x10u8` is "16") and a float's digits without `_`. */
function numberText(lit: Literal, negative: boolean): string | null {
  const digits = lit.symbol.replace(/_/g, "");
  let text: string;
  if (lit.kind === "Float") text = digits;
  else {
    try {
      const radix = /^0[xob]/i.test(digits) ? digits.slice(0, 2).toLowerCase() : "";
      text = BigInt(radix ? `0${radix[1]}${digits.slice(2)}` : digits).toString();
    } catch {
      return null;
    }
  }
  return negative ? `-${text}` : text;
}

function splitCommas(stream: TokenStream): TokenStream[] {
  const parts: TokenStream[] = [[]];
  for (const t of stream) {
    if (t.type === "punct" && t.ch === ",") parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  return parts;
}

function unwrapInvisible(stream: TokenStream): TokenStream {
  let trees = stream;
  while (trees.length === 1 && trees[0].type === "group" && trees[0].delimiter === "None") trees = trees[0].stream;
  return trees;
}

/** A string literal as rustc makes one from a value (`escape_string_symbol`: `escape_default`). */
function strLiteral(value: string, span: Span): Literal {
  let symbol = "";
  for (const ch of value) symbol += escapeDefault(ch.codePointAt(0)!);
  return { type: "literal", kind: "Str", hashes: 0, symbol, suffix: null, span };
}

function u32Literal(n: number, span: Span): Literal {
  return { type: "literal", kind: "Integer", hashes: 0, symbol: String(n), suffix: "u32", span };
}

/** The value of a string or char literal (raw strings are their symbol; cooked ones unescaped). */
function stringValue(lit: Literal): string | null {
  if (lit.kind === "StrRaw") return lit.symbol;
  if (lit.kind !== "Str" && lit.kind !== "Char") return null;
  return unescapeStr(lit.symbol);
}
