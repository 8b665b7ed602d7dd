// The playground page: pick a macro, type Rust, see the expansion as you type. Expansion runs in a
// Web Worker (worker.ts); this file owns the page: the editors, the module list, grants, the
// in-page file system and env values, the URL fragment (state.ts), and the worker's wall clock.
//
// Browser-safe: imports only the core's browser-safe entry (through worker.ts and layout.ts),
// CodeMirror and lezer.

import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { rust, rustLanguage } from "@codemirror/lang-rust";
import { setDiagnostics, type Diagnostic as CmDiagnostic } from "@codemirror/lint";
import { classHighlighter, highlightCode } from "@lezer/highlight";
import { macroLabel, type Diagnostic, type MacroKind } from "../index.js";
import { INPUT_FILE, type ExpandJob, type ExpandOutcome, type FromWorker, type ModuleSummary, type Request, type ToWorker } from "./protocol.js";
import { EMPTY_STATE, readFragment, writeFragment, type PageState } from "./state.js";

/** Past this, an expansion is stopped by replacing the worker (fuel normally ends it well before). */
const WALL_CLOCK_MS = 20_000;
/** Typing pauses this long before the input is expanded. */
const DEBOUNCE_MS = 150;

const SAMPLE = `// The item #[derive(Serialize)] is applied to (the derive attribute itself is not part of the input).
#[serde(rename_all = "camelCase")]
pub struct User {
    user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    age: u32,
}
`;

interface ModuleEntry {
  file: string;
  origin: string;
  bytes: Uint8Array;
  summary: ModuleSummary;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`the page lacks [data-testid="${id}"]`);
  return el;
};

// ---- the worker ----

type Pending = { resolve: (m: FromWorker) => void; timer?: ReturnType<typeof setTimeout> };

/**
 * The expansion worker and the modules loaded into it. An expansion past its wall clock replaces the
 * worker (a macro still running in it); the modules are then loaded into the new one before anything else.
 */
class ExpansionWorker {
  readonly modules = new Map<string, ModuleEntry>();
  private worker!: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Set while the worker is being replaced: modules are loaded into the new one first. */
  private ready: Promise<void> = Promise.resolve();

  start(): void {
    this.worker = new Worker(new URL("worker.js", document.baseURI), { type: "module" });
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const p = this.pending.get(e.data.id);
      if (!p) return;
      this.pending.delete(e.data.id);
      if (p.timer) clearTimeout(p.timer);
      p.resolve(e.data);
    };
    this.worker.onerror = (e) => showStatus(`the expansion worker failed: ${e.message}`);
  }

  /** `message` sent once the worker is ready; with `wallClock`, bounded by WALL_CLOCK_MS. */
  async request(message: Request, wallClock = false): Promise<FromWorker> {
    await this.ready;
    return this.ask(message, wallClock);
  }

  async addModule(file: string, origin: string, bytes: Uint8Array): Promise<ModuleSummary> {
    const reply = await this.request({ type: "load", name: file.replace(/\.wasm$/, ""), bytes });
    if (reply.type !== "loaded") throw new Error(reply.type === "failed" ? `${file}: ${reply.message}` : "unexpected reply");
    this.modules.set(reply.module.name, { file, origin, bytes, summary: reply.module });
    return reply.module;
  }

  private ask(message: Request, wallClock = false): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const entry: Pending = { resolve };
      if (wallClock) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          this.replace();
          resolve({
            type: "failed",
            id,
            message: `the expansion took longer than ${WALL_CLOCK_MS / 1000} s of wall-clock time; its worker was stopped and replaced`,
          });
        }, WALL_CLOCK_MS);
      }
      this.pending.set(id, entry);
      this.worker.postMessage({ ...message, id } as ToWorker);
    });
  }

  /** Terminates the worker (a macro still running in it) and starts another with every module loaded. */
  private replace(): void {
    this.worker.terminate();
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.resolve({ type: "failed", id, message: "the expansion worker was replaced" });
    }
    this.pending.clear();
    this.start();
    this.ready = Promise.all([...this.modules.values()].map((m) => this.ask({ type: "load", name: m.summary.name, bytes: m.bytes }))).then(() => undefined);
  }
}

const expander = new ExpansionWorker();
const modules = expander.modules;

/** What the page keeps between events (the one mutable state of this file besides the worker). */
const page = {
  /** What the URL fragment holds (state.ts): the controls show it, expansions use it. */
  state: { ...EMPTY_STATE } as PageState,
  /** Set while the page itself replaces the input text, so that it is not taken as typing. */
  settingInput: false,
  /** The pending debounce of a change. */
  debounce: undefined as ReturnType<typeof setTimeout> | undefined,
  /** The state generation each request was made for: only the newest one's result is shown. */
  generation: 0,
  /** One expansion at a time; while one runs, only the newest state waits behind it (`queued`). */
  running: false,
  queued: false,
};

