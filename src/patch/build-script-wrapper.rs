// macrobox's rustc wrapper (`build.rustc-wrapper` while a workspace is patched): std-only Rust, compiled once
// by `macrobox patch` (build-scripts.ts prepends the constants it bakes in: BWRAP, BASE_ARGS, READ_ONLY,
// HIDDEN_HOME, SANDBOX_HOME, CHAINED, SELF_PATH, MEMBERS, INSIDE_TOKEN).
//
// cargo runs `<this> <rustc> <args...>` for every compilation. A build-script compile (`--crate-name
// build_script_build`) runs rustc confined (rustc bakes what `include_str!`/`option_env!` name into
// the binary), then the binary it produced is moved aside and replaced by a launcher (a two-line sh
// script) that runs `<this> --macrobox-build-script <real binary>`: the real build script in
// bubblewrap, with the policy of src/builder/os-sandbox.ts (no network, no home, a fresh /tmp, an
// allowlisted environment), reads limited to the toolchain, the registries, the package's own
// directory and the target directory, writes only to its OUT_DIR. The compile of a workspace member
// macrobox sandboxes (MEMBERS: its users get the shim, but cargo still builds the member) runs
// confined too. Every other call is exec'd as is (through the user's own wrapper, when one was
// configured: CHAINED); confined compiles run the rustc cargo named, without it.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{exit, Command, Stdio};

const LAUNCH_FLAG: &str = "--macrobox-build-script";
/// Set inside the sandbox, for this wrapper when a build script runs it.
const INSIDE: &str = "MACROBOX_INSIDE_BUILD_SANDBOX";
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
    // Inside the sandbox already (a build script's rustc probe through RUSTC_WRAPPER): rustc as is,
    // neither confined again (no bwrap inside bwrap) nor chained (the user's wrapper, sccache, has
    // no server or cache in here). The variable must hold this binary's random token: a repository's
    // `[env]` could set the variable, but cannot know the token, made when this binary was compiled.
    if std::env::var(INSIDE).map_or(false, |v| v == INSIDE_TOKEN) {
        let err = Command::new(&rustc_args[0]).args(&rustc_args[1..]).exec();
        eprintln!("macrobox rustc wrapper: cannot run {:?}: {}", rustc_args[0], err);
        exit(1);
    }
    let build_script = is_build_script_compile(&rustc_args[1..]);
    if build_script || is_member_compile() {
        let code = confined_rustc(&rustc_args[0], &rustc_args[1..]);
        if code != 0 || !build_script {
            exit(code);
        }
        if let Err(e) = install_launcher(&rustc_args[1..]) {
            // Fail closed: a build script macrobox cannot confine must not run natively.
            eprintln!("error: macrobox cannot confine this build script (it would run natively): {}", e);
            exit(1);
        }
        exit(0);
    }
    let mut command = if CHAINED.is_empty() {
        Command::new(&rustc_args[0])
    } else {
        let mut c = Command::new(CHAINED[0]);
        c.args(&CHAINED[1..]).arg(&rustc_args[0]);
        c
    };
    command.args(&rustc_args[1..]);
    let err = command.exec();
    eprintln!("macrobox rustc wrapper: cannot run {:?}: {}", rustc_args[0], err);
    exit(1);
}

/// A compile of a workspace member macrobox sandboxes (cargo sets CARGO_MANIFEST_DIR for rustc).
fn is_member_compile() -> bool {
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => MEMBERS.iter().any(|m| Path::new(m) == Path::new(&dir)),
        None => false,
    }
}

