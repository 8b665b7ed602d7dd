// Real-world corpus: argh_derive 0.1.9 from Debian's registry (librust-argh-derive-dev), cases after
// argh's README, docs and tests. Format: see serde_derive.rs.

// @crate argh_derive@0.1.9

// @case goup-readme derive:FromArgs expect:ok
/// Reach new heights.
struct GoUp {
    /// whether or not to jump
    #[argh(switch, short = 'j')]
    jump: bool,

    /// how high to go
    #[argh(option)]
    height: usize,

    /// an optional nickname for the pilot
    #[argh(option)]
    pilot_nickname: Option<String>,

    /// an optional value with a default
    #[argh(option, default = "default_height()")]
    size: usize,

    /// positional, repeated
    #[argh(positional)]
    rest: Vec<String>,
}

// @case subcommands derive:FromArgs expect:ok
/// Top-level command.
struct TopLevel {
    #[argh(subcommand)]
    nested: MySubCommandEnum,
}

// @case subcommand-enum derive:FromArgs expect:ok
#[argh(subcommand)]
enum MySubCommandEnum { One(SubCommandOne), Two(SubCommandTwo) }

// @case subcommand-struct derive:FromArgs expect:ok
/// First subcommand.
#[argh(subcommand, name = "one", note = "see {command_name} --help", example = "{command_name} one -x 3", error_code(2, "bad thing"))]
struct SubCommandOne {
    /// how many x
    #[argh(option, arg_name = "NUM", from_str_fn(parse_num), long = "the-x")]
    x: usize,
    /// required positional
    #[argh(positional)]
    head: String,
    /// greedy
    #[argh(positional, greedy)]
    greedy: Vec<String>,
}

// @case dynamic-subcommand derive:FromArgs expect:ok
#[argh(subcommand)]
enum Dyn { Known(SubCommandOne), #[argh(dynamic)] Other(DynamicCommand) }

// @case error-no-doc derive:FromArgs expect:error
struct NoDoc {
    #[argh(switch)]
    flag: bool,
}

// @case error-bad-short derive:FromArgs expect:error
/// Bad.
struct BadShort {
    /// the flag
    #[argh(switch, short = "ab")]
    flag: bool,
    /// no kind
    other: u8,
}

// @case error-tuple-struct derive:FromArgs expect:error
/// Tuple.
struct Tuple(u8);
