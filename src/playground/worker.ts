// The expansion worker: loads macro modules and expands with them, off the page's thread, so that
// a slow macro never freezes the page. Fuel ends a runaway macro deterministically inside here;
// past its wall-clock bound the page terminates this worker and starts another (main.ts).
//
// Browser-safe: imports only the core ("macrobox", src/index.ts).

import {
  compileErrors,
  effectiveGrant,
  expansionFails,
  formatMessages,
  loadMacroModule,
  MemoryFs,
  type ExpandResult,
  type MacroModule,
  type SandboxGrant,
} from "../index.js";
import { layoutTokens } from "./layout.js";
import { INPUT_FILE, type ExpandJob, type ExpandOutcome, type FromWorker, type ModuleSummary, type ToWorker } from "./protocol.js";

const scope = self as unknown as { postMessage(message: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const modules = new Map<string, MacroModule>();

function reply(message: FromWorker): void {
  scope.postMessage(message);
}

scope.onmessage = (event) => {
  const message = event.data;
  handle(message).then(reply, (e: unknown) => reply({ type: "failed", id: message.id, message: e instanceof Error ? e.message : String(e) }));
};

async function handle(message: ToWorker): Promise<FromWorker> {
  switch (message.type) {
    case "load": {
      // No expansion cache: every expansion runs the macro in a fresh instance.
      const module = await loadMacroModule(message.bytes);
      const name = module.crate?.name ?? message.name;
      modules.set(name, module);
      return { type: "loaded", id: message.id, module: summary(name, module) };
    }
    case "expand":
      return { type: "expanded", id: message.id, outcome: await run(message.job) };
    case "determinism": {
      const first = await run(message.job);
      const second = await run(message.job);
      const difference = firstDifference(first, second);
      return { type: "determinism", id: message.id, identical: difference === null, difference, outcome: first };
    }
  }
}

function summary(name: string, module: MacroModule): ModuleSummary {
  const m = module.metadata;
  return {
    name,
    crate: module.crate,
    macros: module.macros.map(({ kind, name, helpers }) => ({ kind, name, helpers: [...helpers] })),
    declared: { env: [...module.declared.env], read: [...module.declared.read] },
    built: m ? `${m.crate.name} ${m.crate.version}, built by ${m.rustc}, bridge ${m.bridgeAbi}, ${m.build.profile} profile` : null,
  };
}

async function run(job: ExpandJob): Promise<ExpandOutcome> {
  const module = modules.get(job.module);
  if (!module) throw new Error(`no module named ${job.module} is loaded`);
  const crate = module.crate?.name ?? job.module;
  const effective = effectiveGrant(crate, module.declared, job.granted);
  if (!effective.ok) throw new Error(effective.error.message);
  const sandbox: SandboxGrant = {
    crate,
    declared: module.declared,
    granted: effective.grant,
    fs: new MemoryFs(job.files),
    env: job.env,
  };
  const started = performance.now();
  const result = await module.expand({
    kind: job.kind,
    name: job.name,
    input: job.input,
    args: job.kind === "attr" ? job.args : undefined,
    fileName: INPUT_FILE,
    sandbox,
    limits: job.fuel > 0 ? { fuel: job.fuel } : undefined,
  });
  const ms = performance.now() - started;
  return outcome(result, job, sandbox, ms);
}

function outcome(result: ExpandResult, job: ExpandJob, sandbox: SandboxGrant, ms: number): ExpandOutcome {
  const sources = new Map([[INPUT_FILE, job.input]]);
  if (job.kind === "attr" && job.args !== undefined) sources.set(`${INPUT_FILE} (attribute arguments)`, job.args);
  return {
    ok: result.ok,
    code: result.output ? layoutTokens(result.output) : undefined,
    text: result.text,
    error: result.error ? { kind: result.error.kind, message: result.error.message, limit: result.error.limit } : undefined,
    // The macro's own diagnostics, then the `compile_error!`s of its output rustc would report.
    diagnostics: [...result.diagnostics, ...compileErrors(result.output ?? [], result.spans)],
    messages: formatMessages(result, { sources, sandbox }),
    stdout: result.stdout,
    stderr: result.stderr,
    trackedEnv: result.trackedEnv,
    trackedPaths: result.trackedPaths,
    reads: result.reads,
    denials: result.denials.map(({ kind, name, note }) => ({ kind, name, note })),
    fails: expansionFails(result),
    ms,
  };
}

/** The first observable field in which two runs differ (what --check-determinism compares), or null. */
function firstDifference(a: ExpandOutcome, b: ExpandOutcome): string | null {
  const fields = ["text", "error", "diagnostics", "stdout", "stderr", "trackedEnv", "trackedPaths", "reads", "denials"] as const;
  for (const f of fields) if (JSON.stringify(a[f]) !== JSON.stringify(b[f])) return f;
  return null;
}
