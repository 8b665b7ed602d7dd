// Formats generated code with rustfmt when one is installed; otherwise the token text is shown
// as it is (still valid Rust, just on one line).

import { spawnSync } from "node:child_process";

export function formatRust(code: string): { text: string; formatted: boolean } {
  const rustfmt = process.env.MACROBOX_RUSTFMT ?? "rustfmt";
  const r = spawnSync(rustfmt, ["--edition", "2021", "--emit", "stdout", "--quiet"], { input: code, encoding: "utf8", timeout: 20_000 });
  if (r.status === 0 && r.stdout.trim()) return { text: r.stdout.trimEnd(), formatted: true };
  return { text: code, formatted: false };
}
