// Real-world corpus: num-derive 0.3.0 from Debian's registry (librust-num-derive-dev).
// Format: see serde_derive.rs.

// @crate num-derive@0.3.0

// @case from-primitive-discriminants derive:FromPrimitive,ToPrimitive expect:ok
enum Color { Red = 1, Green = 2, Blue = 4 }

// @case newtype-num-ops derive:NumOps,NumCast,Zero,One,Num expect:ok
struct Wrapper(f64);

// @case from-primitive-on-struct derive:FromPrimitive expect:error
struct NotAnEnum { x: u8 }
