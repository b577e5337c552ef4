//! What a request proves beside its token, as `check` is told it: `--url` (scheme, authority
//! and path, for a proof's `htu`) and `--client-cert` (for a certificate-bound token).

use super::read;
use crate::UsageError;
use std::path::Path;

/// `--url` in the parts a request has.
pub(super) struct Url {
    pub scheme: String,
    pub authority: String,
    pub path: String,
}

/// What the request proves beside its token: `--url`, `--client-cert`.
pub(super) struct Target {
    pub url: Option<Url>,
    pub cert: Option<jwtgate::Digest32>,
}

/// `--url`: `http(s)://authority[/path][?query]`, the fragment dropped.
pub(super) fn split_url(u: &str) -> Result<Url, UsageError> {
    let bad = || UsageError(format!("--url {u:?}: expected http(s)://host[:port]/path"));
    let (scheme, rest) = u.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(bad());
    }
    let path = path.split('#').next().unwrap_or(path);
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    Ok(Url {
        scheme,
        authority: authority.to_owned(),
        path,
    })
}

/// `--client-cert`: the SHA-256 of the certificate's DER (what `cnf.x5t#S256` names).
pub(super) fn load_cert(path: &Path) -> Result<jwtgate::Digest32, UsageError> {
    let bytes = read(path)?;
    jwtgate::digest_of_certificate(&bytes).ok_or_else(|| {
        UsageError(format!(
            "{}: not a certificate (PEM \"BEGIN CERTIFICATE\" or DER)",
            path.display()
        ))
    })
}

/// Lowercase hex, as an `x-forwarded-client-cert` `Hash=` holds the digest.
pub(super) fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
