// Real-world corpus: clap_derive 4.0.21 from Debian's registry (librust-clap-derive-dev).
// Format: see serde_derive.rs.

// @crate clap_derive@4.0.21

// @case parser-with-subcommand derive:Parser expect:ok
#[command(name = "cli", about = "A demo")]
struct Cli { #[arg(short, long, default_value_t = 3)] count: u8, #[arg(long)] name: Option<String>, #[command(subcommand)] cmd: Cmd }

// @case subcommand-enum derive:Subcommand expect:ok
enum Cmd { Add { #[arg(short)] x: i32 }, Remove(RemoveArgs), #[command(about = "list")] List }

// @case args-flatten derive:Args expect:ok
struct RemoveArgs { #[arg(long, env = "FORCE")] force: bool, #[command(flatten)] verbosity: Verbosity, paths: Vec<std::path::PathBuf> }

// @case value-enum derive:ValueEnum expect:ok
enum Mode { Fast, #[value(name = "slow-mode")] Slow }

// @case unknown-arg-attribute derive:Parser expect:error
struct Bad { #[arg(nonsense_attr)] x: u8 }
