// The resource limits a macro expansion runs under, their defaults, and the error raised when one
// is exceeded.
//
// How each limit is enforced (by whom):
// - fuel: counted in the module itself (see fuel.ts): every function entry, loop header and join
//   point subtracts the instruction count of the straight-line code that follows from an exported
//   global and traps when it drops below zero. Deterministic: the same module and input stop at the
//   same instruction on every engine. This is the real CPU bound, and the only one available when a
//   macro runs on the main thread (a synchronous wasm call cannot be interrupted there).
// - memoryPages: written into the module as its memory's maximum when it is instrumented, so
//   `memory.grow` past it returns -1 (Rust's allocator then reports allocation failure and aborts).
// - wallClockMs: a backstop only. `macrobox expand` enforces it with a watchdog thread that ends
//   the process (src/cli/watchdog.ts); a long-running host can run expansions in a Worker and
//   terminate it. It is not deterministic, so it should sit well above the time the fuel limit
//   allows; inside one thread it is not enforceable and fuel is the bound.
// - outputBytes, tokenHandles, capturedOutputBytes: checked by the bridge server / WASI layer as
//   the macro produces output, allocates handles or writes to stdout/stderr.
// - nestingDepth: checked on the input before anything walks it (while lexing text, by an
//   iterative measure of given token streams) and by the bridge server on every stream it stores,
//   so a macro cannot build output deeper than it either. Everything the host does over trees is
//   iterative or runs after the check, so no input or output overflows the host's own stack.
//
// Browser-safe: no Node APIs.

import { MacroboxError } from "../errors.js";

export interface Limits {
  /** Wasm instructions one expansion may execute (metered by fuel.ts). */
  fuel: number;
  /** Maximum linear memory of the macro module, in 64 KiB wasm pages. */
  memoryPages: number;
  /** Wall-clock backstop for one expansion, in milliseconds (see above for who enforces it). */
  wallClockMs: number;
  /** Maximum size of one expansion's output, in bytes of printed token text. */
  outputBytes: number;
  /** Maximum number of token-stream/group/span handles alive at once during one expansion. */
  tokenHandles: number;
  /** Maximum bytes the macro may write to stdout/stderr in one expansion (the rest is dropped). */
  capturedOutputBytes: number;
  /** Maximum depth of token trees nested inside each other, in the input and in every stream the macro builds. */
  nestingDepth: number;
}

export type LimitName = keyof Limits;

export interface LimitSpec {
  /** What the limit bounds, for messages and help text. */
  description: string;
  /** The unit its value is counted in. */
  unit: string;
  /** The flag's argument, for help text and messages (`--memory <pages|size>`). */
  argument: string;
  /** The command-line flag that sets it. */
  flag: string;
  default: number;
  /** The largest value accepted (beyond it the engine or format cannot honour the limit). */
  max: number;
}

/** A WebAssembly memory page, in bytes: what `memoryPages` counts, and the unit memory grows by. */
export const WASM_PAGE_BYTES = 64 * 1024;

/**
 * Every limit with its default and how to raise it. Defaults are sized for real derive macros
 * (serde_derive on large types runs well under 10^8 instructions and 64 MiB) with headroom, while
 * a runaway macro still stops within a few seconds.
 */
export const LIMIT_SPECS: Readonly<Record<LimitName, LimitSpec>> = {
  fuel: {
    description: "wasm instructions executed by one expansion",
    unit: "instructions",
    argument: "<instructions>",
    flag: "--fuel",
    default: 2_000_000_000,
    max: Number.MAX_SAFE_INTEGER,
  },
  memoryPages: {
    description: "linear memory of the macro module",
    unit: "pages of 64 KiB",
    argument: "<pages|size>",
    flag: "--memory",
    default: (256 * 1024 * 1024) / WASM_PAGE_BYTES, // 256 MiB
    max: 65536, // 4 GiB, all a wasm32 memory can address
  },
  wallClockMs: {
    description: "wall-clock time of one expansion (a backstop; fuel is the deterministic bound)",
    unit: "milliseconds",
    argument: "<milliseconds>",
    flag: "--timeout",
    default: 30_000,
    max: 24 * 60 * 60 * 1000,
  },
  outputBytes: {
    description: "size of one expansion's output tokens",
    unit: "bytes",
    argument: "<bytes|size>",
    flag: "--max-output",
    default: 16 * 1024 * 1024,
    max: 2 ** 31,
  },
  tokenHandles: {
    description: "token-stream handles alive at once during one expansion",
    unit: "handles",
    argument: "<handles>",
    flag: "--max-handles",
    default: 1_000_000,
    max: 2 ** 31,
  },
  capturedOutputBytes: {
    description: "bytes the macro writes to stdout/stderr in one expansion",
    unit: "bytes",
    argument: "<bytes|size>",
    flag: "--max-captured-output",
    default: 1024 * 1024,
    max: 2 ** 31,
  },
  nestingDepth: {
    description: "nesting depth of token trees (groups inside groups) in a macro's input and output",
    unit: "levels",
    argument: "<levels>",
    flag: "--max-nesting",
    // Real code nests a few dozen levels, generated code a few hundred.
    default: 4096,
    max: 2 ** 31,
  },
};

