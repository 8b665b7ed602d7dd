// The command line: argument parsing and printing only; the work is in src/builder, src/bridge...

import type { BuildEvent } from "../builder/build.js";

import { listProcMacros } from "../wasm/decls.js";
import { readMetadata } from "../wasm/metadata.js";
import { errorMessage, INTERNAL_ERROR, isMacroboxError } from "../errors.js";
import { CapabilityError, describeGrant, effectiveGrant, type GrantDescription } from "../sandbox/capabilities.js";
import { grantFor } from "../node/grants.js";
import { loadGrants, userDirs } from "../node/trust.js";
import { flushRemoteCaches } from "../node/remote-cache.js";
import { remoteCacheSetting } from "../node/settings.js";
import { parseCommandLine, UsageError } from "./usage.js";
import { compileModule } from "./compile-module.js";

export { parseCommandLine, UsageError } from "./usage.js";

const USAGE = `macrobox — sandboxed, deterministic Rust proc macros in WebAssembly

Usage:
  macrobox patch [--undo] [--keep-native crate,...] [--all-features] [--allow-native-build]
                                                        in a cargo workspace: every proc macro sandboxed
  macrobox build <crate-dir | name@version> [-o out.wasm] [--features a,b] [--no-default-features]
                 [--online] [--release] [--quiet] [--json] [--remote-cache url] [--remote-cache-read-only]
                 [--allow-native-build]
  macrobox inspect <module.wasm> [--json] [--allow-env crate:VAR] [--allow-read crate:path] [--config macrobox.toml]
  macrobox expand <module.wasm> --derive <Name> <file.rs>            every item in the file deriving Name
  macrobox expand <module.wasm> --attr <name> [--args <text>] <item.rs>
  macrobox expand <module.wasm> --bang <name> <input text | --file f.rs>
                 [--no-format] [--json] [--check-determinism]
                 [--allow-env crate:VAR] [--allow-read crate:path] [--config macrobox.toml] [--crate-dir dir]
                 [--fuel n] [--memory size] [--max-output bytes] [--max-handles n] [--max-captured-output bytes]
                 [--max-nesting levels] [--remote-cache url] [--remote-cache-read-only]
  macrobox playground [--port 8080] [--module m.wasm ...] [--out dir]
  macrobox trust [dir] | --show [dir] | --list | --revoke [dir]

Commands:
  patch     wire shims into the cargo workspace (cargo configuration only) so that \`cargo build\` runs
            every proc-macro dependency's wasm module in the macrobox host; --undo restores everything
  build     compile an unmodified proc-macro crate into a .wasm macro module
  inspect   show what a macro module holds: macros, capabilities, how it was built
  expand    run a macro of a module in the sandboxed host and print the generated code
  proc-macro-server
            serve rust-analyzer's proc-macro protocol on stdin/stdout with wasm modules in place of
            native dylibs (a dylib maps to <dylib>.wasm next to it, or to a --module entry; the
            MACROBOX_MODULES environment variable takes the same entries separated by commas);
            expand's limit flags apply to every expansion, --timeout <ms> bounds its wall clock,
            --max-message <bytes> the size of a request; --help lists them all
  playground
            the playground page: macros expanding in the browser, sandboxed, shareable by link; serves
            it on 127.0.0.1 (prints the URL), or writes it as static files for any web host (--out)
  trust     grant what a repository's macrobox.toml (or [workspace.metadata.macrobox]) asks: shows it
            and records the file by real path and content hash (an edit asks again); until then a
            repository's own grants and settings are not in effect

Grants come from the user: the flags, --config, ~/.config/macrobox/macrobox.toml
([workspace."/real/path".grants.<crate>]), and a repository's own file once trusted.

Builds run cargo in an OS sandbox (bubblewrap): no network, no home, none of your environment.
Where there is none, a crate that is not from a registry builds only with --allow-native-build
(on build, patch and proc-macro-server; MACROBOX_ALLOW_NATIVE_BUILD=1 for the server), and so does --online.

--remote-cache url (or MACROBOX_REMOTE_CACHE, or remote-cache = "url" in macrobox.toml) shares
modules and expansions through a Bazel remote cache (HTTP: /cas/ and /ac/); a failing one is skipped.
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await dispatch(command, rest);
  } catch (e) {
    process.stderr.write(describeFailure(e));
    return 1;
  } finally {
    // Uploads to a remote cache go on in the background; they get a bounded moment to finish.
    await flushRemoteCaches();
  }
}

async function dispatch(command: string | undefined, rest: string[]): Promise<number> {
  switch (command) {
    case "build":
      return await buildCommand(rest);
    case "inspect":
      return await inspectCommand(rest);
    case "proc-macro-server":
      return await (await import("./proc-macro-server.js")).procMacroServerCommand(rest);
    case "expand":
      // Loaded on demand: building and inspecting do not need the bridge host.
      return await (await import("./expand.js")).expandCommand(rest);
    case "playground":
      return await (await import("./playground.js")).playgroundCommand(rest);
    case "patch":
      return await (await import("./patch.js")).patchCommand(rest);
    case "trust":
      return await (await import("./trust.js")).trustCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`macrobox: unknown command \`${command}\`\n\n${USAGE}`);
      return 2;
  }
}

