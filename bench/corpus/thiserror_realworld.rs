// Real-world-style thiserror items for bench/ra-mode.ts: error enums of applications and
// libraries — `#[error]` formats with fields and positional arguments, `#[from]`, `#[source]`,
// `#[error(transparent)]`, generics. Format of test/corpus/expand (test/corpus/expand/load.ts);
// each item is given to the derive without its `#[derive]`, as rust-analyzer sends it.

// @crate thiserror-impl@1.0.38

// @case config-error derive:Error expect:ok
#[derive(Debug)]
pub enum ConfigError {
    #[error("failed to read {path}")]
    Read { path: std::path::PathBuf, #[source] source: std::io::Error },
    #[error("invalid TOML in {path}: {message}")]
    Parse { path: std::path::PathBuf, message: String },
    #[error("missing required key `{0}`")]
    MissingKey(String),
    #[error("key `{key}` must be one of {allowed:?}, found {found:?}")]
    BadValue { key: String, allowed: Vec<&'static str>, found: String },
    #[error(transparent)]
    Env(#[from] std::env::VarError),
}

// @case http-error derive:Error expect:ok
#[derive(Debug)]
pub enum HttpError {
    #[error("request to {url} timed out after {elapsed:?}")]
    Timeout { url: String, elapsed: std::time::Duration },
    #[error("server returned {status}: {body}")]
    Status { status: u16, body: String },
    #[error("connection failed")]
    Connect(#[from] std::io::Error),
    #[error("invalid header value for {name}")]
    InvalidHeader { name: String },
    #[error("too many redirects ({0})")]
    Redirects(u32),
}

// @case db-error derive:Error expect:ok
#[derive(Debug)]
#[non_exhaustive]
pub enum DbError {
    #[error("row not found")]
    NotFound,
    #[error("unique constraint `{constraint}` violated on table {table}")]
    UniqueViolation { table: String, constraint: String },
    #[error("connection pool exhausted after {waited_ms} ms")]
    PoolExhausted { waited_ms: u64 },
    #[error("migration {version} failed")]
    Migration { version: i64, #[source] cause: Box<dyn std::error::Error + Send + Sync + 'static> },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

// @case parse-error derive:Error expect:ok
#[derive(Debug, Clone, PartialEq)]
#[error("{kind} at line {line}, column {column}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub line: usize,
    pub column: usize,
}

// @case parse-error-kind derive:Error expect:ok
#[derive(Debug, Clone, PartialEq)]
pub enum ParseErrorKind {
    #[error("unexpected end of input")]
    Eof,
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    #[error("expected {expected}, found {found}")]
    Expected { expected: &'static str, found: String },
    #[error("number out of range: {0}")]
    NumberOutOfRange(String),
    #[error("unterminated string starting at byte {start}")]
    UnterminatedString { start: usize },
}

// @case storage-error-generic derive:Error expect:ok
#[derive(Debug)]
pub enum StorageError<K>
where
    K: std::fmt::Debug + std::fmt::Display,
{
    #[error("key {0} not found")]
    Missing(K),
    #[error("key {key} is locked by {owner}")]
    Locked { key: K, owner: String },
    #[error("backend failure")]
    Backend(#[source] std::io::Error),
}

// @case cli-error derive:Error expect:ok
#[derive(Debug)]
pub enum CliError {
    #[error("unknown subcommand `{0}`; try --help")]
    UnknownCommand(String),
    #[error("{flag} needs a value")]
    MissingValue { flag: &'static str },
    #[error("could not open {}", .0.display())]
    Open(std::path::PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("interrupted")]
    Interrupted,
}

// @case wrapped-io derive:Error expect:ok
#[derive(Debug)]
#[error("{context}")]
pub struct ContextError {
    context: String,
    #[source]
    source: std::io::Error,
}

// @case transparent-struct derive:Error expect:ok
#[derive(Debug)]
#[error(transparent)]
pub struct Error(#[from] ErrorRepr);

// @case error-repr derive:Error expect:ok
#[derive(Debug)]
enum ErrorRepr {
    #[error("authentication failed for user {user}")]
    Auth { user: String },
    #[error("permission denied: {action} on {resource}")]
    Forbidden { action: String, resource: String },
    #[error("rate limited; retry after {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

// @case codec-error derive:Error expect:ok
#[derive(Debug, PartialEq, Eq)]
pub enum CodecError {
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge { len: usize, max: usize },
    #[error("invalid tag 0x{0:02x}")]
    InvalidTag(u8),
    #[error("truncated: needed {needed} more bytes")]
    Truncated { needed: usize },
    #[error("invalid UTF-8 in field {field}")]
    Utf8 { field: &'static str },
}

// @case task-error derive:Error expect:ok
#[derive(Debug)]
pub enum TaskError<E: std::error::Error + 'static> {
    #[error("task {id} panicked")]
    Panicked { id: u64 },
    #[error("task {id} was cancelled")]
    Cancelled { id: u64 },
    #[error("task failed")]
    Failed(#[source] E),
}
