// The nesting-depth limit: token trees nested deeper than `nestingDepth` (input or output) end the
// expansion with the limit's error, before anything on the host walks them, so that no input can
// overflow the host's stack: not the CLI, not the library, not the proc-macro server. Raising the
// limit lets the depth reach the macro, and what the macro does then is its own business.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { loadMacroModule, type MacroModule } from "../../src/index.js";
import { DEFAULT_LIMITS, LIMIT_SPECS } from "../../src/sandbox/limits.js";
import { tokenStreamFromStr, printTokenStream } from "../../src/tokens/index.js";
import { streamShape } from "../../src/tokens/shape.js";
import type { Group, TokenStream } from "../../src/tokens/model.js";
import { decodeFlatTree, encodeFlatTree } from "../../src/server/flat.js";
import { decodeResponseLine, encodeRequestLine, type Request } from "../../src/server/protocol.js";
import { desugarDocCommentsAsMacroArgs } from "../../src/host/input.js";
import { compileErrors } from "../../src/host/compile-errors.js";
import { SpanTable } from "../../src/bridge/spans.js";
import { expandExpr } from "../../src/bridge/expand-expr.js";
import { findDeriveSites } from "../../src/cli/items.js";
import { cli } from "../support/cli.js";

const root = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "macrobox-nesting-"));
const demoPath = join(dir, "demo_macros.wasm");
const hostilePath = join(dir, "hostile.wasm");
const dylib = "/project/target/debug/deps/libdemo_macros-0123456789abcdef.so";

/** `macrobox <args>` with `input` on its standard input, without rustfmt. */
function run(args: string[], input?: string) {
  return cli(args, { input, env: { MACROBOX_RUSTFMT: "/nonexistent" } });
}

// The outputs hold lines of 40,000 parentheses: failures show their start only.
const clip = (text: string) => (text.length > 1500 ? `${text.slice(0, 1500)}... (${text.length} chars)` : text);
function has(text: string, re: RegExp, message?: string): void {
  assert.ok(re.test(text), `${message ?? `expected ${re}`} in:\n${clip(text)}`);
}
function lacks(text: string, re: RegExp): void {
  assert.ok(!re.test(text), `unexpected ${re} in:\n${clip(text)}`);
}

/** `n` nested parentheses as text, around `inner`. */
const nestedText = (n: number, inner = "") => "(".repeat(n) + inner + ")".repeat(n);

/** `n` nested groups as a token stream, built without recursion (spans all `span`). */
function nestedStream(n: number, span: number): TokenStream {
  let stream: TokenStream = [{ type: "ident", sym: "x", isRaw: false, span }];
  for (let i = 0; i < n; i++) stream = [{ type: "group", delimiter: "Parenthesis", stream, span: { open: span, close: span, entire: span } }];
  return stream;
}

const LIMIT_MESSAGE = /exceeded its nestingDepth limit: .* is limited to 4096 levels.*; raise it with --max-nesting <levels> or the `nestingDepth` option/;

