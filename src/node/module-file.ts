// Reading a wasm module file whose path someone else chose (rust-analyzer's dylib path and the
// `<dylib>.wasm` next to it, `--module`, MACROBOX_MODULES, a shim's request to the cargo host):
// only a regular file within a size bound. A FIFO would block the reader forever (and with it
// the server's exit), a link to /dev/zero would be read until memory runs out.

import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { cannotRead, MacroboxError } from "../errors.js";

/** The largest module read (256 MiB): far above any real macro module (a few MiB). */
export const MAX_MODULE_BYTES = 256 * 1024 * 1024;

/**
 * The bytes of the module at `path`: opened without blocking (a FIFO's open waits for a writer
 * otherwise), checked on the open descriptor (a regular file, at most `maxBytes`), read to at
 * most `maxBytes + 1` bytes (a file that grows meanwhile is refused too).
 */
export function readModuleFile(path: string, maxBytes: number = MAX_MODULE_BYTES): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw cannotRead(`the module ${path}`, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const what = st.isFIFO()
        ? "a FIFO"
        : st.isDirectory()
          ? "a directory"
          : st.isCharacterDevice() || st.isBlockDevice()
            ? "a device"
            : st.isSocket()
              ? "a socket"
              : "not a regular file";
      throw new MacroboxError("module", `the module ${path} is ${what}, not a regular file`);
    }
    if (st.size > maxBytes) throw new MacroboxError("module", `the module ${path} is ${st.size} bytes, over the bound of ${maxBytes} bytes for a module`);
    let out = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1);
    let size = 0;
    for (;;) {
      if (size === out.length) {
        // It grew since fstat: keep reading, never past the bound.
        const bigger = Buffer.allocUnsafe(Math.min(out.length * 2, maxBytes + 1));
        out.copy(bigger, 0, 0, size);
        out = bigger;
      }
      const n = readSync(fd, out, size, out.length - size, null);
      if (n === 0) break;
      size += n;
      if (size > maxBytes) throw new MacroboxError("module", `the module ${path} is over the bound of ${maxBytes} bytes for a module`);
    }
    return new Uint8Array(out.buffer, out.byteOffset, size);
  } catch (e) {
    if (e instanceof MacroboxError) throw e;
    throw cannotRead(`the module ${path}`, e);
  } finally {
    closeSync(fd);
  }
}
