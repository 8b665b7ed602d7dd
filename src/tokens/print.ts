// `TokenStream::to_string` as rustc 1.96 prints it: the server converts the trees to its
// internal stream (`ToInternal`, gluing joint puncts into operators and `'` + ident into
// lifetimes, as `TokenStream::push_tree` does) and runs rustc_ast_pretty's `print_tts`:
// each token's Spacing, the `space_between` rules, brace groups in boxes, doc comments as
// comments, all through the Oppen printer (pp.ts) that wraps long lines.
//
// Browser-safe: no Node APIs here.

import type { Edition } from "./cook.js";
import type { Delimiter, Literal, Spacing, TokenStream, TokenTree } from "./model.js";
import { PrettyPrinter } from "./pp.js";
import { forEachTreeIn, STOP } from "./walk.js";

export interface PrintOptions {
  /** Edition of the spans, for which identifiers are reserved. Default 2021. */
  edition?: Edition;
}

type Tok =
  | { k: "op"; text: string }
  | { k: "ident"; sym: string; raw: boolean }
  | { k: "lifetime"; /** with the quote */ sym: string; raw: boolean }
  | { k: "lit"; lit: Literal }
  | { k: "doc"; kind: "line" | "block"; style: "outer" | "inner"; text: string };

/**
 * rustc's internal token trees for one level of a stream; a group's inner level is converted
 * only when the printer enters it (so deep nesting needs no recursion).
 */
type ITree = { t: "tok"; tok: Tok; spacing: Spacing } | { t: "delim"; delim: Delimiter; open: Spacing; close: Spacing; stream: TokenStream };

/** rustc's Token::glue for the operators proc macros can produce. */
const GLUE: Record<string, string> = {
  "= =": "==",
  "= >": "=>",
  "< =": "<=",
  "< <": "<<",
  "< <=": "<<=",
  "< -": "<-",
  "> =": ">=",
  "> >": ">>",
  "> >=": ">>=",
  "! =": "!=",
  "+ =": "+=",
  "- =": "-=",
  "- >": "->",
  "* =": "*=",
  "/ =": "/=",
  "% =": "%=",
  "^ =": "^=",
  "& =": "&=",
  "& &": "&&",
  "| =": "|=",
  "| |": "||",
  "<< =": "<<=",
  ">> =": ">>=",
  ". .": "..",
  ". ..": "...",
  ".. .": "...",
  ".. =": "..=",
  ": :": "::",
};

function glue(a: Tok, b: Tok): Tok | null {
  if (a.k !== "op") return null;
  if (a.text === "'") {
    if (b.k === "ident") return { k: "lifetime", sym: "'" + b.sym, raw: b.raw };
    return null;
  }
  if (b.k !== "op") return null;
  const g = GLUE[a.text + " " + b.text];
  return g ? { k: "op", text: g } : null;
}

/** `TokenStream::push_tree`: glue onto a joint last token when the two form one operator. */
function pushTree(out: ITree[], tt: ITree): void {
  const last = out[out.length - 1];
  if (last && last.t === "tok" && last.spacing !== "Alone" && tt.t === "tok") {
    const g = glue(last.tok, tt.tok);
    if (g) {
      out[out.length - 1] = { t: "tok", tok: g, spacing: tt.spacing };
      return;
    }
  }
  out.push(tt);
}

function toInternal(stream: TokenStream): ITree[] {
  const out: ITree[] = [];
  for (let i = 0; i < stream.length; i++) {
    const tt = stream[i];
    switch (tt.type) {
      case "punct": {
        if (tt.doc && isDocTail(stream, i, tt.doc.style)) {
          const d = tt.doc;
          pushTree(out, { t: "tok", tok: { k: "doc", kind: d.kind, style: d.style, text: d.text }, spacing: d.spacing });
          i += d.style === "inner" ? 2 : 1;
          continue;
        }
        pushTree(out, { t: "tok", tok: { k: "op", text: tt.ch }, spacing: tt.spacing ?? (tt.joint ? "Joint" : "Alone") });
        continue;
      }
      case "ident":
        pushTree(out, { t: "tok", tok: { k: "ident", sym: tt.sym, raw: tt.isRaw }, spacing: tt.spacing ?? "Alone" });
        continue;
      case "literal": {
        if ((tt.kind === "Integer" || tt.kind === "Float") && tt.symbol.startsWith("-")) {
          // A negative number is a `-` and the number, as rustc's ToInternal splits it.
          pushTree(out, { t: "tok", tok: { k: "op", text: "-" }, spacing: "JointHidden" });
          pushTree(out, { t: "tok", tok: { k: "lit", lit: { ...tt, symbol: tt.symbol.slice(1) } }, spacing: tt.spacing ?? "Alone" });
          continue;
        }
        pushTree(out, { t: "tok", tok: { k: "lit", lit: tt }, spacing: tt.spacing ?? "Alone" });
        continue;
      }
      case "group":
        pushTree(out, {
          t: "delim",
          delim: tt.delimiter,
          open: tt.delimSpacing?.open ?? "Alone",
          close: tt.delimSpacing?.close ?? "Alone",
          stream: tt.stream,
        });
        continue;
    }
  }
  return out;
}

