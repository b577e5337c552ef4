//! Plugin JSON → validated [`Config`] (the contract in `plugin-config.md`).
//!
//! Used by the filter's `on_configure` and by the CLI, so both refuse the same configs
//! with the same one-line message naming the field.

mod model;
mod raw;
mod validate;

pub(crate) use validate::split_http_uri;

pub use model::*;

use std::fmt;

/// Why a configuration was refused: the field's path and the problem, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `providers[0].remote_jwks.uri`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid configuration: {}", self.problem)
        } else {
            write!(f, "invalid configuration: {}: {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parses and validates plugin JSON.
pub fn parse(json: &[u8]) -> Result<Config, ConfigError> {
    let value = crate::json::parse(json).map_err(|e| {
        // serde_json's message ends with a position that means nothing to a one-line config.
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg);
        ConfigError::new("", format!("invalid JSON: {msg}"))
    })?;
    validate::validate(raw::RawConfig::read(&value)?)
}
