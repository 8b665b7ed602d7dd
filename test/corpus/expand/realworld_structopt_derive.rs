// Real-world corpus: structopt-derive 0.4.18 from Debian's registry (librust-structopt-derive-dev,
// proc-macro-error), cases after structopt's README, examples and tests. Format: see serde_derive.rs.

// @crate structopt-derive@0.4.18

// @case readme-example derive:StructOpt expect:ok
/// A basic example
#[structopt(name = "basic")]
struct Opt {
    /// Activate debug mode
    #[structopt(short, long)]
    debug: bool,
    /// Verbose mode (-v, -vv, -vvv, etc.)
    #[structopt(short, long, parse(from_occurrences))]
    verbose: u8,
    /// Set speed
    #[structopt(short, long, default_value = "42")]
    speed: f64,
    /// Output file
    #[structopt(short, long, parse(from_os_str))]
    output: PathBuf,
    /// Where to write the output: to `stdout` or `file`
    #[structopt(short)]
    out_type: String,
    /// File name: only required when `out-type` is set to `file`
    #[structopt(name = "FILE", required_if("out-type", "file"))]
    file_name: Option<String>,
    /// Files to process
    #[structopt(name = "FILE", parse(from_os_str))]
    files: Vec<PathBuf>,
}

// @case subcommands-enum derive:StructOpt expect:ok
#[structopt(about = "the stupid content tracker")]
enum Git {
    Add {
        #[structopt(short)]
        interactive: bool,
        #[structopt(short)]
        patch: bool,
        #[structopt(parse(from_os_str))]
        files: Vec<PathBuf>,
    },
    Fetch {
        #[structopt(long)]
        dry_run: bool,
        #[structopt(long)]
        all: bool,
        repository: Option<String>,
    },
    #[structopt(external_subcommand)]
    Other(Vec<String>),
}

// @case flatten-and-env derive:StructOpt expect:ok
#[structopt(rename_all = "kebab-case", setting = AppSettings::ColoredHelp, author = "me", version = "1.2.3")]
struct Cmd {
    #[structopt(flatten)]
    common: Common,
    #[structopt(long, env = "API_KEY", hide_env_values = true)]
    api_key: String,
    #[structopt(skip = 5)]
    skipped: u32,
    #[structopt(long, possible_values = &["a", "b"], case_insensitive = true)]
    choice: String,
    #[structopt(subcommand)]
    cmd: Option<Sub>,
    #[structopt(long, parse(try_from_str = parse_hex))]
    hex: u32,
}

// @case error-author-without-cargo-env derive:StructOpt expect:error
#[structopt(author)]
struct NoEnv { x: u8 }

// @case error-flatten-with-short derive:StructOpt expect:error
struct Bad {
    #[structopt(flatten, short)]
    common: Common,
}

// @case error-unknown-parser derive:StructOpt expect:error
struct Bad2 {
    #[structopt(parse(from_banana))]
    x: u8,
}

// @case error-bool-occurrences derive:StructOpt expect:error
struct Bad3 {
    #[structopt(version)]
    v: bool,
}
