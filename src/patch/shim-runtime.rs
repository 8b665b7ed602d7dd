// The runtime of every macrobox shim (src/patch/shim.ts prepends the crate's constants and
// macro functions). std only, and valid in every edition from 2015 to 2024: the shim has the
// macro crate's own edition, which rustc gives its call_site spans.
//
// Wire format (src/patch/protocol.ts is the other half): a u32 LE length, then the payload.
// The request ends with one byte: whether this shim reads the host's answer index.
// Strings are a u32 LE byte length and UTF-8; spans are indices into the table of spans this
// shim sends (index 0 is the call site), and come back as an index plus a context to resolve at.

fn macrobox_forward(kind: u8, name: &str, args: Option<TokenStream>, input: TokenStream) -> TokenStream {
    if let Some(message) = macrobox_stale() {
        return macrobox_error(&message);
    }
    let mut spans: Vec<Span> = vec![Span::call_site()];
    let mut body = Vec::new();
    macrobox_encode_stream(&mut body, &mut spans, input);
    match args {
        Some(a) => {
            body.push(1);
            macrobox_encode_stream(&mut body, &mut spans, a);
        }
        None => body.push(0),
    }
    let cwd = ::std::env::current_dir().ok().and_then(|p| p.to_str().map(|s| s.to_string())).unwrap_or_default();
    let places: Vec<MacroboxPlace> = spans
        .iter()
        .map(|s| {
            let end = s.end();
            MacroboxPlace {
                file: s.file(),
                local: s.local_file().and_then(|p| p.to_str().map(|s| s.to_string())),
                line: s.line() as u32,
                column: s.column() as u32,
                end_line: end.line() as u32,
                end_column: end.column() as u32,
            }
        })
        .collect();
    let reads_index = macrobox_reads_index();
    if reads_index {
        if let Some(out) = macrobox_indexed(kind, name, &cwd, &places, &body, &spans) {
            return out;
        }
    }
    let mut msg = Vec::new();
    macrobox_put_str(&mut msg, "macrobox-shim-3");
    macrobox_put_str(&mut msg, MACROBOX_MODULE);
    macrobox_put_str(&mut msg, MACROBOX_CRATE);
    msg.push(kind);
    macrobox_put_str(&mut msg, name);
    macrobox_put_str(&mut msg, &cwd);
    let vars: Vec<(String, String)> = ::std::env::vars_os()
        .filter_map(|(k, v)| match (k.into_string(), v.into_string()) {
            (Ok(k), Ok(v)) => Some((k, v)),
            _ => None,
        })
        .collect();
    macrobox_put_u32(&mut msg, vars.len() as u32);
    for &(ref k, ref v) in &vars {
        macrobox_put_str(&mut msg, k);
        macrobox_put_str(&mut msg, v);
    }
    macrobox_put_u32(&mut msg, places.len() as u32);
    for p in &places {
        macrobox_put_str(&mut msg, &p.file);
        match p.local {
            Some(ref local) => {
                msg.push(1);
                macrobox_put_str(&mut msg, local);
            }
            None => msg.push(0),
        }
        macrobox_put_u32(&mut msg, p.line);
        macrobox_put_u32(&mut msg, p.column);
        macrobox_put_u32(&mut msg, p.end_line);
        macrobox_put_u32(&mut msg, p.end_column);
    }
    msg.extend_from_slice(&body);
    // The host indexes the reply only for a shim that reads its index (answers.ts).
    msg.push(if reads_index { 1 } else { 0 });
    match macrobox_exchange(&msg) {
        Ok(reply) => match macrobox_decode_reply(&reply, &spans) {
            Ok(out) => out,
            Err(e) => macrobox_error(&format!("macrobox: malformed reply from the macrobox host: {}", e)),
        },
        Err(e) => macrobox_error(&e),
    }
}

/// What rustc says about one of the spans sent (the stable `Span` methods).
struct MacroboxPlace {
    file: String,
    local: Option<String>,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
}

