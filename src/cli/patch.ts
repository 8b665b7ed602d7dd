// `macrobox patch [--undo] [--keep-native crate] [--all-features]`: the work is in src/cargo/patch.ts.

import { parseCommandLine, UsageError } from "./usage.js";

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
    },
  });
  if (positionals.length > 0) throw new UsageError("patch takes no arguments (run it inside the workspace)");
  const { patch, undo } = await import("../cargo/patch.js");
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
      const label = m.kind === "derive" ? `#[derive(${m.name})]` : m.kind === "attr" ? `#[${m.name}]` : `${m.name}!`;
      out.push(`  ${m.kind.padEnd(6)} ${label}${m.helpers.length ? `  helper attributes: ${m.helpers.join(", ")}` : ""}`);
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
  for (const n of b.notes) out.push(`note: ${n}`);
  out.push(`patched ${report.workspace} (${report.config}); \`macrobox patch --undo\` restores it`);
  process.stdout.write(out.join("\n") + "\n");
  return 0;
}
