// Finds, in a lexed Rust source file, the items that `#[derive(Name)]` applies to, so that
// `macrobox expand --derive Name file.rs` expands each of them as rustc would.

import type { Ident, TokenTree } from "../tokens/model.js";

export interface DeriveSite {
  /** The item's name (`struct Foo` → "Foo"). */
  item: string;
  /**
   * The derive input: the item with its outer attributes, minus the `#[derive(...)]` attributes
   * (rustc hands derives the item without them).
   */
  tokens: TokenTree[];
  /** The `Name` ident inside `#[derive(..., Name, ...)]`: rustc's call site for the derive. */
  callSite: Ident;
}

const isIdent = (t: TokenTree | undefined, sym?: string): t is Ident => t?.type === "ident" && (sym === undefined || t.sym === sym);

/**
 * Every struct, enum or union deriving `name`, at top level or in inline modules (in order; with an
 * explicit stack of modules, so that no nesting of them recurses).
 */
export function findDeriveSites(stream: TokenTree[], name: string): DeriveSite[] {
  const sites: DeriveSite[] = [];
  /** One module body being scanned: the attributes seen since the last item, and where they start. */
  const stack: { stream: TokenTree[]; i: number; attrs: TokenTree[][]; start: number }[] = [{ stream, i: 0, attrs: [], start: 0 }];
  while (stack.length > 0) {
    const level = stack[stack.length - 1];
    const { stream } = level;
    let i = level.i;
    if (i >= stream.length) {
      stack.pop();
      continue;
    }
    const t = stream[i];
    const next = stream[i + 1];
    level.i = i + 1;
    if (t.type === "punct" && t.ch === "#" && next?.type === "group" && next.delimiter === "Bracket") {
      if (level.attrs.length === 0) level.start = i;
      level.attrs.push([t, next]);
      level.i = i + 2;
      continue;
    }
    if (isIdent(t, "pub") || (t.type === "group" && t.delimiter === "Parenthesis" && isIdent(stream[i - 1], "pub"))) {
      if (level.attrs.length === 0) level.start = i;
      continue;
    }
    const attrs = level.attrs;
    let body: TokenTree[] | null = null;
    if (isIdent(t, "struct") || isIdent(t, "enum") || isIdent(t, "union")) {
      // The item ends with its body: a `{...}` group, or the `;` of a tuple or unit struct.
      let end = i + 1;
      while (end < stream.length) {
        const x = stream[end];
        if ((x.type === "group" && x.delimiter === "Brace") || (x.type === "punct" && x.ch === ";")) break;
        end++;
      }
      const callSite = attrs
        .map(deriveNames)
        .flat()
        .find((id) => id.sym === name);
      if (callSite && end < stream.length) {
        const kept = attrs.filter((a) => deriveNames(a).length === 0 && !isDeriveAttr(a)).flat();
        const firstNonAttr = level.start + attrs.length * 2;
        sites.push({ item: isIdent(stream[i + 1]) ? (stream[i + 1] as Ident).sym : "?", tokens: [...kept, ...stream.slice(firstNonAttr, end + 1)], callSite });
      }
      i = end;
    } else if (isIdent(t, "mod") && stream[i + 2]?.type === "group") {
      const group = stream[i + 2];
      if (group.type === "group") body = group.stream;
      i += 2;
    }
    level.attrs = [];
    level.start = i + 1;
    level.i = i + 1;
    if (body !== null) stack.push({ stream: body, i: 0, attrs: [], start: 0 });
  }
  return sites;
}

function isDeriveAttr(attr: TokenTree[]): boolean {
  const group = attr[1];
  return group.type === "group" && isIdent(group.stream[0], "derive");
}

/** The idents listed in a `#[derive(...)]` attribute (none for other attributes). */
function deriveNames(attr: TokenTree[]): Ident[] {
  const group = attr[1];
  if (group.type !== "group" || !isIdent(group.stream[0], "derive")) return [];
  const list = group.stream[1];
  if (list?.type !== "group") return [];
  // Paths like `serde::Serialize` name the derive by their last segment.
  return list.stream.filter((x): x is Ident => x.type === "ident");
}