/// The answer index (src/patch/answers.ts says what it holds and why a reply from it is the
/// host's): the reply the host wrote for this key, when the grant files it was decided by are
/// unchanged; None (ask the host) on anything else.
fn macrobox_indexed(kind: u8, name: &str, cwd: &str, places: &[MacroboxPlace], body: &[u8], spans: &[Span]) -> Option<TokenStream> {
    let dir = ::std::path::Path::new(MACROBOX_ANSWERS);
    if !macrobox_is_private(dir.parent()?) || !macrobox_is_private(dir) {
        return None;
    }
    let key = macrobox_answer_key(kind, name, cwd, places, body);
    let bytes = {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = ::std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(MACROBOX_O_NOFOLLOW)
            .open(dir.join(format!("{:016x}", macrobox_fnv(&key))))
            .ok()?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).ok()?;
        bytes
    };
    let mut r = MacroboxReader { bytes: &bytes, at: 0 };
    let n = r.u32().ok()? as usize;
    if bytes.len() - r.at < n || bytes[r.at..r.at + n] != key[..] {
        return None;
    }
    r.at += n;
    for _ in 0..r.u32().ok()? {
        let path = r.str().ok()?;
        if macrobox_file_version(path) != r.str().ok()? {
            return None;
        }
    }
    // Only outputs are indexed, with nothing printed.
    if !r.str().ok()?.is_empty() || !r.str().ok()?.is_empty() || r.u8().ok()? != 0 {
        return None;
    }
    macrobox_decode_stream(&mut r, spans).ok()
}

/// Whether this shim reads the answer index: unless MACROBOX_SHIM_ANSWERS=off, and only of the
/// host baked in (a socket named by MACROBOX_HOST_SOCKET is another host's, which may not be the
/// user's: its index is never read).
fn macrobox_reads_index() -> bool {
    if ::std::env::var_os("MACROBOX_SHIM_ANSWERS").map_or(false, |v| v == "off") {
        return false;
    }
    match ::std::env::var_os("MACROBOX_HOST_SOCKET") {
        Some(socket) => socket.as_os_str() == ::std::ffi::OsStr::new(MACROBOX_SOCKET),
        None => true,
    }
}

/// src/patch/answers.ts `answerKey` builds the same bytes.
fn macrobox_answer_key(kind: u8, name: &str, cwd: &str, places: &[MacroboxPlace], body: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(body.len() + places.len() * 32 + 1024);
    macrobox_put_str(&mut key, "macrobox-answer-1");
    macrobox_put_str(&mut key, MACROBOX_MODULE);
    macrobox_put_str(&mut key, MACROBOX_CRATE);
    key.push(kind);
    macrobox_put_str(&mut key, name);
    macrobox_put_str(&mut key, cwd);
    match ::std::env::var("MACROBOX_WORKSPACE") {
        Ok(w) => {
            key.push(1);
            macrobox_put_str(&mut key, &w);
        }
        Err(_) => key.push(0),
    }
    let package: Vec<(&str, String)> = MACROBOX_PACKAGE_ENV.iter().filter_map(|&n| ::std::env::var(n).ok().map(|v| (n, v))).collect();
    macrobox_put_u32(&mut key, package.len() as u32);
    for &(n, ref v) in &package {
        macrobox_put_str(&mut key, n);
        macrobox_put_str(&mut key, v);
    }
    let crate_dir = ::std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| cwd.to_string());
    match ::std::fs::canonicalize(&crate_dir).ok().and_then(|p| p.to_str().map(|s| s.to_string())) {
        Some(real) => {
            key.push(1);
            macrobox_put_str(&mut key, &real);
        }
        None => key.push(0),
    }
    // Lines relative to each file's first spanned line: an item that moved keeps its key.
    let mut bases: Vec<(&str, u32)> = Vec::new();
    for p in places {
        match bases.iter_mut().find(|b| b.0 == p.file.as_str()) {
            Some(b) => {
                if p.line < b.1 {
                    b.1 = p.line;
                }
            }
            None => bases.push((p.file.as_str(), p.line)),
        }
    }
    macrobox_put_u32(&mut key, places.len() as u32);
    for p in places {
        let base = bases.iter().find(|b| b.0 == p.file.as_str()).map_or(0, |b| b.1);
        macrobox_put_str(&mut key, &p.file);
        match p.local {
            Some(ref local) => {
                key.push(1);
                macrobox_put_str(&mut key, local);
            }
            None => key.push(0),
        }
        macrobox_put_u32(&mut key, p.line.wrapping_sub(base));
        macrobox_put_u32(&mut key, p.column);
        macrobox_put_u32(&mut key, p.end_line.wrapping_sub(base));
        macrobox_put_u32(&mut key, p.end_column);
    }
    key.extend_from_slice(body);
    key
}

