// macrobox's rustc wrapper (`build.rustc-wrapper` while a workspace is patched): std-only Rust, compiled once
// by `macrobox patch` (build-scripts.ts prepends the constants it bakes in: BWRAP, BASE_ARGS, READ_ONLY,
// HIDDEN_HOME, SANDBOX_HOME, CHAINED, SELF_PATH, MEMBERS, WORKSPACE, USER_CONFIG, POLICIES, INSIDE_TOKEN).
//
// cargo runs `<this> <rustc> <args...>` for every compilation. A build-script compile (`--crate-name
// build_script_<stem>`: build.rs gives build_script_build, build/main.rs build_script_main) runs rustc confined (rustc bakes what `include_str!`/`option_env!` name into
// the binary), then the binary it produced is moved aside and replaced by a launcher (a two-line sh
// script) that runs `<this> --macrobox-build-script <package dir> <real binary>`: the real build script in
// bubblewrap, with the policy of src/builder/os-sandbox.ts (no network, no home, a fresh /tmp, an
// allowlisted environment), reads limited to the toolchain, the registries, the package's own
// directory and the target directory, writes only to its OUT_DIR. The compile of a workspace member
// macrobox sandboxes (MEMBERS: its users get the shim, but cargo still builds the member) runs
// confined too.
//
// What the user granted a package's build script beyond that (POLICIES: network, reads, writes, env
// vars; requested in its `[package.metadata.macrobox.build]`, granted only by the user) is baked in
// by `macrobox patch`, never read from the repository at build time. The package is the one whose
// directory (nearest Cargo.toml) holds the build script's source file, as cargo names it to rustc:
// the patch matched the user's grants to directories by package identity (a name reaches only
// crates.io's package, a repository's own only its directory), and a hint names the package the same
// way (Policy.grant_as, Policy.file_key).
// Each run is appended to WORKSPACE/.cargo/macrobox-build-scripts.log (`macrobox patch --report`);
// with MACROBOX_CHECK_DETERMINISM=1 (`macrobox patch --check-determinism`) a script runs twice,
// the first time into a fresh directory bound at its OUT_DIR, and the two runs are compared. Every other call is exec'd as is (through the user's own wrapper, when one was
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
/// The run log, in WORKSPACE/.cargo (written only while the workspace is patched).
const LOG_FILE: &str = "macrobox-build-scripts.log";
const PATCH_FILE: &str = "macrobox-patch.toml";
/// Set by `macrobox patch --check-determinism` for the build it runs (a repository setting it only slows its build).
const CHECK_DETERMINISM: &str = "MACROBOX_CHECK_DETERMINISM";

