// Real-world corpus: ref-cast-impl 1.0.3 (`#[derive(RefCast)]` with `#[trivial]` fields; without `#[repr(transparent)]`, an error)
// from Debian's registry. Format: see serde_derive.rs.

// @crate ref-cast-impl@1.0.3

// @case newtype derive:RefCast expect:ok
#[repr(transparent)]
struct Name(str);

// @case named-trivial derive:RefCast expect:ok
#[repr(transparent)]
pub struct Wrapper<T> { inner: T, #[trivial] marker: std::marker::PhantomData<T> }

// @case no-repr derive:RefCast expect:error
struct Plain(String);
