//! `jwtgate config validate`.

use super::read;
use crate::out;
use crate::UsageError;
use jwtgate::config;
use std::path::Path;
use std::process::ExitCode;

/// `jwtgate config validate FILE`: exit 0 valid, 1 invalid (one line naming the field).
pub fn validate_config(path: &Path) -> Result<ExitCode, UsageError> {
    match config::parse(&read(path)?) {
        Ok(cfg) => {
            out::print(&format!(
                "ok: {} provider(s), {} rule(s), mode {:?}\n",
                cfg.providers.len(),
                cfg.rules.len(),
                cfg.mode
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            out::print(&format!("{}: {e}\n", path.display()))?;
            Ok(ExitCode::from(1))
        }
    }
}