/// What the user granted one package's build script (baked in by `macrobox patch`).
struct Policy {
    /// The package's directory (real path).
    dir: &'static str,
    package: &'static str,
    /// How `--grant-build` names it: a crates.io package's name, else (a repository's own) its directory.
    grant_as: &'static str,
    /// How the user's file names it under `[workspace."<WORKSPACE>".build-grants]` (quoted when a directory).
    file_key: &'static str,
    network: bool,
    read: &'static [&'static str],
    write: &'static [&'static str],
    env: &'static [&'static str],
    /// What its `[package.metadata.macrobox.build]` asks that the user did not grant, as `--grant-build` items.
    ungranted: &'static [&'static str],
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() >= 4 && args[1] == LAUNCH_FLAG {
        exit(run_confined(Path::new(&args[2]), Path::new(&args[3]), &args[4..]));
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
    // cargo names a build script's crate `build_script_<file stem>` (build/main.rs: build_script_main)
    // and compiles it into `<target>/<profile>/build/<package>-<hash>/`; a library or binary of
    // that name elsewhere is not one.
    let named = option_value(args, "--crate-name").map_or(false, |n| n.starts_with("build_script_"));
    let in_build_dir = option_value(args, "--out-dir")
        .or_else(|| option_value(args, "-o").map(|o| Path::new(&o).parent().map(|p| p.display().to_string()).unwrap_or_default()))
        .map_or(false, |d| Path::new(&d).parent().and_then(|p| p.file_name()).map_or(false, |n| n == "build"));
    named && in_build_dir
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
            let name = option_value(args, "--crate-name").unwrap_or_else(|| "build_script_build".into());
            Path::new(&dir).join(format!("{}{}", name, extra))
        }
    };
    let real = PathBuf::from(format!("{}{}", output.display(), REAL_SUFFIX));
    std::fs::rename(&output, &real).map_err(|e| format!("cannot move {} aside: {}", output.display(), e))?;
    let package = package_dir(args).map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    let launcher = format!(
        "#!/bin/sh\nexec {} {} {} {} \"$@\"\n",
        sh_quote(SELF_PATH),
        LAUNCH_FLAG,
        sh_quote(&package),
        sh_quote(&real.to_string_lossy())
    );
    let tmp = PathBuf::from(format!("{}.macrobox-tmp", output.display()));
    std::fs::write(&tmp, launcher).map_err(|e| format!("cannot write {}: {}", tmp.display(), e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(|e| format!("cannot chmod {}: {}", tmp.display(), e))?;
    std::fs::rename(&tmp, &output).map_err(|e| format!("cannot write {}: {}", output.display(), e))?;
    Ok(())
}

/// The package a build-script compile belongs to: the nearest directory holding a Cargo.toml above
/// the source file rustc is given (cargo names it; the environment, which a repository's `[env]`
/// can set, is not asked).
fn package_dir(args: &[OsString]) -> Option<PathBuf> {
    const TAKES_VALUE: &[&str] = &["-o", "--out-dir", "-L", "--extern", "-C", "--cfg", "--crate-name", "--crate-type", "--edition", "--emit", "--cap-lints", "--target", "-l"];
    let mut previous = "";
    let mut source = None;
    for a in args {
        let s = a.to_str().unwrap_or("");
        if s.ends_with(".rs") && !TAKES_VALUE.contains(&previous) {
            source = Some(PathBuf::from(s));
            break;
        }
        previous = s;
    }
    let source = std::env::current_dir().ok()?.join(source?);
    let source = std::fs::canonicalize(source).ok()?;
    source.ancestors().skip(1).find(|d| d.join("Cargo.toml").is_file()).map(|d| d.to_path_buf())
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

/// The wrapper the workspace's current patch sets, when it is another build of this one (a later
/// `macrobox patch` with other grants): a launcher compiled under an earlier patch runs it, so a
/// grant taken back, or a new one, holds for build scripts cargo does not compile again. Only a
/// wrapper beside this one in the user's cache (`<wrappers>/<hash>/macrobox-rustc-wrapper`) is
/// taken, whatever the file says.
fn current_wrapper() -> Option<PathBuf> {
    let file = Path::new(WORKSPACE).join(".cargo").join(PATCH_FILE);
    if WORKSPACE.is_empty() || !std::fs::symlink_metadata(&file).ok()?.file_type().is_file() {
        return None;
    }
    let text = std::fs::read_to_string(&file).ok()?;
    let quoted = text.lines().find_map(|l| l.strip_prefix("rustc-wrapper = "))?.trim();
    let path = PathBuf::from(quoted.strip_prefix('"')?.strip_suffix('"')?.replace("\\\"", "\"").replace("\\\\", "\\"));
    let me = Path::new(SELF_PATH);
    let beside = path.parent()?.parent()? == me.parent()?.parent()? && path.file_name() == me.file_name();
    (beside && path != me && path.is_file()).then_some(path)
}

fn run_confined(package_dir: &Path, real: &Path, args: &[OsString]) -> i32 {
    if let Some(current) = current_wrapper() {
        let err = Command::new(&current).arg(LAUNCH_FLAG).arg(package_dir).arg(real).args(args).exec();
        eprintln!("error: macrobox: cannot run the current patch's wrapper {}: {}", current.display(), err);
        return 1;
    }
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "?".into());
    let (out_dir, manifest_dir) = match (std::env::var_os("OUT_DIR"), std::env::var_os("CARGO_MANIFEST_DIR")) {
        (Some(o), Some(m)) => (PathBuf::from(o), PathBuf::from(m)),
        _ => {
            eprintln!("error: macrobox: the build script of {} was started without OUT_DIR or CARGO_MANIFEST_DIR (cargo sets both)", package);
            return 1;
        }
    };
    let policy = POLICIES.iter().find(|p| !package_dir.as_os_str().is_empty() && Path::new(p.dir) == package_dir);
    let cwd = std::env::current_dir().unwrap_or_else(|_| manifest_dir.clone());
    let mut read_only = vec![manifest_dir, target_dir(&out_dir), real.to_path_buf(), cwd.clone()];
    let mut writable = vec![out_dir.clone()];
    let mut extra_env: Vec<String> = Vec::new();
    let mut network = false;
    if let Some(p) = policy {
        read_only.extend(p.read.iter().map(PathBuf::from));
        writable.extend(p.write.iter().map(PathBuf::from));
        extra_env.extend(p.env.iter().map(|e| e.to_string()));
        network = p.network;
        if network {
            // Name resolution and TLS roots for a granted network.
            for f in ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates"] {
                read_only.push(PathBuf::from(f));
            }
        }
    }
    let mut program = vec![real.as_os_str().to_os_string()];
    program.extend(args.iter().cloned());
    let what = format!("the build script of {}", package);
    let spec = Spec { what: &what, program: &program, cwd: &cwd, read_only: &read_only, writable: &writable, extra_env: &extra_env, network };
    let check = std::env::var(CHECK_DETERMINISM).map_or(false, |v| v == "1");
    let (code, determinism) = if check { run_twice(&spec, &out_dir, policy) } else { (report(&spec, policy, run(&spec, None, false)), String::new()) };
    log_run(&package, package_dir, policy, code, &determinism);
    code
}

