// macrobox's rustc wrapper (`build.rustc-wrapper` while a workspace is patched): std-only Rust, compiled once
// by `macrobox patch` (build-scripts.ts prepends the constants it bakes in: BWRAP, BASE_ARGS, READ_ONLY,
// HIDDEN_HOME, SANDBOX_HOME, CHAINED, SELF_PATH).
//
// cargo runs `<this> <rustc> <args...>` for every compilation. A build-script compile (`--crate-name
// build_script_build`) is run, then the binary it produced is moved aside and replaced by a launcher
// (a two-line sh script) that runs `<this> --macrobox-build-script <real binary>`: the real build
// script in bubblewrap, with the policy of src/builder/os-sandbox.ts (no network, no home, a fresh
// /tmp, an allowlisted environment), reads limited to the toolchain, the registries, the package's own
// directory and the target directory, writes only to its OUT_DIR. Every other call is exec'd as is
// (through the user's own wrapper, when one was configured: CHAINED).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{exit, Command, Stdio};

const LAUNCH_FLAG: &str = "--macrobox-build-script";
/// The suffix of the real build-script binary, moved aside for the launcher.
const REAL_SUFFIX: &str = ".macrobox-confined";

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() >= 3 && args[1] == LAUNCH_FLAG {
        exit(run_confined(Path::new(&args[2]), &args[3..]));
    }
    if args.len() < 2 {
        eprintln!("macrobox rustc wrapper: expected `<rustc> <args...>` (this is cargo's build.rustc-wrapper, set by `macrobox patch`)");
        exit(2);
    }
    let rustc_args = &args[1..];
    let mut command = if CHAINED.is_empty() {
        Command::new(&rustc_args[0])
    } else {
        let mut c = Command::new(CHAINED[0]);
        c.args(&CHAINED[1..]).arg(&rustc_args[0]);
        c
    };
    command.args(&rustc_args[1..]);
    if !is_build_script_compile(&rustc_args[1..]) {
        let err = command.exec();
        eprintln!("macrobox rustc wrapper: cannot run {:?}: {}", rustc_args[0], err);
        exit(1);
    }
    match command.status() {
        Ok(s) if s.success() => {}
        Ok(s) => exit(s.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("macrobox rustc wrapper: cannot run {:?}: {}", rustc_args[0], e);
            exit(1);
        }
    }
    match install_launcher(&rustc_args[1..]) {
        Ok(()) => {}
        Err(e) => {
            // Fail closed: a build script macrobox cannot confine must not run natively.
            eprintln!("error: macrobox cannot confine this build script (it would run natively): {}", e);
            exit(1);
        }
    }
}

fn is_build_script_compile(args: &[OsString]) -> bool {
    args.windows(2).any(|w| w[0] == "--crate-name" && w[1] == "build_script_build") || args.iter().any(|a| a == "--crate-name=build_script_build")
}

/// The value of `--flag value` / `--flag=value`, or of `-C key=value` / `-Ckey=value`.
fn option_value(args: &[OsString], flag: &str) -> Option<String> {
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned()).peekable();
    while let Some(a) = it.next() {
        if a == flag {
            return it.next();
        }
        if let Some(rest) = a.strip_prefix(&format!("{}=", flag)) {
            return Some(rest.to_string());
        }
    }
    None
}

fn codegen_option(args: &[OsString], key: &str) -> Option<String> {
    let strings: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    for (i, a) in strings.iter().enumerate() {
        let value = if a == "-C" { strings.get(i + 1).cloned() } else { a.strip_prefix("-C").map(|s| s.to_string()) };
        if let Some(v) = value {
            if let Some(rest) = v.strip_prefix(&format!("{}=", key)) {
                return Some(rest.to_string());
            }
        }
    }
    None
}

