// Real-world corpus: derive_arbitrary 1.1.3 (`#[derive(Arbitrary)]` on structs, enums, lifetimes and generics)
// from Debian's registry. Format: see serde_derive.rs.

// @crate derive_arbitrary@1.1.3

// @case struct derive:Arbitrary expect:ok
struct Config { a: u8, b: Vec<String>, c: Option<(u16, bool)> }

// @case enum derive:Arbitrary expect:ok
enum Cmd { Quit, Move { x: i32, y: i32 }, Say(String) }

// @case generic derive:Arbitrary expect:ok
struct Pair<'a, T> { left: &'a [u8], right: T }