struct Spec<'a> {
    what: &'a str,
    program: &'a [OsString],
    cwd: &'a Path,
    read_only: &'a [PathBuf],
    writable: &'a [PathBuf],
    extra_env: &'a [String],
    network: bool,
}

struct Outcome {
    /// The exit code, or None when bwrap could not be started (the message is in `tail`).
    code: Option<i32>,
    /// stderr's tail (forwarded as it came).
    tail: Vec<u8>,
    /// stdout, when captured.
    stdout: Vec<u8>,
}

/// `--check-determinism`: the script runs into a fresh directory bound at its OUT_DIR, then as
/// usual; their out dirs and outputs are compared. Returns the second run's code and the verdict.
fn run_twice(spec: &Spec, out_dir: &Path, policy: Option<&Policy>) -> (i32, String) {
    let first_dir = PathBuf::from(format!("{}.macrobox-check", out_dir.display()));
    let _ = std::fs::remove_dir_all(&first_dir);
    if let Err(e) = std::fs::create_dir_all(&first_dir) {
        eprintln!("error: macrobox --check-determinism: cannot create {}: {}", first_dir.display(), e);
        return (1, String::new());
    }
    let first = run(spec, Some(&first_dir), true);
    let second = run(spec, None, true);
    let _ = std::io::stdout().write_all(&second.stdout);
    let verdict = if first.code != second.code {
        format!("not reproducible: exit {:?}, then {:?}", first.code, second.code)
    } else if first.stdout != second.stdout {
        "not reproducible: its output (cargo: lines) differs".to_string()
    } else {
        match tree_difference(&first_dir, out_dir) {
            Some(d) => format!("not reproducible: OUT_DIR differs at {}", d),
            None => "reproducible".to_string(),
        }
    };
    let _ = std::fs::remove_dir_all(&first_dir);
    let code = report(spec, policy, second);
    (code, verdict)
}

