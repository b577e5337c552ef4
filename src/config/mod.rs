//! Plugin JSON → validated [`Config`] (the contract: `docs/configuration.md`).
//!
//! Used by the filter's `on_configure` and by the CLI, so both refuse the same configs
//! with the same one-line message naming the field.

mod bounds;
mod de;
mod model;
mod raw;
mod schema;
mod validate;

pub(crate) use validate::split_http_uri;

pub use model::*;
pub use schema::json_schema;

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
    let raw = serde_path_to_error::deserialize::<_, de::Object<raw::RawConfig>>(&value)
        .map_err(shape_error)?;
    validate::validate(raw.0)
}

/// serde's error at its path → one line naming the field.
fn shape_error(e: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    use serde_path_to_error::Segment;
    let mut at = String::new();
    for segment in e.path().iter() {
        match segment {
            Segment::Seq { index } => at.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => at = raw::child(&at, key),
            Segment::Unknown => at = raw::child(&at, "?"),
        }
    }
    let msg = e.into_inner().to_string();
    // The messages of derived code: `unknown field `x`, expected one of `a`, `b``, `missing field `x``.
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (key, expected) = rest.rsplit_once("`, expected ").unwrap_or((rest, ""));
        let expected = expected.replace('`', "").replacen("one of ", "one of: ", 1);
        // The path already ends with the unknown key.
        return ConfigError::new(at, format!("unknown field {key:?} (expected {expected})"));
    }
    if let Some(key) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return ConfigError::new(raw::child(&at, key), "is required");
    }
    ConfigError::new(at, msg)
}
