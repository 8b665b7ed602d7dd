// The playground (src/playground, `macrobox playground`) in a real browser: Debian's chromium,
// headless, driven by playwright-core. Every page is served by `macrobox playground` on a
// loopback port, with the hostile and capable fixture modules added with --module. Oracles: the
// Node host (same module bytes, same input) for expansions, rustc itself for serde's error.

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { loadMacroModule, parseTokenStream, type TokenStream } from "../../src/index.js";
import { encodeText } from "../../src/playground/state.js";
import { compareStreams } from "../oracle/compare.js";
import { buildNativeMacro, closeNativeOracle, rustcMacroErrors } from "../oracle/native.js";
import { FIXTURE_MODULES, fixtureModule, macroboxArgs } from "../support/cli.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
/** Where the screenshot goes: docs/playground.png when MACROBOX_UPDATE_SCREENSHOT=1 (then commit it). */
const SCREENSHOT = process.env.MACROBOX_UPDATE_SCREENSHOT === "1" ? join(ROOT, "docs", "playground.png") : join(FIXTURE_MODULES, "playground.png");

const SAMPLE = `#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Order {
    order_id: u64,
    #[serde(rename = "who")]
    customer_name: String,
    line_items: Vec<(String, u32)>,
}
`;

let server: ChildProcess;
let origin: string;
let context: BrowserContext;

before(async () => {
  const hostile = fixtureModule("hostile");
  const capable = fixtureModule("capable");
  server = spawn(process.execPath, macroboxArgs("playground", "--port", "0", "--quiet", "--module", hostile, "--module", capable), {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  origin = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /macrobox playground: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]);
    });
    server.once("exit", (code) => reject(new Error(`macrobox playground exited (${code}) before serving: ${out}`)));
  });
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "macrobox-chromium-")), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await context?.close();
  server?.kill();
  await closeNativeOracle();
});

// A failed test leaves its tab open: close it, so the next test's tab is the only one in front.
afterEach(async () => {
  for (const p of context.pages()) await p.close();
});

/** A fresh tab, recording console errors and every request it (or its worker) makes. */
async function open(fragment = ""): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("request", (r) => requests.push(r.url()));
  page.on("worker", (w) => w.on("console", (m) => m.type() === "error" && errors.push(`worker: ${m.text()}`)));
  await page.goto(`${origin}/${fragment}`);
  return { page, errors, requests };
}

const output = (page: Page) => page.locator('[data-testid="output"]');

/** Waits until the expansion of the page's current state is complete; returns its data-state. */
async function settled(page: Page, timeout = 60_000): Promise<string> {
  await page.waitForSelector('[data-testid="output"][data-state="done"], [data-testid="output"][data-state="error"]', { timeout });
  return (await output(page).getAttribute("data-state"))!;
}

function tokens(text: string): TokenStream {
  const r = parseTokenStream(text, () => 0);
  assert.ok(r.ok, `does not lex: ${text}`);
  return r.stream;
}

async function nodeExpansion(file: string, kind: "derive" | "bang", name: string, input: string) {
  const bytes = new Uint8Array(await (await fetch(`${origin}/modules/${file}`)).arrayBuffer());
  const module = await loadMacroModule(bytes);
  return module.expand({ kind, name, input, fileName: "input.rs" });
}

function link(module: string, kind: string, macro: string, input: string): string {
  return `#module=${module}&kind=${kind}&macro=${macro}&input=${encodeText(input)}`;
}

