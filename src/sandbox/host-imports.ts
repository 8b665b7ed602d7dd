// The imports the macrobox host provides to a macro module, and nothing else. `macrobox build`
// refuses a module that needs anything outside this set (naming the import), and the host refuses
// to load one (`wasiImportsFor` in src/sandbox/wasi.ts), with the same message. Every WASI preview1 function is provided; the sandbox decides what each may do
// (by default: deny), so a macro sees ordinary OS errors rather than a failed link.
//
// Browser-safe.

export const WASI_MODULE = "wasi_snapshot_preview1";

export const WASI_PREVIEW1_FUNCTIONS = [
  "args_get",
  "args_sizes_get",
  "environ_get",
  "environ_sizes_get",
  "clock_res_get",
  "clock_time_get",
  "fd_advise",
  "fd_allocate",
  "fd_close",
  "fd_datasync",
  "fd_fdstat_get",
  "fd_fdstat_set_flags",
  "fd_fdstat_set_rights",
  "fd_filestat_get",
  "fd_filestat_set_size",
  "fd_filestat_set_times",
  "fd_pread",
  "fd_prestat_get",
  "fd_prestat_dir_name",
  "fd_pwrite",
  "fd_read",
  "fd_readdir",
  "fd_renumber",
  "fd_seek",
  "fd_sync",
  "fd_tell",
  "fd_write",
  "path_create_directory",
  "path_filestat_get",
  "path_filestat_set_times",
  "path_link",
  "path_open",
  "path_readlink",
  "path_remove_directory",
  "path_rename",
  "path_symlink",
  "path_unlink_file",
  "poll_oneoff",
  "proc_exit",
  "proc_raise",
  "sched_yield",
  "random_get",
  "sock_accept",
  "sock_recv",
  "sock_send",
  "sock_shutdown",
] as const;

export type WasiFunction = (typeof WASI_PREVIEW1_FUNCTIONS)[number];

export interface ImportProblem {
  module: string;
  name: string;
  kind: string;
  reason: string;
}

/** Imports of the module that the host will not provide. */
export function unsupportedImports(module: WebAssembly.Module): ImportProblem[] {
  const known = new Set<string>(WASI_PREVIEW1_FUNCTIONS);
  const problems: ImportProblem[] = [];
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module !== WASI_MODULE) {
      problems.push({ ...imp, reason: `the host provides only \`${WASI_MODULE}\` functions` });
    } else if (imp.kind !== "function" || !known.has(imp.name)) {
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
