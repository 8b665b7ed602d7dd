// The imports the macrobox host provides to a macro module, and nothing else. `macrobox build`
// refuses a module that needs anything outside this set (naming the import), and the host refuses
// to load one (`wasiImportsFor` in src/sandbox/wasi.ts), with the same message. Every WASI preview1
// function is provided; the sandbox decides what each may do (by default: deny, `WASI_PREVIEW1`),
// so a macro sees ordinary OS errors rather than a failed link.
//
// Browser-safe.

export const WASI_MODULE = "wasi_snapshot_preview1";

/**
 * Every WASI preview1 function, the one table of them: the host provides all of them, and this says
 * what each does by default (src/sandbox/wasi.ts; a grant's `WasiOptions.extend` may serve more):
 *   - `host`: a method of `Wasi` (deny by default, fixed clock and random stream, captured output);
 *   - `not-capable`: ENOTCAPABLE, the file system and sockets needing a capability;
 *   - `nosys`: ENOSYS.
 * `replayable`: its only effects are on the instance's memory, the random stream, the written byte
 * count and what `WarmStart.replay` redoes, so a warm-up that calls it can still be snapshotted
 * (src/bridge/snapshot.ts); a warm-up that calls anything else (opens a file, exits) is not.
 */
export const WASI_PREVIEW1 = {
  args_get: { answer: "host", replayable: true },
  args_sizes_get: { answer: "host", replayable: true },
  environ_get: { answer: "host", replayable: true },
  environ_sizes_get: { answer: "host", replayable: true },
  clock_res_get: { answer: "host", replayable: true },
  clock_time_get: { answer: "host", replayable: true },
  fd_advise: { answer: "not-capable" },
  fd_allocate: { answer: "not-capable" },
  fd_close: { answer: "host" },
  fd_datasync: { answer: "not-capable" },
  fd_fdstat_get: { answer: "host", replayable: true },
  fd_fdstat_set_flags: { answer: "not-capable" },
  fd_fdstat_set_rights: { answer: "not-capable" },
  fd_filestat_get: { answer: "not-capable" },
  fd_filestat_set_size: { answer: "not-capable" },
  fd_filestat_set_times: { answer: "not-capable" },
  fd_pread: { answer: "not-capable" },
  fd_prestat_get: { answer: "host", replayable: true },
  fd_prestat_dir_name: { answer: "host", replayable: true },
  fd_pwrite: { answer: "not-capable" },
  fd_read: { answer: "host" },
  fd_readdir: { answer: "not-capable" },
  fd_renumber: { answer: "not-capable" },
  fd_seek: { answer: "host" },
  fd_sync: { answer: "host" },
  fd_tell: { answer: "not-capable" },
  fd_write: { answer: "host", replayable: true },
  path_create_directory: { answer: "not-capable" },
  path_filestat_get: { answer: "not-capable" },
  path_filestat_set_times: { answer: "not-capable" },
  path_link: { answer: "not-capable" },
  path_open: { answer: "host" },
  path_readlink: { answer: "not-capable" },
  path_remove_directory: { answer: "not-capable" },
  path_rename: { answer: "not-capable" },
  path_symlink: { answer: "not-capable" },
  path_unlink_file: { answer: "not-capable" },
  poll_oneoff: { answer: "nosys" },
  proc_exit: { answer: "host" },
  proc_raise: { answer: "nosys" },
  sched_yield: { answer: "host", replayable: true },
  random_get: { answer: "host", replayable: true },
  sock_accept: { answer: "not-capable" },
  sock_recv: { answer: "not-capable" },
  sock_send: { answer: "not-capable" },
  sock_shutdown: { answer: "not-capable" },
} as const satisfies Record<string, { answer: "host" | "not-capable" | "nosys"; replayable?: true }>;

export type WasiFunction = keyof typeof WASI_PREVIEW1;

/** The preview1 functions a `host` answer names: each is a method of `Wasi`. */
export type HostWasiFunction = { [F in WasiFunction]: (typeof WASI_PREVIEW1)[F]["answer"] extends "host" ? F : never }[WasiFunction];

/** Whether `name` is a WASI preview1 function. */
export function isWasiFunction(name: string): name is WasiFunction {
  return Object.hasOwn(WASI_PREVIEW1, name);
}

/** Whether a warm-up that called `name` can be snapshotted (see `replayable` above). */
export function isReplayableCall(name: string): boolean {
  return isWasiFunction(name) && "replayable" in WASI_PREVIEW1[name];
}

export interface ImportProblem {
  module: string;
  name: string;
  kind: string;
  reason: string;
}

/** Imports of the module that the host will not provide. */
export function unsupportedImports(module: WebAssembly.Module): ImportProblem[] {
  const problems: ImportProblem[] = [];
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module !== WASI_MODULE) {
      problems.push({ ...imp, reason: `the host provides only \`${WASI_MODULE}\` functions` });
    } else if (imp.kind !== "function" || !isWasiFunction(imp.name)) {
      problems.push({ ...imp, reason: `not a WASI preview1 function` });
    }
  }
  return problems;
}

/**
 * What is wrong with the module's imports, for people: "needs imports the macrobox host does not
 * provide:" and a line per import, to follow the module's name; null when the host provides them all.
 */
export function unsupportedImportsMessage(module: WebAssembly.Module): string | null {
  const problems = unsupportedImports(module);
  if (problems.length === 0) return null;
  return "needs imports the macrobox host does not provide:\n" + problems.map((p) => `  ${p.module}.${p.name} (${p.kind}): ${p.reason}`).join("\n");
}