/// answers.ts `answerFileVersion`: what changes when a file is edited or replaced.
fn macrobox_file_version(path: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    match ::std::fs::metadata(path) {
        Ok(m) => format!(
            "{}:{}:{}:{}",
            m.ino(),
            m.size(),
            m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128
        ),
        Err(_) => "-".to_string(),
    }
}

/// A directory of this user's own that no one else can enter (`macrobox_private_dir`, never created).
fn macrobox_is_private(dir: &::std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match ::std::fs::symlink_metadata(dir) {
        Ok(m) => m.is_dir() && !m.file_type().is_symlink() && m.uid() == macrobox_euid() && m.mode() & 0o777 == 0o700,
        Err(_) => false,
    }
}

/// FNV-1a, 64 bits (src/patch/protocol.ts `fnv1a64` is the other half).
fn macrobox_fnv(bytes: &[u8]) -> u64 {
    // Indexed, not iterated: the shim is unoptimized, and this hashes whole requests (answers.ts).
    let mut h: u64 = 0xcbf29ce484222325;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(0x100000001b3);
        i += 1;
    }
    h
}

/// A watched source (shim.ts `watched`) that differs from what the module was built from, or a
/// feature cargo enabled that the module was built without.
fn macrobox_stale() -> Option<String> {
    let unbuilt: Vec<&str> = MACROBOX_ENABLED_FEATURES
        .iter()
        .filter(|&&(name, enabled)| enabled && !MACROBOX_BUILT_FEATURES.contains(&name))
        .map(|&(name, _)| name)
        .collect();
    if !unbuilt.is_empty() {
        return Some(format!(
            "macrobox: cargo enables feature(s) {} of `{}`, which its sandboxed module was built without (built with: {}): run `macrobox patch` again to rebuild the module for the features the workspace uses now (`macrobox patch --all-features` when they come from cargo's --all-features or --features) (or `macrobox patch --keep-native {}` to run it natively)",
            unbuilt.join(", "),
            MACROBOX_PACKAGE,
            if MACROBOX_BUILT_FEATURES.is_empty() { "none".to_string() } else { MACROBOX_BUILT_FEATURES.join(", ") },
            MACROBOX_PACKAGE
        ));
    }
    for &(path, bytes, hash) in MACROBOX_WATCHED {
        if macrobox_fnv(bytes) != hash {
            return Some(format!(
                "macrobox: {} changed since `macrobox patch` built the sandboxed module of `{}` from it: run `macrobox patch` again to rebuild the module (or `macrobox patch --keep-native {}` to run it natively)",
                path, MACROBOX_PACKAGE, MACROBOX_PACKAGE
            ));
        }
    }
    None
}

fn macrobox_error(message: &str) -> TokenStream {
    format!("::core::compile_error! {{ {:?} }}", message).parse().unwrap()
}

fn macrobox_put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&[v as u8, (v >> 8) as u8, (v >> 16) as u8, (v >> 24) as u8]);
}

