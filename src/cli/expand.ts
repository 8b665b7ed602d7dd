// `macrobox expand`: run one macro of a module on source text and print what it generates, with
// its diagnostics rendered like rustc's.

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadMacroModule, SpanTable, type ExpandRequest, type ExpandResult } from "../bridge/index.js";
import { parseTokenStream } from "../tokens/index.js";
import { formatRust } from "./format.js";
import { findDeriveSites } from "./items.js";
import { compileModule, UsageError } from "./main.js";
import { renderDiagnostic } from "./render.js";
import type { Diagnostic } from "../bridge/index.js";
import type { TokenTree } from "../tokens/model.js";

function readSource(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export async function expandCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      derive: { type: "string" },
      attr: { type: "string" },
      bang: { type: "string" },
      args: { type: "string" },
      file: { type: "string" },
      "no-format": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const modes = [values.derive, values.attr, values.bang].filter((v) => v !== undefined);
  if (modes.length !== 1) throw new UsageError("expand needs exactly one of --derive <Name>, --attr <name>, --bang <name>");
  const [wasmPath, inputArg] = positionals;
  if (!wasmPath) throw new UsageError("expand needs the module: macrobox expand <module.wasm> ...");
  const module = await loadMacroModule(compileModule(wasmPath));

  // Each job is one expansion: a label and the request.
  const jobs: Array<{ label: string; request: ExpandRequest }> = [];
  const sources = new Map<string, string>();
  if (values.derive !== undefined) {
    if (!inputArg) throw new UsageError("--derive needs the source file whose items to expand");
    const text = readSource(inputArg);
    sources.set(inputArg, text);
    const spans = new SpanTable();
    const file = spans.addFile(inputArg, text, { localPath: resolve(inputArg) });
    const parsed = parseTokenStream(text, (lo: number, hi: number) => spans.span(file, lo, hi));
    if (!parsed.ok) {
      const at = spans.location(spans.span(file, parsed.error.lo, parsed.error.hi));
      throw new UsageError(`${inputArg}:${at.line}:${at.column}: ${parsed.error.message}`);
    }
    const sites = findDeriveSites(parsed.stream, values.derive);
    if (sites.length === 0) throw new UsageError(`no item in ${inputArg} derives \`${values.derive}\``);
    for (const site of sites) {
      jobs.push({ label: `#[derive(${values.derive})] on ${site.item}`, request: { kind: "derive", name: values.derive, input: site.tokens, spans } });
    }
  } else {
    const kind = values.attr !== undefined ? "attr" : "bang";
    const name = (values.attr ?? values.bang)!;
    let input: string;
    let fileName: string;
    if (values.file !== undefined) [input, fileName] = [readSource(values.file), values.file];
    else if (kind === "attr" && inputArg !== undefined) [input, fileName] = [readSource(inputArg), inputArg];
    else if (inputArg !== undefined) [input, fileName] = [inputArg, "<command line>"];
    else throw new UsageError(kind === "attr" ? "--attr needs the item's source file" : "--bang needs the macro input (text, or --file)");
    sources.set(fileName, input);
    const label = kind === "attr" ? `#[${name}${values.args ? `(${values.args})` : ""}]` : `${name}!(...)`;
    if (kind === "attr" && values.args !== undefined) sources.set(`${fileName} (attribute arguments)`, values.args);
    jobs.push({ label, request: { kind, name, input, args: kind === "attr" ? values.args ?? "" : undefined, fileName } });
  }

  let failed = false;
  const results: Array<{ label: string; result: ExpandResult; code?: string }> = [];
  for (const job of jobs) {
    const result = await module.expand(job.request);
    failed ||= !result.ok || compileErrors(result).length > 0;
    const code = result.text === undefined ? undefined : values["no-format"] ? result.text : formatRust(result.text).text;
    results.push({ label: job.label, result, code });
  }
  if (values.json) {
    const plain = results.map(({ label, result, code }) => ({
      label, ok: result.ok, code, error: result.error, diagnostics: result.diagnostics,
      trackedEnv: result.trackedEnv, trackedPaths: result.trackedPaths, stdout: result.stdout, stderr: result.stderr,
    }));
    process.stdout.write(JSON.stringify(plain, null, 2) + "\n");
    return failed ? 1 : 0;
  }
  for (const { label, result, code } of results) {
    if (jobs.length > 1 || !result.ok) process.stdout.write(`// ${label}\n`);
    if (code !== undefined) process.stdout.write(code + "\n");
    if (result.stdout) process.stderr.write(`macro stdout:\n${result.stdout}`);
    if (result.stderr) process.stderr.write(`macro stderr:\n${result.stderr}`);
    const diagnostics = [...result.diagnostics, ...compileErrors(result)];
    for (const d of diagnostics) process.stderr.write(renderDiagnostic(d, sources) + "\n");
    // Failures the macro never saw (unknown macro, unlexable input) come without diagnostics.
    if (result.error && !diagnostics.some((d) => d.level === "error")) process.stderr.write(`error: ${result.error.message}\n`);
  }
  return failed ? 1 : 0;
}

/**
 * Most macros report errors by emitting `compile_error!("...")` with the offending span (syn's
 * `Error::to_compile_error`); rustc reports those when it compiles the output. We report them the
 * same way, so `expand` shows what a build would.
 */
function compileErrors(result: ExpandResult): Diagnostic[] {
  const found: Diagnostic[] = [];
  const walk = (stream: TokenTree[]) => {
    for (let i = 0; i < stream.length; i++) {
      const t = stream[i];
      const bang = stream[i + 1];
      const args = stream[i + 2];
      if (t.type === "ident" && t.sym === "compile_error" && bang?.type === "punct" && bang.ch === "!" && args?.type === "group") {
        const lit = args.stream[0];
        const message = lit?.type === "literal" && lit.kind === "Str" ? unescapeStr(lit.symbol) : lit?.type === "literal" && lit.kind === "StrRaw" ? lit.symbol : "compile_error!";
        found.push({ level: "error", message, spans: [result.spans.location(t.span)], children: [] });
        i += 2;
      } else if (t.type === "group") walk(t.stream);
    }
  };
  walk(result.output ?? []);
  return found;
}

/** The value of a `"..."` literal's symbol (escapes as written in source). */
function unescapeStr(symbol: string): string {
  return symbol.replace(/\\(?:u\{([0-9a-fA-F_]+)\}|x([0-9a-fA-F]{2})|\n\s*|(.))/g, (whole, u, x, c) => {
    if (u !== undefined) return String.fromCodePoint(parseInt(u.replace(/_/g, ""), 16));
    if (x !== undefined) return String.fromCharCode(parseInt(x, 16));
    if (c === undefined) return ""; // line continuation
    return ({ n: "\n", t: "\t", r: "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"' } as Record<string, string>)[c] ?? whole;
  });
}
