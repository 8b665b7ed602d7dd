// Input for the README's demo: `macrobox expand demo_macros.wasm --derive Describe examples/demo-input.rs`.

/// A user of the service.
#[derive(Debug, Describe)]
pub struct User<'a, T: Clone> {
    pub id: u64,
    #[describe(rename = "display_name")]
    pub name: &'a str,
    #[describe(skip)]
    password_hash: T,
}

#[derive(Describe)]
enum Role {
    Admin,
    Member { since: u32 },
}

#[derive(Describe)]
struct Point(i32, i32);