fn macrobox_put_str(out: &mut Vec<u8>, s: &str) {
    macrobox_put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn macrobox_encode_stream(out: &mut Vec<u8>, spans: &mut Vec<Span>, stream: TokenStream) {
    let trees: Vec<TokenTree> = stream.into_iter().collect();
    macrobox_put_u32(out, trees.len() as u32);
    for tree in trees {
        match tree {
            TokenTree::Group(g) => {
                out.push(0);
                out.push(match g.delimiter() {
                    Delimiter::Parenthesis => 0,
                    Delimiter::Brace => 1,
                    Delimiter::Bracket => 2,
                    Delimiter::None => 3,
                });
                for s in &[g.span_open(), g.span_close(), g.span()] {
                    macrobox_put_u32(out, spans.len() as u32);
                    spans.push(*s);
                }
                macrobox_encode_stream(out, spans, g.stream());
            }
            TokenTree::Ident(i) => {
                out.push(1);
                macrobox_put_str(out, &i.to_string());
                macrobox_put_u32(out, spans.len() as u32);
                spans.push(i.span());
            }
            TokenTree::Punct(p) => {
                out.push(2);
                macrobox_put_u32(out, p.as_char() as u32);
                out.push(if p.spacing() == Spacing::Joint { 1 } else { 0 });
                macrobox_put_u32(out, spans.len() as u32);
                spans.push(p.span());
            }
            TokenTree::Literal(l) => {
                out.push(3);
                macrobox_put_str(out, &l.to_string());
                macrobox_put_u32(out, spans.len() as u32);
                spans.push(l.span());
            }
        }
    }
}

/// The largest request and reply (src/patch/host.ts DEFAULT_MAX_MESSAGE_BYTES; MACROBOX_HOST_MAX_MESSAGE sets both).
const MACROBOX_MAX_MESSAGE: usize = 256 * 1024 * 1024;

fn macrobox_exchange(msg: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::{Read, Write};
    let socket = ::std::env::var("MACROBOX_HOST_SOCKET").unwrap_or_else(|_| MACROBOX_SOCKET.to_string());
    let max = ::std::env::var("MACROBOX_HOST_MAX_MESSAGE").ok().and_then(|s| s.parse().ok()).filter(|&n: &usize| n > 0).unwrap_or(MACROBOX_MAX_MESSAGE);
    if msg.len() > max || msg.len() > u32::max_value() as usize {
        return Err(format!(
            "macrobox: this expansion's request is {} bytes, over the bound of {} bytes (MACROBOX_HOST_MAX_MESSAGE)",
            msg.len(),
            max
        ));
    }
    let mut stream = macrobox_connect(&socket)?;
    let timeout = ::std::env::var("MACROBOX_HOST_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(600u64);
    let _ = stream.set_read_timeout(Some(::std::time::Duration::from_secs(timeout)));
    let _ = stream.set_write_timeout(Some(::std::time::Duration::from_secs(timeout)));
    let broken = |e: ::std::io::Error| {
        format!(
            "macrobox: the macrobox host at {} failed while expanding ({}); its log is {}.log. Run the build again, or `macrobox patch --undo` to use the native macros",
            socket, e, socket
        )
    };
    let mut framed = Vec::with_capacity(msg.len() + 4);
    macrobox_put_u32(&mut framed, msg.len() as u32);
    framed.extend_from_slice(msg);
    stream.write_all(&framed).map_err(&broken)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(&broken)?;
    let n = (len[0] as usize) | (len[1] as usize) << 8 | (len[2] as usize) << 16 | (len[3] as usize) << 24;
    if n > max {
        return Err(format!(
            "macrobox: the macrobox host at {} sent a reply of {} bytes, over the bound of {} bytes (MACROBOX_HOST_MAX_MESSAGE)",
            socket, n, max
        ));
    }
    let mut reply = vec![0u8; n];
    stream.read_exact(&mut reply).map_err(&broken)?;
    Ok(reply)
}

fn macrobox_euid() -> u32 {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    unsafe { geteuid() }
}

/// The socket's directory must be the user's own (src/patch/host-socket.ts has the same rules and
/// says why): created 0700 when absent, then verified, never trusted because it exists.
fn macrobox_private_dir(dir: &::std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let fail = |what: String| {
        format!(
            "macrobox: the macrobox host's socket directory {} {}: it must be a directory of your own with mode 0700. Remove it (or fix it: `chmod 700`) and build again",
            dir.display(),
            what
        )
    };
    match ::std::fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(ref e) if e.kind() == ::std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                let _ = ::std::fs::create_dir_all(parent);
            }
            if let Err(e) = ::std::fs::DirBuilder::new().mode(0o700).create(dir) {
                if e.kind() != ::std::io::ErrorKind::AlreadyExists {
                    return Err(fail(format!("cannot be created ({})", e)));
                }
            }
        }
        Err(e) => return Err(fail(format!("cannot be inspected ({})", e))),
    }
    let m = ::std::fs::symlink_metadata(dir).map_err(|e| fail(format!("cannot be inspected ({})", e)))?;
    let uid = macrobox_euid();
    if m.file_type().is_symlink() {
        return Err(fail("is a symbolic link".to_string()));
    }
    if !m.is_dir() {
        return Err(fail("is not a directory".to_string()));
    }
    if m.uid() != uid {
        return Err(fail(format!("is owned by uid {}, not by this user (uid {})", m.uid(), uid)));
    }
    if m.mode() & 0o777 != 0o700 {
        return Err(fail(format!("has mode {:04o}, not 0700 (group or others could enter it)", m.mode() & 0o777)));
    }
    Ok(())
}

