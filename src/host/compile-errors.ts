// The errors a macro reports by emitting `compile_error!("...")` (syn's `Error::to_compile_error`,
// which most macros use): rustc reports them when it compiles the output, at the span of the whole
// `compile_error!(...)` invocation. `macrobox expand` shows them the same way.
//
// Only where rustc would: a `compile_error!` under `#[cfg(...)]` (on itself or on an item around
// it) that is false for the target of the real compilation is configured away. `ctor`'s `#[ctor]`
// emits `#[cfg(not(any(target_os = "linux", ...)))] compile_error!(...)` for the targets it does
// not support. A cfg this host cannot decide (a feature, `test`, a key it does not know) makes the
// error a note saying so.
//
// Browser-safe.

import type { TokenStream, TokenTree } from "../tokens/model.js";
import { unescapeStr } from "../tokens/index.js";
import type { Diagnostic } from "./types.js";
import type { SpanTable } from "../bridge/spans.js";

/** The `cfg` values of the compilation the expansion is for. Absent values are unknown ("unsure"). */
export interface CfgTarget {
  arch: string;
  os: string;
  family: string[];
  env: string;
  vendor: string;
  pointerWidth: string;
  endian: string;
  /** `debug_assertions`: on in cargo's dev profile; unknown by default. */
  debugAssertions?: boolean;
  /** Enabled features of the crate being compiled; unknown by default. */
  features?: readonly string[];
}

/** The host of this machine: x86_64-unknown-linux-gnu. */
export const DEFAULT_CFG_TARGET: Readonly<CfgTarget> = Object.freeze({
  arch: "x86_64",
  os: "linux",
  family: ["unix"],
  env: "gnu",
  vendor: "unknown",
  pointerWidth: "64",
  endian: "little",
});

export interface CompileErrorOptions {
  /** The target of the real compilation. Default DEFAULT_CFG_TARGET. */
  target?: CfgTarget;
}

/** true, false, or null when this host cannot tell. */
export type CfgValue = boolean | null;

/**
 * The `compile_error!`s rustc would report for `output`: errors where every `#[cfg]` around them
 * holds, notes (saying why) where one cannot be decided; none where one is false.
 */
export function compileErrors(output: TokenStream, spans: SpanTable, options: CompileErrorOptions = {}): Diagnostic[] {
  const target = options.target ?? DEFAULT_CFG_TARGET;
  const found: Diagnostic[] = [];
  // Depth first in order, with an explicit stack: the output may be nested as deep as the
  // nestingDepth limit allows, which a recursive walk could not take. Each frame keeps the
  // `#[cfg(...)]`s seen since the last item of its stream ended, and whether they hold.
  interface Frame {
    stream: TokenTree[];
    next: number;
    /** Why an enclosing cfg is undecidable, or null when all enclosing ones hold. */
    unsure: string | null;
    pending: CfgValue;
    pendingWhy: string | null;
  }
  const stack: Frame[] = [{ stream: output, next: 0, unsure: null, pending: true, pendingWhy: null }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const stream = frame.stream;
    if (frame.next >= stream.length) {
      stack.pop();
      continue;
    }
    const i = frame.next++;
    const t = stream[i];
    const next = stream[i + 1];
    // An outer attribute: `#` `[...]`.
    if (t.type === "punct" && t.ch === "#" && next?.type === "group" && next.delimiter === "Bracket") {
      const cfg = cfgOfAttribute(next.stream);
      if (cfg !== undefined) {
        const value = evalCfg(cfg, target);
        if (value === false) frame.pending = false;
        else if (value === null && frame.pending !== false) {
          frame.pending = null;
          frame.pendingWhy ??= `#[cfg(${printCfg(cfg)})]`;
        }
      }
      frame.next += 1;
      continue;
    }
    const bang = stream[i + 1];
    const args = stream[i + 2];
    const here = frame.pending;
    const why = frame.unsure ?? frame.pendingWhy;
    if (t.type === "ident" && t.sym === "compile_error" && bang?.type === "punct" && bang.ch === "!" && args?.type === "group") {
      if (here !== false) {
        const lit = args.stream[0];
        const message =
          lit?.type === "literal" && lit.kind === "Str"
            ? (unescapeStr(lit.symbol) ?? lit.symbol)
            : lit?.type === "literal" && lit.kind === "StrRaw"
              ? lit.symbol
              : "compile_error!";
        // rustc's span for the invocation: from the macro name to the closing delimiter.
        const span = spans.join(t.span, args.span.entire) ?? t.span;
        const location = [spans.location(span)];
        if (here === null || why !== null) {
          found.push({
            level: "note",
            message: `the macro emitted \`compile_error!(${JSON.stringify(message)})\` under ${why ?? "a cfg"}, which this host cannot evaluate: rustc reports it as an error if that holds`,
            spans: location,
            children: [],
          });
        } else found.push({ level: "error", message, spans: location, children: [] });
      }
      frame.next += 2;
    } else if (t.type === "group" && here !== false) {
      stack.push({ stream: t.stream, next: 0, unsure: here === null ? why : frame.unsure, pending: true, pendingWhy: null });
    }
    // The item the attributes were on ends at `;` or at a `{...}` not followed by `;`.
    const ends = (t.type === "punct" && t.ch === ";") || (t.type === "group" && t.delimiter === "Brace" && !(next?.type === "punct" && next.ch === ";"));
    if (ends) {
      frame.pending = true;
      frame.pendingWhy = null;
    }
  }
  return found;
}

