// Real-world corpus: paste 1.0.7 (`paste!` pasting identifiers, with case modifiers and inside `#[doc]`, `item!`; a
// literal that cannot be pasted into an identifier is an error)
// from Debian's registry. Format: see serde_derive.rs.

// @crate paste@1.0.7

// @case fn-name bang:paste expect:ok
fn [<get_ field>]() -> u32 { 0 }
const [<MAX_ VALUE:upper>]: u32 = 1;
struct [<My Thing>];

// @case case-mods bang:paste expect:ok
fn [<Hello World:snake>]() {}
fn [<hello_world:camel>]() {}

// @case in-doc bang:paste expect:ok
#[doc = "see " [<get_ field>]]
fn f() {}

// @case item bang:item expect:ok
#[doc = "x"] fn plain() {}

// @case bad bang:paste expect:error
fn [<get_ "str" 1.5>]() {}
