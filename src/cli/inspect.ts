// `macrobox inspect`: what a module holds (macros, metadata), and what the user grants its crate.

import { listProcMacros, macroLabel } from "../wasm/decls.js";
import { readMetadata } from "../wasm/metadata.js";
import { CapabilityError, describeGrant, effectiveGrant, type GrantDescription } from "../sandbox/capabilities.js";
import { grantFor } from "../node/grants.js";
import { loadGrants, userDirs } from "../node/trust.js";
import { compileModule } from "./compile-module.js";
import { parseCommandLine, UsageError } from "./usage.js";

export async function inspectCommand(args: string[]): Promise<number> {
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
        if (!effective.ok) throw new UsageError(effective.error.message);
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
    out.push(`  ${m.kind.padEnd(6)} ${macroLabel(m.kind, m.name)}${m.helpers.length ? `  helper attributes: ${m.helpers.join(", ")}` : ""}`);
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
