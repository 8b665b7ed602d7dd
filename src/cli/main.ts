// The `macrobox` command: the usage, dispatch to each command's file (loaded on demand, so a command
// loads only what it needs), and how an error that ends a command is printed.

import { errorMessage, INTERNAL_ERROR, isMacroboxError } from "../errors.js";
import { flushRemoteCaches } from "../node/remote-cache.js";

const USAGE = `macrobox — sandboxed, deterministic Rust proc macros in WebAssembly

Usage:
  macrobox patch [--undo] [--report] [--check-determinism] [--keep-native crate,...] [--all-features]
                 [--allow-native-build] [--grant-build package|./dir[:network|read=path|write=path|env=VAR]]
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
      return await (await import("./build.js")).buildCommand(rest);
    case "inspect":
      return await (await import("./inspect.js")).inspectCommand(rest);
    case "proc-macro-server":
      return await (await import("../proc-macro-server/main.js")).serverMain(rest, "macrobox");
    case "expand":
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
