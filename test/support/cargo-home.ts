// A private CARGO_HOME for tests (and bench/patch.ts) that run cargo themselves: crates-io is the
// builder's directory source (Debian's crates plus std's vendored ones, src/builder/registry.ts),
// offline, under the name the builder's staged configs use ("macrobox-local"). The user's own
// CARGO_HOME (credentials, configuration) is never read. DEVELOPERS.md, "The test's crates-io".
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findToolchain, type Toolchain } from "../../src/builder/index.js";
import { toolchainCache } from "../../src/builder/cache.js";
import { registryRoots, syncDirectorySource } from "../../src/builder/registry.js";

/** The builder's directory source for `toolchain`, brought up to date with the installed crates. */
export function localRegistry(toolchain: Toolchain = findToolchain()): string {
  const vendor = join(toolchainCache(toolchain), "vendor");
  syncDirectorySource(registryRoots(toolchain), vendor);
  return vendor;
}

/** The config.toml of a CARGO_HOME whose crates-io is the directory `registry`, offline. */
export function offlineCargoConfig(registry: string, sourceName = "macrobox-local"): string {
  return `[source.crates-io]\nreplace-with = "${sourceName}"\n[source.${sourceName}]\ndirectory = ${JSON.stringify(registry)}\n[net]\noffline = true\n`;
}

/** Makes `dir` a CARGO_HOME whose crates-io is `registry` (default: the builder's), offline; returns `dir`. */
export function offlineCargoHome(dir: string, registry: string = localRegistry(), sourceName?: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.toml"), offlineCargoConfig(registry, sourceName));
  return dir;
}

/**
 * The environment of a user of `macrobox patch` whose home is `scratch`: a private offline
 * CARGO_HOME (scratch/cargo-home), the toolchain's cargo first on PATH, and empty macrobox
 * directories of their own (grants file, trust store) under scratch/config and scratch/data.
 */
export function patchUserEnv(scratch: string, toolchain: Toolchain = findToolchain(), registry: string = localRegistry(toolchain)): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CARGO_HOME: offlineCargoHome(join(scratch, "cargo-home"), registry),
    PATH: `${join(toolchain.cargo, "..")}:${process.env.PATH}`,
    CARGO_TERM_COLOR: "never",
    XDG_CONFIG_HOME: join(scratch, "config"),
    XDG_DATA_HOME: join(scratch, "data"),
  };
}
