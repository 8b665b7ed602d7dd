// Real-world corpus: tokio-macros 1.7.0 (`#[tokio::main]`, `#[tokio::test]` with their flavors and options, the errors
// for a non-async fn and an unknown flavor, and `select!`'s helper)
// from Debian's registry. Format: see serde_derive.rs.

// @crate tokio-macros@1.7.0

// @case main-default attr:main expect:ok
// @args
async fn main() { println!("hi"); }

// @case main-current attr:main expect:ok
// @args flavor = "current_thread"
async fn main() -> Result<(), Box<dyn std::error::Error>> { Ok(()) }

// @case main-workers attr:main expect:ok
// @args flavor = "multi_thread", worker_threads = 2
async fn main() {}

// @case test-plain attr:test expect:ok
// @args
async fn it_works() { assert_eq!(1 + 1, 2); }

// @case test-start-paused attr:test expect:ok
// @args start_paused = true
async fn paused() {}

// @case main-not-async attr:main expect:error
// @args
fn main() {}

// @case main-bad-flavor attr:main expect:error
// @args flavor = "sideways"
async fn main() {}

// @case select-enum bang:select_priv_declare_output_enum expect:ok
( _ _ _ )
