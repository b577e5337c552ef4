//! The documents a provider fetches, each parsed once when it arrives: its JWKS, its OIDC
//! discovery document, its revocation list.

use crate::config::Endpoint;
use crate::keys::KeySet;
use crate::revocation::RevocationList;
use serde_json::Value;

/// Largest discovery document accepted (they are a few KB).
pub const MAX_DISCOVERY_BYTES: usize = 256 * 1024;

/// A fetched document kind: how to check and parse a body.
pub trait Content: Sized {
    /// Short name for logs and shared-data keys.
    const KIND: &'static str;
    /// Parses a 200 answer's body. `issuer` is the provider's configured issuer. Warnings
    /// (e.g. skipped keys) are for the log; an error means the fetch failed.
    fn parse(body: &[u8], issuer: &str) -> Result<(Self, Vec<String>), String>;
}

impl Content for KeySet {
    const KIND: &'static str = "jwks";

    fn parse(body: &[u8], _issuer: &str) -> Result<(Self, Vec<String>), String> {
        let (set, skipped) = KeySet::parse(body).map_err(|e| e.to_string())?;
        let warnings = skipped
            .iter()
            .map(|s| {
                format!(
                    "kid={} jwk skipped: {}",
                    crate::gate::log_safe(s.kid.as_deref().unwrap_or("-")),
                    s.why.as_str()
                )
            })
            .collect();
        Ok((set, warnings))
    }
}

impl Content for RevocationList {
    const KIND: &'static str = "revocation";

    fn parse(body: &[u8], _issuer: &str) -> Result<(Self, Vec<String>), String> {
        RevocationList::parse(body)
            .map(|l| (l, Vec::new()))
            .map_err(|e| format!("revocation list {e}"))
    }
}

/// What discovery yields: where the provider's JWKS is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The document's `jwks_uri`.
    pub jwks: Endpoint,
}

impl Content for Discovered {
    const KIND: &'static str = "discovery";

    /// Trusts the document only if its `issuer` is exactly the configured one (OpenID Connect
    /// Discovery 1.0 §4.3): otherwise its `jwks_uri` is never fetched.
    fn parse(body: &[u8], issuer: &str) -> Result<(Self, Vec<String>), String> {
        if body.len() > MAX_DISCOVERY_BYTES {
            return Err(format!(
                "discovery document larger than {MAX_DISCOVERY_BYTES} bytes"
            ));
        }
        let doc = crate::json::parse(body).map_err(|_| "discovery document is not JSON")?;
        match doc.get("issuer").and_then(Value::as_str) {
            Some(i) if i == issuer => {}
            Some(_) => return Err("discovery document names another issuer".into()),
            None => return Err("discovery document has no issuer".into()),
        }
        let uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("discovery document has no jwks_uri")?;
        let (authority, path) = crate::config::split_http_uri(uri)
            .ok_or("discovery jwks_uri is not an absolute http(s) URI")?;
        Ok((
            Discovered {
                jwks: Endpoint {
                    uri: uri.to_owned(),
                    authority,
                    path,
                },
            },
            Vec::new(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_trusts_only_its_own_issuer() {
        let ok = br#"{"issuer":"https://idp.example/","jwks_uri":"https://idp.example/keys"}"#;
        let (d, _) = Discovered::parse(ok, "https://idp.example/").unwrap();
        assert_eq!(d.jwks.authority, "idp.example");
        assert_eq!(d.jwks.path, "/keys");
        assert!(
            Discovered::parse(ok, "https://idp.example").is_err(),
            "exact match"
        );
        let other = br#"{"issuer":"https://evil/","jwks_uri":"https://evil/keys"}"#;
        assert!(Discovered::parse(other, "https://idp.example/").is_err());
        assert!(Discovered::parse(br#"{"issuer":"i"}"#, "i").is_err());
        assert!(Discovered::parse(br#"{"issuer":"i","jwks_uri":"ftp://x/"}"#, "i").is_err());
        assert!(Discovered::parse(b"<html>", "i").is_err());
    }
}
