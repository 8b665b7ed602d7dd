// The page's whole state in its URL fragment, so that a link reproduces it. The keys (README.md
// documents them; they are stable):
//
//   module  the module's crate name            kind   derive | attr | bang
//   macro   the macro's name                   input  base64url of the UTF-8 input text
//   args    attributes: base64url of the UTF-8 attribute arguments
//   grant-env   granted env var names, comma-separated      grant-read  granted path patterns, comma-separated
//   env     base64url of a JSON object: env var name -> value offered to the macro
//   files   base64url of a JSON object: path (relative to the crate directory) -> text
//   fuel    the expansion's fuel limit (wasm instructions); absent: the core's default
//
// Keys are written in this order, empty ones left out; unknown keys are ignored when read.
//
// Browser-safe: no DOM and no Node API (test/playground/playground-units.test.ts runs it in Node).

import type { MacroKind } from "../index.js";

export interface PageState {
  module: string;
  kind: MacroKind;
  macro: string;
  input: string;
  args: string;
  grantEnv: string[];
  grantRead: string[];
  env: Record<string, string>;
  files: Record<string, string>;
  /** The fuel limit; 0: the core's default. */
  fuel: number;
}

export const EMPTY_STATE: PageState = { module: "", kind: "derive", macro: "", input: "", args: "", grantEnv: [], grantRead: [], env: {}, files: {}, fuel: 0 };

/** base64url (RFC 4648 §5, no padding) of the UTF-8 bytes of `text`. */
export function encodeText(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The text `encodeText` encoded; padding is optional, and `+` `/` are accepted too. Throws on bad input. */
export function decodeText(encoded: string): string {
  const b64 = encoded.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

const KINDS: readonly MacroKind[] = ["derive", "attr", "bang"];

export function writeFragment(s: PageState): string {
  const parts: [string, string][] = [
    ["module", encodeURIComponent(s.module)],
    ["kind", s.kind],
    ["macro", encodeURIComponent(s.macro)],
    ["input", encodeText(s.input)],
  ];
  if (s.kind === "attr") parts.push(["args", encodeText(s.args)]);
  if (s.grantEnv.length) parts.push(["grant-env", s.grantEnv.map(encodeURIComponent).join(",")]);
  if (s.grantRead.length) parts.push(["grant-read", s.grantRead.map(encodeURIComponent).join(",")]);
  if (Object.keys(s.env).length) parts.push(["env", encodeText(JSON.stringify(s.env))]);
  if (Object.keys(s.files).length) parts.push(["files", encodeText(JSON.stringify(s.files))]);
  if (s.fuel > 0) parts.push(["fuel", String(s.fuel)]);
  return "#" + parts.map(([k, v]) => `${k}=${v}`).join("&");
}

/** The state a fragment holds; what it lacks or holds badly is left at `fallback`'s value, with a problem named. */
export function readFragment(fragment: string, fallback: PageState = EMPTY_STATE): { state: PageState; problems: string[] } {
  const state: PageState = { ...fallback, grantEnv: [...fallback.grantEnv], grantRead: [...fallback.grantRead] };
  const problems: string[] = [];
  const body = fragment.startsWith("#") ? fragment.slice(1) : fragment;
  if (body === "") return { state, problems };
  for (const part of body.split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    try {
      switch (key) {
        case "module":
          state.module = decodeURIComponent(value);
          break;
        case "kind":
          if (!(KINDS as readonly string[]).includes(value)) throw new Error(`expected one of ${KINDS.join(", ")}`);
          state.kind = value as MacroKind;
          break;
        case "macro":
          state.macro = decodeURIComponent(value);
          break;
        case "input":
          state.input = decodeText(value);
          break;
        case "args":
          state.args = decodeText(value);
          break;
        case "grant-env":
          state.grantEnv = value.split(",").filter(Boolean).map(decodeURIComponent);
          break;
        case "grant-read":
          state.grantRead = value.split(",").filter(Boolean).map(decodeURIComponent);
          break;
        case "env":
          state.env = stringRecord(JSON.parse(decodeText(value)));
          break;
        case "files":
          state.files = stringRecord(JSON.parse(decodeText(value)));
          break;
        case "fuel":
          if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Error("expected a positive number of instructions");
          state.fuel = Number(value);
          break;
      }
    } catch (e) {
      problems.push(`the link's \`${key}\` is not valid: ${(e as Error).message}`);
    }
  }
  return { state, problems };
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("expected an object of strings");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new Error(`${JSON.stringify(k)} is not a string`);
    out[k] = v;
  }
  return out;
}