/** The `!` and `[...]` a doc-comment `#` stands for are still there, untouched in shape. */
function isDocTail(stream: TokenStream, i: number, style: "outer" | "inner"): boolean {
  let j = i + 1;
  if (style === "inner") {
    const bang = stream[j];
    if (!bang || bang.type !== "punct" || bang.ch !== "!") return false;
    j++;
  }
  const g = stream[j];
  return !!g && g.type === "group" && g.delimiter === "Bracket";
}

const ALWAYS_RESERVED = new Set([
  "$crate",
  "{{root}}",
  "_",
  "as",
  "break",
  "const",
  "continue",
  "crate",
  "else",
  "enum",
  "extern",
  "false",
  "fn",
  "for",
  "if",
  "impl",
  "in",
  "let",
  "loop",
  "match",
  "mod",
  "move",
  "mut",
  "pub",
  "ref",
  "return",
  "self",
  "Self",
  "static",
  "struct",
  "super",
  "trait",
  "true",
  "type",
  "unsafe",
  "use",
  "where",
  "while",
  "abstract",
  "become",
  "box",
  "do",
  "final",
  "macro",
  "override",
  "priv",
  "typeof",
  "unsized",
  "virtual",
  "yield",
]);

/** rustc's Symbol::is_reserved for the edition. */
export function isReservedIdent(sym: string, edition: Edition): boolean {
  if (ALWAYS_RESERVED.has(sym)) return true;
  const e = Number(edition);
  if ((sym === "async" || sym === "await" || sym === "dyn") && e >= 2018) return true;
  if (sym === "try" && e >= 2018) return true;
  if (sym === "gen" && e >= 2024) return true;
  return false;
}

function isPunct(tt: ITree): boolean {
  return tt.t === "tok" && tt.tok.k === "op";
}

function isOp(tt: ITree, text: string): boolean {
  return tt.t === "tok" && tt.tok.k === "op" && tt.tok.text === text;
}

/** pprust's space_between. */
function spaceBetween(a: ITree, b: ITree, edition: Edition): boolean {
  if (a.t === "tok" && a.tok.k === "doc" && a.tok.kind === "line") return false;
  if (isOp(a, ".") && !isPunct(b)) return false;
  if (isOp(a, "$") && b.t === "tok" && b.tok.k === "ident") return false;
  if ((isOp(b, ",") || isOp(b, ";") || isOp(b, ".")) && !isPunct(a)) return false;
  if (a.t === "tok" && a.tok.k === "ident") {
    const { sym, raw } = a.tok;
    if (isOp(b, "!") && (!isReservedIdent(sym, edition) || raw)) return false;
    if (b.t === "delim" && b.delim === "Parenthesis") {
      if (!isReservedIdent(sym, edition) || sym === "fn" || sym === "Self" || sym === "pub" || raw) return false;
    }
  }
  if (isOp(a, "#") && b.t === "delim" && b.delim === "Bracket") return false;
  return true;
}

function identsWouldMerge(a: ITree, b: ITree): boolean {
  return a.t === "tok" && a.tok.k === "ident" && b.t === "tok" && b.tok.k === "ident";
}

const HASHES = (n: number) => "#".repeat(n);

/** The text rustc prints for a literal (pprust literal_to_string; the client prints the same). */
export function printLiteral(lit: Pick<Literal, "kind" | "hashes" | "symbol" | "suffix">): string {
  const { symbol: sym } = lit;
  let out: string;
  switch (lit.kind) {
    case "Byte":
      out = `b'${sym}'`;
      break;
    case "Char":
      out = `'${sym}'`;
      break;
    case "Str":
      out = `"${sym}"`;
      break;
    case "StrRaw":
      out = `r${HASHES(lit.hashes)}"${sym}"${HASHES(lit.hashes)}`;
      break;
    case "ByteStr":
      out = `b"${sym}"`;
      break;
    case "ByteStrRaw":
      out = `br${HASHES(lit.hashes)}"${sym}"${HASHES(lit.hashes)}`;
      break;
    case "CStr":
      out = `c"${sym}"`;
      break;
    case "CStrRaw":
      out = `cr${HASHES(lit.hashes)}"${sym}"${HASHES(lit.hashes)}`;
      break;
    default:
      out = sym;
  }
  return lit.suffix === null ? out : out + lit.suffix;
}

function tokenText(tok: Tok): string {
  switch (tok.k) {
    case "op":
      return tok.text;
    case "ident":
      return tok.raw ? "r#" + tok.sym : tok.sym;
    case "lifetime":
      return tok.raw ? "'r#" + tok.sym.slice(1) : tok.sym;
    case "lit":
      return printLiteral(tok.lit);
    case "doc":
      if (tok.kind === "line") return (tok.style === "outer" ? "///" : "//!") + tok.text;
      return (tok.style === "outer" ? "/**" : "/*!") + tok.text + "*/";
  }
}

