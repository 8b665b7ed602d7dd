// `macrobox build`: the command line and progress printing of src/builder/build.ts.

import type { BuildEvent } from "../builder/build.js";
import { userDirs } from "../node/trust.js";
import { remoteCacheSetting } from "../node/settings.js";
import { parseCommandLine, UsageError } from "./usage.js";

export async function buildCommand(args: string[]): Promise<number> {
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
