// The bridge's types on the wire, as codecs the per-version signature tables (versions/) are written
// in: one codec per type of with_api!, named as mod.rs spells it, encoding exactly as rpc.rs and
// server.rs's Encode/Decode impls do.
//
// A codec reads and writes against the handle store, because a handle's meaning depends on how it
// is passed: `$TokenStream` by value takes the stream out of the store (and a returned one is
// allocated a new handle), `&$TokenStream` only looks it up, `$Span` is checked against the span
// table. Codecs are built once, when the tables are defined: decoding a request allocates no
// closures.
//
// Browser-safe: no Node APIs here.

import type { Delimiter, LitKind, Literal, Span, TokenStream, TokenTree } from "../tokens/model.js";
import { PUNCT_CHARS, RAW_LIT_KINDS } from "../tokens/model.js";
import type { HandleStore } from "./handles.js";
import { BridgeDecodeError, BridgeServerError, RESULT_ERR, RESULT_OK, type BridgeReader, type BridgeWriter } from "./rpc.js";
import type { Bound } from "./spans.js";

export interface Codec<T> {
  /** The type as with_api! spells it (`&str`, `Option<$Span>`, `()` for no result). */
  readonly rust: string;
  read(r: BridgeReader, h: HandleStore): T;
  write(w: BridgeWriter, h: HandleStore, v: T): void;
}

/** The JS value a codec stands for. */
export type CodecValue<C> = C extends Codec<infer T> ? T : never;

// ---- signatures ----

/** One bridge method: its with_api! name, the codecs of its arguments in order, and of its result. */
// `any` here is a type parameter's bound: every codec, whatever it carries, is a signature part.
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface MethodSignature<N extends string = string, A extends readonly Codec<any>[] = readonly Codec<any>[], R extends Codec<any> = Codec<any>> {
  readonly name: N;
  readonly args: A;
  readonly ret: R;
}

export function method<const N extends string, const A extends readonly Codec<any>[], R extends Codec<any>>(
  name: N,
  args: A,
  ret: R,
): MethodSignature<N, A, R> {
  return { name, args, ret };
}

/** One bridge version: its ABI id and its methods in with_api! order (a method's index is its tag). */
export interface BridgeTable {
  readonly abi: string;
  readonly methods: readonly MethodSignature[];
}

/**
 * The methods a server must have for a table, with typed arguments and results: a class that
 * `implements MethodsOf<typeof TABLE.methods>` fails to compile when it lacks a method or a type
 * differs (the dispatcher also checks names and arities when it binds a table, see server.ts).
 */
export type MethodsOf<T extends readonly MethodSignature[]> = {
  [S in T[number] as S["name"]]: (...args: ArgValues<S["args"]>) => CodecValue<S["ret"]>;
};

/** The values of a tuple of codecs, as a tuple (a homomorphic mapped type, so it stays one). */
type ArgValues<A extends readonly Codec<any>[]> = { -readonly [K in keyof A]: CodecValue<A[K]> };
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---- primitives ----

function text(rust: string): Codec<string> {
  return {
    rust,
    read: (r) => r.str(),
    write: (w, _h, v) => {
      w.str(v);
    },
  };
}

/** `&str` (an argument) and `String` (a result) encode alike; so does `$Symbol` (server.rs's `with_symbol_string`). */
export const str = text("&str");
export const string = text("String");
export const symbol = text("$Symbol");

export const bool: Codec<boolean> = {
  rust: "bool",
  read: (r) => r.bool(),
  write: (w, _h, v) => {
    w.bool(v);
  },
};

export const usize: Codec<number> = {
  rust: "usize",
  read: (r) => r.usize(),
  write: (w, _h, v) => {
    w.usize(v);
  },
};

/** `()`: nothing on the wire (a method without `->` returns it). */
export const unit: Codec<void> = {
  rust: "()",
  read: () => undefined,
  write: () => {},
};

/** Spans are the span table's interned numbers, used directly as handles. */
export const span: Codec<Span> = {
  rust: "$Span",
  read: (r, h) => h.span(r.handle()),
  write: (w, _h, v) => {
    w.handle(v);
  },
};

/** A token stream passed by value: decoding takes it out of the store; encoding stores it under a new handle. */
export const stream: Codec<TokenStream> = {
  rust: "$TokenStream",
  read: (r, h) => h.take(r.handle()),
  write: (w, h, v) => {
    w.handle(h.alloc(v));
  },
};

