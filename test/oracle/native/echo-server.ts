// A macrobox protocol server whose backend behaves like test/oracle/native/echo-macros, so its
// answers can be compared with rust-analyzer's server running the real echo-macros dylib.
// Run: node --import tsx test/oracle/native/echo-server.ts

import { serveStdio } from "../../../src/node/stdio-server.js";
import type { ProcMacroBackend } from "../../../src/server/serve.js";

const backend: ProcMacroBackend = {
  spanModes: ["Id", "RustAnalyzer"],
  async listMacros() {
    return {
      ok: true,
      value: [
        { name: "echo", kind: "bang" },
        { name: "echo_attr", kind: "attr" },
        { name: "EchoDerive", kind: "derive" },
        { name: "panic_now", kind: "bang" },
        { name: "reparse", kind: "bang" },
      ],
    };
  },
  async expand(req) {
    switch (req.macroName) {
      case "echo":
      case "EchoDerive":
        return { ok: true, value: { output: req.body } };
      case "echo_attr":
        return { ok: true, value: { output: [...(req.attributes ?? []), ...req.body] } };
      case "panic_now":
        return { ok: false, error: "echo-macros: asked to panic" };
      default:
        return { ok: false, error: `proc-macro \`${req.macroName}\` is missing` };
    }
  },
};

await serveStdio(backend);
