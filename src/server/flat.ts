// rust-analyzer's FlatTree: the token-tree encoding of the proc-macro-srv protocol.
//
// Mirrors src/tools/rust-analyzer/crates/proc-macro-api/src/legacy_protocol/msg/flat.rs of rustc 1.96.
// A token stream is flattened into parallel arrays of u32 so deep trees never nest in JSON:
//   subtree:    [open, close, kind, first, end] per group (no `close` before version 2)
//   literal:    [span, text, kind | hashes << 8, suffix] (only [span, text] before version 5)
//   punct:      [span, char, spacing]
//   ident:      [span, text, isRaw] (only [span, text], with an `r#` prefix, before version 5)
//   token_tree: the children of every subtree, concatenated; each child is `index << 2 | tag`
//               with tag 0 subtree, 1 literal, 2 punct, 3 ident
//   text:       strings shared by idents, literals and suffixes
// Subtree 0 is the root. A root with delimiter `None` stands for a plain stream; any other root
// stands for a stream made of that single group (the server's writer uses a lone group as root).
//
// Spans travel as u32 ids: in the server's `Id` span mode they are opaque, which is exactly what
// our `Span` numbers are; in `RustAnalyzer` mode they index a span data table (see protocol.ts).
//
// Browser-safe: no Node APIs here.

import type { Delimiter, Group, LitKind, Literal, Span, TokenStream, TokenTree } from "../tokens/model.js";
import { RAW_LIT_KINDS } from "../tokens/model.js";
import { printLiteral } from "../tokens/index.js";
import { MacroboxError } from "../errors.js";

export interface FlatTree {
  subtree: number[];
  literal: number[];
  punct: number[];
  ident: number[];
  token_tree: number[];
  text: string[];
}

/** The protocol versions, as proc-macro-api's `version` module names them. */
export const ProtocolVersion = {
  NO_VERSION_CHECK: 0,
  VERSION_CHECK: 1,
  ENCODE_CLOSE_SPAN: 2,
  HAS_GLOBAL_SPANS: 3,
  RUST_ANALYZER_SPAN_SUPPORT: 4,
  /** Literals carry their kind and suffix, idents their rawness, as extra fields. */
  EXTENDED_LEAF_DATA: 5,
  HASHED_AST_ID: 6,
} as const;

/** The version rust-analyzer 1.96's proc-macro-srv reports, and always decodes with. */
export const CURRENT_API_VERSION = ProtocolVersion.HASHED_AST_ID;

/** `!0u32`: "no such entry" (a missing suffix, a missing close span before version 2). */
export const NONE_U32 = 0xffff_ffff;

export class FlatTreeError extends MacroboxError {
  override name = "FlatTreeError";
  constructor(message: string) {
    super("protocol", `FlatTree: ${message}`);
  }
}

const DELIMITER_CODES: readonly Delimiter[] = ["None", "Parenthesis", "Brace", "Bracket"];

// Literal kind codes: the low byte of the u16; raw kinds carry their hash count in the high byte.
const LIT_KIND_CODES: readonly LitKind[] = ["ErrWithGuar", "Byte", "Char", "Integer", "Float", "Str", "StrRaw", "ByteStr", "ByteStrRaw", "CStr", "CStrRaw"];

const TAG_SUBTREE = 0;
const TAG_LITERAL = 1;
const TAG_PUNCT = 2;
const TAG_IDENT = 3;

export interface EncodeOptions {
  /** Protocol version to encode for (default CURRENT_API_VERSION). */
  version?: number;
  /** Span of the invisible root group that wraps a stream which is not a single group. */
  rootSpan: Span;
  /**
   * Make a lone `None`-delimited group the root too, as proc-macro-srv's writer does
   * (`as_single_group`). That reads back as the group's contents, so it loses the group; the
   * default wraps it instead, which is lossless. Servers set this to answer exactly like the
   * native server.
   */
  noneGroupAsRoot?: boolean;
  /**
   * Maps each span of the trees (not `rootSpan`) as it is written: a backend's output in its own
   * spans is encoded without a mapped copy first. Called in writing order (breadth first: a
   * group's open then close span when the group is met, a leaf's span when it is written), which
   * a table built by the mapping (RustAnalyzer mode's span ids) depends on.
   */
  mapSpan?: (span: Span) => Span;
}

export interface DecodeOptions {
  /** Protocol version the tree was encoded with (default CURRENT_API_VERSION). */
  version?: number;
  /**
   * Builds a group's `entire` span: the protocol only carries open and close. The default,
   * the close span, is what proc-macro-srv itself does in `Id` span mode (`|_, b| b`).
   */
  joinSpans?: (open: Span, close: Span) => Span;
}

