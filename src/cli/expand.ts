// `macrobox expand`: run one macro of a module on source text and print what it generates, with
// its diagnostics rendered like rustc's.

import { existsSync, readFileSync } from "node:fs";
import { macroLabel } from "../wasm/decls.js";
import { dirname, join, resolve } from "node:path";
import { loadMacroModule } from "../host/module.js";
import type { ExpandRequest, ExpandResult } from "../host/types.js";
import { SpanTable } from "../bridge/spans.js";
import { tokenStreamFromStr } from "../tokens/index.js";
import { formatRust } from "./format.js";
import { findDeriveSites } from "./items.js";
import { compileModule } from "./compile-module.js";
import { parseCommandLine, UsageError } from "./usage.js";
import { cannotRead } from "../errors.js";
import { expansionFails, formatMessages } from "../host/render.js";
import { readMetadata } from "../wasm/metadata.js";
import { CapabilityError, describeGrant } from "../sandbox/capabilities.js";
import { DEFAULT_LIMITS, formatLimit, LimitExceeded, LIMIT_NAMES, LIMIT_SPECS, parseLimitValue, type Limits } from "../sandbox/limits.js";
import { Watchdog } from "./watchdog.js";
import type { SandboxGrant } from "../sandbox/grant.js";
import { grantFor } from "../node/grants.js";
import { loadGrants, pendingHint, userDirs } from "../node/trust.js";
import { expansionSandbox } from "../node/expansion-sandbox.js";
import { moduleHash, nodeCaches } from "../node/disk-cache.js";
import { remoteCacheSetting } from "../node/settings.js";

/** `--fuel`, `--memory`, ...: one option per limit (src/sandbox/limits.ts). */
const LIMIT_OPTIONS = Object.fromEntries(LIMIT_NAMES.map((n) => [LIMIT_SPECS[n].flag.slice(2), { type: "string" as const }]));

