// Caches that are safe because expansion is deterministic.
//
// An expansion's result is a function of: the module (its bytes' hash, and whether it is metered),
// the macro, the input and argument tokens with every fact about their spans the macro could ask
// (the span table: files, spans, syntax contexts), what the sandbox grants and the values of
// the variables it lets the macro see, and the limits. All of that goes into the key, but for
// two inputs observed instead, each recorded with its answers and checked on lookup (an entry
// holds only if the same questions get the same answers now):
// - the file system behind a read grant: every question the expansion asked it (stat, read, list),
//   with a digest of the answer;
// - where the input sits in its files: the key holds the span table with positions relative to
//   each file's first spanned byte (`SpanTable.cacheView`), so an item that moved (a line inserted
//   above it) has the same key; every question that tells where it sits (a line, a column, a byte
//   range, a global position, a diagnostic's location), asked by the macro or by the host, is
//   recorded with its answer. A macro that reads its call site's line gets the fresh line: the
//   entry holds only while the line is the same.
//
// A hit replays what the expansion added to the span table (its syntax contexts and the spans the
// macro made, rebased onto where the input is now), so the output's span numbers mean what they
// meant, and returns the same result. Nothing a macro did survives into another expansion: a hit
// runs nothing.
//
// Stores are pluggable (`CacheStore`): `MemoryCacheStore` here (browser-safe, LRU by bytes), a disk
// store in src/node/disk-cache.ts. A store may lose, truncate or corrupt entries: an entry that
// does not parse, or whose recorded key differs, is a miss.
//
// Browser-safe: no Node APIs here.

import { sha256 } from "@noble/hashes/sha256";
import { bytesToHex } from "@noble/hashes/utils";
import type { Delimiter, TokenStream, TokenTree } from "../tokens/model.js";
import type { PositionObservation, SpanTable, SpanTableCheckpoint, SpanTableDelta, SpanTableView } from "../bridge/spans.js";
import { FsError, type FsEntry, type FsStat, type ReadOnlyFs } from "../sandbox/fs.js";
import { visibleEnv, type SandboxGrant } from "../sandbox/grant.js";
import type { ExpandResult } from "./types.js";
import { withLazyText } from "./lazy-text.js";
import type { CacheStore } from "./cache-store.js";

/** Bump when what is cached, or how keys are made, changes: old entries then simply miss. */
export const EXPANSION_CACHE_FORMAT = 5;

/** An in-memory store, least recently used out past `maxBytes`. */
export class MemoryCacheStore implements CacheStore {
  private readonly entries = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(readonly maxBytes = 64 * 1024 * 1024) {}