/// The socket file, when present, must be a socket of this user's.
fn macrobox_socket_file(socket: &str) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = match ::std::fs::symlink_metadata(socket) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    let uid = macrobox_euid();
    if !m.file_type().is_socket() {
        return Err(format!("macrobox: the macrobox host's socket {} is not a socket: remove it and build again", socket));
    }
    if m.uid() != uid {
        return Err(format!(
            "macrobox: the macrobox host's socket {} is owned by uid {}, not by this user (uid {}): remove it and build again",
            socket,
            m.uid(),
            uid
        ));
    }
    Ok(())
}

/// The host's log: appended to, created 0600, never through a symbolic link.
fn macrobox_open_log(path: &str) -> ::std::io::Result<::std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(m) = ::std::fs::symlink_metadata(path) {
        if m.file_type().is_symlink() {
            return Err(::std::io::Error::new(::std::io::ErrorKind::Other, "the log is a symbolic link"));
        }
    }
    ::std::fs::OpenOptions::new().create(true).append(true).mode(0o600).custom_flags(MACROBOX_O_NOFOLLOW).open(path)
}

fn macrobox_connect(socket: &str) -> Result<::std::os::unix::net::UnixStream, String> {
    use std::os::unix::net::UnixStream;
    // Checked before every connect and before starting a host: whoever could listen here would
    // receive the request (rustc's whole env) and choose the code the build compiles.
    macrobox_private_dir(::std::path::Path::new(socket).parent().unwrap_or(::std::path::Path::new("/")))?;
    macrobox_socket_file(socket)?;
    if let Ok(s) = UnixStream::connect(socket) {
        return Ok(s);
    }
    // No host yet: start one (it listens on `socket` and exits once idle). Its output goes to a
    // log file, never to rustc's stderr, which cargo reads until every holder closes it.
    let log_path = format!("{}.log", socket);
    let log = macrobox_open_log(&log_path);
    let mut command = ::std::process::Command::new(MACROBOX_HOST_COMMAND[0]);
    command.args(&MACROBOX_HOST_COMMAND[1..]).arg("--socket").arg(socket);
    // rustc's environment is partly the repository's (`[env]` in its .cargo/config.toml): NODE_OPTIONS
    // would run its code in the host, which serves other workspaces too. The host gets PATH and its
    // own bounds; everything else it needs is on its command line.
    command.env_clear();
    for (name, value) in ::std::env::vars_os() {
        let keep = name == "PATH" || name.to_str().map_or(false, |n| n.starts_with("MACROBOX_HOST_"));
        if keep {
            command.env(name, value);
        }
    }
    command.stdin(::std::process::Stdio::null()).stdout(::std::process::Stdio::null());
    match log {
        Ok(f) => command.stderr(f),
        Err(_) => command.stderr(::std::process::Stdio::null()),
    };
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|e| {
        format!(
            "macrobox: cannot start the macrobox host `{}` ({}). Install Node.js and macrobox, then run `macrobox patch` again, or `macrobox patch --undo` to use the native macros",
            MACROBOX_HOST_COMMAND.join(" "),
            e
        )
    })?;
    let deadline = ::std::time::Instant::now() + ::std::time::Duration::from_secs(60);
    loop {
        macrobox_socket_file(socket)?;
        if let Ok(s) = UnixStream::connect(socket) {
            return Ok(s);
        }
        // A host that exits at once lost the race to another one (which then answers) or is broken.
        let exited = match child.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => None,
        };
        if let Some(status) = exited {
            if !status.success() {
                return Err(format!(
                    "macrobox: the macrobox host `{}` exited ({}) without serving; its log is {}. Run `macrobox patch` again to repair it, or `macrobox patch --undo` to use the native macros",
                    MACROBOX_HOST_COMMAND.join(" "),
                    status,
                    log_path
                ));
            }
        }
        if ::std::time::Instant::now() > deadline {
            return Err(format!(
                "macrobox: the macrobox host did not start listening on {} within 60s; its log is {}. Run `macrobox patch` again, or `macrobox patch --undo` to use the native macros",
                socket, log_path
            ));
        }
        ::std::thread::sleep(::std::time::Duration::from_millis(20));
    }
}

