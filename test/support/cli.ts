// `macrobox <args>` as a user runs it: the built command (bin/macrobox.js, which runs the bundle
// `npm run build` writes to dist/; scripts/setup builds it before the tests). Starting the bundle
// costs a fraction of what compiling the sources through tsx does on every run. So that the tests
// still test the sources, dist is rebuilt first whenever a source is newer than it (the check
// scripts/setup makes), once per test process.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES, ROOT } from "./paths.js";

/** The command: `node bin/macrobox.js`. */
export const MACROBOX_BIN = join(ROOT, "bin", "macrobox.js");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Added to (or, with `undefined`, removed from) this process's environment. */
  env?: Record<string, string | undefined>;
  /** Default: the repository's root. */
  cwd?: string;
  /** Standard input. */
  input?: string;
}

let built = false;

/** Newest modification time of a source of dist/ (what scripts/setup compares with dist/cli/main.js). */
function newestSource(): number {
  let newest = statSync(join(ROOT, "scripts", "bundle.mjs")).mtimeMs;
  for (const dir of ["src", "bin"]) {
    for (const entry of readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && /\.(ts|mjs|js|rs|html|css)$/.test(entry.name)) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

/** Builds dist/ if a source is newer than it (or it is missing), so the command runs the sources as they are. */
export function ensureBuilt(): void {
  if (built) return;
  let distTime = -Infinity;
  try {
    distTime = statSync(join(ROOT, "dist", "cli", "main.js")).mtimeMs;
  } catch {
    // not built yet
  }
  if (newestSource() > distTime) execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  built = true;
}

function environment(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

/** Runs `macrobox <args>` and waits for it. */
export function cli(args: string[], options: CliOptions = {}): CliRun {
  ensureBuilt();
  const r = spawnSync(process.execPath, [MACROBOX_BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    encoding: "utf8",
    input: options.input,
    maxBuffer: 256 << 20,
    env: environment(options.env),
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `macrobox <args>` without blocking this process (for tests that serve it something meanwhile); `ms` is how long it ran. */
export function cliAsync(args: string[], options: CliOptions = {}): Promise<CliRun & { ms: number }> {
  ensureBuilt();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MACROBOX_BIN, ...args], { cwd: options.cwd ?? ROOT, env: environment(options.env) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
    child.stdin.end(options.input ?? "");
  });
}

/** The arguments that start `macrobox <args>` under `process.execPath` (for tests that spawn it themselves: servers, other environments). */
export function macroboxArgs(...args: string[]): string[] {
  ensureBuilt();
  return [MACROBOX_BIN, ...args];
}

/**
 * A per-checkout directory for modules the tests build from fixtures (worktrees testing at once
 * must not overwrite each other's modules).
 */
export const FIXTURE_MODULES = join(
  tmpdir(),
  `macrobox-fixture-modules-${process.getuid?.() ?? 0}-${createHash("sha256").update(ROOT).digest("hex").slice(0, 8)}`,
);

/** Builds the crate test/fixtures/<name> with `macrobox build` into FIXTURE_MODULES; the module's path. */
export function fixtureModule(name: string): string {
  mkdirSync(FIXTURE_MODULES, { recursive: true });
  const output = join(FIXTURE_MODULES, `${name}.wasm`);
  const r = cli(["build", join(FIXTURES, name), "-o", output, "--quiet"]);
  if (r.code !== 0) throw new Error(`macrobox build test/fixtures/${name} failed (${r.code}):\n${r.stderr}`);
  return output;
}