  get(key: string): Uint8Array | null {
    const v = this.entries.get(key);
    if (v === undefined) return null;
    // Re-insert: a Map iterates in insertion order, so the first entry is the least recently used.
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  set(key: string, value: Uint8Array): void {
    if (value.length > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.bytes -= old.length;
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.bytes += value.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Tries each store in order; a hit in a later store fills the earlier ones. Writes go to all. */
export class LayeredCacheStore implements CacheStore {
  constructor(private readonly stores: readonly CacheStore[]) {}

  async get(key: string): Promise<Uint8Array | null> {
    for (let i = 0; i < this.stores.length; i++) {
      const v = await this.stores[i].get(key);
      if (v !== null) {
        for (let j = 0; j < i; j++) await this.stores[j].set(key, v);
        return v;
      }
    }
    return null;
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    for (const s of this.stores) await s.set(key, value);
  }
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function sha256Hex(data: Uint8Array | string): string {
  return bytesToHex(sha256(typeof data === "string" ? utf8.encode(data) : data));
}

// ---- the file system, observed ----

/** One question asked of the granted file system, and a digest of its answer. */
export type FsObservation = { op: "stat" | "readFile" | "readdir"; path: string; answer: string };

function answerOf(op: FsObservation["op"], fs: ReadOnlyFs, path: string): { digest: string; value?: unknown; error?: FsError } {
  try {
    switch (op) {
      case "stat": {
        const st = fs.stat(path);
        return { digest: `ok:${st.type}:${st.size}:${st.realPath}`, value: st };
      }
      case "readFile": {
        const data = fs.readFile(path);
        return { digest: `ok:${sha256Hex(data)}`, value: data };
      }
      case "readdir": {
        const entries = fs.readdir(path);
        return { digest: `ok:${sha256Hex(JSON.stringify(entries))}`, value: entries };
      }
    }
  } catch (e) {
    if (e instanceof FsError) return { digest: `err:${e.code}`, error: e };
    throw e;
  }
}

/** A `ReadOnlyFs` that records every question and a digest of every answer. */
export class RecordingFs implements ReadOnlyFs {
  readonly observations: FsObservation[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly inner: ReadOnlyFs) {}

  private ask<T>(op: FsObservation["op"], path: string): T {
    const a = answerOf(op, this.inner, path);
    const id = `${op}\0${path}`;
    if (!this.seen.has(id)) {
      this.seen.add(id);
      this.observations.push({ op, path, answer: a.digest });
    }
    if (a.error) throw a.error;
    return a.value as T;
  }

  stat(path: string): FsStat {
    return this.ask("stat", path);
  }
  readFile(path: string): Uint8Array {
    return this.ask("readFile", path);
  }
  readdir(path: string): FsEntry[] {
    return this.ask("readdir", path);
  }
}

/** Whether every recorded question gets the same answer from `fs` now. */
export function observationsHold(fs: ReadOnlyFs | null | undefined, observations: readonly FsObservation[]): boolean {
  for (const o of observations) {
    if (!fs) return false;
    let digest: string;
    try {
      digest = answerOf(o.op, fs, o.path).digest;
    } catch {
      return false;
    }
    if (digest !== o.answer) return false;
  }
  return true;
}

// ---- keys and entries ----

export interface ExpansionKeyParts {
  moduleHash: string;
  metered: boolean;
  kind: string;
  name: string;
  input: TokenStream;
  args: TokenStream | undefined;
  invocation: number;
  /** The span table's `cacheView()` before the expansion. */
  spans: SpanTableView;
  sandbox: SandboxGrant | undefined;
  limits: object;
  forceShowPanics: boolean;
  edition: string;
}

/**
 * What of a grant decides an expansion: everything but the file system (observed instead), with
 * the env as the macro sees it (`visibleEnv`, the sandbox's own rule): exactly the values it could read.
 */
function grantMaterial(grant: SandboxGrant | undefined): unknown {
  if (!grant) return null;
  const rest: Record<string, unknown> = { ...grant, fs: grant.fs ? "fs" : null, env: visibleEnv(grant) };
  return Object.keys(rest)
    .sort()
    .map((k) => [k, rest[k]]);
}

export function expansionKey(p: ExpansionKeyParts): string {
  const material = JSON.stringify([
    EXPANSION_CACHE_FORMAT,
    p.moduleHash,
    p.metered,
    p.edition,
    p.kind,
    p.name,
    p.input,
    p.args ?? null,
    p.invocation,
    p.spans.fingerprint,
    grantMaterial(p.sandbox),
    Object.entries(p.limits).sort(),
    p.forceShowPanics,
  ]);
  return sha256Hex(material);
}

// ---- token streams in entries ----
//
// An entry is JSON, and most of it is the output: as objects, every token repeats its field names
// (a serde Deserialize output is ~250 KB that way, ~8× its printed text), and parsing that is most
// of a hit's cost. So a stream is stored as arrays of the fields in a fixed order, and any other
// field a tree carries (spacing, a doc comment, a group's delimiter spacing) in an object after them.

type PackedTree =
  | [0, string, boolean, number, object?] // ident: sym, isRaw, span
  | [1, string, boolean, number, object?] // punct: ch, joint, span
  | [2, string, number, string, string | null, number, object?] // literal: kind, hashes, symbol, suffix, span
  | [3, number, number, number, number, PackedTree[], object?]; // group: delimiter, open, close, entire, stream

const DELIMITERS: readonly Delimiter[] = ["Parenthesis", "Brace", "Bracket", "None"];
const CORE_FIELDS: Record<TokenTree["type"], readonly string[]> = {
  ident: ["type", "sym", "isRaw", "span"],
  punct: ["type", "ch", "joint", "span"],
  literal: ["type", "kind", "hashes", "symbol", "suffix", "span"],
  group: ["type", "delimiter", "span", "stream"],
};

/** The fields of `t` beyond its kind's core ones (undefined ones are dropped, as JSON drops them). */
function extraFields(t: TokenTree): object | null {
  let extra: Record<string, unknown> | null = null;
  const core = CORE_FIELDS[t.type];
  for (const [k, v] of Object.entries(t)) {
    if (v === undefined || core.includes(k)) continue;
    (extra ??= {})[k] = v;
  }
  return extra;
}

function packStream(stream: TokenStream): PackedTree[] {
  return stream.map((t): PackedTree => {
    let packed: PackedTree;
    switch (t.type) {
      case "ident":
        packed = [0, t.sym, t.isRaw, t.span];
        break;
      case "punct":
        packed = [1, t.ch, t.joint, t.span];
        break;
      case "literal":
        packed = [2, t.kind, t.hashes, t.symbol, t.suffix, t.span];
        break;
      case "group":
        packed = [3, DELIMITERS.indexOf(t.delimiter), t.span.open, t.span.close, t.span.entire, packStream(t.stream)];
        break;
    }
    const extra = extraFields(t);
    if (extra !== null) (packed as unknown[]).push(extra);
    return packed;
  });
}

function unpackStream(packed: PackedTree[]): TokenStream {
  const out: TokenStream = new Array(packed.length);
  for (let i = 0; i < packed.length; i++) {
    const p = packed[i];
    let t: TokenTree;
    let extra: object | undefined;
    switch (p[0]) {
      case 0:
        t = { type: "ident", sym: p[1], isRaw: p[2], span: p[3] };
        extra = p[4];
        break;
      case 1:
        t = { type: "punct", ch: p[1], joint: p[2], span: p[3] };
        extra = p[4];
        break;
      case 2:
        t = { type: "literal", kind: p[1] as Extract<TokenTree, { type: "literal" }>["kind"], hashes: p[2], symbol: p[3], suffix: p[4], span: p[5] };
        extra = p[6];
        break;
      case 3:
        t = { type: "group", delimiter: DELIMITERS[p[1]], span: { open: p[2], close: p[3], entire: p[4] }, stream: unpackStream(p[5]) };
        extra = p[6];
        break;
      default:
        throw new Error("not a packed token tree");
    }
    out[i] = extra === undefined ? t : Object.assign(t, extra);
  }
  return out;
}

/**
 * Entries parsed already, by the bytes a store returned. A memory store returns the same bytes
 * object for a key until it drops it, so a hit it answers again (every expansion of a crate that
 * rustc compiles again: the edit-compile loop) skips parsing the JSON, which was most of a hit's
 * cost. Least recently used out past `maxBytes` of entry bytes (a parsed entry takes a few times
 * its bytes). A store that returns fresh bytes every time (the disk's) never hits here; one that
 * reused a buffer for other contents would only miss, since every hit still checks the entry's key
 * and what it observed.
 */
class ParsedEntries {
  private readonly entries = new Map<Uint8Array, CachedExpansion>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  get(bytes: Uint8Array): CachedExpansion | undefined {
    const entry = this.entries.get(bytes);
    if (entry !== undefined) {
      this.entries.delete(bytes);
      this.entries.set(bytes, entry);
    }
    return entry;
  }

  set(bytes: Uint8Array, entry: CachedExpansion): void {
    if (bytes.length > this.maxBytes) return;
    this.entries.set(bytes, entry);
    this.bytes += bytes.length;
    for (const k of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= k.length;
    }
  }
}

const parsedEntries = new ParsedEntries(16 * 1024 * 1024);

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

interface CachedExpansion {
  format: number;
  key: string;
  checkpoint: SpanTableCheckpoint;
  /** The spans the expansion added, relative to the view's bases. */
  delta: SpanTableDelta;
  observations: FsObservation[];
  positions: PositionObservation[];
  /** The result but its table, text and output; the output packed (null: none). */
  result: Omit<ExpandResult, "spans" | "text" | "fromCache" | "output">;
  output: PackedTree[] | null;
}

/** What an expansion observed beyond its key: the granted file system's answers, and the position questions' answers. */
export interface Observed {
  fs: FsObservation[];
  positions: PositionObservation[];
}

export function encodeEntry(
  key: string,
  checkpoint: SpanTableCheckpoint,
  spans: SpanTable,
  view: SpanTableView,
  observed: Observed,
  result: ExpandResult,
): Uint8Array {
  // Not the text: it is printed from the output when read (lazy-text.ts), and reading it here would print it.
  const rest: Record<string, unknown> = {};
  for (const k of Object.keys(result)) if (k !== "spans" && k !== "text" && k !== "fromCache" && k !== "output") rest[k] = result[k as keyof ExpandResult];
  const entry: CachedExpansion = {
    format: EXPANSION_CACHE_FORMAT,
    key,
    checkpoint,
    delta: spans.deltaSince(checkpoint, view.bases),
    observations: observed.fs,
    positions: observed.positions,
    result: rest as CachedExpansion["result"],
    output: result.output === undefined ? null : packStream(result.output),
  };
  return utf8.encode(JSON.stringify(entry));
}

/**
 * The cached result for `key`, replayed into `spans` (whose `cacheView()` is `view`), or null
 * (absent, unusable, or an observed answer changed: the file system's, or where the input sits).
 */
export function decodeEntry(key: string, bytes: Uint8Array, spans: SpanTable, view: SpanTableView, fs: ReadOnlyFs | null | undefined): ExpandResult | null {
  let entry = parsedEntries.get(bytes);
  if (entry === undefined) {
    try {
      entry = JSON.parse(utf8Decoder.decode(bytes)) as CachedExpansion;
    } catch {
      return null; // truncated or corrupt
    }
    if (entry === null || typeof entry !== "object") return null;
    // Shared by every later hit on these bytes: nothing may change it (a change would throw). The
    // packed output is only read by unpackStream, here.
    for (const [k, v] of Object.entries(entry)) if (k !== "output") deepFreeze(v);
    parsedEntries.set(bytes, entry);
  }
  if (entry.format !== EXPANSION_CACHE_FORMAT || entry.key !== key) return null;
  if (!Array.isArray(entry.observations) || !observationsHold(fs, entry.observations)) return null;
  if (!Array.isArray(entry.positions)) return null;
  let output: TokenStream | undefined;
  try {
    if (view.bases !== null && !spans.positionsHold(entry.positions, view.bases)) return null;
    output = entry.output === null ? undefined : unpackStream(entry.output);
    spans.applyDelta(entry.checkpoint, entry.delta, view.bases);
  } catch {
    return null;
  }
  const result = { ...entry.result, ...(output === undefined ? {} : { output }), spans, fromCache: true } as ExpandResult;
  return result.output === undefined ? result : withLazyText(result, result.output);
}