/** Whether a JSON value is a u32 (the protocol's every number). */
export const isU32 = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= NONE_U32;

function checkU32(value: number, what: string): number {
  if (!isU32(value)) {
    throw new FlatTreeError(`${what} must be a u32, got ${String(value)}`);
  }
  return value;
}

/** Flattens a token stream. Breadth-first, exactly in the order rust-analyzer's writer uses. */
export function encodeFlatTree(stream: TokenStream, options: EncodeOptions): FlatTree {
  const version = options.version ?? CURRENT_API_VERSION;
  const extended = version >= ProtocolVersion.EXTENDED_LEAF_DATA;
  const withClose = version >= ProtocolVersion.ENCODE_CLOSE_SPAN;
  const width = withClose ? 5 : 4;
  const out: FlatTree = { subtree: [], literal: [], punct: [], ident: [], token_tree: [], text: [] };
  const { subtree, literal, punct, ident, token_tree: children, text } = out;
  const strings = new Map<string, number>();
  const intern = (s: string): number => {
    let index = strings.get(s);
    if (index === undefined) {
      index = text.length;
      text.push(s);
      strings.set(s, index);
    }
    return index;
  };
  const map = options.mapSpan;
  const spanOf = map === undefined ? (span: Span) => checkU32(span, "span") : (span: Span) => checkU32(map(span), "span");

  // Subtree i's record is written when the group is met, its children's range (`first`, `end`)
  // when the queue reaches `queue[i]`: groups are numbered in the order they are queued.
  const queue: TokenStream[] = [];
  const enqueue = (open: Span, close: Span, delimiter: Delimiter, inner: TokenStream): number => {
    const kind = DELIMITER_CODES.indexOf(delimiter);
    if (kind < 0) throw new FlatTreeError(`unknown delimiter ${String(delimiter)}`);
    if (withClose) subtree.push(open, close, kind, 0, 0);
    else subtree.push(open, kind, 0, 0);
    return queue.push(inner) - 1;
  };

  // A lone delimited group becomes the root itself, like the server's `as_single_group`. A lone
  // `None` group is wrapped instead, because a `None` root would read back as its contents.
  const only = stream.length === 1 ? stream[0] : undefined;
  if (only !== undefined && only.type === "group" && (only.delimiter !== "None" || options.noneGroupAsRoot === true)) {
    const open = spanOf(only.span.open);
    enqueue(open, spanOf(only.span.close), only.delimiter, only.stream);
  } else {
    const root = checkU32(options.rootSpan, "span");
    enqueue(root, root, "None", stream);
  }

  for (let w = 0; w < queue.length; w++) {
    const trees = queue[w];
    const first = children.length;
    subtree[w * width + width - 2] = first;
    subtree[w * width + width - 1] = first + trees.length;
    for (let i = 0; i < trees.length; i++) children.push(encodeChild(trees[i]));
  }
  return out;

  function encodeChild(tree: TokenTree): number {
    switch (tree.type) {
      case "group": {
        const open = spanOf(tree.span.open);
        return (enqueue(open, spanOf(tree.span.close), tree.delimiter, tree.stream) << 2) | TAG_SUBTREE;
      }
      case "literal": {
        const index = literal.length / (extended ? 4 : 2);
        const span = spanOf(tree.span);
        if (extended) {
          const kind = LIT_KIND_CODES.indexOf(tree.kind);
          if (kind < 0) throw new FlatTreeError(`unknown literal kind ${String(tree.kind)}`);
          const hashes = RAW_LIT_KINDS.has(tree.kind) ? tree.hashes : 0;
          if (!Number.isInteger(hashes) || hashes < 0 || hashes > 255) {
            throw new FlatTreeError(`raw literal hash count must be 0..=255, got ${hashes}`);
          }
          const symbol = intern(tree.symbol);
          const suffix = tree.suffix === null || tree.suffix === "" ? NONE_U32 : intern(tree.suffix);
          literal.push(span, symbol, kind | (hashes << 8), suffix);
        } else {
          literal.push(span, intern(printLiteral(tree)));
        }
        return (index << 2) | TAG_LITERAL;
      }
      case "punct": {
        const index = punct.length / 3;
        const ch = tree.ch.codePointAt(0);
        if (ch === undefined || tree.ch.length !== (ch > 0xffff ? 2 : 1))
          throw new FlatTreeError(`punct must be one character, got ${JSON.stringify(tree.ch)}`);
        punct.push(spanOf(tree.span), ch, tree.joint ? 1 : 0);
        return (index << 2) | TAG_PUNCT;
      }
      case "ident": {
        const span = spanOf(tree.span);
        if (extended) {
          const index = ident.length / 3;
          ident.push(span, intern(tree.sym), tree.isRaw ? 1 : 0);
          return (index << 2) | TAG_IDENT;
        }
        const index = ident.length / 2;
        ident.push(span, intern(tree.isRaw ? `r#${tree.sym}` : tree.sym));
        return (index << 2) | TAG_IDENT;
      }
      default:
        throw new FlatTreeError(`unknown token tree type ${String((tree as { type: unknown }).type)}`);
    }
  }
}