// ---- the editors ----

const input = new EditorView({
  parent: $("input"),
  state: EditorState.create({
    doc: "",
    extensions: [
      basicSetup,
      rust(),
      EditorView.updateListener.of((u) => {
        if (u.docChanged && !page.settingInput) {
          page.state.input = u.state.doc.toString();
          changed();
        }
      }),
    ],
  }),
});

function setInputText(text: string): void {
  page.settingInput = true;
  input.dispatch({ changes: { from: 0, to: input.state.doc.length, insert: text } });
  page.settingInput = false;
}

/** The editor position of a 1-based line and char column (columns count chars, not UTF-16 units). */
function position(line: number, column: number): number {
  const doc = input.state.doc;
  if (line < 1) return 0;
  if (line > doc.lines) return doc.length;
  const l = doc.line(line);
  let pos = l.from;
  for (let c = 1; c < column && pos < l.to; c++) pos += l.text.codePointAt(pos - l.from)! > 0xffff ? 2 : 1;
  return pos;
}

function underline(diagnostics: Diagnostic[]): void {
  const marks: CmDiagnostic[] = [];
  const walk = (d: Diagnostic, parent: Diagnostic | null) => {
    for (const s of d.spans) {
      if (s.file !== INPUT_FILE) continue;
      const from = position(s.line, s.column);
      const to = Math.max(from, position(s.endLine, s.endColumn));
      const severity = d.level === "error" ? "error" : d.level === "warning" ? "warning" : "info";
      const message = parent ? `${parent.message}\n${d.level}: ${d.message}` : `${d.message}${d.children.map((c) => `\n${c.level}: ${c.message}`).join("")}`;
      marks.push({ from, to, severity, message, source: d.level });
    }
    for (const c of d.children) walk(c, d);
  };
  for (const d of diagnostics) walk(d, null);
  input.dispatch(setDiagnostics(input.state, marks));
}

function highlighted(code: string, into: HTMLElement): void {
  into.replaceChildren();
  const tree = rustLanguage.parser.parse(code);
  highlightCode(
    code,
    tree,
    classHighlighter,
    (text, classes) => {
      if (!classes) into.append(text);
      else {
        const span = document.createElement("span");
        span.className = classes;
        span.textContent = text;
        into.append(span);
      }
    },
    () => into.append("\n"),
  );
}

// ---- the state and the controls ----

function currentModule(): ModuleEntry | undefined {
  return modules.get(page.state.module);
}

function renderMacroList(): void {
  const select = $<HTMLSelectElement>("macro");
  select.replaceChildren();
  for (const m of modules.values()) {
    const group = document.createElement("optgroup");
    group.label = `${m.summary.crate ? `${m.summary.crate.name} ${m.summary.crate.version}` : m.summary.name} (${m.origin})`;
    for (const info of m.summary.macros) {
      const option = document.createElement("option");
      option.value = JSON.stringify([m.summary.name, info.kind, info.name]);
      option.textContent = macroLabel(info.kind, info.name);
      option.selected = m.summary.name === page.state.module && info.kind === page.state.kind && info.name === page.state.macro;
      group.append(option);
    }
    select.append(group);
  }
}

function renderModuleInfo(): void {
  const m = currentModule();
  const info = $("module-info");
  info.replaceChildren();
  const grants = $("grants");
  grants.replaceChildren();
  if (!m) {
    info.textContent = page.state.module ? `no module named ${page.state.module} is loaded: add it (drop its .wasm here, or --module)` : "";
    return;
  }
  const line = (text: string) => {
    const p = document.createElement("p");
    p.textContent = text;
    info.append(p);
  };
  line(m.summary.built ?? `${m.file}: no macrobox metadata (not built by macrobox build)`);
  line(`macros: ${m.summary.macros.map((x) => `${x.kind} ${x.name}${x.helpers.length ? ` (helpers: ${x.helpers.join(", ")})` : ""}`).join("; ")}`);
  const { env, read } = m.summary.declared;
  line(
    env.length + read.length === 0 ? "declares no capabilities" : `declares: ${[...env.map((e) => `env ${e}`), ...read.map((r) => `read ${r}`)].join(", ")}`,
  );
  const box = (kind: "env" | "read", item: string) => {
    const label = document.createElement("label");
    const check = document.createElement("input");
    check.type = "checkbox";
    check.dataset.testid = `grant-${kind}-${item}`;
    const list = kind === "env" ? page.state.grantEnv : page.state.grantRead;
    check.checked = list.includes(item);
    check.onchange = () => {
      const l = (kind === "env" ? page.state.grantEnv : page.state.grantRead).filter((x) => x !== item);
      if (check.checked) l.push(item);
      if (kind === "env") page.state.grantEnv = l;
      else page.state.grantRead = l;
      changed();
    };
    label.append(check, ` grant ${kind} ${item}`);
    grants.append(label);
  };
  for (const e of env) box("env", e);
  for (const r of read) box("read", r);
}