/// The first path (relative) where two trees differ in kind, content or link target; None when equal.
fn tree_difference(a: &Path, b: &Path) -> Option<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).map(|r| r.filter_map(|e| e.ok()).collect()).unwrap_or_default();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
            let meta = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
                out.push((rel, format!("link:{}", target).into_bytes()));
            } else if meta.is_dir() {
                out.push((rel, b"dir".to_vec()));
                walk(root, &p, out);
            } else {
                let mut bytes = b"file:".to_vec();
                bytes.extend(std::fs::read(&p).unwrap_or_default());
                out.push((rel, bytes));
            }
        }
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    walk(a, a, &mut x);
    walk(b, b, &mut y);
    for i in 0..x.len().max(y.len()) {
        match (x.get(i), y.get(i)) {
            (Some(p), Some(q)) if p == q => continue,
            (Some(p), Some(q)) => return Some((if p.0 <= q.0 { &p.0 } else { &q.0 }).display().to_string()),
            (Some(p), None) | (None, Some(p)) => return Some(p.0.display().to_string()),
            (None, None) => break,
        }
    }
    None
}

/// Appends one line per build-script run to the workspace's log (only while it is patched).
fn log_run(package: &str, package_dir: &Path, policy: Option<&Policy>, code: i32, determinism: &str) {
    let cargo_dir = Path::new(WORKSPACE).join(".cargo");
    if WORKSPACE.is_empty() || !cargo_dir.join(PATCH_FILE).is_file() {
        return;
    }
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let granted = policy.map_or(String::new(), granted_summary);
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    let line = format!(
        "{}\t{}\t{}\t{}\t{}\t{}\n",
        clean(package),
        clean(&version),
        clean(&package_dir.display().to_string()),
        code,
        clean(&granted),
        clean(determinism)
    );
    // Never through a symbolic link: the repository could commit one in its .cargo pointing at a file of yours.
    use std::os::unix::fs::OpenOptionsExt;
    let path = cargo_dir.join(LOG_FILE);
    if std::fs::symlink_metadata(&path).map_or(false, |m| !m.file_type().is_file()) {
        return;
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).mode(0o644).custom_flags(MACROBOX_O_NOFOLLOW).open(&path) {
        let _ = f.write_all(line.as_bytes());
    }
}

fn granted_summary(p: &Policy) -> String {
    let mut parts: Vec<String> = Vec::new();
    if p.network {
        parts.push("network".into());
    }
    parts.extend(p.read.iter().map(|r| format!("read={}", r)));
    parts.extend(p.write.iter().map(|w| format!("write={}", w)));
    parts.extend(p.env.iter().map(|e| format!("env={}", e)));
    parts.join(",")
}

fn confine(what: &str, program: &[OsString], cwd: &Path, read_only: &[PathBuf], writable: &[PathBuf], extra_env: &[String]) -> i32 {
    let spec = Spec { what, program, cwd, read_only, writable, extra_env, network: false };
    report(&spec, None, run(&spec, None, false))
}

/// Runs the spec's program in bubblewrap (with `out_dir_source` bound at the first writable path
/// instead of itself, and stdout captured, for --check-determinism).
fn run(spec: &Spec, out_dir_source: Option<&Path>, capture_stdout: bool) -> Outcome {
    let env: Vec<(String, OsString)> = std::env::vars_os()
        .filter_map(|(k, v)| k.into_string().ok().map(|k| (k, v)))
        .filter(|(k, _)| allowed_env(k) || spec.extra_env.contains(k))
        .collect();
    let mut command = Command::new(BWRAP);
    command.args(BASE_ARGS);
    if spec.network {
        command.arg("--share-net");
    }
    let redirected = out_dir_source.and_then(|_| spec.writable.first()).and_then(|w| std::fs::canonicalize(w).ok());
    for m in mounts(spec.read_only, spec.writable) {
        let source = match (&redirected, out_dir_source) {
            (Some(r), Some(s)) if *r == m.path && m.kind == b'w' => s.to_path_buf(),
            _ => m.source.clone(),
        };
        match m.kind {
            b't' => command.arg("--tmpfs").arg(&m.path),
            b'r' => command.arg("--ro-bind").arg(&source).arg(&m.path),
            _ => command.arg("--bind").arg(&source).arg(&m.path),
        };
    }
    command.arg("--tmpfs").arg(SANDBOX_HOME).arg("--setenv").arg("HOME").arg(SANDBOX_HOME);
    command.arg("--setenv").arg("TMPDIR").arg("/tmp").arg("--setenv").arg(INSIDE).arg(INSIDE_TOKEN);
    for (k, v) in &env {
        command.arg("--setenv").arg(k).arg(v);
    }
    command.arg("--chdir").arg(spec.cwd).arg("--").args(spec.program);
    command.stdin(Stdio::null()).stdout(if capture_stdout { Stdio::piped() } else { Stdio::inherit() }).stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let text = format!("error: macrobox cannot start its build sandbox for {} ({}: {}); `macrobox patch --undo` builds natively again", spec.what, BWRAP, e);
            return Outcome { code: None, tail: text.into_bytes(), stdout: Vec::new() };
        }
    };
    let stdout_reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        })
    });
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
    let stdout = stdout_reader.and_then(|t| t.join().ok()).unwrap_or_default();
    let code = match child.wait() {
        Ok(s) => Some(s.code().unwrap_or(1)),
        Err(e) => {
            tail.extend(format!("\nerror: macrobox: waiting for {}: {}", spec.what, e).into_bytes());
            Some(1)
        }
    };
    Outcome { code, tail, stdout }
}

