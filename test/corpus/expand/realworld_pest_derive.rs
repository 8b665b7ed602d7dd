// Real-world corpus: pest_derive 2.5.2 (`#[derive(Parser)]` generating a parser from an inline grammar; a bad grammar panics
// with pest's report)
// from Debian's registry. Format: see serde_derive.rs.

// @crate pest_derive@2.5.2

// @case inline derive:Parser expect:ok
#[grammar_inline = r#"
WHITESPACE = _{ " " }
number = @{ ASCII_DIGIT+ }
op = { "+" | "-" | "*" | "/" }
expr = { number ~ (op ~ number)* }
file = { SOI ~ expr ~ EOI }
"#]
struct Calc;

// @case bad-grammar derive:Parser expect:error
#[grammar_inline = "rule = { "]
struct Broken;
