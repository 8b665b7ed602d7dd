// Expansion corpus for thiserror-impl 1.0.38 (derive Error). Format: see serde_derive.rs.

// @crate thiserror-impl@1.0.38

// ---------------------------------------------------------------- structs
// @case unit-struct derive:Error expect:ok
#[error("something went wrong")]
struct Plain;

// @case named-fields-format derive:Error expect:ok
#[error("invalid rdo_lookahead_frames {actual} (expected < {max})")]
struct Lookahead { actual: u32, max: u32 }

// @case tuple-positional derive:Error expect:ok
#[error("first {0}, second {1}")]
struct Positional(String, u8);

// @case format-args-extra derive:Error expect:ok
#[error("invalid value {}, limit {}", .value, .limit * 2)]
struct ExtraArgs { value: i64, limit: i64 }

// @case format-spec derive:Error expect:ok
#[error("{code:04} at {pos:?} ({ratio:.2})")]
struct Spec { code: u16, pos: (u32, u32), ratio: f64 }

// @case display-debug-field derive:Error expect:ok
#[error("{0:?}")]
struct DebugOnly(Vec<u8>);

// @case escaped-braces derive:Error expect:ok
#[error("{{literal braces}} around {0}")]
struct Braces(u8);

// @case source-field-named derive:Error expect:ok
#[error("io failed")]
struct IoFailed { source: std::io::Error }

