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

/** Every struct, enum or union deriving `name`, at top level or in inline modules. */
export function findDeriveSites(stream: TokenTree[], name: string): DeriveSite[] {
  const sites: DeriveSite[] = [];
  let attrs: TokenTree[][] = [];
  let start = 0;
  for (let i = 0; i < stream.length; i++) {
    const t = stream[i];
    const next = stream[i + 1];
    if (t.type === "punct" && t.ch === "#" && next?.type === "group" && next.delimiter === "Bracket") {
      if (attrs.length === 0) start = i;
      attrs.push([t, next]);
      i++;
      continue;
    }
    if (isIdent(t, "pub") || (t.type === "group" && t.delimiter === "Parenthesis" && isIdent(stream[i - 1], "pub"))) {
      if (attrs.length === 0) start = i;
      continue;
    }
    if (isIdent(t, "struct") || isIdent(t, "enum") || isIdent(t, "union")) {
      // The item ends with its body: a `{...}` group, or the `;` of a tuple or unit struct.
      let end = i + 1;
      while (end < stream.length) {
        const x = stream[end];
        if ((x.type === "group" && x.delimiter === "Brace") || (x.type === "punct" && x.ch === ";")) break;
        end++;
      }
      const callSite = attrs.map(deriveNames).flat().find((id) => id.sym === name);
      if (callSite && end < stream.length) {
        const kept = attrs.filter((a) => deriveNames(a).length === 0 && !isDeriveAttr(a)).flat();
        const firstNonAttr = start + attrs.length * 2;
        sites.push({ item: isIdent(stream[i + 1]) ? (stream[i + 1] as Ident).sym : "?", tokens: [...kept, ...stream.slice(firstNonAttr, end + 1)], callSite });
      }
      i = end;
    } else if (isIdent(t, "mod") && stream[i + 2]?.type === "group") {
      const body = stream[i + 2];
      if (body.type === "group") sites.push(...findDeriveSites(body.stream, name));
      i += 2;
    }
    attrs = [];
    start = i + 1;
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