/** A token stream passed by reference: it stays in the store. */
export const streamRef: Codec<TokenStream> = {
  rust: "&$TokenStream",
  read: (r, h) => h.get(r.handle()),
  write: () => {
    throw new Error("a bridge method never returns a borrowed token stream");
  },
};

// ---- combinators ----

/** `Option<T>`: tag 0 = Some then T, 1 = None. `undefined` encodes as None too (an EnvPolicy may return it). */
export function option<T>(item: Codec<T>): Codec<T | null> {
  return {
    rust: `Option<${item.rust}>`,
    read: (r, h) => (r.some() ? item.read(r, h) : null),
    write: (w, h, v) => {
      if (v === null || v === undefined) {
        w.u8(1);
        return;
      }
      w.u8(0);
      item.write(w, h, v);
    },
  };
}

export function vec<T>(item: Codec<T>): Codec<T[]> {
  return {
    rust: `Vec<${item.rust}>`,
    read: (r, h) => {
      const len = r.vecLength();
      // Sized once (the length is checked against the message's bytes), not grown by pushes.
      const out = new Array<T>(len);
      for (let i = 0; i < len; i++) out[i] = item.read(r, h);
      return out;
    },
    write: (w, h, vs) => {
      w.usize(vs.length);
      for (const v of vs) item.write(w, h, v);
    },
  };
}

/** A method's `Result<T, E>` (the dispatcher's own `Result<_, PanicMessage>` is separate, see server.ts). */
export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

/** `Err(())`, shared: methods returning `Result<T, ()>` allocate nothing to fail. */
export const ERR_UNIT: { readonly ok: false; readonly error: void } = Object.freeze({ ok: false, error: undefined });

/** `Result<T, E>`: tag 0 = Ok then T, 1 = Err then E. */
export function result<T, E>(ok: Codec<T>, err: Codec<E>): Codec<Result<T, E>> {
  return {
    rust: `Result<${ok.rust}, ${err.rust}>`,
    read: (r, h) => (r.tag(2, "Result") === RESULT_OK ? { ok: true, value: ok.read(r, h) } : { ok: false, error: err.read(r, h) }),
    write: (w, h, v) => {
      if (v.ok) {
        w.u8(RESULT_OK);
        ok.write(w, h, v.value);
      } else {
        w.u8(RESULT_ERR);
        err.write(w, h, v.error);
      }
    },
  };
}

// ---- compound types (bridge/mod.rs) ----

/** `Range<usize>`: start then end. */
export const range: Codec<{ start: number; end: number }> = {
  rust: "Range<usize>",
  read: (r) => {
    const start = r.usize();
    return { start, end: r.usize() };
  },
  write: (w, _h, v) => {
    w.usize(v.start).usize(v.end);
  },
};

/** `Bound<usize>`: Included, Excluded, Unbounded. */
export const bound: Codec<Bound> = {
  rust: "Bound<usize>",
  read: (r) => {
    switch (r.tag(3, "Bound")) {
      case 0:
        return { kind: "included", value: r.usize() };
      case 1:
        return { kind: "excluded", value: r.usize() };
      default:
        return { kind: "unbounded" };
    }
  },
  write: (w, _h, v) => {
    if (v.kind === "unbounded") w.u8(2);
    else w.u8(v.kind === "included" ? 0 : 1).usize(v.value);
  },
};

const DELIMITERS: readonly Delimiter[] = ["Parenthesis", "Brace", "Bracket", "None"];
/** `bridge::LitKind` tags in declaration order; the raw kinds carry a u8 hash count. */
const LIT_KINDS: readonly LitKind[] = ["Byte", "Char", "Integer", "Float", "Str", "StrRaw", "ByteStr", "ByteStrRaw", "CStr", "CStrRaw", "ErrWithGuar"];

/** `Literal<$Span, $Symbol>`: kind (with the hash count of raw kinds), symbol, suffix, span. */
export const literal: Codec<Literal> = {
  rust: "Literal<$Span, $Symbol>",
  read: (r, h) => {
    const kind = LIT_KINDS[r.tag(LIT_KINDS.length, "LitKind")];
    const hashes = RAW_LIT_KINDS.has(kind) ? r.u8() : 0;
    const symbol = r.str();
    const suffix = r.some() ? r.str() : null;
    const span = h.span(r.handle());
    return { type: "literal", kind, hashes, symbol, suffix, span };
  },
  write: (w, _h, l) => {
    w.u8(LIT_KINDS.indexOf(l.kind));
    if (RAW_LIT_KINDS.has(l.kind)) w.u8(l.hashes);
    w.str(l.symbol);
    if (l.suffix === null || l.suffix === undefined) w.u8(1);
    else w.u8(0).str(l.suffix);
    w.handle(l.span);
  },
};