describe("the nesting-depth limit", { timeout: 15 * 60_000 }, () => {
  let demo: MacroModule;
  let hostile: MacroModule;
  before(async () => {
    for (const [crate, out] of [
      ["examples/demo-macros", demoPath],
      ["test/fixtures/hostile", hostilePath],
    ]) {
      const r = run(["build", join(root, crate), "-o", out, "--quiet"]);
      assert.equal(r.code, 0, r.stderr);
    }
    writeFileSync(join(dir, "deep20k.txt"), nestedText(20_000));
    writeFileSync(join(dir, "deep200k.txt"), nestedText(200_000));
    demo = await loadMacroModule(new Uint8Array(readFileSync(demoPath)));
    hostile = await loadMacroModule(new Uint8Array(readFileSync(hostilePath)));
  });

  it("is a limit like the others: default deep enough for real code, below 20,000; listed in the help", () => {
    const spec = LIMIT_SPECS.nestingDepth;
    assert.equal(spec.flag, "--max-nesting");
    assert.ok(DEFAULT_LIMITS.nestingDepth >= 2048 && DEFAULT_LIMITS.nestingDepth < 20_000, String(DEFAULT_LIMITS.nestingDepth));
    assert.match(run(["--help"]).stdout, /--max-nesting levels/);
  });

  it("the lexer stops at the first delimiter past maxDepth, before building trees; at the limit it builds them", () => {
    const table = new SpanTable();
    const file = table.addFile("t.rs", nestedText(10, "a"));
    const at = tokenStreamFromStr(nestedText(10, "a"), (lo, hi) => table.span(file, lo, hi), { maxDepth: 10 });
    assert.ok(at.ok);
    assert.equal(streamShape(at.stream).depth, 10);
    const over = tokenStreamFromStr("x [{" + nestedText(9, "a") + "}]", () => 0, { maxDepth: 10 });
    assert.ok(!over.ok);
    assert.deepEqual([over.error.kind, over.error.lo, over.error.hi], ["depth", 12, 13]);
    // Unlimited, 200,000 levels lex (building trees is iterative) and measure.
    const deep = tokenStreamFromStr(nestedText(200_000), () => 0);
    assert.ok(deep.ok);
    assert.deepEqual(streamShape(deep.stream), { tokens: 200_000, depth: 200_000 });
  });

  it("the host's walks over trees take 200,000 levels (print, doc-comment desugaring, compile_error! scan)", () => {
    const spans = new SpanTable();
    const deep = nestedStream(200_000, spans.dummy);
    assert.equal(printTokenStream(deep), nestedText(200_000, "x"));
    assert.equal(streamShape(desugarDocCommentsAsMacroArgs(deep)).depth, 200_000);
    assert.deepEqual(compileErrors(deep, spans), []);
  });

  it("finding derive sites takes modules nested 20,000 deep, in order", () => {
    const n = 20_000;
    const text = `#[derive(D)] struct A;${" mod m { #[derive(D)] struct B; ".repeat(n)}${"}".repeat(n)} #[derive(D)] struct C;`;
    const lexed = tokenStreamFromStr(text, () => 0);
    assert.ok(lexed.ok);
    const sites = findDeriveSites(lexed.stream, "D");
    assert.equal(sites.length, n + 2);
    assert.deepEqual([sites[0].item, sites[1].item, sites[n].item, sites[n + 1].item], ["A", "B", "B", "C"]);
  });

  it("expand_expr: concat! nested as deep as the limit allows stops at rustc's recursion limit, not the host's stack", () => {
    const text = "concat!(".repeat(DEFAULT_LIMITS.nestingDepth - 1) + '"a"' + ")".repeat(DEFAULT_LIMITS.nestingDepth - 1);
    const lexed = tokenStreamFromStr(text, () => 0);
    assert.ok(lexed.ok);
    const errors: string[] = [];
    const result = expandExpr(lexed.stream, { spans: new SpanTable(), env: () => null, trackEnv: () => {}, error: (m) => errors.push(m) });
    assert.equal(result, null);
    assert.deepEqual(errors, ["recursion limit reached while expanding `concat!`"]);
  });

  it("1,000 levels of real-ish code still expand", async () => {
    const expr = `SELECT id FROM t WHERE ${"f(".repeat(1000)}id${")".repeat(1000)} > 0`;
    const r = await demo.expand({ kind: "bang", name: "sql", input: expr });
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    // sql! yields the statement as printed by `to_string` (which breaks long lines).
    has(r.text, /^"SELECT id FROM t WHERE(\s|\\n)+f\(f\(/);
    assert.equal(r.text.match(/f\(/g)?.length, 1000);
    const echoed = await hostile.expand({ kind: "bang", name: "echo", input: `fn f() { ${"[".repeat(1000)}1${"]".repeat(1000)} }` });
    assert.ok(echoed.ok, echoed.ok ? "" : echoed.error.message);
    assert.equal(streamShape(echoed.output).depth, 1001);
  });

  for (const levels of ["20k", "200k"]) {
    it(`CLI: ${levels} nested groups give one message naming the limit and its flag, no stack trace`, () => {
      const r = run(["expand", demoPath, "--bang", "sql", "--file", join(dir, `deep${levels}.txt`)]);
      assert.equal(r.code, 1);
      has(r.stderr, LIMIT_MESSAGE);
      has(r.stderr, /^error: the input of proc macro `sql` exceeded its nestingDepth limit/m);
      has(r.stderr, new RegExp(`--> ${join(dir, `deep${levels}.txt`)}:1:4097$`, "m"), "points at the first delimiter too deep");
      assert.equal(r.stderr.match(/^error/gm)?.length, 1, r.stderr.slice(0, 2000));
      lacks(r.stderr, /RangeError|Maximum call stack|^\s+at /m);
    });
  }

  it("CLI: a derive's source file is held to the limit too", () => {
    const file = join(dir, "deep.rs");
    writeFileSync(file, `#[derive(Describe)]\nstruct S { a: ${"(".repeat(20_000)}u8${",)".repeat(20_000)} }\n`);
    const r = run(["expand", demoPath, "--derive", "Describe", file]);
    assert.equal(r.code, 1);
    has(r.stderr, /^error: .*deep\.rs:2:4110: the source file exceeded its nestingDepth limit: .*raise it with --max-nesting/m);
    lacks(r.stderr, /RangeError|^\s+at /m);
    // Raised, the trees reach the macro, which recurses in syn until its own stack overflows: a trap.
    const raised = run(["expand", demoPath, "--derive", "Describe", file, "--max-nesting", "30000"]);
    assert.equal(raised.code, 1);
    has(raised.stderr, /^error: proc macro `Describe` trapped: /m);
    has(raised.stderr, /help: this is most likely a stack overflow: the macro recursed too deeply/);
    lacks(raised.stderr, /RangeError|^\s+at /m);
  });

  it("CLI: --max-nesting 30000 lets 20,000 levels reach the macro, which answers as it does", () => {
    const r = run(["expand", demoPath, "--bang", "sql", "--file", join(dir, "deep20k.txt"), "--max-nesting", "30000"]);
    // sql! looks at the first token, a group, and reports its own compile_error!.
    has(r.stderr, /^error: sql! expects a statement starting with a keyword$/m);
    lacks(r.stderr, /nestingDepth|RangeError|^\s+at /m);
    const echoed = run(["expand", hostilePath, "--bang", "echo", "--file", join(dir, "deep20k.txt"), "--max-nesting", "30k", "--no-format"]);
    assert.equal(echoed.code, 0, echoed.stderr.slice(0, 2000));
    assert.equal(echoed.stdout.trim(), nestedText(20_000));
  });

  it("library: the limits option at load and per expansion, for text and for token-stream inputs", async () => {
    const input = nestedText(20_000);
    const refused = await demo.expand({ kind: "bang", name: "sql", input });
    assert.ok(!refused.ok);
    assert.deepEqual([refused.error.kind, refused.error.limit], ["limit", "nestingDepth"]);
    assert.match(refused.error.message, LIMIT_MESSAGE);
    // A given stream: measured without recursion, 200,000 levels included.
    for (const n of [20_000, 200_000]) {
      const spans = new SpanTable();
      const stream = await hostile.expand({ kind: "bang", name: "echo", input: nestedStream(n, spans.dummy), spans });
      assert.ok(!stream.ok);
      assert.equal(stream.error.limit, "nestingDepth");
    }
    const perExpand = await hostile.expand({ kind: "bang", name: "echo", input, limits: { nestingDepth: 30_000 } });
    assert.ok(perExpand.ok, perExpand.ok ? "" : perExpand.error.message);
    assert.equal(streamShape(perExpand.output).depth, 20_000);
    const raised = await loadMacroModule(new Uint8Array(readFileSync(hostilePath)), { limits: { nestingDepth: 30_000 } });
    const atLoad = await raised.expand({ kind: "bang", name: "echo", input });
    assert.ok(atLoad.ok, atLoad.ok ? "" : atLoad.error.message);
    assert.equal(atLoad.text, input);
    // Attribute arguments are inputs too.
    const args = await hostile.expand({ kind: "attr", name: "echo_attr", input: "fn f() {}", args: input });
    assert.ok(!args.ok);
    assert.match(args.error.message, /^the attribute arguments of proc macro `echo_attr` exceeded its nestingDepth limit/);
  });

  it("deep output: a macro nesting groups one call at a time, or parsing a deep string, ends with the limit", async () => {
    for (const name of ["deep_output", "deep_parse"]) {
      const r = await hostile.expand({ kind: "bang", name, input: "" });
      assert.ok(!r.ok);
      assert.deepEqual([r.error.kind, r.error.limit], ["limit", "nestingDepth"]);
      assert.match(r.error.message, new RegExp(`^proc macro \`${name}\` ${LIMIT_MESSAGE.source}`));
      const next = await hostile.expand({ kind: "bang", name: "hello", input: "" });
      assert.ok(next.ok);
    }
    const tight = await hostile.expand({ kind: "bang", name: "deep_output", input: "", limits: { nestingDepth: 100 } });
    assert.match(tight.error!.message, /limited to 100 levels \(needed 101 levels\)/);
  });

  it("server: 20,000 and 200,000 levels get an error reply naming the limit, then the next request is served", () => {
    const request = (body: TokenStream): Request =>
      ({
        type: "ExpandMacro",
        lib: dylib,
        env: [],
        currentDir: null,
        macroBody: encodeFlatTree(body, { rootSpan: 1 }),
        macroName: "sql",
        attributes: null,
        globals: { defSite: 0, callSite: 1, mixedSite: 2 },
        spanDataTable: [],
      }) as Request;
    const lexed = tokenStreamFromStr("select id from users", () => 3);
    assert.ok(lexed.ok);
    const normal = request(lexed.stream);
    const lines = [request(nestedStream(20_000, 3)), request(nestedStream(200_000, 3)), normal].map(encodeRequestLine).join("");
    const served = run(["proc-macro-server", "--module", `demo_macros=${demoPath}`], lines);
    assert.equal(served.code, 0, served.stderr);
    const replies = served.stdout.trim().split("\n").map(decodeResponseLine);
    assert.equal(replies.length, 3);
    for (const reply of replies.slice(0, 2)) {
      assert.ok(reply.type === "ExpandMacro" && !reply.result.ok, JSON.stringify(reply).slice(0, 500));
      assert.match(reply.result.error, LIMIT_MESSAGE);
    }
    const last = replies[2];
    assert.ok(last.type === "ExpandMacro" && last.result.ok, JSON.stringify(last));
    const out = decodeFlatTree(last.result.value);
    assert.deepEqual(
      out.map((t) => (t.type === "literal" ? t.symbol : t.type)),
      ["select id from users"],
    );

    // Raised with the same flag, 20,000 levels reach the macro (and its compile_error! comes back).
    const raised = run(
      ["proc-macro-server", "--module", `demo_macros=${demoPath}`, "--max-nesting", "30000"],
      encodeRequestLine(request(nestedStream(20_000, 3))),
    );
    const reply = decodeResponseLine(raised.stdout.trim());
    assert.ok(reply.type === "ExpandMacro" && reply.result.ok, raised.stdout.slice(0, 500));
    const tokens = decodeFlatTree(reply.result.value);
    assert.equal(tokens[0].type === "ident" && tokens[0].sym, "compile_error");
    assert.match((tokens[2] as Group).stream.map((t) => (t.type === "literal" ? t.symbol : "")).join(""), /expects a statement starting with a keyword/);
  });
});
