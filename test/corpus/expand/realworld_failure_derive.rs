// Real-world corpus: failure_derive 0.1.7 from Debian's registry (librust-failure-derive-dev), a
// synstructure 0.12 derive: synstructure hides `decl_derive!` on wasm32 unless the compat rule
// rewrites it (src/builder/compat.ts). Format: see serde_derive.rs.

// @crate failure_derive@0.1.7

// @case unit-struct-display derive:Fail expect:ok
#[fail(display = "something went wrong")]
struct Oops;

// @case enum-causes-and-fields derive:Fail expect:ok
enum StoreError {
    #[fail(display = "io error: {}", _0)]
    Io(#[cause] std::io::Error),
    #[fail(display = "key {} not found in {}", key, table)]
    Missing { key: String, table: &'static str },
    #[fail(display = "corrupt")]
    Corrupt,
}

// @case generic-struct derive:Fail expect:ok
#[fail(display = "wrapped: {}", inner)]
struct Wrapped<E: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static> { #[fail(cause)] inner: E }

// @case no-display derive:Fail expect:ok
struct Plain { code: u32 }

// @case bad-attribute derive:Fail expect:error
#[fail(display)]
struct Bad;
