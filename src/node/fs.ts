// The crate directory as a ReadOnlyFs (Node): reads through the real file system, refusing any
// path whose real location (after symbolic links) is outside the root.

import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import { MacroboxError, systemErrorReason } from "../errors.js";
import { FsError, type FsEntry, type FsFileType, type FsStat, type ReadOnlyFs } from "../sandbox/fs.js";

export class NodeReadOnlyFs implements ReadOnlyFs {
  /** The root's real path. */
  readonly root: string;

  constructor(root: string) {
    try {
      this.root = realpathSync(root);
    } catch (e) {
      throw new MacroboxError("io", `cannot use ${root} as the crate directory: ${systemErrorReason(e)}`);
    }
    if (!statSync(this.root).isDirectory()) throw new MacroboxError("io", `${root} is not a directory`);
  }

  /** The real absolute path of `path` and its position relative to the root; refuses escapes. */
  private resolve(path: string): { real: string; rel: string } {
    if (isAbsolute(path) || path.split("/").includes("..")) throw new FsError("OUTSIDE", `${path} is not inside the crate directory`);
    let real: string;
    try {
      real = realpathSync(join(this.root, ...path.split("/").filter((s) => s !== "")));
    } catch (e) {
      throw nodeError(e, path);
    }
    const rel = relative(this.root, real);
    if (rel === ".." || rel.startsWith(".." + sep) || isAbsolute(rel)) {
      throw new FsError("OUTSIDE", `${path} leads outside the crate directory`);
    }
    return { real, rel: rel.split(sep).join("/") };
  }

  stat(path: string): FsStat {
    const { real, rel } = this.resolve(path);
    try {
      const st = statSync(real);
      return { type: st.isFile() ? "file" : st.isDirectory() ? "directory" : "other", size: st.isFile() ? st.size : 0, realPath: rel };
    } catch (e) {
      throw nodeError(e, path);
    }
  }

  readFile(path: string): Uint8Array {
    const { real } = this.resolve(path);
    try {
      return new Uint8Array(readFileSync(real));
    } catch (e) {
      throw nodeError(e, path);
    }
  }

  readdir(path: string): FsEntry[] {
    const { real } = this.resolve(path);
    let names: string[];
    try {
      names = readdirSync(real);
    } catch (e) {
      throw nodeError(e, path);
    }
    return names.sort().map((name) => {
      let type: FsFileType = "other";
      let link = false;
      try {
        link = lstatSync(join(real, name)).isSymbolicLink();
        const st = statSync(join(real, name));
        type = st.isFile() ? "file" : st.isDirectory() ? "directory" : "other";
      } catch {
        // a dangling link: "other"
      }
      return link ? { name, type, link } : { name, type };
    });
  }

  readlink(path: string): string | null {
    if (isAbsolute(path) || path.split("/").includes("..")) throw new FsError("OUTSIDE", `${path} is not inside the crate directory`);
    const segs = path.split("/").filter((s) => s !== "");
    const name = segs.pop();
    if (name === undefined) return null; // the root
    const full = join(this.resolve(segs.join("/")).real, name);
    try {
      return lstatSync(full).isSymbolicLink() ? readlinkSync(full) : null;
    } catch (e) {
      throw nodeError(e, path);
    }
  }
}

function nodeError(e: unknown, path: string): FsError {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
    case "EISDIR":
    case "EACCES":
      return new FsError(code, `${path}: ${code}`);
    case "ELOOP":
      return new FsError("OUTSIDE", `${path}: symbolic link loop`);
    default:
      return new FsError("EIO", `${path}: ${code ?? (e as Error).message}`);
  }
}