const OPEN: Record<Delimiter, string> = { Parenthesis: "(", Bracket: "[", Brace: "{", None: "" };
const CLOSE: Record<Delimiter, string> = { Parenthesis: ")", Bracket: "]", Brace: "}", None: "" };
const INDENT_UNIT = 4;

interface Level {
  items: ITree[];
  /** Index of the next item to print. */
  next: number;
  /** The group this level is the inside of (null at the top). */
  group: (ITree & { t: "delim" }) | null;
  openSpace: boolean;
}

/** pprust's print_tts / print_tt / print_mac_common, with an explicit stack instead of recursion. */
class StreamPrinter {
  readonly pp = new PrettyPrinter();
  constructor(readonly edition: Edition) {}

  printTts(top: ITree[]): void {
    const pp = this.pp;
    const stack: Level[] = [{ items: top, next: 0, group: null, openSpace: false }];
    while (stack.length > 0) {
      const level = stack[stack.length - 1];
      if (level.next >= level.items.length) {
        stack.pop();
        const g = level.group;
        if (!g) continue;
        pp.end();
        if (g.delim === "Brace") {
          if (level.openSpace) pp.breakOffsetIfNotBol(1, -INDENT_UNIT);
          pp.word("}");
          pp.end();
        } else pp.word(CLOSE[g.delim]);
        this.afterTree(stack[stack.length - 1], g, g.close);
        continue;
      }
      const tt = level.items[level.next++];
      if (tt.t === "tok") {
        pp.word(tokenText(tt.tok));
        if (tt.tok.k === "doc") pp.hardbreak();
        this.afterTree(level, tt, tt.spacing);
        continue;
      }
      let openSpace = false;
      if (tt.delim === "Brace") {
        pp.cbox(INDENT_UNIT);
        pp.word("{");
        openSpace = tt.open === "Alone" && tt.stream.length > 0;
        if (openSpace) pp.space();
      } else pp.word(OPEN[tt.delim]);
      pp.ibox(0);
      stack.push({ items: toInternal(tt.stream), next: 0, group: tt, openSpace });
    }
  }

  /** The space (or not) between `tt`, just printed with `spacing`, and the next tree of its level. */
  private afterTree(level: Level, tt: ITree, spacing: Spacing): void {
    const next = level.items[level.next];
    if (!next) return;
    if (spacing === "Alone" && spaceBetween(tt, next, this.edition)) this.pp.space();
    else if (spacing !== "Alone" && identsWouldMerge(tt, next)) this.pp.space();
  }
}

/** `TokenStream::to_string()` (rustc's `pprust::tts_to_string`). */
export function printTokenStream(stream: TokenStream, options: PrintOptions = {}): string {
  const p = new StreamPrinter(options.edition ?? "2021");
  p.printTts(toInternal(stream));
  return p.pp.eof();
}

/**
 * An upper bound on the UTF-8 length of `printTokenStream(stream)`, without printing: what a size
 * limit can be checked against when nobody needs the text. Every word is at most 3 bytes per
 * UTF-16 unit (plus the `r#` of a raw ident and a literal's quotes, prefix and hashes); every tree
 * is followed by at most one break, a brace by two more, and a break is one space or a newline
 * plus the indent, which only braces raise (INDENT_UNIT per enclosing brace). Doc comments end in
 * a hard break, whose size is the printer's business: a stream with one has no bound here
 * (Infinity), and the caller prints it.
 */
export function printedLengthBound(stream: TokenStream): number {
  let bound = 0;
  // The level's value: the braces enclosing it.
  const doc = forEachTreeIn(stream, 0, (tt, braces) => {
    const breakCost = 1 + INDENT_UNIT * (braces + 1);
    switch (tt.type) {
      case "punct":
        if (tt.doc) return STOP;
        bound += 1 + breakCost;
        return;
      case "ident":
        bound += 3 * tt.sym.length + 2 + breakCost;
        return;
      case "literal":
        // Quotes, a prefix (`br`, `cr`), hashes on both sides, the suffix; a negative number is two trees.
        bound += 3 * (tt.symbol.length + (tt.suffix?.length ?? 0)) + 4 + 2 * tt.hashes + 2 * breakCost;
        return;
      case "group": {
        const brace = tt.delimiter === "Brace";
        bound += 2 + (brace ? 3 : 1) * breakCost + (brace ? 2 * INDENT_UNIT : 0);
        return braces + (brace ? 1 : 0);
      }
    }
  });
  return doc === undefined ? bound : Infinity;
}

/** The client-side Display of one token tree (proc_macro prints Ident/Punct/Literal itself). */
export function printTokenTree(tt: TokenTree, options: PrintOptions = {}): string {
  switch (tt.type) {
    case "ident":
      return tt.isRaw ? "r#" + tt.sym : tt.sym;
    case "punct":
      return tt.ch;
    case "literal":
      return printLiteral(tt);
    // Group::to_string goes through ToInternal, which forgets the group's own DelimSpacing.
    case "group":
      return printTokenStream([{ ...tt, delimSpacing: undefined }], options);
  }
}