/// The run's exit code; on failure, one message: what failed inside the sandbox, what the sandbox
/// denied when the program's stderr shows it, and the grant that would allow it.
fn report(spec: &Spec, policy: Option<&Policy>, outcome: Outcome) -> i32 {
    let code = match outcome.code {
        None => {
            eprintln!("{}", String::from_utf8_lossy(&outcome.tail));
            return 1;
        }
        Some(0) => return 0,
        Some(c) => c,
    };
    let text = String::from_utf8_lossy(&outcome.tail);
    let writes: Vec<String> = spec.writable.iter().map(|w| w.display().to_string()).collect();
    let mut message = format!(
        "error: {} failed inside macrobox's build-script sandbox (bubblewrap, set up by `macrobox patch`): {}no home (HOME={}), \
         reads limited to the toolchain, the registries, the package's directory and the target directory{}, writes only to {}",
        spec.what,
        if spec.network { "" } else { "no network, " },
        SANDBOX_HOME,
        if spec.read_only.len() > 4 { " and what you granted" } else { "" },
        writes.join(", ")
    );
    // A build script `macrobox patch` did not see is named by its directory, which reaches any package.
    let here = spec.cwd.display().to_string();
    let here_key = format!("{:?}", here);
    let (grant_as, file_key) = policy.map_or((here.as_str(), here_key.as_str()), |p| (p.grant_as, p.file_key));
    let is_build_script = policy.is_some() || spec.what.starts_with("the build script");
    let mut grants: Vec<String> = Vec::new();
    if let Some((denied, grant)) = denial(&text, spec) {
        message.push_str(&format!("\nmacrobox: denied: {}", denied));
        if let Some(g) = grant {
            grants.push(g);
        }
    }
    if let Some(p) = policy {
        if !p.ungranted.is_empty() {
            message.push_str(&format!(
                "\nmacrobox: {} asks in its Cargo.toml's [package.metadata.macrobox.build] for {}, which you have not granted (a package's own request grants nothing)",
                p.package,
                p.ungranted.join(", ")
            ));
            for u in p.ungranted {
                if !grants.iter().any(|g| g == u) {
                    grants.push(u.to_string());
                }
            }
        }
    }
    if is_build_script && !grants.is_empty() {
        let flags: Vec<String> = grants.iter().map(|g| format!("--grant-build {}:{}", grant_as, g)).collect();
        message.push_str(&format!(
            "\nmacrobox: to allow it: `macrobox patch {}`, or in {}: [workspace.{:?}.build-grants.{}] {}",
            flags.join(" "),
            USER_CONFIG,
            WORKSPACE,
            file_key,
            toml_grants(&grants)
        ));
    }
    message.push_str("\nmacrobox: `macrobox patch --undo` builds natively again (outside the sandbox)");
    eprintln!("{}", message);
    code
}

