// Finds a Rust toolchain able to build wasm macro modules, and says exactly what is missing when
// there is none.
//
// What a macro build needs: rustc and cargo that accept `-Zbuild-std` (a nightly, or a stable
// release with RUSTC_BOOTSTRAP=1, which is what Debian's rustc-web is), the standard library's
// sources (build-std compiles std and proc_macro for our custom target), a wasm linker (rust-lld
// or wasm-ld), and a wasm32-wasi libc to link std's WASI layer against.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { MacroboxError } from "../errors.js";

export interface Toolchain {
  rustc: string;
  cargo: string;
  /** `rustc -vV` release, e.g. "1.96.0". */
  release: string;
  /** First line of `rustc -V`, recorded in module metadata. */
  version: string;
  commitHash: string;
  host: string;
  sysroot: string;
  /** The `library/` directory of the standard library sources. */
  librarySource: string;
  /** The root that holds `library/` (remapped to /rustc/<commit> in the output for reproducibility). */
  sourceRoot: string;
  /** A wasm-flavoured lld (`rust-lld -flavor wasm` or `wasm-ld`), as argv prefix. */
  linker: string[];
  /** Directory holding wasm32-wasi's libc.a. */
  wasiLibDir: string;
  /** Identifies this toolchain for caches: a hash of `rustc -vV` and the paths above. */
  key: string;
}

export class ToolchainError extends MacroboxError {
  override name = "ToolchainError";
  constructor(message: string) {
    super("toolchain", message);
  }
}

const DEBIAN_PACKAGES = "rustc-web cargo-web rust-web-src lld-22 wasi-libc";
const HOW_TO_GET =
  `Install Debian's Rust 1.96 toolchain: \`apt-get install ${DEBIAN_PACKAGES}\`, ` +
  "or a rustup nightly: `rustup toolchain install nightly --component rust-src --target wasm32-wasip1`. " +
  "To choose one explicitly, set MACROBOX_RUSTC and MACROBOX_CARGO.";

function run(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUSTC_BOOTSTRAP: "1" } });
  } catch {
    return null;
  }
}

/** Candidate (rustc, cargo) pairs, in order of preference. */
function candidates(): Array<{ rustc: string; cargo: string; origin: string }> {
  const list: Array<{ rustc: string; cargo: string; origin: string }> = [];
  if (process.env.MACROBOX_RUSTC) {
    list.push({ rustc: process.env.MACROBOX_RUSTC, cargo: process.env.MACROBOX_CARGO ?? "cargo", origin: "MACROBOX_RUSTC" });
    return list;
  }
  // Debian's rustc-web installs into /usr/bin; a rustup toolchain earlier in PATH must not shadow it,
  // because only the Debian one is guaranteed to come with matching sources (rust-web-src).
  list.push({ rustc: "/usr/bin/rustc", cargo: "/usr/bin/cargo", origin: "Debian rustc-web" });
  const home = process.env.RUSTUP_HOME ?? join(process.env.HOME ?? "", ".rustup");
  const toolchains = join(home, "toolchains");
  if (existsSync(toolchains)) {
    for (const name of readdirSync(toolchains)
      .filter((n) => n.startsWith("nightly"))
      .sort()
      .reverse()) {
      list.push({ rustc: join(toolchains, name, "bin/rustc"), cargo: join(toolchains, name, "bin/cargo"), origin: `rustup ${name}` });
    }
  }
  return list;
}

/** Finds the toolchain, or throws a ToolchainError naming every missing piece and how to install it. */
export function findToolchain(): Toolchain {
  const problems: string[] = [];
  for (const c of candidates()) {
    if (!existsSync(c.rustc) && c.rustc.includes("/")) {
      problems.push(`${c.origin}: ${c.rustc} not found`);
      continue;
    }
    const verbose = run(c.rustc, ["-vV"]);
    if (!verbose) {
      problems.push(`${c.origin}: \`${c.rustc} -vV\` failed`);
      continue;
    }
    const field = (name: string) => verbose.match(new RegExp(`^${name}: (.*)$`, "m"))?.[1]?.trim() ?? "";
    const missing: string[] = [];
    if (!run(c.cargo, ["-V"])) missing.push(`cargo (${c.cargo}; Debian package cargo-web)`);
    const sysroot = (run(c.rustc, ["--print", "sysroot"]) ?? "").trim();
    const sourceRoot = join(sysroot, "lib/rustlib/src/rust");
    const librarySource = join(sourceRoot, "library");
    if (!existsSync(join(librarySource, "Cargo.lock"))) {
      missing.push(`the standard library sources (${librarySource}; Debian package rust-web-src, or rustup component rust-src)`);
    }
    const host = field("host");
    const linker = findWasmLinker(sysroot, host);
    if (!linker) missing.push("a wasm linker (rust-lld or wasm-ld; Debian package lld-22)");
    const wasiLibDir = findWasiLibc(sysroot);
    if (!wasiLibDir) missing.push("a wasm32-wasi libc (Debian package wasi-libc, or rustup target wasm32-wasip1)");
    if (missing.length > 0 || !linker || !wasiLibDir) {
      problems.push(`${c.origin} (${c.rustc}) lacks ${missing.join(", ")}`);
      continue;
    }
    const key = createHash("sha256")
      .update([verbose, c.rustc, c.cargo, sysroot, linker.join(" "), wasiLibDir].join("\n"))
      .digest("hex")
      .slice(0, 16);
    return {
      rustc: c.rustc,
      cargo: c.cargo,
      release: field("release"),
      version: verbose.split("\n")[0].trim(),
      commitHash: field("commit-hash"),
      host,
      sysroot,
      librarySource,
      sourceRoot,
      linker,
      wasiLibDir,
      key,
    };
  }
  throw new ToolchainError(`no usable Rust toolchain for wasm macro builds.\n  ${problems.join("\n  ")}\n${HOW_TO_GET}`);
}

function findWasmLinker(sysroot: string, host: string): string[] | null {
  const bundled = join(sysroot, "lib/rustlib", host, "bin/rust-lld");
  const choices: string[][] = [
    [bundled, "-flavor", "wasm"],
    ["/usr/bin/rust-lld", "-flavor", "wasm"],
    ["/usr/bin/wasm-ld"],
    ...["22", "21", "20", "19", "18"].map((v) => [`/usr/bin/wasm-ld-${v}`]),
  ];
  return choices.find((argv) => existsSync(argv[0])) ?? null;
}

function findWasiLibc(sysroot: string): string | null {
  const choices = [join(sysroot, "lib/rustlib/wasm32-wasip1/lib/self-contained"), "/usr/lib/wasm32-wasi", "/usr/lib/wasm32-wasip1"];
  return choices.find((dir) => existsSync(join(dir, "libc.a"))) ?? null;
}

/**
 * Identifies the proc_macro bridge ABI of a toolchain: its release plus a hash of the bridge's
 * sources. Two toolchains with the same id speak the same bridge; a nightly that changed the bridge
 * gets a new id, which the host then refuses instead of misreading.
 */
export function bridgeAbiId(toolchain: Toolchain): string {
  const dir = join(toolchain.librarySource, "proc_macro/src/bridge");
  const hash = createHash("sha256");
  for (const file of readdirSync(dir).sort())
    hash
      .update(file)
      .update("\0")
      .update(readFileSync(join(dir, file)))
      .update("\0");
  const [major, minor] = toolchain.release.split(".");
  return `rustc-${major}.${minor}/${hash.digest("hex").slice(0, 12)}`;
}
