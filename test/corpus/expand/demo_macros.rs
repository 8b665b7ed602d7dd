// Expansion corpus for the repository's example crate examples/demo-macros (Describe, route, sql).
// Format: see serde_derive.rs. `uses:to_string` marks cases whose output embeds
// `TokenStream::to_string()` text: rust-analyzer's server prints streams differently from rustc,
// so string literal contents of those outputs are not comparable with the native oracle.

// @crate path:examples/demo-macros

// @case describe-named derive:Describe expect:ok
struct Point { x: i32, y: i32 }

// @case describe-tuple derive:Describe expect:ok
struct Pair(u8, String);

// @case describe-unit derive:Describe expect:ok
struct Marker;

// @case describe-skip-rename derive:Describe expect:ok
struct User {
    #[describe(rename = "userName")]
    name: String,
    #[describe(skip)]
    password_hash: String,
    age: u8,
}

// @case describe-generic derive:Describe expect:ok
struct Wrapper<'a, T: Clone> where T: Default { inner: &'a T, #[describe(skip)] extra: Vec<T> }

// @case describe-enum derive:Describe expect:ok
enum Shape { Circle(f64), Square { side: f64 }, Empty }

// @case describe-union derive:Describe expect:error
union Bits { a: u32, b: f32 }

// @case describe-unknown-helper derive:Describe expect:error
struct Bad { #[describe(hide)] a: u8 }

// @case describe-rename-not-string derive:Describe expect:error
struct BadRename { #[describe(rename = 42)] a: u8 }

// @case describe-not-list derive:Describe expect:error
struct NotList { #[describe = "x"] a: u8 }

// @case route-get attr:route expect:ok
// @args GET, "/users"
fn list_users() -> Vec<String> { Vec::new() }

// @case route-post-body attr:route expect:ok
// @args POST, "/users/new"
pub async fn create_user(name: String) -> Result<(), String> {
    if name.is_empty() { return Err("empty".into()); }
    Ok(())
}

// @case route-generic-fn attr:route expect:ok
// @args DELETE, "/items/{id}"
fn delete_item<T: Into<u64>>(id: T) where T: Copy { let _ = id.into(); }

// @case route-unknown-method attr:route expect:error
// @args FETCH, "/x"
fn fetch() {}

// @case route-bad-path attr:route expect:error
// @args GET, "no-slash"
fn no_slash() {}

// @case route-missing-args attr:route expect:error
// @args
fn no_args() {}

// @case route-not-a-fn attr:route expect:error
// @args GET, "/s"
struct NotFn;

// @case sql-select bang:sql expect:ok uses:to_string
SELECT id, name FROM users WHERE age > 18

// @case sql-insert bang:sql expect:ok uses:to_string
insert into t (a, b) values (1, 'x')

// @case sql-unsupported bang:sql expect:error
DROP TABLE users

// @case sql-starts-with-literal bang:sql expect:error
"SELECT" 1

// @case sql-empty bang:sql expect:error
