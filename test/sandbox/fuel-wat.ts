// Test helper: assembles .wat text into wasm bytes with wabt, and validates bytes with wabt
// (which knows proposals Node's engine may not run, e.g. relaxed SIMD).
import wabtInit from "wabt";

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabtPromise: Promise<Wabt> | undefined;

export const ALL_FEATURES = {
  exceptions: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  threads: true,
  multi_value: true,
  tail_call: true,
  bulk_memory: true,
  reference_types: true,
  extended_const: true,
  relaxed_simd: true,
  memory64: false,
};

export async function wat(text: string, features: Record<string, boolean> = ALL_FEATURES): Promise<Uint8Array<ArrayBuffer>> {
  const wabt = await (wabtPromise ??= wabtInit());
  const module = wabt.parseWat("test.wat", text, features);
  try {
    module.resolveNames();
    module.validate();
    return new Uint8Array(module.toBinary({ write_debug_names: true }).buffer);
  } finally {
    module.destroy();
  }
}

/** Throws wabt's message if `bytes` is not a valid module (with every proposal enabled). */
export async function wabtValidate(bytes: Uint8Array): Promise<void> {
  const wabt = await (wabtPromise ??= wabtInit());
  const module = wabt.readWasm(bytes, { readDebugNames: true, ...ALL_FEATURES });
  try {
    module.validate();
  } finally {
    module.destroy();
  }
}

export function instantiate(bytes: Uint8Array<ArrayBuffer>, imports: WebAssembly.Imports = {}): WebAssembly.Instance {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
}
