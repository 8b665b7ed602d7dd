// Real-world corpus: derive_more 0.99.11 from Debian's registry (librust-derive-more-dev).
// Format: see serde_derive.rs. (Enums whose variants wrap different types are left out: derive_more
// orders those impls by a HashMap, so natively their order changes from run to run.)

// @crate derive_more@0.99.11

// @case display-format derive:Display expect:ok
#[display(fmt = "({}, {})", x, y)]
struct Point { x: i32, y: i32 }

// @case add-generic derive:Add,Sub,Mul expect:ok
struct V<T> { a: T, b: T }

// @case from-into-newtype derive:From,Into,Deref,Constructor expect:ok
struct Meters(f64);

// @case from-on-union derive:From expect:error
union U { a: u8 }