function checkArray(value: unknown, what: string, width: number, isItem: (x: unknown) => boolean): void {
  if (!Array.isArray(value)) throw new FlatTreeError(`\`${what}\` must be an array`);
  if (value.length % width !== 0) throw new FlatTreeError(`\`${what}\` length ${value.length} is not a multiple of ${width}`);
  for (let i = 0; i < value.length; i++) {
    const x: unknown = value[i];
    if (!isItem(x)) throw new FlatTreeError(`\`${what}\` holds a bad entry ${JSON.stringify(x)}`);
  }
}

/** Checks that a parsed JSON value has the shape of a FlatTree for `version`. */
export function assertFlatTree(value: unknown, version: number = CURRENT_API_VERSION): asserts value is FlatTree {
  if (typeof value !== "object" || value === null) throw new FlatTreeError("expected an object");
  const v = value as Record<string, unknown>;
  const extended = version >= ProtocolVersion.EXTENDED_LEAF_DATA;
  checkArray(v.subtree, "subtree", version >= ProtocolVersion.ENCODE_CLOSE_SPAN ? 5 : 4, isU32);
  checkArray(v.literal, "literal", extended ? 4 : 2, isU32);
  checkArray(v.punct, "punct", 3, isU32);
  checkArray(v.ident, "ident", extended ? 3 : 2, isU32);
  checkArray(v.token_tree, "token_tree", 1, isU32);
  checkArray(v.text, "text", 1, (x) => typeof x === "string");
}

/** Rebuilds the token stream a FlatTree stands for. Throws FlatTreeError on malformed input. */
export function decodeFlatTree(tree: FlatTree, options: DecodeOptions = {}): TokenStream {
  const version = options.version ?? CURRENT_API_VERSION;
  assertFlatTree(tree, version);
  const joinSpans = options.joinSpans ?? ((_open: Span, close: Span) => close);
  const extended = version >= ProtocolVersion.EXTENDED_LEAF_DATA;
  const withClose = version >= ProtocolVersion.ENCODE_CLOSE_SPAN;
  const width = withClose ? 5 : 4;
  const count = tree.subtree.length / width;
  if (count === 0) throw new FlatTreeError("no root subtree");

  const text = (index: number): string => {
    if (index >= tree.text.length) throw new FlatTreeError(`text index ${index} out of range`);
    return tree.text[index];
  };

  // Children always come after their parent (the writer is breadth-first), so building from the
  // last subtree to the first finds every child group already built, and rejects cycles.
  const built: (Group | undefined)[] = new Array(count);
  for (let i = count - 1; i >= 0; i--) {
    const base = i * width;
    const open = tree.subtree[base];
    const close = withClose ? tree.subtree[base + 1] : NONE_U32;
    const kind = tree.subtree[base + width - 3];
    const first = tree.subtree[base + width - 2];
    const end = tree.subtree[base + width - 1];
    const delimiter = DELIMITER_CODES[kind];
    if (delimiter === undefined) throw new FlatTreeError(`subtree ${i} has bad delimiter kind ${kind}`);
    if (first > end || end > tree.token_tree.length) {
      throw new FlatTreeError(`subtree ${i} has bad child range ${first}..${end}`);
    }
    const stream: TokenStream = [];
    for (let c = first; c < end; c++) {
      const idxTag = tree.token_tree[c];
      const index = idxTag >>> 2;
      switch (idxTag & 3) {
        case TAG_SUBTREE: {
          const child = index > i ? built[index] : undefined;
          if (child === undefined) throw new FlatTreeError(`subtree ${i} refers to subtree ${index}, which is not a fresh later subtree`);
          built[index] = undefined; // each subtree has exactly one parent
          stream.push(child);
          break;
        }
        case TAG_LITERAL:
          stream.push(decodeLiteral(index));
          break;
        case TAG_PUNCT: {
          if (index * 3 + 3 > tree.punct.length) throw new FlatTreeError(`punct ${index} out of range`);
          const span = tree.punct[index * 3];
          const ch = tree.punct[index * 3 + 1];
          const spacing = tree.punct[index * 3 + 2];
          if (spacing > 1) throw new FlatTreeError(`punct ${index} has bad spacing ${spacing}`);
          if (ch > 0x10ffff || (ch >= 0xd800 && ch <= 0xdfff)) throw new FlatTreeError(`punct ${index} has bad char ${ch}`);
          stream.push({ type: "punct", ch: String.fromCodePoint(ch), joint: spacing === 1, span });
          break;
        }
        default: {
          const w = extended ? 3 : 2;
          if (index * w + w > tree.ident.length) throw new FlatTreeError(`ident ${index} out of range`);
          const span = tree.ident[index * w];
          let sym = text(tree.ident[index * w + 1]);
          let isRaw: boolean;
          if (extended) {
            isRaw = tree.ident[index * w + 2] === 1;
          } else {
            isRaw = sym.startsWith("r#");
            if (isRaw) sym = sym.slice(2);
          }
          stream.push({ type: "ident", sym, isRaw, span });
        }
      }
    }
    built[i] = { type: "group", delimiter, stream, span: { open, close, entire: joinSpans(open, close) } };
  }

  function decodeLiteral(index: number): Literal {
    const w = extended ? 4 : 2;
    if (index * w + w > tree.literal.length) throw new FlatTreeError(`literal ${index} out of range`);
    const span = tree.literal[index * w];
    const body = text(tree.literal[index * w + 1]);
    if (!extended) {
      const parts = splitLiteralText(body);
      if (parts === null) throw new FlatTreeError(`literal ${index} text ${JSON.stringify(body)} is not a literal`);
      return { type: "literal", ...parts, span };
    }
    const code = tree.literal[index * w + 2];
    const kind = LIT_KIND_CODES[code & 0xff];
    if (kind === undefined || code > 0xffff) throw new FlatTreeError(`literal ${index} has bad kind ${code}`);
    const suffixIndex = tree.literal[index * w + 3];
    return {
      type: "literal",
      kind,
      hashes: RAW_LIT_KINDS.has(kind) ? code >>> 8 : 0,
      symbol: body,
      suffix: suffixIndex === NONE_U32 ? null : text(suffixIndex),
      span,
    };
  }

  const root = built[0]!;
  return root.delimiter === "None" ? root.stream : [root];
}

