// Real-world corpus: const_format_proc_macros 0.2.29 (what `concatcp!` and `formatcp!` expand through: constants
// concatenated and formatted at expansion time; a format naming a missing argument is an error)
// from Debian's registry. Format: see serde_derive.rs.

// @crate const_format_proc_macros@0.2.29

// @case concatcp bang:__concatcp_impl expect:ok
("hello"), (" "), (NAME), (3u8), (-1i32), ('c'), (true),

// @case formatcp bang:__formatcp_impl expect:ok
("{} and {0:x}"), 15u32,

// @case formatcp-bad bang:__formatcp_impl expect:error
("{} {}"), 1,
