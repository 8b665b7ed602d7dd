// Real-world corpus: strum_macros 0.19.2 from Debian's registry (librust-strum-macros-dev).
// Format: see serde_derive.rs.

// @crate strum_macros@0.19.2

// @case enum-string-serialize derive:EnumString,AsRefStr,IntoStaticStr expect:ok
enum Animal { #[strum(serialize = "cat", serialize = "kitty")] Cat, Dog(u8), #[strum(disabled)] Fish }

// @case to-string-format derive:ToString,EnumIter,EnumCount expect:ok
enum Shape { Circle, #[strum(to_string = "square of {0}")] Square(u8) }