describe("the playground in chromium", { timeout: 10 * 60_000 }, () => {
  test("loads with no console errors and no request outside its origin; the default expands", async () => {
    const { page, errors, requests } = await open();
    assert.equal(await settled(page), "done");
    assert.match(await output(page).innerText(), /impl _serde :: Serialize for User/);
    const options = await page.locator('[data-testid="macro"] option').allInnerTexts();
    for (const m of ["#[derive(Serialize)]", "#[derive(Deserialize)]", "#[derive(Error)]", "hello!", "include_greeting!"])
      assert.ok(options.includes(m), `${m} in ${options}`);
    assert.deepEqual(errors, []);
    assert.ok(requests.length > 0);
    for (const r of requests) assert.equal(new URL(r).origin, origin, `request outside the page's origin: ${r}`);
    await page.close();
  });

  test("serde_derive Serialize with rename_all: the output is, token for token, the Node host's", async () => {
    const { page, errors } = await open();
    await settled(page);
    await page.locator('[data-testid="input"] .cm-content').click();
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText(SAMPLE);
    assert.equal(await settled(page), "done");
    const shown = await output(page).innerText();
    const node = await nodeExpansion("serde_derive.wasm", "derive", "Serialize", SAMPLE);
    assert.ok(node.ok);
    assert.equal(compareStreams(tokens(shown), node.output), null);
    assert.match(shown, /"ORDER_ID"/);
    assert.match(shown, /"who"/);
    assert.match(await page.locator('[data-testid="time"]').innerText(), /\d+(\.\d+)? ms/);
    await page.locator('[data-testid="check-determinism"]').click();
    await page.waitForFunction(() => /identical|not deterministic/.test(document.querySelector('[data-testid="determinism"]')!.textContent ?? ""));
    assert.match(await page.locator('[data-testid="determinism"]').innerText(), /^identical/);
    await page.screenshot({ path: SCREENSHOT });
    assert.ok(statSync(SCREENSHOT).size > 10_000);
    assert.deepEqual(readFileSync(SCREENSHOT).subarray(1, 4).toString(), "PNG");
    assert.deepEqual(errors, []);
    await page.close();
  });

  test("a bad serde attribute is underlined at the attribute with rustc's message", async () => {
    const input = `#[serde(rename_all = "camelCase", deny_unknown)]\nstruct Config {\n    port: u16,\n}\n`;
    // rustc, with the native serde_derive, on the same item.
    const dir = mkdtempSync(join(tmpdir(), "macrobox-playground-rustc-"));
    const prefix = "#![allow(dead_code)]\nuse serde_derive::Serialize;\n#[derive(Serialize)]\n";
    const file = join(dir, "lib.rs");
    writeFileSync(file, prefix + input);
    const dylib = buildNativeMacro({ name: "serde_derive", version: "1.0.152" });
    const { errors, stderr } = rustcMacroErrors(file, { serde_derive: dylib });
    assert.equal(errors.length, 1, stderr);
    const underlinedByRustc = errors[0].text;
    assert.equal(underlinedByRustc, "deny_unknown");

    const { page, errors: consoleErrors } = await open(link("serde_derive", "derive", "Serialize", input));
    assert.equal(await settled(page), "error");
    await page.waitForSelector(".cm-lintRange-error");
    assert.deepEqual(await page.locator(".cm-lintRange-error").allInnerTexts(), [underlinedByRustc]);
    assert.match(await page.locator('[data-testid="diagnostics"]').innerText(), new RegExp(`error: ${escape(errors[0].message)}`));
    assert.deepEqual(consoleErrors, []);
    await page.close();
  });

  test("a link reproduces the same state and output in a fresh page", async () => {
    const first = await open();
    await settled(first.page);
    await first.page.selectOption('[data-testid="macro"]', { label: "#[derive(Deserialize)]" });
    await first.page.locator('[data-testid="input"] .cm-content').click();
    await first.page.keyboard.press("Control+A");
    await first.page.keyboard.insertText(SAMPLE);
    assert.equal(await settled(first.page), "done");
    const url = first.page.url();
    assert.match(url, /#module=serde_derive&kind=derive&macro=Deserialize&input=/);
    const shown = await output(first.page).innerText();
    await first.page.close();

    const second = await open(url.slice(url.indexOf("#")));
    assert.equal(await settled(second.page), "done");
    assert.equal(await output(second.page).innerText(), shown);
    assert.equal((await second.page.locator('[data-testid="input"] .cm-content').innerText()).trimEnd(), SAMPLE.trimEnd());
    assert.equal(await second.page.locator('[data-testid="macro"] option:checked').innerText(), "#[derive(Deserialize)]");
    assert.deepEqual(second.errors, []);
    await second.page.close();
  });

  test("a module added with --module is listed and expands", async () => {
    const { page, errors } = await open();
    await settled(page);
    const groups = await page.locator('[data-testid="macro"] optgroup').evaluateAll((gs) => gs.map((g) => (g as HTMLOptGroupElement).label));
    assert.ok(groups.includes("hostile_macros 0.1.0 (command line)"), String(groups));
    await page.selectOption('[data-testid="macro"]', { label: "hello!" });
    assert.equal(await settled(page), "done");
    const node = await nodeExpansion("hostile.wasm", "bang", "hello", "");
    assert.ok(node.ok);
    assert.equal(compareStreams(tokens(await output(page).innerText()), node.output), null);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test("a macro that loops forever ends with the fuel error while the page stays responsive", async () => {
    // Four times the default fuel: a window of seconds to type in while the macro spins.
    const { page, errors } = await open(link("hostile_macros", "bang", "infinite_loop", "spin") + "&fuel=8000000000");
    await page.waitForSelector('[data-testid="output"][data-state="running"]', { state: "attached", timeout: 60_000 });
    // While the macro spins in the worker, the page takes typing.
    await page.locator('[data-testid="input"] .cm-content').click();
    await page.keyboard.press("End");
    await page.keyboard.type(" still typing");
    assert.equal(await page.locator('[data-testid="input"] .cm-content').innerText(), "spin still typing");
    assert.notEqual(await output(page).getAttribute("data-state"), "done");
    assert.equal(await settled(page, 120_000), "error");
    assert.match(
      await page.locator('[data-testid="diagnostics"]').innerText(),
      /proc macro `infinite_loop` exceeded its fuel limit: wasm instructions executed by one expansion is limited to 8000000000 instructions/,
    );
    assert.deepEqual(errors, []);
    await page.close();
  });

  test("a macro reading a declared file is denied until granted, then sees the in-page file", async () => {
    const { page, errors } = await open(link("capable_macros", "bang", "include_greeting", '"templates/hello.txt"'));
    await settled(page);
    await page.fill('[data-testid="env"]', "CAPABLE_GREETING=Howdy");
    await page.check('[data-testid="grant-env-CAPABLE_GREETING"]');
    await page.fill('[data-testid="file-path"]', "templates/hello.txt");
    await page.fill('[data-testid="file-content"]', "Hello from the page\n");
    await page.click('[data-testid="file-save"]');
    assert.equal(await settled(page), "error");
    assert.match(await page.locator('[data-testid="diagnostics"]').innerText(), /cannot read templates\/hello\.txt: Permission denied/);
    assert.match(await page.locator('[data-testid="tracked"]').innerText(), /denied: .*templates\/hello\.txt/);
    await page.check('[data-testid="grant-read-templates"]');
    assert.equal(await settled(page), "done");
    assert.equal(await output(page).innerText(), '"Howdy, Hello from the page"');
    const tracked = await page.locator('[data-testid="tracked"]').innerText();
    assert.match(tracked, /tracked env vars: CAPABLE_GREETING = "Howdy"/);
    assert.match(tracked, /files read: .*templates\/hello\.txt/);
    // The grants and the file are part of the link.
    assert.match(page.url(), /&grant-env=CAPABLE_GREETING&grant-read=templates&env=.*&files=/);
    assert.deepEqual(errors, []);
    await page.close();
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
