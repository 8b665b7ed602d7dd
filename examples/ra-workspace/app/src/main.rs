use demo_macros::{route, sql, Describe};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Describe)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: u64,
    #[serde(rename = "name", default)]
    #[describe(rename = "display_name")]
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip)]
    #[describe(skip)]
    password_hash: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum Event {
    Created(User),
    Renamed { from: String, to: String },
    Deleted,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("user {0} not found")]
    NotFound(u64),
    #[error("invalid input: {reason}")]
    Invalid { reason: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[route(GET, "/users")]
fn list_users() -> Vec<User> {
    Vec::new()
}

const QUERY: &str = sql!(SELECT user_id, name FROM users WHERE user_id = 1);

fn main() {
    let user = User { user_id: 1, display_name: String::new(), email: None, password_hash: Vec::new() };
    let described = User::describe();
    let fields = User::FIELD_NAMES;
    let route = LIST_USERS_ROUTE;
    let err = AppError::NotFound(user.user_id);
    let msg = err.to_string();
    let _ = (described, fields, route, msg, QUERY, list_users(), Event::Deleted, user.clone());
}
