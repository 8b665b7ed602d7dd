// One expansion of the cargo host, as a worker thread of the host runs it (host-worker.ts): a
// shim's request bytes in, the reply bytes out. The module is loaded once per worker (from the
// module cache); every expansion still runs in its own fresh sandbox with the sandbox's memory
// bound (src/host), so which worker serves a request changes nothing in its result.

import { isAbsolute, resolve } from "node:path";
import { statSync } from "node:fs";
import { loadMacroModule, type MacroModule } from "../index.js";
import { isPackageEnv } from "../sandbox/capabilities.js";
import { grantFor, loadGrants, type UserDirs } from "../node/index.js";
import { expansionSandbox } from "../node/expansion-sandbox.js";
import { pendingHint } from "../node/trust.js";
import { readModuleFile } from "../node/module-file.js";
import { moduleHash, nodeCaches, type NodeCaches } from "../node/disk-cache.js";
import { decodeRequest, encodeReply, type ShimRequest } from "./protocol.js";
import { withTracking } from "./tracking.js";
import { AnswerIndex } from "./answers.js";
import { errorMessage } from "../errors.js";

const PANIC_TITLES = ["proc macro panicked", "proc-macro derive panicked", "custom attribute panicked"];

/** The expansions of one thread: its loaded modules, over the user's caches. */
export class HostExpander {
  private readonly modules = new Map<string, Promise<MacroModule>>();
  private readonly caches: NodeCaches;
  private readonly answers: AnswerIndex | null;

  /** `answers`: the answer index's directory (answers.ts), written only while the expansion cache is on. */
  constructor(
    private readonly dirs: UserDirs,
    answers: string | null = null,
  ) {
    this.caches = nodeCaches(process.env, { dirs });
    this.answers = answers !== null && this.caches.expansionCache !== null ? new AnswerIndex(answers) : null;
  }

  private load(path: string): Promise<MacroModule> {
    let m = this.modules.get(path);
    if (m === undefined) {
      // A regular file within the bound, whatever path a shim names.
      const bytes = readModuleFile(path);
      m = loadMacroModule(bytes, {
        moduleCache: this.caches.moduleCache,
        expansionCache: this.caches.expansionCache ?? undefined,
        moduleHash: moduleHash(bytes),
      });
      m.catch(() => this.modules.delete(path));
      this.modules.set(path, m);
    }
    return m;
  }

  /**
   * The reply to one request. `shown` are the settings notes the host already showed (each once:
   * every expansion of a build would repeat them; again in a failure); the notes this reply shows
   * come back in `notes`. Never throws: a bad request or a failed load is an error reply.
   */
  async reply(request: Uint8Array, shown: ReadonlySet<string>): Promise<{ reply: Buffer; notes: string[]; error?: string; fromCache?: boolean }> {
    try {
      return await this.expand(decodeRequest(request), shown);
    } catch (e) {
      const message = errorMessage(e);
      return { reply: encodeReply({ kind: "error", message: `macrobox: ${message}` }, { stdout: "", stderr: "" }, null), notes: [], error: message };
    }
  }

  private async expand(req: ShimRequest, shown: ReadonlySet<string>): Promise<{ reply: Buffer; notes: string[]; fromCache: boolean }> {
    const module = await this.load(req.module);
    const crate = module.crate?.name ?? req.crate;
    // Grants come from the user (src/node/trust.ts): the workspace's request (`macrobox.toml` or
    // `[workspace.metadata.macrobox]`, in the directory the patch names in MACROBOX_WORKSPACE) once
    // trusted, for a crate being compiled whose real path lies inside it; the macro sees that crate.
    const workspace = req.env.MACROBOX_WORKSPACE ?? req.cwd;
    const decision = loadGrants({ dirs: this.dirs, cwd: workspace, crateDir: req.env.CARGO_MANIFEST_DIR ?? req.cwd });
    const hint = pendingHint(decision, crate);
    const sandbox = expansionSandbox({
      crate,
      declared: module.declared,
      granted: grantFor(decision.grants, crate),
      env: req.env,
      currentDir: req.cwd,
      ...(hint !== undefined ? { hint } : {}),
    });
    const result = await module.expand({ kind: req.kind, name: req.name, input: req.input, args: req.args, spans: req.spans, sandbox });
    const settingsNotes = decision.notes.filter((n) => result.output === undefined || !shown.has(n));
    const notes = [...settingsNotes, ...result.denials.map((d) => d.note)].map((n) => `note: macrobox: ${n}\n`).join("");
    const printed = { stdout: result.stdout, stderr: result.stderr + notes };
    const fromCache = result.fromCache === true;
    if (result.output === undefined) {
      const err = result.error!;
      if (err.kind === "panic") {
        const title = PANIC_TITLES.find((t) => err.message === t || err.message.startsWith(`${t}: `));
        // rustc prints a panic without a message as "proc macro panicked" with no help line; an
        // empty payload is the closest a shim can panic with.
        const message = title === undefined ? err.message : err.message.slice(title.length + 2);
        return { reply: encodeReply({ kind: "panic", message }, printed, null), notes: settingsNotes, fromCache };
      }
      return { reply: encodeReply({ kind: "error", message: `macrobox: ${crate}: ${err.message}` }, printed, null), notes: settingsNotes, fromCache };
    }
    const trackedFiles = new Set<string>();
    for (const read of result.reads) {
      const path = isAbsolute(read) ? read : resolve(sandbox.crateDir ?? req.cwd, read);
      try {
        if (statSync(path).isFile()) trackedFiles.add(path);
      } catch {
        // gone since: nothing to track
      }
    }
    // The package env is cargo's own: cargo rebuilds the crate when it changes.
    const trackedEnv = new Set<string>(result.trackedEnv.map((e) => e.name).filter((name) => !isPackageEnv(name)));
    for (const name of sandbox.granted.env) if (!/[*?[]/.test(name) && !isPackageEnv(name)) trackedEnv.add(name);
    const { output } = withTracking(req.kind, result.output, [...trackedFiles].sort(), [...trackedEnv].sort(), req.callSite);
    const reply = encodeReply({ kind: "output", output }, printed, req.toShim);
    // What the answer index may hold (answers.ts): a reply no grant, setting, file or position can change.
    if (
      this.answers !== null &&
      req.readsIndex &&
      result.selfContained === true &&
      result.error === undefined &&
      result.diagnostics.length === 0 &&
      req.placed &&
      decision.notes.length === 0 &&
      sandbox.granted.env.length === 0 &&
      printed.stdout === "" &&
      printed.stderr === "" &&
      trackedFiles.size === 0 &&
      trackedEnv.size === 0
    )
      this.answers.write(this.dirs, req, reply);
    return { reply, notes: settingsNotes, fromCache };
  }
}
