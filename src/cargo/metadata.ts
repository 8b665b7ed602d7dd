// The workspace's proc-macro dependencies, as cargo resolved them (`cargo metadata`).

import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { MacroboxError } from "../errors.js";

export interface MacroPackage {
  name: string;
  version: string;
  edition: string;
  /** The lib target's name (`serde_derive`, `demo_macros`). */
  libName: string;
  manifestDir: string;
  /** cargo's source string; null for a path package. */
  source: string | null;
  /** Features as resolved for the build. */
  features: string[];
}

export interface WorkspaceMacros {
  root: string;
  macros: MacroPackage[];
}

interface CargoMetadata {
  workspace_root: string;
  workspace_members: string[];
  packages: Array<{
    id: string;
    name: string;
    version: string;
    edition: string;
    source: string | null;
    manifest_path: string;
    targets: Array<{ name: string; kind: string[] }>;
  }>;
  resolve: { nodes: Array<{ id: string; features: string[] }> } | null;
}

export function workspaceMacros(cargo: string, cwd: string, env: NodeJS.ProcessEnv = process.env): WorkspaceMacros {
  const r = spawnSync(cargo, ["metadata", "--format-version", "1", "--offline"], { cwd, env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw new MacroboxError("io", `cannot run ${cargo}: ${r.error.message}`);
  if (r.status !== 0) throw new MacroboxError("build", `cargo metadata failed in ${cwd}:\n${r.stderr.trim()}`);
  const meta = JSON.parse(r.stdout) as CargoMetadata;
  const features = new Map((meta.resolve?.nodes ?? []).map((n) => [n.id, n.features]));
  const macros: MacroPackage[] = [];
  for (const p of meta.packages) {
    const lib = p.targets.find((t) => t.kind.includes("proc-macro"));
    // Only what the resolve uses (all targets, all platforms, as cargo resolved them).
    // A workspace member is the user's own code being developed: it stays what it is.
    if (lib === undefined || !features.has(p.id) || meta.workspace_members.includes(p.id)) continue;
    macros.push({
      name: p.name,
      version: p.version,
      edition: p.edition,
      libName: lib.name.replace(/-/g, "_"),
      manifestDir: dirname(p.manifest_path),
      source: p.source,
      features: features.get(p.id) ?? [],
    });
  }
  macros.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  return { root: meta.workspace_root, macros };
}