/// Moves the compiled build script aside and puts the launcher in its place.
fn install_launcher(args: &[OsString]) -> Result<(), String> {
    let output = match option_value(args, "-o") {
        Some(o) => PathBuf::from(o),
        None => {
            let dir = option_value(args, "--out-dir").ok_or("rustc was given neither -o nor --out-dir")?;
            let extra = codegen_option(args, "extra-filename").unwrap_or_default();
            Path::new(&dir).join(format!("build_script_build{}", extra))
        }
    };
    let real = PathBuf::from(format!("{}{}", output.display(), REAL_SUFFIX));
    std::fs::rename(&output, &real).map_err(|e| format!("cannot move {} aside: {}", output.display(), e))?;
    let launcher = format!("#!/bin/sh\nexec {} {} {} \"$@\"\n", sh_quote(SELF_PATH), LAUNCH_FLAG, sh_quote(&real.to_string_lossy()));
    let tmp = PathBuf::from(format!("{}.macrobox-tmp", output.display()));
    std::fs::write(&tmp, launcher).map_err(|e| format!("cannot write {}: {}", tmp.display(), e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(|e| format!("cannot chmod {}: {}", tmp.display(), e))?;
    std::fs::rename(&tmp, &output).map_err(|e| format!("cannot write {}: {}", output.display(), e))?;
    Ok(())
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The environment cargo gives a build script (its documented variables), plus PATH; nothing else of the user's.
fn allowed_env(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH", "CARGO", "CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH", "CARGO_MANIFEST_LINKS", "CARGO_MAKEFLAGS", "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE", "CARGO_CRATE_NAME", "CARGO_TARGET_TMPDIR", "OUT_DIR", "TARGET", "HOST", "NUM_JOBS", "OPT_LEVEL", "DEBUG", "PROFILE",
        "RUSTC", "RUSTDOC", "RUSTC_LINKER", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTC_BOOTSTRAP", "CARGO_RUSTC_CURRENT_DIR",
    ];
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_CFG_", "CARGO_FEATURE_", "DEP_"];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

struct Mount {
    path: PathBuf,
    source: PathBuf,
    kind: u8, // b'r' read-only, b'w' writable, b't' tmpfs
}

fn within(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

/// os-sandbox.ts `sandboxedCommand`'s mounts: each path at its own (real) path; a symlinked path also
/// where it is named; paths a read-only parent already shows are skipped; the home hidden by a tmpfs
/// when a bound path contains it, what lies under it bound back; mounts ordered by depth.
fn mounts(read_only: &[PathBuf], writable: &[PathBuf]) -> Vec<Mount> {
    let home = if HIDDEN_HOME.is_empty() { None } else { Some(PathBuf::from(HIDDEN_HOME)) };
    let mut out: Vec<Mount> = Vec::new();
    let mut add = |path: &Path, kind: u8, out: &mut Vec<Mount>| {
        if !path.is_absolute() {
            return;
        }
        let real = match std::fs::canonicalize(path) {
            Ok(r) => r,
            Err(_) => return,
        };
        let hidden = home.as_ref().map_or(false, |h| within(&real, h));
        if kind == b'r' && !hidden && out.iter().any(|m| m.kind == b'r' && within(&real, &m.path) && within(path, &m.path)) {
            return;
        }
        out.push(Mount { path: real.clone(), source: real.clone(), kind });
        if path != real && !out.iter().any(|m| m.path != real && within(path, &m.path)) {
            out.push(Mount { path: path.to_path_buf(), source: real, kind });
        }
    };
    for p in READ_ONLY {
        add(Path::new(p), b'r', &mut out);
    }
    for p in read_only {
        add(p, b'r', &mut out);
    }
    for p in writable {
        add(p, b'w', &mut out);
    }
    if let Some(h) = home {
        if out.iter().any(|m| within(&h, &m.path)) {
            out.push(Mount { path: h.clone(), source: h, kind: b't' });
        }
    }
    let depth = |p: &Path| p.components().count();
    out.sort_by_key(|m| depth(&m.path)); // stable: writable after read-only at one depth
    let mut ordered: Vec<Mount> = Vec::new();
    for m in out {
        ordered.retain(|o| o.path != m.path);
        ordered.push(m);
    }
    ordered
}

/// The target directory: the nearest ancestor of OUT_DIR holding cargo's CACHEDIR.TAG, else the profile directory.
fn target_dir(out_dir: &Path) -> PathBuf {
    for dir in out_dir.ancestors() {
        if dir.join("CACHEDIR.TAG").is_file() {
            return dir.to_path_buf();
        }
    }
    out_dir.ancestors().nth(3).unwrap_or(out_dir).to_path_buf()
}

fn run_confined(real: &Path, args: &[OsString]) -> i32 {
    let env: Vec<(String, OsString)> = std::env::vars_os()
        .filter_map(|(k, v)| k.into_string().ok().map(|k| (k, v)))
        .filter(|(k, _)| allowed_env(k))
        .collect();
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| PathBuf::from(v));
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "?".into());
    let (out_dir, manifest_dir) = match (get("OUT_DIR"), get("CARGO_MANIFEST_DIR")) {
        (Some(o), Some(m)) => (o, m),
        _ => {
            eprintln!("error: macrobox: the build script of {} was started without OUT_DIR or CARGO_MANIFEST_DIR (cargo sets both)", package);
            return 1;
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| manifest_dir.clone());
    let target = target_dir(&out_dir);
    let read_only = vec![manifest_dir.clone(), target, real.to_path_buf(), cwd.clone()];
    let mut command = Command::new(BWRAP);
    command.args(BASE_ARGS);
    for m in mounts(&read_only, &[out_dir.clone()]) {
        match m.kind {
            b't' => command.arg("--tmpfs").arg(&m.path),
            b'r' => command.arg("--ro-bind").arg(&m.source).arg(&m.path),
            _ => command.arg("--bind").arg(&m.source).arg(&m.path),
        };
    }
    command.arg("--tmpfs").arg(SANDBOX_HOME).arg("--setenv").arg("HOME").arg(SANDBOX_HOME);
    command.arg("--setenv").arg("TMPDIR").arg("/tmp");
    for (k, v) in &env {
        command.arg("--setenv").arg(k).arg(v);
    }
    command.arg("--chdir").arg(&cwd).arg("--").arg(real).args(args);
    command.stdin(Stdio::null()).stdout(Stdio::inherit()).stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: macrobox cannot start its build-script sandbox ({}: {}); `macrobox patch --undo` builds natively again", BWRAP, e);
            return 1;
        }
    };
    // stderr is forwarded as it comes, and its tail kept to say what the sandbox denied.
    let mut tail: Vec<u8> = Vec::new();
    if let Some(mut err) = child.stderr.take() {
        let mut buf = [0u8; 8192];
        let mut stderr = std::io::stderr();
        loop {
            match err.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = stderr.write_all(&buf[..n]);
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 65536 {
                        tail.drain(..tail.len() - 65536);
                    }
                }
            }
        }
    }
    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: macrobox: waiting for the confined build script of {}: {}", package, e);
            return 1;
        }
    };
    if status.success() {
        return 0;
    }
    let text = String::from_utf8_lossy(&tail);
    eprintln!(
        "error: the build script of {} failed inside macrobox's build-script sandbox (bubblewrap, set up by `macrobox patch`): no network, no home (HOME={}), \
         reads limited to the toolchain, the registries, {} and the target directory, writes only to {}",
        package,
        SANDBOX_HOME,
        manifest_dir.display(),
        out_dir.display()
    );
    for (needle, what) in [
        ("os error 30", "a write outside OUT_DIR (read-only file system)"),
        ("Read-only file system", "a write outside OUT_DIR (read-only file system)"),
        ("os error 13", "an access the sandbox does not allow (permission denied)"),
        ("os error 2)", "a path outside what the sandbox shows (no such file or directory)"),
        ("os error 111", "the network (connection refused: the sandbox has only its own loopback)"),
        ("os error 101", "the network (unreachable)"),
        ("failed to lookup address", "the network (no name resolution)"),
    ] {
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            eprintln!("macrobox: denied: {}: {}", what, line.trim());
            break;
        }
    }
    eprintln!("macrobox: `macrobox patch --undo` runs build scripts natively again (outside the sandbox)");
    status.code().unwrap_or(1)
}