/// rustc in the sandbox: reads as a build script's, writes only where this compile puts its
/// outputs (`--out-dir`, `-o`'s directory, `-C incremental`). Its env: cargo's, plus what the
/// package's build script set with `cargo:rustc-env` (read back from the script's output file).
fn confined_rustc(rustc: &OsString, args: &[OsString]) -> i32 {
    let mut writable: Vec<PathBuf> = Vec::new();
    if let Some(dir) = option_value(args, "--out-dir") {
        writable.push(PathBuf::from(dir));
    }
    if let Some(o) = option_value(args, "-o") {
        let o = PathBuf::from(o);
        writable.push(o.parent().map(|p| p.to_path_buf()).unwrap_or(o));
    }
    if let Some(dir) = codegen_option(args, "incremental") {
        writable.push(PathBuf::from(dir));
    }
    for dir in &writable {
        let _ = std::fs::create_dir_all(dir);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut read_only = vec![cwd.clone()];
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        read_only.push(PathBuf::from(dir));
    }
    if let Some(first) = writable.first() {
        read_only.push(target_dir(first));
    }
    let mut extra_env: Vec<String> = Vec::new();
    if let Some(out) = std::env::var_os("OUT_DIR") {
        let out = PathBuf::from(out);
        read_only.push(out.clone());
        if let Ok(text) = std::fs::read_to_string(out.with_file_name("output")) {
            for line in text.lines() {
                let rest = line.strip_prefix("cargo::rustc-env=").or_else(|| line.strip_prefix("cargo:rustc-env="));
                if let Some(name) = rest.and_then(|r| r.split('=').next()) {
                    extra_env.push(name.to_string());
                }
            }
        }
    }
    let what = format!("rustc for {}", option_value(args, "--crate-name").unwrap_or_default());
    let mut program = vec![rustc.clone()];
    program.extend(args.iter().cloned());
    confine(&what, &program, &cwd, &read_only, &writable, &extra_env)
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

/// The environment cargo gives a build script and rustc (its documented variables), plus PATH;
/// nothing else of the user's (CARGO_HOME, CARGO_REGISTRY_TOKEN and the like stay out).
fn allowed_env(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH", "CARGO", "CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH", "CARGO_MANIFEST_LINKS", "CARGO_MAKEFLAGS", "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE", "CARGO_CRATE_NAME", "CARGO_TARGET_TMPDIR", "OUT_DIR", "TARGET", "HOST", "NUM_JOBS", "OPT_LEVEL", "DEBUG", "PROFILE",
        "RUSTC", "RUSTDOC", "RUSTC_LINKER", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTC_BOOTSTRAP", "CARGO_RUSTC_CURRENT_DIR",
    ];
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_CFG_", "CARGO_FEATURE_", "CARGO_BIN_", "DEP_"];
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

/// The target directory: the nearest ancestor of an output directory holding cargo's CACHEDIR.TAG
/// (cargo writes it at the target dir's root), else only the directory's parent: never a guess
/// that could be `/` or the home.
fn target_dir(out_dir: &Path) -> PathBuf {
    for dir in out_dir.ancestors() {
        if dir.join("CACHEDIR.TAG").is_file() {
            return dir.to_path_buf();
        }
    }
    out_dir.parent().unwrap_or(out_dir).to_path_buf()
}

fn run_confined(real: &Path, args: &[OsString]) -> i32 {
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "?".into());
    let (out_dir, manifest_dir) = match (std::env::var_os("OUT_DIR"), std::env::var_os("CARGO_MANIFEST_DIR")) {
        (Some(o), Some(m)) => (PathBuf::from(o), PathBuf::from(m)),
        _ => {
            eprintln!("error: macrobox: the build script of {} was started without OUT_DIR or CARGO_MANIFEST_DIR (cargo sets both)", package);
            return 1;
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| manifest_dir.clone());
    let read_only = vec![manifest_dir, target_dir(&out_dir), real.to_path_buf(), cwd.clone()];
    let mut program = vec![real.as_os_str().to_os_string()];
    program.extend(args.iter().cloned());
    confine(&format!("the build script of {}", package), &program, &cwd, &read_only, &[out_dir], &[])
}

/// Runs `program` in bubblewrap; on failure, says so and names what the sandbox denied when the
/// program's stderr shows it.
fn confine(what: &str, program: &[OsString], cwd: &Path, read_only: &[PathBuf], writable: &[PathBuf], extra_env: &[String]) -> i32 {
    let env: Vec<(String, OsString)> = std::env::vars_os()
        .filter_map(|(k, v)| k.into_string().ok().map(|k| (k, v)))
        .filter(|(k, _)| allowed_env(k) || extra_env.contains(k))
        .collect();
    let mut command = Command::new(BWRAP);
    command.args(BASE_ARGS);
    for m in mounts(read_only, writable) {
        match m.kind {
            b't' => command.arg("--tmpfs").arg(&m.path),
            b'r' => command.arg("--ro-bind").arg(&m.source).arg(&m.path),
            _ => command.arg("--bind").arg(&m.source).arg(&m.path),
        };
    }
    command.arg("--tmpfs").arg(SANDBOX_HOME).arg("--setenv").arg("HOME").arg(SANDBOX_HOME);
    command.arg("--setenv").arg("TMPDIR").arg("/tmp").arg("--setenv").arg(INSIDE).arg(INSIDE_TOKEN);
    for (k, v) in &env {
        command.arg("--setenv").arg(k).arg(v);
    }
    command.arg("--chdir").arg(cwd).arg("--").args(program);
    command.stdin(Stdio::null()).stdout(Stdio::inherit()).stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: macrobox cannot start its build sandbox for {} ({}: {}); `macrobox patch --undo` builds natively again", what, BWRAP, e);
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
            eprintln!("error: macrobox: waiting for {}: {}", what, e);
            return 1;
        }
    };
    if status.success() {
        return 0;
    }
    let text = String::from_utf8_lossy(&tail);
    let writes: Vec<String> = writable.iter().map(|w| w.display().to_string()).collect();
    eprintln!(
        "error: {} failed inside macrobox's build-script sandbox (bubblewrap, set up by `macrobox patch`): no network, no home (HOME={}), \
         reads limited to the toolchain, the registries, the package's directory and the target directory, writes only to {}",
        what,
        SANDBOX_HOME,
        writes.join(", ")
    );
    for (needle, denied) in [
        ("os error 30", "a write outside OUT_DIR (read-only file system)"),
        ("Read-only file system", "a write outside OUT_DIR (read-only file system)"),
        ("os error 13", "an access the sandbox does not allow (permission denied)"),
        ("os error 2)", "a path outside what the sandbox shows (no such file or directory)"),
        ("os error 111", "the network (connection refused: the sandbox has only its own loopback)"),
        ("os error 101", "the network (unreachable)"),
        ("failed to lookup address", "the network (no name resolution)"),
    ] {
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            eprintln!("macrobox: denied: {}: {}", denied, line.trim());
            break;
        }
    }
    eprintln!("macrobox: `macrobox patch --undo` builds natively again (outside the sandbox)");
    status.code().unwrap_or(1)
}