function renderFiles(): void {
  const list = $("files");
  list.replaceChildren();
  for (const [path, text] of Object.entries(page.state.files)) {
    const li = document.createElement("li");
    const open = document.createElement("button");
    open.textContent = path;
    open.title = `${text.length} chars; click to edit`;
    open.onclick = () => {
      $<HTMLInputElement>("file-path").value = path;
      $<HTMLTextAreaElement>("file-content").value = text;
    };
    const remove = document.createElement("button");
    remove.textContent = "remove";
    remove.onclick = () => {
      const { [path]: _gone, ...rest } = page.state.files;
      page.state.files = rest;
      renderFiles();
      changed();
    };
    li.append(open, " ", remove);
    list.append(li);
  }
}

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return env;
}

function showControls(): void {
  $("args-row").hidden = page.state.kind !== "attr";
  $<HTMLInputElement>("args").value = page.state.args;
  $<HTMLInputElement>("fuel").value = page.state.fuel > 0 ? String(page.state.fuel) : "";
  $<HTMLTextAreaElement>("env").value = Object.entries(page.state.env)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
  renderMacroList();
  renderModuleInfo();
  renderFiles();
}

function showStatus(text: string): void {
  $("status").textContent = text;
}

// ---- expanding ----

function changed(): void {
  history.replaceState(null, "", writeFragment(page.state));
  page.generation++;
  $("output").dataset.state = "pending";
  clearTimeout(page.debounce);
  page.debounce = setTimeout(schedule, DEBOUNCE_MS);
}

function job(): ExpandJob | null {
  if (!currentModule() || !page.state.macro) return null;
  return {
    module: page.state.module,
    kind: page.state.kind,
    name: page.state.macro,
    input: page.state.input,
    args: page.state.kind === "attr" ? page.state.args : undefined,
    granted: { env: [...page.state.grantEnv], read: [...page.state.grantRead] },
    files: { ...page.state.files },
    env: { ...page.state.env },
    fuel: page.state.fuel,
  };
}

/** One expansion at a time; while one runs, only the newest state waits behind it. */
function schedule(): void {
  if (page.running) {
    page.queued = true;
    return;
  }
  const j = job();
  const output = $("output");
  if (!j) {
    output.textContent = page.state.module ? "" : "pick a macro";
    output.dataset.state = page.state.module && modules.size > 0 ? "error" : "pending";
    return;
  }
  page.running = true;
  const mine = page.generation;
  output.dataset.state = "running";
  void expander
    .request({ type: "expand", job: j }, true)
    .then((reply) => {
      if (mine === page.generation) show(reply);
    })
    .finally(() => {
      page.running = false;
      if (page.queued) {
        page.queued = false;
        schedule();
      }
    });
}

function show(reply: FromWorker): void {
  const output = $("output");
  if (reply.type === "failed") {
    output.textContent = "";
    renderDiagnostics(null, reply.message);
    underline([]);
    output.dataset.state = "error";
    return;
  }
  if (reply.type !== "expanded" && reply.type !== "determinism") return;
  const o = reply.outcome;
  if (o.code !== undefined) highlighted(o.code, output);
  else output.textContent = "";
  renderDiagnostics(o, null);
  underline(o.diagnostics);
  $("time").textContent = `${o.ms.toFixed(1)} ms`;
  output.dataset.state = o.fails ? "error" : "done";
}

function renderDiagnostics(o: ExpandOutcome | null, failure: string | null): void {
  const box = $("diagnostics");
  box.replaceChildren();
  const list = document.createElement("ul");
  const item = (d: Diagnostic, into: HTMLElement) => {
    const li = document.createElement("li");
    li.className = `diag-${d.level}`;
    const at = d.spans[0] ? ` (${d.spans[0].file}:${d.spans[0].line}:${d.spans[0].column})` : "";
    li.textContent = `${d.level}: ${d.message}${at}`;
    if (d.children.length) {
      const sub = document.createElement("ul");
      for (const c of d.children) item(c, sub);
      li.append(sub);
    }
    into.append(li);
  };
  if (o) for (const d of o.diagnostics) item(d, list);
  if (failure) {
    const li = document.createElement("li");
    li.className = "diag-error";
    li.textContent = `error: ${failure}`;
    list.append(li);
  }
  box.append(list);
  if (o && o.messages) {
    const pre = document.createElement("pre");
    pre.textContent = o.messages;
    box.append(pre);
  }
  $("printed").textContent = o ? [o.stdout && `stdout:\n${o.stdout}`, o.stderr && `stderr:\n${o.stderr}`].filter(Boolean).join("\n") || "(nothing)" : "";
  $("tracked").textContent = o
    ? [
        `tracked env vars: ${o.trackedEnv.map((v) => `${v.name}${v.value === null ? " (unset)" : ` = ${JSON.stringify(v.value)}`}`).join(", ") || "none"}`,
        `tracked paths: ${o.trackedPaths.join(", ") || "none"}`,
        `files read: ${o.reads.join(", ") || "none"}`,
        ...o.denials.map((d) => `denied: ${d.note}`),
      ].join("\n")
    : "";
}

