//! Keys as the filter would hold them: `--jwks` files read like fetched JWKS documents (skipped
//! keys reported), and per provider for a request.

use super::read;
use crate::out;
use crate::UsageError;
use jwtgate::config::{Config, JwksSource, Revocation};
use jwtgate::gate;
use jwtgate::KeyLookup;
use jwtgate::KeyState;
use jwtgate::{JwksError, KeySet, SkipReason, MAX_JWKS_BYTES};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A JWKS file as the filter would take the document: the usable keys, and every skipped
/// key reported on stderr. A file whose keys are all unusable is not an error here (the
/// verdict says what the filter would do without keys); a file that is no JWKS is.
pub(super) struct LoadedKeys {
    pub(super) set: Rc<KeySet>,
    usable: bool,
}

pub(super) fn load_jwks(path: &Path) -> Result<LoadedKeys, UsageError> {
    let name = path.display();
    let bytes = read(path)?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(UsageError(format!("{name}: {}", JwksError::TooLarge)));
    }
    let mut doc = jwtgate::json::parse(&bytes)
        .map_err(|_| UsageError(format!("{name}: {}", JwksError::NotAJwks)))?;
    // One JWK (RFC 7517 §4) rather than a set (§5): a set of one.
    if doc.get("kty").is_some() && doc.get("keys").is_none() {
        doc = json!({ "keys": [doc] });
    }
    let (set, skipped, usable) = match KeySet::from_value(&doc) {
        Ok((set, skipped)) => (set, skipped, true),
        Err(JwksError::NoUsableKey(skipped)) => (KeySet::default(), skipped, false),
        Err(e) => return Err(UsageError(format!("{name}: {e}"))),
    };
    for s in &skipped {
        let hint = match s.why {
            SkipReason::PrivateMaterial => {
                " (the filter never trusts a JWKS that publishes private keys: give the public part)"
            }
            _ => "",
        };
        out::warn(&format!(
            "jwtgate: {name}: key kid={} skipped: {}{hint}",
            s.kid.as_deref().map_or("-".into(), gate::log_safe),
            s.why.as_str()
        ));
    }
    if !usable {
        out::warn(&format!("jwtgate: {name}: no usable key"));
    }
    Ok(LoadedKeys {
        set: Rc::new(set),
        usable,
    })
}

/// `--jwks` values: one file for every remote provider, or NAME=FILE.
#[derive(Default)]
pub(super) struct JwksFiles {
    pub(super) all: Option<PathBuf>,
    named: Vec<(String, PathBuf)>,
}

pub(super) fn jwks_files(values: &[String], cfg: Option<&Config>) -> Result<JwksFiles, UsageError> {
    let mut files = JwksFiles::default();
    for v in values {
        let named = v.split_once('=').and_then(|(name, file)| {
            cfg.and_then(|c| c.providers.iter().find(|p| p.name == name))
                .map(|p| (p, file))
        });
        match named {
            Some((p, file)) => {
                if matches!(p.jwks, JwksSource::Local(_)) {
                    return Err(UsageError(format!(
                        "--jwks {v}: provider {:?} has local_jwks in the config",
                        p.name
                    )));
                }
                if files.named.iter().any(|(n, _)| n == &p.name) {
                    return Err(UsageError(format!(
                        "--jwks given twice for provider {:?}",
                        p.name
                    )));
                }
                files.named.push((p.name.clone(), PathBuf::from(file)));
            }
            None => {
                if files.all.replace(PathBuf::from(v)).is_some() {
                    return Err(UsageError(
                        "--jwks FILE given twice (use NAME=FILE for one provider)".into(),
                    ));
                }
            }
        }
    }
    Ok(files)
}

impl JwksFiles {
    /// The file for a remote provider, if any.
    pub(super) fn for_provider(&self, name: &str) -> Option<&Path> {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.as_path())
            .or(self.all.as_deref())
    }
}

/// Keys per provider as the filter would hold them: local ones as configured, remote ones
/// from `--jwks` (none, or none usable: the filter would have no keys either).
pub(super) struct CliKeys {
    slots: Vec<Option<Rc<KeySet>>>,
}

impl KeyLookup for CliKeys {
    fn key_state(&self, provider: usize) -> KeyState<'_> {
        match self.slots.get(provider) {
            Some(Some(keys)) => KeyState::Ready {
                keys,
                version: 1,
                refetch_allowed: false,
                revoked: None,
            },
            _ => KeyState::Unavailable,
        }
    }
}

pub(super) fn cli_keys(cfg: &Config, files: &JwksFiles) -> Result<CliKeys, UsageError> {
    let any_remote = cfg
        .providers
        .iter()
        .any(|p| matches!(p.jwks, JwksSource::Remote(_)));
    if files.all.is_some() && !any_remote {
        out::warn("jwtgate: every provider has local_jwks: --jwks is not used");
    }
    let mut slots = Vec::new();
    for p in &cfg.providers {
        if let Some(Revocation::Remote(r)) = &p.revocation {
            out::warn(&format!(
                "jwtgate: provider {:?}: the revocation list at {} is not fetched here: not checked",
                p.name, r.endpoint.uri
            ));
        }
        let slot = match &p.jwks {
            JwksSource::Local(k) => Some(k.clone()),
            JwksSource::Remote(_) => match files.for_provider(&p.name) {
                Some(f) => {
                    let loaded = load_jwks(f)?;
                    if !loaded.usable {
                        out::warn(&format!(
                            "jwtgate: provider {:?}: no usable key: the filter would keep no keys \
                             (jwks_unavailable)",
                            p.name
                        ));
                    }
                    loaded.usable.then_some(loaded.set)
                }
                None => {
                    out::warn(&format!(
                        "jwtgate: provider {:?} has remote keys and no --jwks: its keys are \
                         unavailable",
                        p.name
                    ));
                    None
                }
            },
        };
        slots.push(slot);
    }
    Ok(CliKeys { slots })
}
