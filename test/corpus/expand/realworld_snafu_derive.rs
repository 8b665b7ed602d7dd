// Real-world corpus: snafu-derive 0.7.1 from Debian's registry (librust-snafu-derive-dev), cases after
// snafu's guide and its tests. Format: see serde_derive.rs.

// @crate snafu-derive@0.7.1

// @case enum-display-source derive:Snafu expect:ok
#[derive(Debug)]
enum Error {
    #[snafu(display("Could not open config from {}: {}", filename.display(), source))]
    OpenConfig { filename: PathBuf, source: std::io::Error },
    #[snafu(display("Could not save config to {filename:?}"))]
    SaveConfig { filename: PathBuf, source: std::io::Error },
    /// The user id was invalid
    UserIdInvalid { user_id: i32, backtrace: Backtrace },
}

// @case context-options derive:Snafu expect:ok
#[snafu(visibility(pub(crate)))]
pub enum Error {
    #[snafu(context(false))]
    Io { source: std::io::Error },
    #[snafu(context(suffix(Ctx)))]
    Parse { source: std::num::ParseIntError, input: String },
    #[snafu(context(suffix(false)), visibility)]
    Plain { code: u16 },
    #[snafu(display("{}", message), whatever)]
    Whatever {
        message: String,
        #[snafu(source(from(Box<dyn std::error::Error>, Some)))]
        source: Option<Box<dyn std::error::Error>>,
    },
}

// @case source-from-backtrace derive:Snafu expect:ok
enum Error<'a, T: std::fmt::Debug> where T: Clone {
    Boxed { #[snafu(source(from(ParseError, Box::new)))] source: Box<ParseError>, name: &'a str },
    Chained { #[snafu(backtrace)] source: Inner, value: T },
    NoSource { #[snafu(source(false))] source: String, #[snafu(implicit)] location: Location },
}

// @case opaque-struct derive:Snafu expect:ok
pub struct Error(InnerError);

// @case struct-error derive:Snafu expect:ok
#[snafu(display("The thing failed: {}", what))]
struct ThingFailed { what: String, #[snafu(backtrace)] bt: Option<Backtrace> }

// @case module-option derive:Snafu expect:ok
#[snafu(module(errors), context(suffix(Snafu)))]
enum Error {
    Alpha { id: u32 },
    #[snafu(display("beta"))]
    Beta,
}

// @case crate-root derive:Snafu expect:ok
#[snafu(crate_root(my_snafu))]
enum Error { A { x: u8 } }

// @case error-tuple-variant derive:Snafu expect:error
enum Error { Tuple(String) }

// @case error-duplicate-display derive:Snafu expect:error
enum Error {
    #[snafu(display("a"))]
    #[snafu(display("b"))]
    Twice,
    #[snafu(unknown_option)]
    Bad,
}

// @case error-union derive:Snafu expect:error
union Error { a: u8 }