/** A cfg predicate: `name`, `name = "value"`, all(...), any(...), not(...). */
export type Cfg = { op: "option"; name: string; value: string | null } | { op: "all" | "any"; args: Cfg[] } | { op: "not"; arg: Cfg } | { op: "invalid" };

/** The predicate of `cfg(...)` in an attribute's bracket contents; undefined when it is not a cfg. */
function cfgOfAttribute(stream: TokenTree[]): Cfg | undefined {
  const [name, args] = stream;
  if (stream.length !== 2 || name.type !== "ident" || name.sym !== "cfg" || args.type !== "group" || args.delimiter !== "Parenthesis") return undefined;
  const list = parseCfgList(args.stream);
  return list.length === 1 ? list[0] : { op: "invalid" };
}

function parseCfgList(stream: TokenTree[]): Cfg[] {
  const out: Cfg[] = [];
  let i = 0;
  while (i < stream.length) {
    const t = stream[i];
    if (t.type !== "ident") return [{ op: "invalid" }];
    const n = stream[i + 1];
    if ((t.sym === "all" || t.sym === "any" || t.sym === "not") && n?.type === "group" && n.delimiter === "Parenthesis") {
      const args = parseCfgList(n.stream);
      if (t.sym === "not") out.push(args.length === 1 ? { op: "not", arg: args[0] } : { op: "invalid" });
      else out.push({ op: t.sym, args });
      i += 2;
    } else if (n?.type === "punct" && n.ch === "=") {
      const v = stream[i + 2];
      if (v?.type !== "literal" || v.kind !== "Str") return [{ op: "invalid" }];
      out.push({ op: "option", name: t.sym, value: unescapeStr(v.symbol) });
      i += 3;
    } else {
      out.push({ op: "option", name: t.sym, value: null });
      i += 1;
    }
    const sep = stream[i];
    if (sep === undefined) break;
    if (sep.type !== "punct" || sep.ch !== ",") return [{ op: "invalid" }];
    i += 1;
  }
  return out;
}

/** Evaluates a cfg predicate for `target` (three-valued: null when unknown). */
export function evalCfg(cfg: Cfg, target: CfgTarget = DEFAULT_CFG_TARGET): CfgValue {
  switch (cfg.op) {
    case "invalid":
      return null;
    case "not": {
      const v = evalCfg(cfg.arg, target);
      return v === null ? null : !v;
    }
    case "all": {
      let result: CfgValue = true;
      for (const a of cfg.args) {
        const v = evalCfg(a, target);
        if (v === false) return false;
        if (v === null) result = null;
      }
      return result;
    }
    case "any": {
      let result: CfgValue = false;
      for (const a of cfg.args) {
        const v = evalCfg(a, target);
        if (v === true) return true;
        if (v === null) result = null;
      }
      return result;
    }
    case "option":
      return evalOption(cfg.name, cfg.value, target);
  }
}

function evalOption(name: string, value: string | null, t: CfgTarget): CfgValue {
  const eq = (actual: string) => (value === null ? false : value === actual);
  switch (name) {
    case "target_os":
      return eq(t.os);
    case "target_arch":
      return eq(t.arch);
    case "target_env":
      return eq(t.env);
    case "target_vendor":
      return eq(t.vendor);
    case "target_pointer_width":
      return eq(t.pointerWidth);
    case "target_endian":
      return eq(t.endian);
    case "target_family":
      return value !== null && t.family.includes(value);
    case "unix":
    case "windows":
      return value === null ? t.family.includes(name) : false;
    case "debug_assertions":
      return value !== null ? false : (t.debugAssertions ?? null);
    case "feature":
      return value === null ? false : t.features ? t.features.includes(value) : null;
    default:
      return null;
  }
}

function printCfg(cfg: Cfg): string {
  switch (cfg.op) {
    case "invalid":
      return "...";
    case "not":
      return `not(${printCfg(cfg.arg)})`;
    case "all":
    case "any":
      return `${cfg.op}(${cfg.args.map(printCfg).join(", ")})`;
    case "option":
      return cfg.value === null ? cfg.name : `${cfg.name} = ${JSON.stringify(cfg.value)}`;
  }
}
