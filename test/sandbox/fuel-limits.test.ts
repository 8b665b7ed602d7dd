// The limits model: defaults, validation, flag parsing, and the LimitExceeded error's contents.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_LIMITS,
  InvalidLimit,
  LIMIT_NAMES,
  LIMIT_SPECS,
  LimitExceeded,
  checkLimit,
  formatLimit,
  parseLimitValue,
  resolveLimits,
} from "../../src/sandbox/limits.js";

test("every limit has a documented, valid default and a distinct flag", () => {
  assert.deepEqual(LIMIT_NAMES.sort(), ["capturedOutputBytes", "fuel", "memoryPages", "nestingDepth", "outputBytes", "tokenHandles", "wallClockMs"]);
  for (const name of LIMIT_NAMES) {
    assert.equal(checkLimit(name, DEFAULT_LIMITS[name]), LIMIT_SPECS[name].default);
    assert.match(LIMIT_SPECS[name].flag, /^--[a-z-]+$/);
  }
  assert.equal(new Set(LIMIT_NAMES.map((n) => LIMIT_SPECS[n].flag)).size, LIMIT_NAMES.length);
  assert.equal(DEFAULT_LIMITS.memoryPages * 65536, 256 * 1024 * 1024);
  assert.ok(Object.isFrozen(DEFAULT_LIMITS));
});

test("resolveLimits overrides defaults and refuses bad values and unknown names", () => {
  const limits = resolveLimits({ fuel: 5_000, memoryPages: undefined });
  assert.equal(limits.fuel, 5_000);
  assert.equal(limits.memoryPages, DEFAULT_LIMITS.memoryPages);
  assert.throws(
    () => resolveLimits({ fuel: -1 }),
    (e: unknown) => e instanceof InvalidLimit && /--fuel/.test(e.message),
  );
  assert.throws(() => resolveLimits({ fuel: 1.5 }), InvalidLimit);
  assert.throws(() => resolveLimits({ fuel: "10" }), InvalidLimit);
  assert.throws(() => resolveLimits({ memoryPages: 65537 }), /at most 65536/);
  assert.throws(() => resolveLimits({ feul: 10 }), /unknown limit `feul`/);
});

test("parseLimitValue reads plain numbers, separators and size suffixes", () => {
  assert.equal(parseLimitValue("fuel", "1_000_000"), 1_000_000);
  assert.equal(parseLimitValue("fuel", "5g"), 5_000_000_000);
  assert.equal(parseLimitValue("memoryPages", "16"), 16);
  assert.equal(parseLimitValue("memoryPages", "512M"), 8192);
  assert.equal(parseLimitValue("memoryPages", "1G"), 16384);
  assert.equal(parseLimitValue("memoryPages", "100K"), 2); // rounded up to whole pages
  assert.throws(() => parseLimitValue("fuel", "lots"), /--fuel expects a number/);
  assert.throws(() => parseLimitValue("fuel", "0"), InvalidLimit);
  assert.throws(() => parseLimitValue("memoryPages", "8G"), /at most 65536/);
  assert.equal(parseLimitValue("outputBytes", "2M"), 2 * 1024 * 1024);
  assert.equal(parseLimitValue("capturedOutputBytes", "1_000"), 1000);
});

test("formatLimit gives values with units people read", () => {
  assert.equal(formatLimit("memoryPages", 4096), "4096 pages (256 MiB)");
  assert.equal(formatLimit("memoryPages", 17), "17 pages (1.06 MiB)");
  assert.equal(formatLimit("fuel", 2_000_000_000), "2000000000 instructions");
  assert.equal(formatLimit("outputBytes", 16 * 1024 * 1024), "16777216 bytes (16 MiB)");
  assert.equal(formatLimit("capturedOutputBytes", 100), "100 bytes");
});

test("LimitExceeded names the limit, its value, what was needed and how to raise it", () => {
  const e = new LimitExceeded("memoryPages", 4096, 5000);
  assert.ok(e instanceof Error);
  assert.equal(e.name, "LimitExceeded");
  assert.equal(e.limit, "memoryPages");
  assert.equal(e.option, "memoryPages");
  assert.equal(e.flag, "--memory");
  assert.equal(e.value, 4096);
  assert.equal(e.used, 5000);
  assert.match(
    e.message,
    /limited to 4096 pages \(256 MiB\) \(needed 5000 pages \(312.5 MiB\)\); raise it with --memory <pages\|size> or the `memoryPages` option/,
  );
  assert.doesNotMatch(new LimitExceeded("fuel", 10).message, /needed/);
});