// @case source-attr derive:Error expect:ok
#[error("parse failed")]
struct ParseFailed { #[source] cause: std::num::ParseIntError, line: usize }

// @case from-attr-struct derive:Error expect:ok
#[error(transparent)]
struct FromStruct { #[from] inner: std::io::Error }

// @case from-tuple derive:Error expect:ok
#[error("wrapped: {0}")]
struct FromTuple(#[from] std::fmt::Error);

// @case from-with-backtrace derive:Error expect:ok
#[error("with backtrace")]
struct FromBt { #[from] source: std::io::Error, backtrace: std::backtrace::Backtrace }

// @case backtrace-attr derive:Error expect:ok
#[error("bt")]
struct BtAttr { #[backtrace] trace: std::backtrace::Backtrace }

// @case backtrace-on-source derive:Error expect:ok
#[error("bt source")]
struct BtSource { #[source] #[backtrace] inner: Inner }

// @case transparent-struct derive:Error expect:ok
#[error(transparent)]
struct Transparent(Box<dyn std::error::Error + Send + Sync>);

// @case transparent-named derive:Error expect:ok
#[error(transparent)]
struct TransparentNamed { inner: anyhow::Error }

// @case display-with-doc derive:Error expect:ok
/// Documentation is ignored
#[error("doc'd {0}")]
pub struct Docd(pub u32);

// @case no-display-attr derive:Error expect:ok
struct NoDisplay { source: std::io::Error }

// @case raw-string-format derive:Error expect:ok
#[error(r#"quoted "{name}""#)]
struct RawFmt { name: String }

// @case unicode-message derive:Error expect:ok
#[error("Fehler: {größe} überschritten 🚫")]
struct Unicode { größe: usize }

// @case field-named-source-not-error derive:Error expect:ok
#[error("{source}")]
struct SourceDisplayed { source: Inner }

// @case optional-source derive:Error expect:ok
#[error("maybe")]
struct OptSource { #[source] source: Option<std::io::Error> }

// @case nested-field-access derive:Error expect:ok
#[error("{}", .0.len())]
struct Nested(String);

// ---------------------------------------------------------------- enums
// @case enum-basic derive:Error expect:ok
enum DataStoreError {
    #[error("data store disconnected")]
    Disconnect(#[from] std::io::Error),
    #[error("the data for key `{0}` is not available")]
    Redaction(String),
    #[error("invalid header (expected {expected:?}, found {found:?})")]
    InvalidHeader { expected: String, found: String },
    #[error("unknown data store error")]
    Unknown,
}

// @case enum-toplevel-display derive:Error expect:ok
#[error("an error occurred: {}", self.code())]
enum TopLevel { A, B(u8) }

// @case enum-transparent-variant derive:Error expect:ok
enum WithTransparent {
    #[error(transparent)]
    Other(#[from] anyhow::Error),
    #[error("specific")]
    Specific,
}

// @case enum-sources derive:Error expect:ok
enum Sources {
    #[error("a")]
    A { #[source] e: std::io::Error },
    #[error("b")]
    B { source: std::fmt::Error },
    #[error("c {0}")]
    C(#[source] Inner, #[backtrace] std::backtrace::Backtrace),
}

// @case enum-from-and-backtrace derive:Error expect:ok
enum FromBt2 {
    #[error("io")]
    Io { #[from] source: std::io::Error, backtrace: std::backtrace::Backtrace },
    #[error("fmt")]
    Fmt(#[from] std::fmt::Error),
}

// @case enum-no-display derive:Error expect:ok
enum NoDisplayEnum { A, B }

// @case enum-struct-variant-fmt derive:Error expect:ok
enum Position {
    #[error("at {line}:{col}")]
    At { line: u32, col: u32 },
    #[error("eof after {0} bytes")]
    Eof(usize),
}

// @case enum-empty derive:Error expect:ok
enum Uninhabited {}

// ---------------------------------------------------------------- generics
// @case generic-struct derive:Error expect:ok
#[error("bad value {value}")]
struct BadValue<T: std::fmt::Display> { value: T }

// @case generic-where derive:Error expect:ok
#[error("wrapped {0:?}")]
struct Wrapped<E>(E) where E: std::fmt::Debug;

// @case generic-source derive:Error expect:ok
#[error("ctx")]
struct Context<E: std::error::Error + 'static> { #[source] inner: E }

// @case generic-enum derive:Error expect:ok
enum GenericEnum<T, E> {
    #[error("value {0}")]
    Value(T),
    #[error(transparent)]
    Inner(#[from] E),
}

// @case lifetime derive:Error expect:ok
#[error("borrowed {msg}")]
struct BorrowedErr<'a> { msg: &'a str }

// @case generic-display-debug-mix derive:Error expect:ok
#[error("{a} {b:?}")]
struct Mix<A, B> { a: A, b: B }

// ---------------------------------------------------------------- errors
// @case union derive:Error expect:error
union U { a: u8 }

// @case enum-partial-display derive:Error expect:error
enum Partial { #[error("a")] A, B }

// @case duplicate-error-attr derive:Error expect:error
#[error("a")]
#[error("b")]
struct Dup;

// @case duplicate-source derive:Error expect:error
#[error("x")]
struct TwoSources { #[source] a: std::io::Error, #[source] b: std::io::Error }

// @case from-with-extra-field derive:Error expect:error
#[error("x")]
struct FromExtra { #[from] a: std::io::Error, b: u8 }

// @case transparent-two-fields derive:Error expect:error
#[error(transparent)]
struct TransparentTwo { a: u8, b: u8 }

// @case transparent-with-source-attr derive:Error expect:error
#[error(transparent)]
struct TransparentSource(#[source] std::io::Error);

// @case error-attr-bad-literal derive:Error expect:error
#[error(42)]
struct BadLiteral;

// @case error-attr-empty derive:Error expect:error
#[error()]
struct EmptyAttr;

// @case duplicate-backtrace derive:Error expect:error
#[error("x")]
struct TwoBt { #[backtrace] a: std::backtrace::Backtrace, #[backtrace] b: std::backtrace::Backtrace }

// @case from-on-unit-variant-enum derive:Error expect:error
enum Toplevel2 { #[error("x")] #[from] A }

// @case transparent-unit derive:Error expect:error
#[error(transparent)]
struct TransparentUnit;

// @case enum-toplevel-transparent derive:Error expect:ok
#[error(transparent)]
enum TopTransparent { A(std::io::Error) }

// @case from-twice derive:Error expect:error
#[error("x")]
struct FromTwice(#[from] std::io::Error, #[from] std::fmt::Error);

// ---------------------------------------------------------------- format strings with escapes
// @case format-escapes derive:Error expect:ok
#[error("tab\t nul\0 quote\" backslash\\ {0}\n")]
struct FmtEscapes(u8);

// @case format-unicode-escape derive:Error expect:ok
#[error("\u{1F980} crab {name:>8}")]
struct FmtUnicode { name: String }

// @case format-raw-ident-field derive:Error expect:ok
#[error("type is {r#type}")]
struct FmtRaw { r#type: String }