export const LIMIT_NAMES = Object.keys(LIMIT_SPECS) as LimitName[];

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze(
  Object.fromEntries(LIMIT_NAMES.map((name) => [name, LIMIT_SPECS[name].default])) as unknown as Limits,
);

/** Raised when a macro expansion exceeds one of its limits. Says which, by how much, and how to raise it. */
export class LimitExceeded extends MacroboxError {
  override name = "LimitExceeded";
  /** The option name that sets this limit (a key of `Limits`). */
  readonly option: LimitName;
  /** The command-line flag that sets this limit. */
  readonly flag: string;

  constructor(
    readonly limit: LimitName,
    /** The limit's value in force. */
    readonly value: number,
    /** What was used or requested when it tripped, when known. */
    readonly used?: number,
    /** What exceeded it, for the message. */
    subject = "macro",
  ) {
    const spec = LIMIT_SPECS[limit];
    const usedText = used !== undefined ? ` (needed ${formatLimit(limit, used)})` : "";
    super(
      "limit",
      `${subject} exceeded its ${limit} limit: ${spec.description} is limited to ${formatLimit(limit, value)}${usedText}; ` +
        `raise it with ${spec.flag} ${spec.argument} or the \`${limit}\` option`,
    );
    this.option = limit;
    this.flag = spec.flag;
  }
}

/** A limit value with its unit, for people: `4096 pages (256 MiB)`, `2000000000 instructions`. */
export function formatLimit(name: LimitName, value: number): string {
  if (name === "memoryPages") return `${value} pages (${formatBytes(value * WASM_PAGE_BYTES)})`;
  const spec = LIMIT_SPECS[name];
  if (spec.unit === "bytes" && value >= 1024) return `${value} bytes (${formatBytes(value)})`;
  return `${value} ${spec.unit}`;
}

function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ["GiB", 2 ** 30],
    ["MiB", 2 ** 20],
    ["KiB", 2 ** 10],
  ] as const) {
    if (bytes >= size) return `${+(bytes / size).toFixed(2)} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** Raised for a limit value that is not usable (negative, fractional, too large). */
export class InvalidLimit extends MacroboxError {
  override name = "InvalidLimit";
  constructor(message: string) {
    super("invalid-limit", message);
  }
}

/** Checks one limit value: a positive safe integer within the limit's maximum. */
export function checkLimit(name: LimitName, value: unknown): number {
  const spec = LIMIT_SPECS[name];
  if (spec === undefined) throw new InvalidLimit(`unknown limit \`${String(name)}\`; known: ${LIMIT_NAMES.join(", ")}`);
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidLimit(`${name} (${spec.flag}) must be a positive whole number of ${spec.unit}, got ${String(value)}`);
  }
  if (value > spec.max) {
    throw new InvalidLimit(`${name} (${spec.flag}) is at most ${spec.max} ${spec.unit}, got ${value}`);
  }
  return value;
}

/** The defaults overridden by `overrides`, each checked. Unknown keys are an error (likely a typo). */
export function resolveLimits(overrides: Partial<Record<string, unknown>> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in LIMIT_SPECS)) {
      throw new InvalidLimit(`unknown limit \`${key}\`; known: ${LIMIT_NAMES.join(", ")}`);
    }
    limits[key as LimitName] = checkLimit(key as LimitName, value);
  }
  return limits;
}

/**
 * Parses a command-line limit value: digits with optional `_` separators and an optional suffix.
 * For memory, `64K`/`512M`/`1G` are sizes in bytes (rounded up to whole pages; a bare number is
 * pages); for the byte limits they are KiB/MiB/GiB; for the others `k`/`m`/`g` multiply by
 * 10^3/10^6/10^9 (`--fuel 5g`).
 */
export function parseLimitValue(name: LimitName, text: string): number {
  const spec = LIMIT_SPECS[name];
  if (spec === undefined) throw new InvalidLimit(`unknown limit \`${name}\``);
  const scaled = parseScaled(text);
  if (scaled === null) throw new InvalidLimit(`${spec.flag} expects a number of ${spec.unit}, got \`${text}\``);
  const { n, power } = scaled;
  let value = n;
  if (power > 0) {
    if (name === "memoryPages") value = Math.ceil((n * 1024 ** power) / WASM_PAGE_BYTES);
    else if (spec.unit === "bytes") value = n * 1024 ** power;
    else value = n * 1000 ** power;
  }
  return checkLimit(name, value);
}

/**
 * A command-line number: digits with optional `_` separators and an optional `k`/`m`/`g` suffix
 * (`64k`, `16MiB`, `5g`), as the number and the suffix's power (0 without one); null otherwise.
 */
export function parseScaled(text: string): { n: number; power: number } | null {
  const m = /^\s*([0-9][0-9_]*)\s*([kKmMgG]i?[bB]?)?\s*$/.exec(text);
  if (!m) return null;
  const suffix = m[2]?.[0]?.toLowerCase() as "k" | "m" | "g" | undefined;
  return { n: Number(m[1].replace(/_/g, "")), power: suffix === undefined ? 0 : { k: 1, m: 2, g: 3 }[suffix] };
}
