//! The sample's library: every item here goes through a proc macro.

use config_macros::{config_consts, env_or, Greeting};
use demo_macros::{route, sql, Describe};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Describe)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: u64,
    #[describe(rename = "display_name")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip)]
    #[describe(skip)]
    pub session: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    Joined(User),
    #[serde(rename = "left")]
    Left { user_id: u64 },
}

#[derive(Debug, Error)]
pub enum AppError {
    #[error("user {0} not found")]
    NotFound(u64),
    #[error("bad input: {source}")]
    Json {
        #[from]
        source: serde_json::Error,
    },
}

#[route(GET, "/users")]
pub fn list_users() -> &'static str {
    "[]"
}

pub const QUERY: &str = sql!(SELECT name FROM users WHERE id = 1);

pub fn parse_event(text: &str) -> Result<Event, AppError> {
    Ok(serde_json::from_str(text)?)
}

pub fn find(users: &[User], id: u64) -> Result<&User, AppError> {
    users.iter().find(|u| u.user_id == id).ok_or(AppError::NotFound(id))
}

// Macros with inputs (config-macros): files next to this Cargo.toml and an env var, granted in
// macrobox.toml. Patched, a change to any of them rebuilds this crate.

/// A derive reading config/greeting.txt.
#[derive(Greeting)]
#[greeting = "config/greeting.txt"]
pub struct Welcome;

// A function-like macro in item position reading config/limits.conf.
config_consts!("config/limits.conf");

pub struct Build;

impl Build {
    /// An attribute on a method: SAMPLE_BUILD_LABEL when set.
    #[env_or("SAMPLE_BUILD_LABEL")]
    pub fn label() -> &'static str {
        "unlabelled"
    }
}