/** The manifest dir of the crate being compiled: the nearest directory above `file` with a Cargo.toml, else the cwd. */
function crateDirFor(file: string | undefined): string {
  if (file !== undefined) {
    for (let dir = dirname(resolve(file)); ; dir = dirname(dir)) {
      if (existsSync(join(dir, "Cargo.toml"))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  return process.cwd();
}

function readSource(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw cannotRead(path, e);
  }
}

export async function expandCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
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
      "allow-env": { type: "string", multiple: true },
      "allow-read": { type: "string", multiple: true },
      config: { type: "string" },
      "crate-dir": { type: "string" },
      "check-determinism": { type: "boolean" },
      "remote-cache": { type: "string" },
      "remote-cache-read-only": { type: "boolean" },
      ...LIMIT_OPTIONS,
    },
  });
  const modes = [values.derive, values.attr, values.bang].filter((v) => v !== undefined);
  if (modes.length !== 1) throw new UsageError("expand needs exactly one of --derive <Name>, --attr <name>, --bang <name>");
  const [wasmPath, inputArg] = positionals;
  if (!wasmPath) throw new UsageError("expand needs the module: macrobox expand <module.wasm> ...");
  const compiled = compileModule(wasmPath);
  const limits: Partial<Limits> = {};
  for (const name of LIMIT_NAMES) {
    const v = (values as Record<string, unknown>)[LIMIT_SPECS[name].flag.slice(2)];
    if (typeof v === "string") limits[name] = parseLimitValue(name, v);
  }
  // From the bytes, so that expansions are metered with fuel and the memory is capped.
  // --check-determinism compares two real runs, so it must not be answered from the cache.
  const bytes = new Uint8Array(readFileSync(wasmPath));
  const dirs = userDirs();
  const caches = nodeCaches(process.env, {
    remote: remoteCacheSetting({ dirs, remoteCache: values["remote-cache"], readOnly: values["remote-cache-read-only"], config: values.config }),
  });
  const module = await loadMacroModule(bytes, {
    limits,
    moduleHash: moduleHash(bytes),
    moduleCache: caches.moduleCache,
    expansionCache: values["check-determinism"] ? undefined : (caches.expansionCache ?? undefined),
  });

  // Capabilities: what the module's crate declares, granted by macrobox.toml and the flags.
  let sandbox: SandboxGrant | undefined;
  {
    let meta;
    try {
      meta = readMetadata(compiled);
    } catch (e) {
      throw new UsageError(`${wasmPath}: ${(e as Error).message}`);
    }
    const crate = meta?.crate.name ?? "<unknown>";
    const declared = { env: meta?.capabilities?.env ?? [], read: meta?.capabilities?.read ?? [] };
    const crateDir = values["crate-dir"] ?? crateDirFor(values.derive !== undefined || values.attr !== undefined ? inputArg : values.file);
    // The macro sees the crate directory at its real path, and rustc's working directory (ours) as
    // its current directory.
    try {
      // Grants from the user: flags, --config, their own file, and the current directory's
      // settings file once trusted (src/node/trust.ts); what is not in effect is said.
      const decision = loadGrants({ dirs, crateDir, config: values.config, allowEnv: values["allow-env"], allowRead: values["allow-read"] });
      for (const note of decision.notes) process.stderr.write(`note: ${note}\n`);
      const granted = grantFor(decision.grants, crate);
      const hint = pendingHint(decision, crate);
      sandbox = expansionSandbox({ crate, declared, granted, env: process.env, crateDir, currentDir: process.cwd(), ...(hint !== undefined ? { hint } : {}) });
    } catch (e) {
      if (e instanceof CapabilityError) throw new UsageError(e.message);
      throw e;
    }
    const beyond = describeGrant(crate, declared, sandbox.granted).note;
    if (beyond !== null) process.stderr.write(`note: ${beyond}\n`);
  }

  // Each job is one expansion: a label and the request.
  const jobs: Array<{ label: string; request: ExpandRequest }> = [];
  const sources = new Map<string, string>();
  if (values.derive !== undefined) {
    if (!inputArg) throw new UsageError("--derive needs the source file whose items to expand");
    const text = readSource(inputArg);
    sources.set(inputArg, text);
    const spans = new SpanTable();
    const file = spans.addFile(inputArg, text, { localPath: resolve(inputArg) });
    // The file's items are found by walking its trees: the depth limit applies to it as to an input.
    const maxDepth = limits.nestingDepth ?? DEFAULT_LIMITS.nestingDepth;
    const parsed = tokenStreamFromStr(text, (lo: number, hi: number) => spans.span(file, lo, hi), { maxDepth });
    if (!parsed.ok) {
      const at = spans.location(spans.span(file, parsed.error.lo, parsed.error.hi));
      const message = parsed.error.kind === "depth" ? new LimitExceeded("nestingDepth", maxDepth, undefined, "the source file").message : parsed.error.message;
      throw new UsageError(`${inputArg}:${at.line}:${at.column}: ${message}`);
    }
    const sites = findDeriveSites(parsed.stream, values.derive);
    if (sites.length === 0) throw new UsageError(`no item in ${inputArg} derives \`${values.derive}\``);
    for (const site of sites) {
      jobs.push({
        label: `${macroLabel("derive", values.derive)} on ${site.item}`,
        request: { kind: "derive", name: values.derive, input: site.tokens, spans },
      });
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
    jobs.push({ label, request: { kind, name, input, args: kind === "attr" ? (values.args ?? "") : undefined, fileName } });
  }

  let failed = false;
  const results: Array<{ label: string; result: ExpandResult; code?: string }> = [];
  // Fuel bounds the macro deterministically; the wall clock is the backstop behind it.
  const watchdog = new Watchdog();
  const deadline = limits.wallClockMs ?? DEFAULT_LIMITS.wallClockMs;
  const expand = async (request: ExpandRequest) => {
    watchdog.arm(
      deadline,
      `error: ${request.kind} macro \`${request.name}\` exceeded its wallClockMs limit: one expansion may take ${formatLimit("wallClockMs", deadline)}; raise it with --timeout (the process was stopped)`,
    );
    try {
      return await module.expand({ ...request, sandbox, limits });
    } finally {
      watchdog.disarm();
    }
  };
  for (const job of jobs) {
    const result = await expand(job.request);
    if (values["check-determinism"]) {
      // A second run in a fresh instance must give the same everything.
      const again = await expand(job.request);
      const difference = firstDifference(observable(result), observable(again));
      if (difference !== null) {
        process.stderr.write(`error: ${job.label} is not deterministic: two runs differ in ${difference}\n`);
        failed = true;
      }
    }
    failed ||= expansionFails(result);
    const code = result.text === undefined ? undefined : values["no-format"] ? result.text : formatRust(result.text).text;
    results.push({ label: job.label, result, code });
  }
  if (values.json) {
    const plain = results.map(({ label, result, code }) => ({
      label,
      ok: !expansionFails(result),
      code,
      error: result.error,
      diagnostics: result.diagnostics,
      trackedEnv: result.trackedEnv,
      trackedPaths: result.trackedPaths,
      reads: result.reads,
      denials: result.denials,
      stdout: result.stdout,
      stderr: result.stderr,
    }));
    process.stdout.write(JSON.stringify(plain, null, 2) + "\n");
    return failed ? 1 : 0;
  }
  for (const { label, result, code } of results) {
    if (jobs.length > 1 || !result.ok) process.stdout.write(`// ${label}\n`);
    if (code !== undefined) process.stdout.write(code + "\n");
    if (result.stdout) process.stderr.write(`macro stdout:\n${result.stdout}`);
    if (result.stderr) process.stderr.write(`macro stderr:\n${result.stderr}`);
    process.stderr.write(formatMessages(result, { sources, sandbox }));
  }
  return failed ? 1 : 0;
}

/** What a run shows the user, for --check-determinism. */
function observable(r: ExpandResult): Record<string, unknown> {
  return {
    output: r.text,
    error: r.error,
    diagnostics: r.diagnostics,
    stdout: r.stdout,
    stderr: r.stderr,
    "tracked env vars": r.trackedEnv,
    "tracked paths": r.trackedPaths,
    reads: r.reads,
    denials: r.denials,
  };
}

function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>): string | null {
  for (const key of Object.keys(a)) {
    const x = JSON.stringify(a[key]);
    const y = JSON.stringify(b[key]);
    if (x !== y) return `${key} (${clip(x)} vs ${clip(y)})`;
  }
  return null;
}

function clip(s: string | undefined): string {
  if (s === undefined) return "nothing";
  return s.length > 200 ? s.slice(0, 200) + "..." : s;
}