// ---- literal text, only needed for protocol versions before EXTENDED_LEAF_DATA (printed by printLiteral) ----

const SUFFIX_RE = /^[\p{XID_Start}_][\p{XID_Continue}]*$/u;

/** Splits a literal's text into kind, symbol and suffix; null if it is not one literal token. */
export function splitLiteralText(source: string): Pick<Literal, "kind" | "hashes" | "symbol" | "suffix"> | null {
  const withSuffix = (kind: LitKind, hashes: number, symbol: string, rest: string) => {
    if (rest !== "" && !SUFFIX_RE.test(rest)) return null;
    return { kind, hashes, symbol, suffix: rest === "" ? null : rest };
  };
  const raw = /^(r|br|cr)(#*)"/.exec(source);
  if (raw !== null) {
    const close = `"${raw[2]}`;
    const start = raw[0].length;
    const end = source.indexOf(close, start);
    if (end < 0) return null;
    const kind: LitKind = raw[1] === "r" ? "StrRaw" : raw[1] === "br" ? "ByteStrRaw" : "CStrRaw";
    return withSuffix(kind, raw[2].length, source.slice(start, end), source.slice(end + close.length));
  }
  const quoted = /^(b|c)?(['"])/.exec(source);
  if (quoted !== null) {
    const quote = quoted[2];
    let i = quoted[0].length;
    while (i < source.length && source[i] !== quote) i += source[i] === "\\" ? 2 : 1;
    if (i >= source.length) return null;
    const prefix = quoted[1] ?? "";
    const kind: LitKind =
      quote === "'" ? (prefix === "b" ? "Byte" : prefix === "" ? "Char" : "ErrWithGuar") : prefix === "b" ? "ByteStr" : prefix === "c" ? "CStr" : "Str";
    if (kind === "ErrWithGuar") return null;
    return withSuffix(kind, 0, source.slice(quoted[0].length, i), source.slice(i + 1));
  }
  // Numbers: integer digits (with base prefix), then optional fraction/exponent, then a suffix.
  const number =
    /^(0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*\.(?![0-9.\p{XID_Start}_])|[0-9][0-9_]*(\.[0-9][0-9_]*)?([eE][+-]?[0-9_]*[0-9][0-9_]*)?)/u.exec(source);
  if (number === null) return null;
  const digits = number[0];
  const isFloat = !/^0[xob]/.test(digits) && (digits.includes(".") || /[eE]/.test(digits));
  return withSuffix(isFloat ? "Float" : "Integer", 0, digits, source.slice(digits.length));
}
