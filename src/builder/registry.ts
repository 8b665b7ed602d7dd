// Offline crate sources: Debian's registry (/usr/share/cargo/registry, one `librust-<name>-dev`
// package per crate) and the standard library's vendored dependencies, presented to cargo as ONE
// directory source. cargo needs a single directory, so we keep a directory of symlinks to both.

import { existsSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import type { Toolchain } from "./toolchain.js";
import { MacroboxError } from "../errors.js";

export class RegistryError extends MacroboxError {
  override name = "RegistryError";
  constructor(message: string) {
    super("registry", message);
  }
}

/** Directories holding unpacked crates named `<name>-<version>`. */
export function registryRoots(toolchain: Toolchain): string[] {
  const extra = (process.env.MACROBOX_REGISTRY ?? "").split(":").filter(Boolean);
  return [...extra, "/usr/share/cargo/registry", join(toolchain.librarySource, "vendor")].filter((d) => existsSync(d));
}

interface CrateDir {
  name: string;
  version: string;
  dir: string;
}

/** Every crate in the roots; the first root wins when two hold the same name and version. */
export function listCrates(roots: string[]): CrateDir[] {
  const seen = new Map<string, CrateDir>();
  for (const root of roots) {
    for (const entry of readdirSync(root)) {
      const m = entry.match(/^(.+?)-(\d+\.\d+\.\d+(?:[-+].*)?)$/);
      if (!m || seen.has(entry)) continue;
      // cargo's directory sources need the checksum file next to the manifest.
      if (!existsSync(join(root, entry, "Cargo.toml")) || !existsSync(join(root, entry, ".cargo-checksum.json"))) continue;
      seen.set(entry, { name: m[1], version: m[2], dir: join(root, entry) });
    }
  }
  return [...seen.values()];
}

/** Finds `name@version` (or the newest `name`) in the local registry. */
export function findCrate(roots: string[], spec: string): CrateDir {
  const [name, version] = spec.split("@");
  const crates = listCrates(roots).filter((c) => c.name === name || c.name.replace(/-/g, "_") === name.replace(/-/g, "_"));
  if (crates.length === 0) {
    throw new RegistryError(`crate \`${name}\` is not in the local registry (${roots.join(", ")}); on Debian, install librust-${name.replace(/_/g, "-")}-dev`);
  }
  if (!version) return crates.sort((a, b) => compareVersions(b.version, a.version))[0];
  const exact = crates.find((c) => c.version === version);
  if (!exact) {
    throw new RegistryError(
      `${name} ${version} is not in the local registry; it has ${crates
        .map((c) => c.version)
        .sort(compareVersions)
        .join(", ")}`,
    );
  }
  return exact;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/**
 * (Re)creates `<dir>` as a directory of symlinks, one per crate, for cargo's `directory` source.
 * Idempotent and cheap: only missing or changed links are touched.
 */
export function syncDirectorySource(roots: string[], dir: string): void {
  mkdirSync(dir, { recursive: true });
  const wanted = new Map(listCrates(roots).map((c) => [`${c.name}-${c.version}`, c.dir]));
  for (const entry of readdirSync(dir)) {
    const target = wanted.get(entry);
    let current: string | null = null;
    try {
      current = readlinkSync(join(dir, entry));
    } catch {
      /* not a link */
    }
    if (target === undefined || current !== target) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  for (const [entry, target] of wanted) {
    const link = join(dir, entry);
    if (existsSync(link)) continue;
    const tmp = `${link}.${process.pid}.tmp`;
    symlinkSync(target, tmp);
    renameSync(tmp, link);
  }
}
