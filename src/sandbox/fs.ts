// A read-only view of a directory tree, for the WASI layer to serve granted reads from.
//
// Paths given to a `ReadOnlyFs` are already normalized and relative to its root ("" is the root,
// segments joined with "/", no "." or ".."): src/sandbox/wasi-fs.ts resolves what the macro asked
// for and checks it against the grant first. An implementation must still refuse to leave its
// root through symbolic links (FsError "OUTSIDE"), and report where a path really leads
// (`realPath`), so that a link inside a granted directory cannot reach an ungranted file.
//
// Browser-safe: no Node APIs here (the Node implementation is src/node/fs.ts).

import { MacroboxError } from "../errors.js";

export type FsErrorCode = "ENOENT" | "ENOTDIR" | "EISDIR" | "EACCES" | "EIO" | "OUTSIDE";

/** `code` is "fs" like every sandbox file system error; `fsCode` says which failure it is. */
export class FsError extends MacroboxError {
  override name = "FsError";
  constructor(
    readonly fsCode: FsErrorCode,
    message: string,
  ) {
    super("fs", message);
  }
}

export type FsFileType = "file" | "directory" | "other";

export interface FsStat {
  type: FsFileType;
  size: number;
  /** Where the path leads after following symbolic links, relative to the root. */
  realPath: string;
}

export interface FsEntry {
  name: string;
  /** What the entry leads to (symbolic links followed). */
  type: FsFileType;
  /** The entry itself is a symbolic link. */
  link?: boolean;
}

export interface ReadOnlyFs {
  /** Follows symbolic links; throws FsError. */
  stat(path: string): FsStat;
  readFile(path: string): Uint8Array;
  /** Entries sorted by name, without "." and "..". */
  readdir(path: string): FsEntry[];
  /**
   * The text of the symbolic link `path` names (its last component; the directories before it
   * followed, inside the root), or null when it is no link. Absent: a tree without links.
   */
  readlink?(path: string): string | null;
}

/** An in-memory tree (for browsers and tests): file paths to contents; directories are implied. */
export class MemoryFs implements ReadOnlyFs {
  private readonly files = new Map<string, Uint8Array>();
  private readonly dirs = new Map<string, Map<string, FsFileType>>();

  constructor(files: Record<string, string | Uint8Array>) {
    this.dirs.set("", new Map());
    for (const [path, content] of Object.entries(files)) {
      const segs = path.split("/").filter((s) => s !== "" && s !== ".");
      if (segs.length === 0 || segs.includes("..")) throw new MacroboxError("usage", `MemoryFs: bad path ${JSON.stringify(path)}`);
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
      this.files.set(segs.join("/"), bytes);
      for (let i = 0; i < segs.length; i++) {
        const parent = segs.slice(0, i).join("/");
        let d = this.dirs.get(parent);
        if (!d) this.dirs.set(parent, (d = new Map()));
        d.set(segs[i], i === segs.length - 1 ? "file" : "directory");
        if (i < segs.length - 1 && !this.dirs.has(segs.slice(0, i + 1).join("/"))) this.dirs.set(segs.slice(0, i + 1).join("/"), new Map());
      }
    }
  }

  stat(path: string): FsStat {
    const f = this.files.get(path);
    if (f) return { type: "file", size: f.length, realPath: path };
    if (this.dirs.has(path)) return { type: "directory", size: 0, realPath: path };
    throw new FsError("ENOENT", `no such file or directory: ${path}`);
  }

  readFile(path: string): Uint8Array {
    const f = this.files.get(path);
    if (f) return f;
    if (this.dirs.has(path)) throw new FsError("EISDIR", `is a directory: ${path}`);
    throw new FsError("ENOENT", `no such file or directory: ${path}`);
  }

  readdir(path: string): FsEntry[] {
    const d = this.dirs.get(path);
    if (!d) throw new FsError(this.files.has(path) ? "ENOTDIR" : "ENOENT", `not a directory: ${path}`);
    return [...d].map(([name, type]) => ({ name, type })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
