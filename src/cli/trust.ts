// `macrobox trust [dir]`, `--show [dir]`, `--list`, `--revoke [dir]`: the work is in src/node/trust.ts.

import { listTrust, revokeTrust, showRequest, trust, trustStorePath, userDirs, type TrustReport } from "../node/trust.js";
import { parseCommandLine, UsageError } from "./usage.js";

export async function trustCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: true,
    options: {
      show: { type: "boolean" },
      list: { type: "boolean" },
      revoke: { type: "boolean" },
    },
  });
  const modes = [values.show, values.list, values.revoke].filter(Boolean).length;
  if (modes > 1) throw new UsageError("trust takes at most one of --show, --list, --revoke");
  if (positionals.length > 1) throw new UsageError("trust takes at most one directory");
  if (values.list && positionals.length > 0) throw new UsageError("trust --list takes no directory");
  const dir = positionals[0] ?? process.cwd();
  const dirs = userDirs();
  if (values.list) {
    const entries = listTrust(dirs);
    if (entries.length === 0) process.stdout.write(`nothing trusted (${trustStorePath(dirs)})\n`);
    for (const e of entries) process.stdout.write(`${e.status.padEnd(8)} ${e.path}  sha256 ${e.sha256.slice(0, 16)}  since ${e.trustedAt}\n`);
    return 0;
  }
  if (values.revoke) {
    const removed = revokeTrust(dirs, dir);
    if (removed.length === 0) process.stdout.write(`nothing trusted in ${dir}\n`);
    for (const e of removed) process.stdout.write(`revoked ${e.path}: what it asks is no longer granted\n`);
    return 0;
  }
  if (values.show) {
    process.stdout.write(describe(showRequest(dir), "asks"));
    process.stdout.write(`\`macrobox trust ${dir}\` would grant it\n`);
    return 0;
  }
  const report = trust(dirs, dir);
  process.stdout.write(describe(report, "asks, and is now trusted"));
  process.stdout.write(`recorded ${report.file} (sha256 ${report.sha256.slice(0, 16)}…) in ${trustStorePath(dirs)}; an edit to it asks again\n`);
  return 0;
}

function describe(report: TrustReport, verb: string): string {
  const lines = [`${report.file} ${verb}:`];
  if (report.asks.length === 0) lines.push("  nothing");
  for (const a of report.asks) lines.push(`  ${a}`);
  for (const i of report.ignored) lines.push(`  ignored even when trusted: ${i}`);
  return lines.join("\n") + "\n";
}