/**
 * `TokenTree<$TokenStream, $Span, $Symbol>`: Group (delimiter, `Option<$TokenStream>` by value,
 * open/close/entire spans), Punct (a u8 char, joint, span), Ident (symbol, is_raw, span), Literal.
 */
export const tokenTree: Codec<TokenTree> = {
  rust: "TokenTree<$TokenStream, $Span, $Symbol>",
  read: (r, h) => {
    switch (r.tag(4, "TokenTree")) {
      case 0: {
        const delimiter = DELIMITERS[r.tag(4, "Delimiter")];
        const stream = (r.some() ? h.take(r.handle()) : null) ?? [];
        h.share(stream); // a group's contents: the group holds it from now on
        const open = h.span(r.handle());
        const close = h.span(r.handle());
        const entire = h.span(r.handle());
        return { type: "group", delimiter, stream, span: { open, close, entire } };
      }
      case 1: {
        const code = r.u8();
        const ch = String.fromCharCode(code);
        const joint = r.bool();
        const span = h.span(r.handle());
        if (!PUNCT_CHARS.includes(ch)) throw new BridgeServerError(`unsupported character ${JSON.stringify(ch)} in Punct`);
        return { type: "punct", ch, joint, span };
      }
      case 2: {
        const sym = r.str();
        const isRaw = r.bool();
        const span = h.span(r.handle());
        return { type: "ident", sym, isRaw, span };
      }
      default:
        return literal.read(r, h);
    }
  },
  write: (w, h, t) => {
    switch (t.type) {
      case "group":
        w.u8(0).u8(DELIMITERS.indexOf(t.delimiter));
        w.u8(0).handle(h.alloc(t.stream)); // Some(stream), as rustc sends it
        w.handle(t.span.open).handle(t.span.close).handle(t.span.entire);
        return;
      case "punct":
        w.u8(1).u8(t.ch.charCodeAt(0)).bool(t.joint).handle(t.span);
        return;
      case "ident":
        w.u8(2).str(t.sym).bool(t.isRaw).handle(t.span);
        return;
      case "literal":
        w.u8(3);
        literal.write(w, h, t);
        return;
    }
  },
};

export type DiagnosticLevel = "error" | "warning" | "note" | "help";

export interface BridgeDiagnostic {
  level: DiagnosticLevel;
  message: string;
  spans: Span[];
  children: BridgeDiagnostic[];
}

const LEVELS: readonly DiagnosticLevel[] = ["error", "warning", "note", "help"];
/** Children nest; a client could send them deeper than the host's stack goes. */
const MAX_DIAGNOSTIC_DEPTH = 64;

function readDiagnostic(r: BridgeReader, h: HandleStore, depth: number): BridgeDiagnostic {
  if (depth > MAX_DIAGNOSTIC_DEPTH) throw new BridgeDecodeError("diagnostic nesting too deep");
  const level = LEVELS[r.tag(4, "Level")];
  const message = r.str();
  const spanCount = r.vecLength();
  const spans: Span[] = [];
  for (let i = 0; i < spanCount; i++) spans.push(h.span(r.handle()));
  const childCount = r.vecLength();
  const children: BridgeDiagnostic[] = [];
  for (let i = 0; i < childCount; i++) children.push(readDiagnostic(r, h, depth + 1));
  return { level, message, spans, children };
}

function writeDiagnostic(w: BridgeWriter, d: BridgeDiagnostic): void {
  w.u8(LEVELS.indexOf(d.level)).str(d.message);
  w.usize(d.spans.length);
  for (const s of d.spans) w.handle(s);
  w.usize(d.children.length);
  for (const c of d.children) writeDiagnostic(w, c);
}

/** `Diagnostic<$Span>`: level, message, `Vec<$Span>`, `Vec<Diagnostic>` children. */
export const diagnostic: Codec<BridgeDiagnostic> = {
  rust: "Diagnostic<$Span>",
  read: (r, h) => readDiagnostic(r, h, 0),
  write: (w, _h, d) => writeDiagnostic(w, d),
};