/// `--grant-build` items as the user file's keys: `network = true`, `read = ["/x"]`, ...
fn toml_grants(grants: &[String]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if grants.iter().any(|g| g == "network") {
        parts.push("network = true".into());
    }
    for kind in ["read", "write", "env"] {
        let items: Vec<String> = grants.iter().filter_map(|g| g.strip_prefix(&format!("{}=", kind))).map(|v| format!("{:?}", v)).collect();
        if !items.is_empty() {
            parts.push(format!("{} = [{}]", kind, items.join(", ")));
        }
    }
    parts.join(", ")
}

/// What the sandbox denied, by the program's stderr: the line showing it, and the `--grant-build`
/// item that would allow it when it can be named (a path on that line, a variable's name).
fn denial(text: &str, spec: &Spec) -> Option<(String, Option<String>)> {
    // An environment variable set outside but not passed in, named on stderr.
    let hidden: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.len() >= 3 && !allowed_env(k) && !spec.extra_env.contains(k))
        .collect();
    for line in text.lines() {
        let lower = line.to_lowercase();
        if !(lower.contains("env") || lower.contains("notpresent") || lower.contains("not present") || lower.contains("not set")) {
            continue;
        }
        if let Some(name) = hidden.iter().find(|k| line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| w == k.as_str())) {
            return Some((
                format!("the environment variable {} (set outside, not passed into the sandbox): {}", name, line.trim()),
                Some(format!("env={}", name)),
            ));
        }
    }
    let kinds: [(&str, &str); 13] = [
        ("os error 30", "write"),
        ("Read-only file system", "write"),
        ("os error 13", "access"),
        ("Permission denied", "access"),
        ("os error 2)", "read"),
        ("No such file or directory", "read"),
        ("os error 111", "network"),
        ("Connection refused", "network"),
        ("os error 101", "network"),
        ("Network is unreachable", "network"),
        ("failed to lookup address", "network"),
        ("Temporary failure in name resolution", "network"),
        ("Could not resolve host", "network"),
    ];
    for line in text.lines() {
        let kind = match kinds.iter().find(|(needle, _)| line.contains(needle)) {
            // A path that is not there, or not allowed, while writing or creating: a write denied.
            Some((_, k)) if *k != "network" && (line.to_lowercase().contains("writ") || line.to_lowercase().contains("creat")) => "write",
            Some((_, k)) => *k,
            None => continue,
        };
        if kind == "network" {
            return Some((
                format!("the network (the sandbox has only its own loopback): {}", line.trim()),
                Some("network".to_string()),
            ));
        }
        // An absolute path on the line that exists outside the sandbox.
        let path = line
            .split(|c: char| c.is_whitespace() || c == ':' || c == '"' || c == '\'' || c == '`' || c == ',' || c == '(' || c == ')')
            .filter(|w| w.starts_with('/') && w.len() > 1)
            .map(PathBuf::from)
            .find(|p| p.exists() || p.parent().map_or(false, |d| d.is_dir()));
        let (denied, grant) = match (kind, &path) {
            ("write", Some(p)) => {
                // The grant names a directory that exists (bubblewrap binds what exists).
                let dir = if p.is_dir() { p.clone() } else { p.parent().map_or(p.clone(), |d| d.to_path_buf()) };
                (format!("a write to {} (outside OUT_DIR, the only place the build script may write)", p.display()), Some(format!("write={}", dir.display())))
            }
            ("write", None) => ("a write outside OUT_DIR (read-only file system)".to_string(), None),
            ("read", Some(p)) if p.exists() => (format!("{} (outside what the sandbox shows: no such file or directory inside)", p.display()), Some(format!("read={}", p.display()))),
            ("read", _) => ("a path outside what the sandbox shows (no such file or directory)".to_string(), None),
            (_, Some(p)) => (format!("an access to {} (permission denied)", p.display()), Some(format!("read={}", p.display()))),
            _ => ("an access the sandbox does not allow (permission denied)".to_string(), None),
        };
        return Some((format!("{}: {}", denied, line.trim()), grant));
    }
    None
}
