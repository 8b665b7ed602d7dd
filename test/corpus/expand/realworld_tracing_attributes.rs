// Real-world corpus: tracing-attributes 0.1.23 (`#[instrument]`: levels, skips, fields, async with `ret, err`, methods,
// generics; an unknown argument is a deprecation warning in the output, not an error)
// from Debian's registry. Format: see serde_derive.rs.

// @crate tracing-attributes@0.1.23

// @case plain attr:instrument expect:ok
// @args
fn handle(req: u32, name: &str) -> u32 { req + name.len() as u32 }

// @case level-skip-fields attr:instrument expect:ok
// @args level = "debug", skip(secret), fields(user = %name, n = 1)
pub fn login(name: &str, secret: &str) -> bool { !secret.is_empty() }

// @case async-ret-err attr:instrument expect:ok
// @args ret, err
async fn fetch(url: String) -> Result<Vec<u8>, std::io::Error> { Ok(url.into_bytes()) }

// @case method-self attr:instrument expect:ok
// @args skip(self), name = "custom", target = "my::target"
fn method(&self, x: i32) -> i32 { x * 2 }

// @case generics-where attr:instrument expect:ok
// @args
fn generic<T: std::fmt::Debug, U>(t: T, u: U) -> usize where U: Clone { 0 }

// @case unknown-arg-warns attr:instrument expect:ok
// @args nonsense = 3
fn bad() {}
