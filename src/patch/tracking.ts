// Tracked inputs for cargo: a granted file the expansion read and a granted env var become
// `include_bytes!` and `option_env!` uses in the output, which rustc records in its dep-info
// (the file's path, `# env-dep:NAME=value`), so cargo rebuilds the crate when either changes.
// On stable rustc a native proc macro has no other way (`proc_macro::tracked_*` are unstable).
//
// The uses sit in one item, `const _: () = { let _ = include_bytes!("…"); let _ = option_env!("…"); };`,
// placed where an item is valid whatever position the macro was called in:
//
// - a derive's output: after it (a derive's output always goes where items go);
// - an attribute's or function-like macro's output that starts with an item only a module or a
//   block can hold (struct, enum, union, trait, impl, mod, use, extern, static, macro_rules!, or a
//   `let` statement) and ends like one (`;` or `}`): after it;
// - else, one that holds a function with a body (a method in an impl or a trait, too): first in
//   that body (items are valid in any body);
// - else, one that holds a const or static with an initializer (associated consts, too): the
//   initializer becomes a block with the item first, `{ const _: () = …; <initializer> }`, which
//   has the same value;
// - else nowhere: an expression, a type, a pattern, or only associated types, where no item fits
//   and wrapping the output would change what it means (a block is no type or pattern, and a
//   shim cannot tell which position it was called in). Those inputs stay untracked: cargo
//   rebuilds when the crate's own sources change, as natively.

import type { MacroKind } from "../index.js";
import type { Span, TokenStream, TokenTree } from "../tokens/model.js";

export type TrackingPlace = "after" | "fn-body" | "initializer" | "none";

const isIdent = (t: TokenTree | undefined, sym?: string): boolean => t?.type === "ident" && !t.isRaw && (sym === undefined || t.sym === sym);
const isPunct = (t: TokenTree | undefined, ch: string): boolean => t?.type === "punct" && t.ch === ch;
const isGroup = (t: TokenTree | undefined, delimiter: "Brace" | "Bracket" | "Parenthesis"): boolean => t?.type === "group" && t.delimiter === delimiter;

/** The `-` of `->`. */
const isArrow = (t: TokenTree | undefined): boolean => t?.type === "punct" && t.ch === "-" && t.joint;

/** Past outer attributes (`#[…]`, doc comments arrive as `#[doc = …]`) and a visibility. */
function itemStart(trees: TokenStream, at: number): number {
  let i = at;
  while (isPunct(trees[i], "#") && isGroup(trees[i + 1], "Bracket")) i += 2;
  if (isIdent(trees[i], "pub")) {
    i++;
    if (isGroup(trees[i], "Parenthesis")) i++;
  }
  return i;
}

/** Whether the item at `i` is one that only a module or a block can hold. */
function isModuleOnlyItem(trees: TokenStream, i: number): boolean {
  const t = trees[i];
  const next = trees[i + 1];
  if (t?.type !== "ident" || t.isRaw) return false;
  switch (t.sym) {
    case "struct":
    case "enum":
    case "trait":
    case "mod":
    case "use":
    case "impl":
    case "let":
      return true;
    case "macro_rules":
      return isPunct(next, "!");
    case "static":
      return isIdent(next) && !isIdent(next, "move");
    case "union":
      return isIdent(next);
    case "unsafe":
      return isIdent(next, "impl") || isIdent(next, "trait") || isIdent(next, "extern") || isIdent(next, "mod");
    case "extern":
      // `extern crate`, `extern { … }`, `extern "C" { … }`; `extern "C" fn` is a function.
      return isIdent(next, "crate") || isGroup(next, "Brace") || (next?.type === "literal" && isGroup(trees[i + 2], "Brace"));
    default:
      return false;
  }
}

/** The index of the body of the first function with one, among the output's top-level trees. */
function firstFnBody(trees: TokenStream): number | null {
  for (let i = 0; i < trees.length; i++) {
    // `fn name`: a function (`fn(u8)` is a pointer type).
    if (!isIdent(trees[i], "fn") || !isIdent(trees[i + 1])) continue;
    for (let j = i + 2; j < trees.length; j++) {
      if (isPunct(trees[j], ";")) break; // a declaration without a body
      // A brace group after `<`, `,` or `=` is a const generic argument in the signature.
      if (isGroup(trees[j], "Brace") && !["<", ",", "="].some((ch) => isPunct(trees[j - 1], ch))) return j;
    }
  }
  return null;
}

