// The C functions Rust's std needs on WASI that Debian's wasi-libc lacks, as Rust source compiled
// by the wasm32-macro linker wrapper (src/builder/target.ts). Kept as text so the built package
// carries it.

/** Bumped whenever LIBC_SHIM_SOURCE changes (part of the compiled object's cache name). */
export const LIBC_SHIM_VERSION = 2;

/** The C symbols the shim defines. */
export const LIBC_SHIM_SYMBOLS = ["realpath", "chmod", "fchmod"];

export const LIBC_SHIM_SOURCE = `// C functions Rust's std calls on WASI that Debian's wasi-libc (2022-05 snapshot) lacks, so that
// 'std::fs::canonicalize' and 'std::fs::set_permissions' link. Compiled by the linker wrapper of
// the wasm32-macro target (src/builder/target.ts) against the core the module links, and linked
// into every module (unused functions are dropped by --gc-sections).
//
// Everything answers from the sandbox's own view, through wasi-libc's own functions (getcwd,
// lstat, readlink: the WASI calls the host serves), so a canonical path is whatever the sandbox
// shows, never the host's file system.
#![no_std]

use core::ffi::{c_char, c_int, c_void};
use core::ptr::null_mut;

extern "C" {
    static mut errno: c_int;
    fn malloc(size: usize) -> *mut c_void;
    fn strlen(s: *const c_char) -> usize;
    fn getcwd(buf: *mut c_char, size: usize) -> *mut c_char;
    fn lstat(path: *const c_char, st: *mut Stat) -> c_int;
    fn stat(path: *const c_char, st: *mut Stat) -> c_int;
    fn fstat(fd: c_int, st: *mut Stat) -> c_int;
    fn readlink(path: *const c_char, buf: *mut c_char, size: usize) -> isize;
}

// wasi-libc's values (wasi/api.h, limits.h).
const PATH_MAX: usize = 4096;
const SYMLOOP_MAX: u32 = 40;
const ENOENT: c_int = 44;
const EINVAL: c_int = 28;
const ELOOP: c_int = 32;
const ENAMETOOLONG: c_int = 37;
const ENOMEM: c_int = 48;
const ENOTDIR: c_int = 54;
const EROFS: c_int = 69;
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// wasi-libc's 'struct stat' (120 bytes), of which only 'st_mode' (offset 24) is read.
#[repr(C, align(8))]
struct Stat([u8; 256]);

impl Stat {
    fn mode(&self) -> u32 {
        u32::from_le_bytes([self.0[24], self.0[25], self.0[26], self.0[27]])
    }
}

unsafe fn fail<T>(code: c_int, value: T) -> T {
    errno = code;
    value
}

/// POSIX 'realpath': an absolute path without '.', '..', repeated '/' or symbolic links, every
/// component of which exists; relative paths start at 'getcwd()'.
#[no_mangle]
pub unsafe extern "C" fn realpath(path: *const c_char, resolved: *mut c_char) -> *mut c_char {
    if path.is_null() {
        return fail(EINVAL, null_mut());
    }
    let n = strlen(path);
    if n == 0 {
        return fail(ENOENT, null_mut());
    }
    if n >= PATH_MAX {
        return fail(ENAMETOOLONG, null_mut());
    }
    // 'todo[pos..len]' is what is left to resolve; 'out[..olen]' the resolved prefix, "" for the
    // root, else "/a/b" (no trailing slash), NUL-terminated at olen whenever it is looked up.
    let mut todo = [0u8; PATH_MAX];
    core::ptr::copy_nonoverlapping(path as *const u8, todo.as_mut_ptr(), n);
    let mut len = n;
    let mut pos = 0;
    let mut out = [0u8; PATH_MAX];
    let mut olen = 0;
    if todo[0] != b'/' {
        if getcwd(out.as_mut_ptr() as *mut c_char, PATH_MAX).is_null() {
            return null_mut();
        }
        olen = strlen(out.as_ptr() as *const c_char);
        while olen > 0 && out[olen - 1] == b'/' {
            olen -= 1;
        }
    }
    let mut links = 0;
    loop {
        while pos < len && todo[pos] == b'/' {
            pos += 1;
        }
        if pos >= len {
            break;
        }
        let start = pos;
        while pos < len && todo[pos] != b'/' {
            pos += 1;
        }
        let comp = &todo[start..pos];
        if comp == b"." {
            continue;
        }
        if comp == b".." {
            while olen > 0 && out[olen - 1] != b'/' {
                olen -= 1;
            }
            if olen > 0 {
                olen -= 1;
            }
            continue;
        }
        if olen + 1 + comp.len() >= PATH_MAX {
            return fail(ENAMETOOLONG, null_mut());
        }
        let parent = olen;
        out[olen] = b'/';
        out[olen + 1..olen + 1 + comp.len()].copy_from_slice(comp);
        olen += 1 + comp.len();
        out[olen] = 0;
        let mut st = Stat([0; 256]);
        if lstat(out.as_ptr() as *const c_char, &mut st) != 0 {
            return null_mut();
        }
        match st.mode() & S_IFMT {
            S_IFLNK => {
                links += 1;
                if links > SYMLOOP_MAX {
                    return fail(ELOOP, null_mut());
                }
                let mut next = [0u8; PATH_MAX];
                let k = readlink(out.as_ptr() as *const c_char, next.as_mut_ptr() as *mut c_char, PATH_MAX - 1);
                if k < 0 {
                    return null_mut();
                }
                let k = k as usize;
                if k == 0 {
                    return fail(ENOENT, null_mut());
                }
                // What is left starts with '/' unless it is empty (pos stops at a '/' or the end):
                // a '/' added after a link to a file would make it 'file/', which names nothing.
                let rest = len - pos;
                if k + rest >= PATH_MAX {
                    return fail(ENAMETOOLONG, null_mut());
                }
                // The link's target replaces the component: resolve it, then the rest.
                next[k..k + rest].copy_from_slice(&todo[pos..len]);
                len = k + rest;
                todo[..len].copy_from_slice(&next[..len]);
                pos = 0;
                olen = if todo[0] == b'/' { 0 } else { parent };
            }
            S_IFDIR => {}
            // 'file/x' and 'file/' name nothing.
            _ if pos < len => return fail(ENOTDIR, null_mut()),
            _ => {}
        }
    }
    if olen == 0 {
        out[0] = b'/';
        olen = 1;
    }
    out[olen] = 0;
    let dest = if resolved.is_null() { malloc(olen + 1) as *mut u8 } else { resolved as *mut u8 };
    if dest.is_null() {
        return fail(ENOMEM, null_mut());
    }
    core::ptr::copy_nonoverlapping(out.as_ptr(), dest, olen + 1);
    dest as *mut c_char
}

/// The sandbox's files are read-only: an existing path cannot change mode (EROFS), a missing one
/// fails as 'stat' does.
#[no_mangle]
pub unsafe extern "C" fn chmod(path: *const c_char, _mode: u32) -> c_int {
    let mut st = Stat([0; 256]);
    if stat(path, &mut st) != 0 {
        return -1;
    }
    fail(EROFS, -1)
}

#[no_mangle]
pub unsafe extern "C" fn fchmod(fd: c_int, _mode: u32) -> c_int {
    let mut st = Stat([0; 256]);
    if fstat(fd, &mut st) != 0 {
        return -1;
    }
    fail(EROFS, -1)
}
`;