/**
 * What the command prints for an error that ended it: an error the user can cause (a
 * `MacroboxError`) is one clear message; anything else is a bug in macrobox, said so, with its stack.
 */
export function describeFailure(e: unknown): string {
  if (isMacroboxError(e)) return `error: ${e.message}\n`;
  return `error: ${e instanceof Error && e.stack ? `${INTERNAL_ERROR}: ${e.stack}` : errorMessage(e)}\n`;
}

async function buildCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: true,
    options: {
      output: { type: "string", short: "o" },
      features: { type: "string", short: "F" },
      "no-default-features": { type: "boolean" },
      online: { type: "boolean" },
      release: { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
      json: { type: "boolean" },
      "remote-cache": { type: "string" },
      "remote-cache-read-only": { type: "boolean" },
      "allow-native-build": { type: "boolean" },
    },
  });
  if (positionals.length !== 1) throw new UsageError("build takes exactly one crate (a directory or name@version)");
  const { nodeCaches } = await import("../node/disk-cache.js");
  const { buildCache } = nodeCaches(process.env, {
    remote: remoteCacheSetting({ dirs: userDirs(), remoteCache: values["remote-cache"], readOnly: values["remote-cache-read-only"] }, (note) =>
      process.stderr.write(`note: ${note}\n`),
    ),
  });
  const json = values.json ?? false;
  const quiet = values.quiet ?? false;
  const started = Date.now();
  const onEvent = (event: BuildEvent) => {
    if (json) process.stdout.write(JSON.stringify({ event: event.type, ...event, type: undefined }) + "\n");
    else if (!quiet) process.stderr.write(renderEvent(event));
  };
  try {
    // Loaded on demand, like the expander: the proc-macro server starts faster without the builder.
    const { build } = await import("../builder/build.js");
    const result = await build({
      crate: positionals[0],
      output: values.output,
      features: values.features?.split(/[ ,]+/).filter(Boolean),
      noDefaultFeatures: values["no-default-features"],
      online: values.online,
      profile: values.release ? "release" : "dev",
      onEvent,
      moduleStore: buildCache ?? undefined,
      allowNativeBuild: values["allow-native-build"],
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (json) {
      process.stdout.write(
        JSON.stringify({ event: "done", output: result.output, size: result.size, seconds: Number(seconds), metadata: result.metadata }) + "\n",
      );
    } else if (!quiet) {
      const names = result.metadata.macros.map((m) => m.name).join(", ");
      process.stderr.write(`    Finished ${result.output} (${(result.size / 1024).toFixed(0)} KiB; ${names}) in ${seconds}s\n`);
    }
    return 0;
  } catch (e) {
    if (json) {
      process.stdout.write(JSON.stringify({ event: "error", error: (e as Error).name, message: (e as Error).message }) + "\n");
      return 1;
    }
    throw e;
  }
}

function renderEvent(event: BuildEvent): string {
  switch (event.type) {
    case "step":
      return `    macrobox ${event.message}\n`;
    case "compiled":
      return ""; // cargo's own "Compiling" lines (below) already say this
    case "compat":
      return `      Compat ${event.patch.crate} ${event.patch.version} ${event.patch.file}: ${event.patch.change} (${event.patch.count}×)\n`;
    case "cargo":
      // cargo's own progress lines; its warnings about our staged manifest are noise.
      return /^\s*(Compiling|Locking|Adding|Updating)\b/.test(event.line) ? `${event.line}\n` : "";
  }
}

async function inspectCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      "allow-env": { type: "string", multiple: true },
      "allow-read": { type: "string", multiple: true },
      config: { type: "string" },
    },
  });
  if (positionals.length !== 1) throw new UsageError("inspect takes exactly one .wasm file");
  const module = compileModule(positionals[0]);
  const metadata = readMetadata(module);
  const macros = await listProcMacros(module);
  // What the user grants the module's crate (macrobox.toml and flags), against what it declares.
  let grant: GrantDescription | null = null;
  if (metadata) {
    try {
      const decision = loadGrants({ dirs: userDirs(), config: values.config, allowEnv: values["allow-env"], allowRead: values["allow-read"] });
      for (const note of decision.notes) process.stderr.write(`note: ${note}\n`);
      const given = grantFor(decision.grants, metadata.crate.name);
      if (given.env.length + given.read.length > 0) {
        const effective = effectiveGrant(metadata.crate.name, metadata.capabilities, given);
        if (!effective.ok) throw new UsageError(effective.error);
        grant = describeGrant(metadata.crate.name, metadata.capabilities, effective.grant);
      }
    } catch (e) {
      if (e instanceof CapabilityError) throw new UsageError(e.message);
      throw e;
    }
  }
  if (values.json) {
    process.stdout.write(
      JSON.stringify({ macros: macros.map(({ kind, name, helpers }) => ({ kind, name, helpers })), metadata, ...(grant ? { grant } : {}) }, null, 2) + "\n",
    );
    return 0;
  }
  const out: string[] = [];
  if (metadata) {
    out.push(
      `${metadata.crate.name} ${metadata.crate.version}`,
      `  built by ${metadata.rustc}, bridge ${metadata.bridgeAbi}`,
      `  source ${metadata.sourceHash}`,
      `  profile ${profileLabel(metadata.build.profile)}`,
    );
  } else {
    out.push(`${positionals[0]} (no macrobox metadata: not built by macrobox build)`);
  }
  out.push("macros:");
  for (const m of macros) {
    const label = m.kind === "derive" ? `#[derive(${m.name})]` : m.kind === "attr" ? `#[${m.name}]` : `${m.name}!`;
    out.push(`  ${m.kind.padEnd(6)} ${label}${m.helpers.length ? `  helper attributes: ${m.helpers.join(", ")}` : ""}`);
  }
  if (metadata) {
    const caps = metadata.capabilities;
    out.push("capabilities declared:");
    if (caps.env.length === 0 && caps.read.length === 0) out.push("  none");
    if (caps.env.length) out.push(`  env:  ${caps.env.join(", ")}`);
    if (caps.read.length) out.push(`  read: ${caps.read.join(", ")}`);
    if (grant) {
      out.push("capabilities granted:");
      if (grant.lines.length === 0) out.push("  none");
      for (const l of grant.lines)
        out.push(`  ${`${l.kind}:`.padEnd(5)} ${l.item === "" ? "." : l.item}${l.declared ? "" : "  (beyond what the crate declares)"}`);
      if (grant.note) out.push(`note: ${grant.note}`);
    }
    if (metadata.build.compat.length) {
      out.push("compatibility patches applied to dependencies:");
      for (const c of metadata.build.compat) out.push(`  ${c.crate} ${c.version} ${c.file}: ${c.change}`);
    }
  }
  process.stdout.write(out.join("\n") + "\n");
  return 0;
}

function profileLabel(profile: string): string {
  if (profile === "dev") return "dev (debug assertions and overflow checks on, as cargo builds proc macros by default)";
  // Modules built before the dev profile existed say "release" and were built without either.
  if (profile === "release") return "release (debug assertions and overflow checks off)";
  return profile;
}
