pub fn list_users() -> &'static str {
    "[]"
}
