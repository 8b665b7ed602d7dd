// The WASI capability layer (src/sandbox/wasi-fs.ts) called directly, as a module would, on a bare
// memory: preopen, path_open rights, reads, seeks, stats, directory listings, the environment, and
// what bad arguments give. And the Node file system view (src/node/fs.ts) on real symlinks.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wasi, type WasiExtension } from "../../src/sandbox/wasi.js";
import type { WasiFunction } from "../../src/sandbox/host-imports.js";
import { CapabilitySession, MAX_RECORDS, type LibcPaths, type SandboxGrant } from "../../src/sandbox/grant.js";
import { MAX_FILE_BYTES, MAX_PATH_BYTES } from "../../src/sandbox/wasi-fs.js";
import { FsError, MemoryFs, type ReadOnlyFs } from "../../src/sandbox/fs.js";
import { NodeReadOnlyFs } from "../../src/node/fs.js";

const E = { SUCCESS: 0, ACCES: 2, BADF: 8, FAULT: 21, ISDIR: 31, MFILE: 33, NOENT: 44, NOTDIR: 54, ROFS: 69 };
const O_CREAT = 1,
  O_DIRECTORY = 2,
  O_TRUNC = 8;
const FD_READ = 1n << 1n,
  FD_WRITE = 1n << 6n;

type Fn = (...args: (number | bigint)[]) => number;

/** The functions `wasi`'s extension serves, by name (null for a name it leaves to the base layer). */
function extensionOf(wasi: Wasi): Record<string, Fn> {
  return new Proxy({} as Record<string, Fn>, { get: (_target, name) => wasi.extensionFor(name as WasiFunction) as Fn | null });
}

/** One instance's view: the session, the functions, and helpers over a 1-page memory. */
/** Where the crate directory appears to the macro in these tests. */
const CRATE = "/work/crate";

function setup(grant: Partial<SandboxGrant> = {}, libc?: LibcPaths) {
  const session = new CapabilitySession(
    {
      crate: "m",
      declared: { env: ["A", "B"], read: ["data", "*.sql"] },
      granted: { env: ["A"], read: ["data", "*.sql"] },
      fs: new MemoryFs({ "data/one.txt": "0123456789", "data/sub/two.txt": "two", "x.sql": "select", secret: "s", "deep/a.sql": "no" }),
      env: { A: "1", B: "2", C: "3" },
      crateDir: CRATE,
      ...grant,
    },
    libc,
  );
  const wasi = new Wasi({ extend: session.extend });
  const memory = new WebAssembly.Memory({ initial: 1 });
  wasi.bindMemory(memory);
  const fns = extensionOf(wasi);
  const view = () => new DataView(memory.buffer);
  const PATH = 1024,
    OUT = 512;
  const open = (path: string, oflags = 0, rights = FD_READ, dirfd = 3): { errno: number; fd: number } => {
    const bytes = new TextEncoder().encode(path);
    new Uint8Array(memory.buffer, PATH, bytes.length).set(bytes);
    const errno = fns.path_open(dirfd, 1, PATH, bytes.length, oflags, rights, 0n, 0, OUT);
    return { errno, fd: view().getUint32(OUT, true) };
  };
  /** fd_read into one iovec of `len` bytes; returns errno and the text. */
  const read = (fd: number, len: number, offset?: bigint): { errno: number; text: string } => {
    view().setUint32(2048, 4096, true);
    view().setUint32(2052, len, true);
    const errno = offset === undefined ? fns.fd_read(fd, 2048, 1, 2056) : fns.fd_pread(fd, 2048, 1, offset, 2056);
    const n = errno === 0 ? view().getUint32(2056, true) : 0;
    return { errno, text: new TextDecoder().decode(new Uint8Array(memory.buffer, 4096, n)) };
  };
  const readdir = (fd: number, len: number, cookie = 0n): { errno: number; used: number; names: string[]; next: bigint } => {
    const errno = fns.fd_readdir(fd, 8192, len, cookie, 2060);
    const used = view().getUint32(2060, true);
    const names: string[] = [];
    let at = 0;
    let next = cookie;
    while (errno === 0 && at + 24 <= used) {
      const namlen = view().getUint32(8192 + at + 16, true);
      if (at + 24 + namlen > used) break; // truncated entry: ask again from its cookie
      next = view().getBigUint64(8192 + at, true);
      names.push(new TextDecoder().decode(new Uint8Array(memory.buffer, 8192 + at + 24, namlen)));
      at += 24 + namlen;
    }
    return { errno, used, names, next };
  };
  return { session, fns, view, memory, open, read, readdir };
}