/** The first const or static initializer among the top-level trees: from after its `=` to before its `;`. */
function firstInitializer(trees: TokenStream): { from: number; to: number } | null {
  for (let i = 0; i < trees.length; i++) {
    if (!isIdent(trees[i], "const") && !isIdent(trees[i], "static")) continue;
    // `const NAME:`, `const _:`, `static mut NAME:` (`const fn`, `const {` are not items with initializers).
    const name = isIdent(trees[i + 1], "mut") ? i + 2 : i + 1;
    if (!isIdent(trees[name]) || !isPunct(trees[name + 1], ":")) continue;
    // The type ends at the `=` outside angle brackets (`Iterator<Item = u8>`, and `->` is no bracket).
    let depth = 0;
    for (let j = name + 2; j < trees.length; j++) {
      const t = trees[j];
      if (isPunct(t, ";")) break;
      if (isPunct(t, "<")) depth++;
      else if (isPunct(t, ">") && !isArrow(trees[j - 1])) depth--;
      else if (isPunct(t, "=") && depth <= 0) {
        let end = j + 1;
        while (end < trees.length && !isPunct(trees[end], ";")) end++;
        if (end < trees.length && end > j + 1) return { from: j + 1, to: end };
        break;
      }
    }
  }
  return null;
}

/** Where the tracking item goes in this output (see the file's header). */
export function trackingPlace(kind: MacroKind, output: TokenStream): TrackingPlace {
  if (kind === "derive") return "after";
  const last = output[output.length - 1];
  if (isModuleOnlyItem(output, itemStart(output, 0)) && (isPunct(last, ";") || isGroup(last, "Brace"))) return "after";
  if (firstFnBody(output) !== null) return "fn-body";
  return firstInitializer(output) === null ? "none" : "initializer";
}

/** A Rust string literal's symbol for `text` (the text between the quotes). */
function rustStringSymbol(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.codePointAt(0)!;
    out += c === "\\" || c === '"' ? `\\${c}` : code < 0x20 || code === 0x7f ? `\\u{${code.toString(16)}}` : c;
  }
  return out;
}

/** The tracking item, every token at `span`. */
export function trackingItem(files: readonly string[], env: readonly string[], span: Span): TokenStream {
  const ident = (sym: string): TokenTree => ({ type: "ident", sym, isRaw: false, span });
  const punct = (ch: string, joint = false): TokenTree => ({ type: "punct", ch, joint, span });
  const group = (delimiter: "Parenthesis" | "Brace", stream: TokenStream): TokenTree => ({
    type: "group",
    delimiter,
    stream,
    span: { open: span, close: span, entire: span },
  });
  const str = (text: string): TokenTree => ({ type: "literal", kind: "Str", hashes: 0, symbol: rustStringSymbol(text), suffix: null, span });
  const uses: TokenStream = [];
  const use = (mac: string, arg: string) =>
    uses.push(ident("let"), ident("_"), punct("="), ident(mac), punct("!"), group("Parenthesis", [str(arg)]), punct(";"));
  for (const f of files) use("include_bytes", f);
  for (const e of env) use("option_env", e);
  return [ident("const"), ident("_"), punct(":"), group("Parenthesis", []), punct("="), group("Brace", uses), punct(";")];
}

/** The output with the tracking item placed (unchanged when there is nothing to track or no place). */
export function withTracking(
  kind: MacroKind,
  output: TokenStream,
  files: readonly string[],
  env: readonly string[],
  span: Span,
): { output: TokenStream; place: TrackingPlace } {
  if (files.length + env.length === 0) return { output, place: "none" };
  const place = trackingPlace(kind, output);
  const item = trackingItem(files, env, span);
  if (place === "after") return { output: [...output, ...item], place };
  if (place === "fn-body") {
    const at = firstFnBody(output)!;
    const body = output[at];
    if (body.type !== "group") return { output, place: "none" };
    // After the body's inner attributes (`#![…]`), which must come first.
    let i = 0;
    while (isPunct(body.stream[i], "#") && isPunct(body.stream[i + 1], "!") && isGroup(body.stream[i + 2], "Bracket")) i += 3;
    const stream = [...body.stream.slice(0, i), ...item, ...body.stream.slice(i)];
    return { output: [...output.slice(0, at), { ...body, stream }, ...output.slice(at + 1)], place };
  }
  if (place === "initializer") {
    const { from, to } = firstInitializer(output)!;
    const block: TokenTree = {
      type: "group",
      delimiter: "Brace",
      stream: [...item, ...output.slice(from, to)],
      span: { open: span, close: span, entire: span },
    };
    return { output: [...output.slice(0, from), block, ...output.slice(to)], place };
  }
  return { output, place };
}