// The shim is a proc macro, which cargo builds unoptimized (and optimizing it would lengthen
// every clean build more than it saves): the reader is written to be cheap as it is, with one
// bounds check per read and strings borrowed from the reply.
struct MacroboxReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> MacroboxReader<'a> {
    fn u8(&mut self) -> Result<u8, String> {
        if self.at >= self.bytes.len() {
            return Err("truncated".to_string());
        }
        let b = self.bytes[self.at];
        self.at += 1;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, String> {
        if self.bytes.len() - self.at < 4 {
            return Err("truncated".to_string());
        }
        let b = &self.bytes[self.at..self.at + 4];
        self.at += 4;
        Ok(b[0] as u32 | (b[1] as u32) << 8 | (b[2] as u32) << 16 | (b[3] as u32) << 24)
    }
    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.u32()? as usize;
        if self.bytes.len() - self.at < n {
            return Err("truncated string".to_string());
        }
        let bytes: &'a [u8] = self.bytes;
        let s = match ::std::str::from_utf8(&bytes[self.at..self.at + n]) {
            Ok(s) => s,
            Err(e) => return Err(e.to_string()),
        };
        self.at += n;
        Ok(s)
    }
}

fn macrobox_span(r: &mut MacroboxReader, spans: &[Span]) -> Result<Span, String> {
    let at = r.u32()? as usize;
    let base = match spans.get(at) {
        Some(s) => *s,
        None => Span::call_site(),
    };
    Ok(match r.u8()? {
        1 => base.resolved_at(Span::call_site()),
        2 => base.resolved_at(Span::mixed_site()),
        _ => base,
    })
}

fn macrobox_decode_stream(r: &mut MacroboxReader, spans: &[Span]) -> Result<TokenStream, String> {
    let n = r.u32()?;
    let mut trees: Vec<TokenTree> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let tree = match r.u8()? {
            0 => {
                let delimiter = match r.u8()? {
                    0 => Delimiter::Parenthesis,
                    1 => Delimiter::Brace,
                    2 => Delimiter::Bracket,
                    _ => Delimiter::None,
                };
                let span = macrobox_span(r, spans)?;
                let mut g = Group::new(delimiter, macrobox_decode_stream(r, spans)?);
                g.set_span(span);
                TokenTree::Group(g)
            }
            1 => {
                let text = r.str()?;
                let span = macrobox_span(r, spans)?;
                if text.starts_with("r#") {
                    TokenTree::Ident(Ident::new_raw(&text[2..], span))
                } else {
                    TokenTree::Ident(Ident::new(text, span))
                }
            }
            2 => {
                let ch = match ::std::char::from_u32(r.u32()?) {
                    Some(ch) => ch,
                    None => return Err("bad char".to_string()),
                };
                let spacing = if r.u8()? == 1 { Spacing::Joint } else { Spacing::Alone };
                let mut p = Punct::new(ch, spacing);
                p.set_span(macrobox_span(r, spans)?);
                TokenTree::Punct(p)
            }
            _ => {
                let text = r.str()?;
                let mut l: Literal = text.parse().map_err(|_| format!("bad literal {}", text))?;
                l.set_span(macrobox_span(r, spans)?);
                TokenTree::Literal(l)
            }
        };
        trees.push(tree);
    }
    Ok(trees.into_iter().collect())
}

fn macrobox_decode_reply(reply: &[u8], spans: &[Span]) -> Result<TokenStream, String> {
    let mut r = MacroboxReader { bytes: reply, at: 0 };
    // What the macro printed, as it would have printed it natively.
    let stdout = r.str()?;
    let stderr = r.str()?;
    if !stdout.is_empty() {
        print!("{}", stdout);
    }
    if !stderr.is_empty() {
        eprint!("{}", stderr);
    }
    match r.u8()? {
        0 => {}
        // The macro panicked: panic with its message, so that rustc reports it as natively.
        1 => panic!("{}", r.str()?),
        _ => return Ok(macrobox_error(r.str()?)),
    }
    // Granted files and env vars the expansion saw are in the output already, as uses rustc
    // records in its dep-info (src/patch/tracking.ts).
    macrobox_decode_stream(&mut r, spans)
}
