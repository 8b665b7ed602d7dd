use sample_app::*;

#[test]
fn serde_attributes_apply() {
    let user = User { user_id: 1, display_name: "B".into(), email: Some("b@x".into()), session: 9 };
    let json = serde_json::to_string(&user).unwrap();
    assert_eq!(json, r#"{"userId":1,"displayName":"B","email":"b@x"}"#);
    let back: User = serde_json::from_str(&json).unwrap();
    assert_eq!(back, User { session: 0, ..user });
}

#[test]
fn errors_display() {
    assert_eq!(find(&[], 3).unwrap_err().to_string(), "user 3 not found");
    assert!(parse_event("[").unwrap_err().to_string().starts_with("bad input: "));
}

#[test]
fn demo_macros_expand() {
    assert_eq!(User::FIELD_NAMES, &["user_id", "display_name", "email"]);
    assert_eq!(LIST_USERS_ROUTE, ("GET", "/users"));
    assert_eq!(QUERY, "SELECT name FROM users WHERE id = 1");
}
