// `macrobox patch [--undo] [--report] [--check-determinism] [--keep-native crate] [--all-features]
// [--grant-build package:capability]`: the work is in src/patch/patch.ts.

import { parseCommandLine, UsageError } from "./usage.js";
import { macroLabel } from "../wasm/decls.js";

export async function patchCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: false,
    options: {
      undo: { type: "boolean" },
      "keep-native": { type: "string", multiple: true },
      "all-features": { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
      "allow-native-build": { type: "boolean" },
      "grant-build": { type: "string", multiple: true },
      report: { type: "boolean" },
      "check-determinism": { type: "boolean" },
    },
  });
  if (positionals.length > 0) throw new UsageError("patch takes no arguments (run it inside the workspace)");
  const { patch, undo, buildScriptRuns, checkDeterminism } = await import("../patch/patch.js");
  if (values.report) {
    const r = buildScriptRuns();
    if (!r.patched) throw new UsageError(`${r.workspace} is not patched: run \`macrobox patch\` first`);
    process.stdout.write(describeRuns(r.runs).join("\n") + "\n");
    return 0;
  }
  if (values.undo) {
    const r = undo();
    process.stderr.write(r.undone ? `    Restored ${r.workspace}: native proc macros again\n` : `    Nothing to undo: ${r.workspace} is not patched\n`);
    return 0;
  }
  const quiet = values.quiet ?? false;
  const report = await patch({
    keepNative: values["keep-native"]?.flatMap((v) => v.split(",")).filter(Boolean),
    allowNativeBuild: values["allow-native-build"],
    allFeatures: values["all-features"] ?? false,
    grantBuild: values["grant-build"],
    onEvent: (e) => {
      if (!quiet && e.type === "cargo" && /^\s*Compiling\b/.test(e.line)) process.stderr.write(`${e.line}\n`);
    },
  });
  const out: string[] = [];
  for (const c of report.crates) {
    if (c.status === "native") {
      out.push(`${c.name} ${c.version}${c.member ? " (workspace member)" : ""}: stays native (--keep-native): ${c.reason}`);
      continue;
    }
    out.push(
      `${c.name} ${c.version} (edition ${c.edition}${c.member ? ", workspace member" : ""}): ${c.status === "built" ? "module built" : "module reused from the cache"}`,
    );
    for (const m of c.macros) {
      out.push(`  ${m.kind.padEnd(6)} ${macroLabel(m.kind, m.name)}${m.helpers.length ? `  helper attributes: ${m.helpers.join(", ")}` : ""}`);
    }
    const caps = (x: { env: string[]; read: string[] }) =>
      x.env.length + x.read.length === 0
        ? "none"
        : [x.env.length ? `env ${x.env.join(", ")}` : "", x.read.length ? `read ${x.read.join(", ")}` : ""].filter(Boolean).join("; ");
    out.push(`  declares: ${caps(c.declared)}`, `  granted:  ${caps(c.granted)}`);
    if (c.note) out.push(`  note: ${c.note}`);
  }
  if (report.crates.length === 0) out.push("no proc-macro dependencies");
  for (const n of report.notes) out.push(`note: ${n}`);
  const b = report.buildScripts;
  out.push(
    b.confined
      ? `build scripts: every one in the graph is compiled and runs confined (bubblewrap: no network, no home, reads only the toolchain, registries, its package and the target dir, writes only its OUT_DIR), and so are cargo's compiles of the sandboxed workspace members, through ${b.wrapper}${b.chained ? `; other rustc calls chain ${b.chained}` : ""}`
      : "build scripts: run natively (not confined)",
  );
  for (const g of b.grants) {
    const items = (c: { network: boolean; read: string[]; write: string[]; env: string[] }) =>
      [...(c.network ? ["network"] : []), ...c.read.map((x) => `read=${x}`), ...c.write.map((x) => `write=${x}`), ...c.env.map((x) => `env=${x}`)].join(", ") ||
      "nothing";
    out.push(`  build script of ${g.name} ${g.version}: asks ${items(g.requested)}; granted ${items(g.granted)}`);
    if (g.ungranted.length > 0) out.push(`    not granted (\`--grant-build ${g.grantAs}:<item>\` grants one): ${g.ungranted.join(", ")}`);
  }
  for (const n of b.notes) out.push(`note: ${n}`);
  if (b.confined) out.push("`macrobox patch --report` lists the build scripts that ran confined since");
  out.push(`patched ${report.workspace} (${report.config}); \`macrobox patch --undo\` restores it`);
  process.stdout.write(out.join("\n") + "\n");
  if (values["check-determinism"]) {
    process.stderr.write("    Checking build scripts: a clean build, each build script run twice in fresh sandboxes\n");
    const check = checkDeterminism();
    const differing = check.runs.filter((r) => r.determinism !== "reproducible");
    const lines = check.runs.map((r) => `  ${r.package} ${r.version}: ${r.determinism}`);
    process.stdout.write([`build scripts checked: ${check.runs.length}, not reproducible: ${differing.length}`, ...lines].join("\n") + "\n");
    if (check.status !== 0) {
      process.stderr.write(`${check.stderr}\nerror: the checking build failed (cargo exit ${check.status})\n`);
      return 1;
    }
    return differing.length > 0 ? 1 : 0;
  }
  return 0;
}

function describeRuns(runs: ReturnType<typeof import("../patch/patch.js").buildScriptRuns>["runs"]): string[] {
  if (runs.length === 0) return ["no build script has run since `macrobox patch` (cargo runs them on the next build)"];
  const latest = new Map<string, (typeof runs)[number] & { count: number }>();
  for (const r of runs) {
    const key = `${r.package} ${r.version} ${r.dir}`;
    latest.set(key, { ...r, count: (latest.get(key)?.count ?? 0) + 1 });
  }
  const out = [`build scripts that ran confined (bubblewrap) since \`macrobox patch\`: ${latest.size}`];
  for (const r of [...latest.values()].sort((a, b) => a.package.localeCompare(b.package)))
    out.push(
      `  ${r.package} ${r.version} (${r.dir}): ${r.count} run${r.count === 1 ? "" : "s"}, last ${r.exitCode === 0 ? "succeeded" : `failed (exit ${r.exitCode})`}${r.granted ? `; granted ${r.granted}` : ""}${r.determinism ? `; ${r.determinism}` : ""}`,
    );
  return out;
}
