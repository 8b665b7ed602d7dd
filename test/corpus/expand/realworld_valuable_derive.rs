// Real-world corpus: valuable-derive 0.1.0 (`#[derive(Valuable)]` on structs, enums, generics; a union panics)
// from Debian's registry. Format: see serde_derive.rs.

// @crate valuable-derive@0.1.0

// @case struct derive:Valuable expect:ok
struct Point { x: i32, y: i32, #[valuable(skip)] cache: u64 }

// @case tuple-enum derive:Valuable expect:ok
enum Shape { Circle(f64), Rect { w: f64, h: f64 }, Empty }

// @case generics derive:Valuable expect:ok
struct Wrap<T: Valuable> { inner: T }

// @case union derive:Valuable expect:error
union U { a: u32 }