describe("WASI capabilities", () => {
  test('fd 3 is the preopened root "/"; nothing else is', () => {
    const { fns, view, memory } = setup();
    assert.equal(fns.fd_prestat_get(3, 100), E.SUCCESS);
    assert.equal(view().getUint8(100), 0);
    assert.equal(view().getUint32(104, true), 1);
    assert.equal(fns.fd_prestat_dir_name(3, 200, 1), E.SUCCESS);
    assert.equal(new TextDecoder().decode(new Uint8Array(memory.buffer, 200, 1)), "/");
    assert.equal(fns.fd_prestat_get(4, 100), E.BADF);
    assert.equal(fns.fd_prestat_get(3, 65535), E.FAULT);
  });

  test("reading, seeking, pread, stats", () => {
    const { fns, view, open, read, session } = setup();
    const { errno, fd } = open("data/one.txt");
    assert.equal(errno, E.SUCCESS);
    assert.equal(fd, 4);
    assert.deepEqual(read(fd, 4), { errno: 0, text: "0123" });
    assert.deepEqual(read(fd, 4), { errno: 0, text: "4567" });
    assert.deepEqual(read(fd, 100), { errno: 0, text: "89" });
    assert.deepEqual(read(fd, 100), { errno: 0, text: "" });
    assert.equal(fns.fd_seek(fd, -3n, 2, 300), E.SUCCESS);
    assert.equal(view().getBigUint64(300, true), 7n);
    assert.equal(fns.fd_tell(fd, 300), E.SUCCESS);
    assert.equal(view().getBigUint64(300, true), 7n);
    assert.deepEqual(read(fd, 2, 1n), { errno: 0, text: "12" });
    assert.deepEqual(read(fd, 10), { errno: 0, text: "789" }, "pread leaves the position alone");
    assert.equal(fns.fd_seek(fd, -100n, 1, 300), 28);
    assert.equal(fns.fd_filestat_get(fd, 400), E.SUCCESS);
    assert.equal(view().getUint8(400 + 16), 4);
    assert.equal(view().getBigUint64(400 + 32, true), 10n);
    const ino = view().getBigUint64(400 + 8, true);
    assert.equal(view().getBigUint64(400 + 48, true), 0n, "times are fixed");
    assert.equal(fns.fd_close(fd), E.SUCCESS);
    assert.equal(read(fd, 1).errno, E.BADF);
    assert.equal(fns.fd_close(fd), E.BADF);
    // path_filestat_get: the same inode again (stable), recorded as a read.
    const bytes = new TextEncoder().encode("data/one.txt");
    new Uint8Array(view().buffer, 1024, bytes.length).set(bytes);
    assert.equal(fns.path_filestat_get(3, 1, 1024, bytes.length, 400), E.SUCCESS);
    assert.equal(view().getBigUint64(400 + 8, true), ino);
    assert.deepEqual(session.reads, ["data/one.txt"]);
    assert.deepEqual(session.denials, []);
  });

  test("directories: listing, in pieces, filtered on the way to granted paths", () => {
    const { open, readdir, read } = setup();
    const data = open("data", O_DIRECTORY);
    assert.equal(data.errno, E.SUCCESS);
    assert.deepEqual(readdir(data.fd, 4096).names, ["one.txt", "sub"]);
    assert.equal(read(data.fd, 10).errno, E.ISDIR);
    // A buffer too small for both entries: the first, then the rest from its cookie.
    const small = readdir(data.fd, 40);
    assert.equal(small.used, 40, "a full buffer says there is more");
    assert.deepEqual(small.names, ["one.txt"]);
    assert.deepEqual(readdir(data.fd, 4096, small.next).names, ["sub"]);
    // The root only leads to granted paths: it shows just those.
    const root = open(".", O_DIRECTORY);
    assert.equal(root.errno, E.SUCCESS);
    assert.deepEqual(readdir(root.fd, 4096).names, ["data", "x.sql"]);
    // Relative to an opened directory.
    const two = open("sub/two.txt", 0, FD_READ, data.fd);
    assert.equal(two.errno, E.SUCCESS);
    assert.deepEqual(read(two.fd, 10), { errno: 0, text: "two" });
    assert.equal(open("x", 0, FD_READ, two.fd).errno, E.NOTDIR);
    assert.equal(open("data/one.txt", O_DIRECTORY).errno, E.NOTDIR);
    assert.equal(open("data/missing.txt").errno, E.NOENT);
  });

  test("refusals: outside the grant, escapes, writes; each noted once", () => {
    const { open, session } = setup();
    assert.equal(open("secret").errno, E.ACCES);
    assert.equal(open("deep/a.sql").errno, E.ACCES, "`*.sql` is for the root only");
    assert.equal(open("../x").errno, E.ACCES);
    assert.equal(open("data/../../x").errno, E.ACCES);
    assert.equal(open("data/new.txt", O_CREAT).errno, E.ROFS);
    assert.equal(open("data/one.txt", O_TRUNC).errno, E.ROFS);
    assert.equal(open("data/one.txt", 0, FD_READ | FD_WRITE).errno, E.ROFS);
    assert.equal(open("secret").errno, E.ACCES);
    assert.equal(open("../crate2/x").errno, E.ACCES);
    // Denials name the path where the macro asked for it, the grant that allows it (none when no
    // grant can) and the error the macro saw by its Linux name.
    assert.deepEqual(
      session.denials.map((d) => [d.name, d.reason, d.grant, d.errno]),
      [
        ["/work/crate/secret", "undeclared", "secret", "EACCES"],
        ["/work/crate/deep/a.sql", "undeclared", "deep/a.sql", "EACCES"],
        ["/work/x", "escape", undefined, "EACCES"],
        ["/work/crate/data/new.txt", "write", undefined, "EROFS"],
        ["/work/crate/data/one.txt", "write", undefined, "EROFS"],
        ["/work/crate2/x", "escape", undefined, "EACCES"],
      ],
    );
    assert.match(
      session.denials[0].note,
      /tried to read file \/work\/crate\/secret, which it does not declare; the macro sees EACCES "Permission denied" \(Linux errno 13; Rust prints WASI's number, "os error 2"\); grant it with `--allow-read m:secret`/,
    );
    assert.match(session.denials[3].note, /EROFS "Read-only file system" \(Linux errno 30/);
    assert.deepEqual(session.reads, []);
  });

  test("absolute paths: the crate directory at its real path; everything else outside", () => {
    // wasi-libc with chdir makes every path absolute before it reaches the host (leading "/" stripped).
    const { open, read, readdir, session } = setup({ currentDir: "/work" }, { joinsRelativePaths: true });
    const ok = open("work/crate/data/one.txt");
    assert.equal(ok.errno, E.SUCCESS);
    assert.equal(read(ok.fd, 4).text, "0123");
    assert.equal(open("work/crate/./data/sub/../one.txt").errno, E.SUCCESS);
    assert.equal(open("etc/passwd").errno, E.ACCES);
    assert.equal(open("work/crate/data/../../outside").errno, E.ACCES);
    assert.equal(open("work/crate/secret").errno, E.ACCES);
    // A directory above the crate opens (to pass through, see the next test) but does not list.
    const above = open("work");
    assert.equal(above.errno, E.SUCCESS);
    assert.equal(readdir(above.fd, 256).errno, E.ACCES, "directories above the crate are not shown");
    assert.deepEqual(
      session.denials.map((d) => [d.name, d.reason, d.grant]),
      [
        ["/etc/passwd", "outside", undefined],
        ["/work/outside", "escape", undefined],
        ["/work/crate/secret", "undeclared", "secret"],
        ["/work", "outside", undefined],
      ],
    );
    assert.match(
      session.denials[0].note,
      /tried to read file \/etc\/passwd, which is outside the crate directory; .*cannot|tried to read file \/etc\/passwd, which is outside the crate directory/,
    );
    assert.deepEqual(session.reads, ["data/one.txt"]);
    // Without chdir in the module, a path inside the crate directory is taken as absolute and any
    // other as relative to the current directory.
    const plain = setup({ currentDir: "/work" });
    assert.equal(plain.open("work/crate/data/one.txt").errno, E.SUCCESS);
    assert.equal(plain.open("crate/data/one.txt").errno, E.SUCCESS);
    assert.equal(plain.open("crate/secret").errno, E.ACCES);
    assert.deepEqual(plain.session.reads, ["data/one.txt"]);
  });

  test("the crate directory's ancestors: directories to pass through, with a fixed stat, never listed or read", () => {
    const { fns, view, memory, open, read, readdir, session } = setup({}, { joinsRelativePaths: true });
    const put = (path: string) => {
      const bytes = new TextEncoder().encode(path);
      new Uint8Array(memory.buffer, 1024, bytes.length).set(bytes);
      return bytes.length;
    };
    const stat = (path: string, dirfd = 3): { errno: number; type: number; ino: bigint; size: bigint; mtime: bigint } => {
      const errno = fns.path_filestat_get(dirfd, 0, 1024, put(path), 400);
      const v = view();
      return { errno, type: v.getUint8(416), ino: v.getBigUint64(408, true), size: v.getBigUint64(432, true), mtime: v.getBigUint64(448, true) };
    };
    const readlink = (path: string) => fns.path_readlink(3, 1024, put(path), 3000, 100, 2064);
    // "/" (wasi-libc passes it as "" or "."), "/work", and "/work/crate/.." are directories.
    for (const path of ["", ".", "work", "work/", "work/crate/..", "work/crate/data/../.."]) {
      const st = stat(path);
      assert.deepEqual({ errno: st.errno, type: st.type, size: st.size, mtime: st.mtime }, { errno: E.SUCCESS, type: 3, size: 0n, mtime: 0n }, path);
      assert.equal(readlink(path), 28, `${path}: not a link (EINVAL)`);
    }
    assert.equal(stat("work").ino, stat("work/crate/..").ino, "the same inode every time");
    assert.notEqual(stat("work").ino, stat("").ino);
    // Nothing was read, nothing refused so far.
    assert.equal(session.reads.length + session.denials.length, 0);
    // Opened, an ancestor resolves paths beneath it, checked as from the root.
    const work = open("work", O_DIRECTORY);
    assert.equal(work.errno, E.SUCCESS);
    assert.equal(fns.fd_filestat_get(work.fd, 400), E.SUCCESS);
    assert.equal(view().getUint8(416), 3);
    const one = open("crate/data/one.txt", 0, FD_READ, work.fd);
    assert.equal(one.errno, E.SUCCESS);
    assert.equal(read(one.fd, 3).text, "012");
    assert.equal(open("crate/secret", 0, FD_READ, work.fd).errno, E.ACCES);
    assert.equal(open("crate-sibling", 0, FD_READ, work.fd).errno, E.ACCES);
    assert.equal(stat("crate-sibling", work.fd).errno, E.ACCES);
    // Never listed, never read as a file, never written.
    assert.equal(readdir(work.fd, 256).errno, E.ACCES);
    assert.equal(read(work.fd, 10).errno, E.ISDIR);
    const root = open("", O_DIRECTORY);
    assert.equal(root.errno, E.SUCCESS);
    assert.equal(readdir(root.fd, 256).errno, E.ACCES);
    // The preopen itself is "/": the same directory, the same answers.
    assert.equal(readdir(3, 256).errno, E.ACCES);
    assert.equal(fns.fd_filestat_get(3, 400), E.SUCCESS);
    assert.equal(view().getBigUint64(408, true), stat("").ino);
    assert.equal(open("work", O_CREAT).errno, E.ROFS);
    assert.equal(open("work/new", O_CREAT, FD_READ | FD_WRITE).errno, E.ROFS);
    // Siblings and their contents stay outside.
    assert.equal(stat("work/other").errno, E.ACCES);
    assert.equal(stat("etc").errno, E.ACCES);
    assert.equal(readlink("etc/passwd"), E.ACCES);
    assert.equal(readlink("work/crate/data/one.txt"), 28);
    assert.deepEqual(
      session.denials.map((d) => [d.name, d.reason]),
      [
        ["/work/crate/secret", "undeclared"],
        ["/work/crate-sibling", "outside"],
        ["/work", "outside"],
        ["/", "outside"],
        ["/work", "write"],
        ["/work/new", "write"],
        ["/work/other", "outside"],
        ["/etc", "outside"],
        ["/etc/passwd", "outside"],
      ],
    );
    assert.deepEqual(session.reads, ["data/one.txt"]);

    // The crate directory itself, with nothing granted in it: stat-able, not listable (the note names it).
    const bare = setup({ granted: { env: [], read: [] } }, { joinsRelativePaths: true });
    const crate = bare.open("work/crate", O_DIRECTORY);
    assert.equal(crate.errno, E.SUCCESS);
    assert.equal(bare.readdir(crate.fd, 256).errno, E.ACCES);
    assert.equal(bare.open("work/crate/data/one.txt").errno, E.ACCES);
    assert.deepEqual(
      bare.session.denials.map((d) => [d.name, d.reason, d.grant]),
      [
        ["/work/crate", "undeclared", "."],
        ["/work/crate/data/one.txt", "not-granted", "data/one.txt"],
      ],
    );
    // No crate directory to read from: the way to it is the same (it depends on its path only).
    const none = setup({ fs: null }, { joinsRelativePaths: true });
    const noneWork = none.open("work", O_DIRECTORY);
    assert.equal(noneWork.errno, E.SUCCESS);
    assert.equal(none.readdir(noneWork.fd, 256).errno, E.ACCES);
    const noneCrate = none.open("work/crate", O_DIRECTORY);
    assert.equal(noneCrate.errno, E.SUCCESS);
    assert.equal(none.readdir(noneCrate.fd, 256).errno, E.ACCES);
    assert.equal(none.open("work/crate/data/one.txt").errno, E.ACCES);
    assert.deepEqual(
      none.session.denials.map((d) => [d.name, d.reason]),
      [
        ["/work", "outside"],
        ["/work/crate", "no-root"],
        ["/work/crate/data/one.txt", "no-root"],
      ],
    );
  });

  test("declared but not granted, and no crate directory at all", () => {
    const { open, session } = setup({ granted: { env: [], read: [] } });
    assert.equal(open("data/one.txt").errno, E.ACCES);
    assert.equal(session.denials[0].reason, "not-granted");
    assert.match(session.denials[0].note, /--allow-read m:data\/one\.txt/);
    const none = setup({ fs: null });
    assert.equal(none.open("data/one.txt").errno, E.ACCES);
    assert.equal(none.session.denials[0].reason, "no-root");
  });

  test("bad pointers and descriptors are errors, never crashes; open files are bounded", () => {
    const { fns, open } = setup({ maxOpenFiles: 3 });
    assert.equal(fns.path_open(3, 0, 70000, 5, 0, FD_READ, 0n, 0, 0), E.FAULT);
    assert.equal(fns.path_open(3, 0, 0, 5, 0, FD_READ, 0n, 0, 70000), E.FAULT);
    assert.equal(fns.path_open(99, 0, 0, 5, 0, FD_READ, 0n, 0, 0), E.BADF);
    assert.equal(fns.fd_read(4, 0, 100000, 0), E.BADF);
    const a = open("data/one.txt");
    assert.equal(fns.fd_read(a.fd, 65530, 2, 0), E.FAULT);
    assert.equal(fns.fd_readdir(3, 65000, 10000, 0n, 0), E.FAULT);
    assert.equal(fns.fd_filestat_get(77, 0), E.BADF);
    assert.equal(open("data/one.txt").errno, E.SUCCESS);
    assert.equal(open("data/one.txt").errno, E.MFILE);
    assert.equal(fns.fd_close(a.fd), E.SUCCESS);
    assert.equal(open("data/one.txt").errno, E.SUCCESS);
  });

  test("what a loop of distinct requests can make the host keep is bounded", () => {
    const { fns, open, session } = setup();
    assert.equal(fns.path_open(3, 0, 0, MAX_PATH_BYTES + 1, 0, FD_READ, 0n, 0, 0), 37, "ENAMETOOLONG, before decoding");
    for (let i = 0; i < MAX_RECORDS + 500; i++) assert.equal(open(`secret${i}`).errno, E.ACCES);
    assert.equal(session.denials.length, MAX_RECORDS);
    assert.equal(session.denials.at(-1)!.reason, "more");
    assert.match(session.denials.at(-1)!.note, /refused more accesses than are listed/);
    for (let i = 0; i < MAX_RECORDS + 10; i++) session.envPolicy(`VAR${i}`);
    assert.equal(session.denials.length, MAX_RECORDS);
    const huge = "X".repeat(1_000_000);
    const other = setup();
    other.session.envPolicy(huge);
    assert.ok(other.session.denials[0].name.length <= MAX_PATH_BYTES + 3);
  });

  test("pipes and devices are refused (they could block the host); huge files are EFBIG", () => {
    const dir = mkdtempSync(join(tmpdir(), "macrobox-fifo-"));
    mkdirSync(join(dir, "data"));
    execFileSync("mkfifo", [join(dir, "data", "pipe")]);
    const { open, session } = setup({ fs: new NodeReadOnlyFs(dir) });
    assert.equal(open("data/pipe").errno, E.ACCES);
    assert.deepEqual(session.reads, []);
    const huge: ReadOnlyFs = {
      stat: (p) => ({ type: "file", size: MAX_FILE_BYTES + 1, realPath: p }),
      readFile: () => assert.fail("a huge file must not be read"),
      readdir: () => [],
    };
    assert.equal(setup({ fs: huge }).open("data/big").errno, 22);
  });

  test("the environment holds the granted variables and the package env only, granted ones recorded when read", () => {
    const { fns, view, memory, session } = setup({ env: { A: "1", B: "2", C: "3", CARGO_MANIFEST_DIR: "/elsewhere" } });
    // CARGO_MANIFEST_DIR is the crate directory as the macro sees it, whatever the host's env says.
    const expected = `A=1\0CARGO_MANIFEST_DIR=${CRATE}\0`;
    assert.equal(fns.environ_sizes_get(100, 104), E.SUCCESS);
    assert.equal(view().getUint32(100, true), 2);
    assert.equal(view().getUint32(104, true), expected.length);
    assert.equal(fns.environ_get(200, 300), E.SUCCESS);
    assert.equal(view().getUint32(200, true), 300);
    assert.equal(view().getUint32(204, true), 304);
    assert.equal(new TextDecoder().decode(new Uint8Array(memory.buffer, 300, expected.length)), expected);
    assert.deepEqual(session.env, [{ name: "A", value: "1" }]);
    assert.equal(session.denials.length, 0, "which name getenv looks for is not visible: no note here");
    assert.equal(fns.environ_get(65534, 300), E.FAULT);
    // The bridge's policy: the same grant.
    assert.equal(session.envPolicy("A"), "1");
    assert.equal(session.envPolicy("B"), null);
    assert.equal(session.envPolicy("C"), null);
    assert.deepEqual(
      session.denials.map((d) => [d.name, d.reason]),
      [
        ["B", "not-granted"],
        ["C", "undeclared"],
      ],
    );
  });

  test("each instance gets its own descriptor table", () => {
    const { session, open } = setup();
    assert.equal(open("data/one.txt").fd, 4);
    const second = new Wasi({ extend: session.extend });
    second.bindMemory(new WebAssembly.Memory({ initial: 1 }));
    const fns = extensionOf(second);
    assert.equal(fns.fd_close(4), E.BADF);
  });

  test("an extension is made at the first call of a function it serves, once, and never for the others", () => {
    let made = 0;
    const extension: WasiExtension = { functions: { fd_close: () => E.BADF } };
    const wasi = new Wasi({
      extend: {
        functions: new Set<WasiFunction>(["fd_close"]),
        make: () => {
          made++;
          return extension;
        },
      },
    });
    wasi.bindMemory(new WebAssembly.Memory({ initial: 1 }));
    assert.equal(wasi.extensionFor("random_get"), null);
    assert.equal(wasi.extensionFor("fd_write"), null);
    assert.equal(made, 0, "made for a function it does not serve");
    assert.equal(wasi.extensionFor("fd_close")?.(), E.BADF);
    assert.equal(wasi.extensionFor("fd_close")?.(), E.BADF);
    assert.equal(made, 1);
  });

  test("a grant's extension serves exactly the functions it declares", () => {
    const { session } = setup();
    const wasi = new Wasi({ extend: session.extend });
    wasi.bindMemory(new WebAssembly.Memory({ initial: 1 }));
    const served = Object.keys(session.extend.make(wasi).functions).sort();
    assert.deepEqual(served, [...session.extend.functions].sort());
  });
});

describe("the Node file system view", () => {
  const dir = mkdtempSync(join(tmpdir(), "macrobox-nodefs-"));
  mkdirSync(join(dir, "in"));
  writeFileSync(join(dir, "in", "f.txt"), "f");
  writeFileSync(join(dir, "top.txt"), "t");
  symlinkSync("/etc/passwd", join(dir, "in", "out"));
  symlinkSync("../top.txt", join(dir, "in", "up"));
  symlinkSync("loop", join(dir, "in", "loop"));
  const fs = new NodeReadOnlyFs(join(dir, "in", ".."));

  test("reads inside the root, reports where links lead", () => {
    assert.deepEqual(fs.stat("in/f.txt"), { type: "file", size: 1, realPath: "in/f.txt" });
    assert.deepEqual(fs.stat("in/up"), { type: "file", size: 1, realPath: "top.txt" });
    assert.equal(new TextDecoder().decode(fs.readFile("in/f.txt")), "f");
    assert.deepEqual(
      fs.readdir("in").map((e) => `${e.name}:${e.type}`),
      ["f.txt:file", "loop:other", "out:file", "up:file"],
    );
    assert.deepEqual(fs.stat(""), { type: "directory", size: 0, realPath: "" });
  });

  test("refuses to leave the root", () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof FsError);
        return e.fsCode;
      }
      return "no error";
    };
    assert.equal(
      code(() => fs.readFile("in/out")),
      "OUTSIDE",
    );
    assert.equal(
      code(() => fs.stat("in/out")),
      "OUTSIDE",
    );
    assert.equal(
      code(() => fs.readFile("../etc/passwd")),
      "OUTSIDE",
    );
    assert.equal(
      code(() => fs.readFile("/etc/passwd")),
      "OUTSIDE",
    );
    assert.equal(
      code(() => fs.stat("in/loop")),
      "OUTSIDE",
    );
    assert.equal(
      code(() => fs.stat("in/nothing")),
      "ENOENT",
    );
    assert.equal(
      code(() => fs.readdir("in/f.txt")),
      "ENOTDIR",
    );
    assert.throws(() => new NodeReadOnlyFs(join(dir, "missing")), /cannot use .* as the crate directory: ENOENT/);
  });

  test("readlink: a link's text (the directories before it followed, inside the root), null for anything else", () => {
    assert.equal(fs.readlink!("in/up"), "../top.txt");
    assert.equal(fs.readlink!("in/out"), "/etc/passwd");
    assert.equal(fs.readlink!("in/f.txt"), null);
    assert.equal(fs.readlink!(""), null);
    assert.deepEqual(
      fs.readdir("in").map((e) => `${e.name}:${e.link === true}`),
      ["f.txt:false", "loop:true", "out:true", "up:true"],
    );
    assert.throws(() => fs.readlink!("in/out/x"), FsError);
    assert.throws(() => fs.readlink!("../x"), FsError);
  });

  test("through WASI: links inside the grant show as links, with their text; others show as what they lead to or are refused", () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), "macrobox-links-")));
    try {
      mkdirSync(join(root, "crate", "data", "sub"), { recursive: true });
      mkdirSync(join(root, "elsewhere"));
      writeFileSync(join(root, "crate", "data", "f.txt"), "f");
      writeFileSync(join(root, "crate", "secret"), "s");
      symlinkSync("f.txt", join(root, "crate", "data", "rel"));
      symlinkSync("../f.txt", join(root, "crate", "data", "sub", "up"));
      symlinkSync(join(root, "crate", "data", "f.txt"), join(root, "crate", "data", "abs"));
      symlinkSync("../../elsewhere/../crate/data/f.txt", join(root, "crate", "data", "roundabout"));
      symlinkSync("../secret", join(root, "crate", "data", "to-secret"));
      const crateDir = join(root, "crate");
      const { fns, view, memory, readdir, open } = setup({ fs: new NodeReadOnlyFs(crateDir), crateDir }, { joinsRelativePaths: true });
      const put = (path: string) => {
        const bytes = new TextEncoder().encode(path.slice(1));
        new Uint8Array(memory.buffer, 1024, bytes.length).set(bytes);
        return bytes.length;
      };
      const lstat = (path: string, follow = 0) => {
        const errno = fns.path_filestat_get(3, follow, 1024, put(path), 400);
        return errno === E.SUCCESS ? `${view().getUint8(416)}:${view().getBigUint64(432, true)}` : `errno ${errno}`;
      };
      const readlink = (path: string) => {
        const errno = fns.path_readlink(3, 1024, put(path), 3000, 200, 2064);
        return errno === E.SUCCESS ? new TextDecoder().decode(new Uint8Array(memory.buffer, 3000, view().getUint32(2064, true))) : `errno ${errno}`;
      };
      const d = `${crateDir}/data`;
      // Type 7: a symbolic link, its size the text's length; followed (flag 1), the file.
      assert.equal(lstat(`${d}/rel`), "7:5");
      assert.equal(lstat(`${d}/rel`, 1), "4:1");
      assert.equal(readlink(`${d}/rel`), "f.txt");
      assert.equal(readlink(`${d}/sub/up`), "../f.txt");
      assert.equal(readlink(`${d}/abs`), `${d}/f.txt`);
      // Its text names a directory outside the way: it shows as the file it leads to, not as a link.
      assert.equal(lstat(`${d}/roundabout`), "4:1");
      assert.equal(readlink(`${d}/roundabout`), "errno 28");
      // Leading to an ungranted file: refused, as every access to it.
      assert.equal(lstat(`${d}/to-secret`), `errno ${E.ACCES}`);
      assert.equal(readlink(`${d}/to-secret`), `errno ${E.ACCES}`);
      assert.equal(readlink(`${d}/f.txt`), "errno 28");
      const dir = open(d.slice(1), O_DIRECTORY);
      assert.equal(dir.errno, E.SUCCESS);
      assert.deepEqual(readdir(dir.fd, 4096).names, ["abs", "f.txt", "rel", "roundabout", "sub", "to-secret"]);
      const types = new Map<string, number>();
      for (let at = 0, i = 0; i < 6; i++) {
        const len = view().getUint32(8192 + at + 16, true);
        types.set(new TextDecoder().decode(new Uint8Array(memory.buffer, 8192 + at + 24, len)), view().getUint8(8192 + at + 20));
        at += 24 + len;
      }
      assert.deepEqual(Object.fromEntries(types), { abs: 7, "f.txt": 4, rel: 7, roundabout: 4, sub: 3, "to-secret": 4 });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