async function checkDeterminism(): Promise<void> {
  const j = job();
  const out = $("determinism");
  if (!j) return;
  out.textContent = "expanding twice in fresh instances...";
  const reply = await expander.request({ type: "determinism", job: j }, true);
  if (reply.type === "determinism")
    out.textContent = reply.identical
      ? "identical: two fresh runs gave the same output, diagnostics and reads"
      : `not deterministic: the runs differ in ${reply.difference}`;
  else if (reply.type === "failed") out.textContent = `could not check: ${reply.message}`;
}

// ---- start ----

function pickDefault(): void {
  if (page.state.module && page.state.macro) return;
  const first = modules.get("serde_derive") ?? modules.values().next().value;
  if (!first || first.summary.macros.length === 0) return;
  const m = first.summary.macros.find((x) => x.name === "Serialize") ?? first.summary.macros[0];
  page.state = { ...page.state, module: first.summary.name, kind: m.kind as MacroKind, macro: m.name, input: page.state.input || SAMPLE };
}

async function loadDropped(files: FileList | null): Promise<void> {
  for (const f of Array.from(files ?? [])) {
    try {
      const summary = await expander.addModule(f.name, "dropped", new Uint8Array(await f.arrayBuffer()));
      showStatus(`added ${summary.name} (${summary.macros.length} macros)`);
      if (!modules.has(page.state.module) || page.state.module === summary.name) {
        const m = summary.macros[0];
        if (m && page.state.module !== summary.name) Object.assign(page.state, { module: summary.name, kind: m.kind, macro: m.name });
      }
    } catch (e) {
      showStatus(`${f.name}: ${(e as Error).message}`);
    }
  }
  showControls();
  changed();
}

async function start(): Promise<void> {
  expander.start();
  const read = readFragment(location.hash);
  page.state = read.state;
  if (read.problems.length) showStatus(read.problems.join("; "));
  const index: { file: string; origin: string }[] = await (await fetch("modules/index.json")).json();
  for (const { file, origin } of index) {
    try {
      const bytes = new Uint8Array(await (await fetch(`modules/${file}`)).arrayBuffer());
      await expander.addModule(file, origin, bytes);
    } catch (e) {
      showStatus(`${file}: ${(e as Error).message}`);
    }
  }
  pickDefault();
  setInputText(page.state.input);
  showControls();

  $<HTMLSelectElement>("macro").onchange = (e) => {
    const [module, kind, name] = JSON.parse((e.target as HTMLSelectElement).value) as [string, MacroKind, string];
    if (module !== page.state.module) Object.assign(page.state, { grantEnv: [], grantRead: [] });
    Object.assign(page.state, { module, kind, macro: name });
    showControls();
    changed();
  };
  $<HTMLInputElement>("args").oninput = (e) => {
    page.state.args = (e.target as HTMLInputElement).value;
    changed();
  };
  $<HTMLTextAreaElement>("env").oninput = (e) => {
    page.state.env = parseEnv((e.target as HTMLTextAreaElement).value);
    changed();
  };
  $<HTMLInputElement>("fuel").onchange = (e) => {
    const v = Number((e.target as HTMLInputElement).value);
    page.state.fuel = Number.isSafeInteger(v) && v > 0 ? v : 0;
    changed();
  };
  $("file-save").onclick = () => {
    const path = $<HTMLInputElement>("file-path").value.trim();
    if (!path) return;
    page.state.files = { ...page.state.files, [path]: $<HTMLTextAreaElement>("file-content").value };
    renderFiles();
    changed();
  };
  $("check-determinism").onclick = () => void checkDeterminism();
  $<HTMLInputElement>("module-file").onchange = (e) => void loadDropped((e.target as HTMLInputElement).files);
  document.body.addEventListener("dragover", (e) => e.preventDefault());
  document.body.addEventListener("drop", (e) => {
    e.preventDefault();
    void loadDropped(e.dataTransfer?.files ?? null);
  });
  window.addEventListener("hashchange", () => {
    page.state = readFragment(location.hash, page.state).state;
    setInputText(page.state.input);
    showControls();
    changed();
  });
  changed();
}

void start();
