//! Revoked token ids (`jti`) of one provider: for the exceptional case of a token that must
//! stop working before it expires. Given inline in the config or fetched like a JWKS.

use crate::Reason;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Most `jti`s one list may hold: a revocation list is for exceptions, not a session store,
/// and every VM keeps a copy.
pub const MAX_REVOKED: usize = 100_000;

/// Largest fetched list accepted, as for a JWKS.
pub const MAX_REVOCATION_BYTES: usize = 1 << 20;

/// Longest `jti` kept; a longer entry cannot match a token anyway (tokens are bounded).
const MAX_JTI_LEN: usize = 1024;

/// Why a revocation list was refused (the previous list, if any, stays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationError {
    /// Over [`MAX_REVOCATION_BYTES`].
    TooLarge,
    /// Not JSON, or not an array of strings (or `{"revoked": [...]}`).
    NotAList,
    /// An entry is not a non-empty string of at most 1024 bytes.
    BadEntry(usize),
    /// More than [`MAX_REVOKED`] entries.
    TooMany,
}

impl std::fmt::Display for RevocationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RevocationError::TooLarge => write!(f, "larger than {MAX_REVOCATION_BYTES} bytes"),
            RevocationError::NotAList => {
                f.write_str("not a JSON array of jti strings (or {\"revoked\": [...]})")
            }
            RevocationError::BadEntry(i) => {
                write!(
                    f,
                    "entry {i} is not a non-empty string of at most {MAX_JTI_LEN} bytes"
                )
            }
            RevocationError::TooMany => write!(f, "more than {MAX_REVOKED} entries"),
        }
    }
}

impl std::error::Error for RevocationError {}

/// A set of revoked `jti` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    jtis: HashSet<Box<str>>,
}

impl RevocationList {
    /// Reads a list from JSON: an array of strings, or an object whose `revoked` is one.
    pub fn from_value(v: &Value) -> Result<RevocationList, RevocationError> {
        let items = match v {
            Value::Array(a) => a,
            Value::Object(o) => match o.get("revoked") {
                Some(Value::Array(a)) => a,
                _ => return Err(RevocationError::NotAList),
            },
            _ => return Err(RevocationError::NotAList),
        };
        if items.len() > MAX_REVOKED {
            return Err(RevocationError::TooMany);
        }
        let mut jtis = HashSet::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) if !s.is_empty() && s.len() <= MAX_JTI_LEN => {
                    jtis.insert(s.into());
                }
                _ => return Err(RevocationError::BadEntry(i)),
            }
        }
        Ok(RevocationList { jtis })
    }

    /// Reads a fetched document.
    pub fn parse(body: &[u8]) -> Result<RevocationList, RevocationError> {
        if body.len() > MAX_REVOCATION_BYTES {
            return Err(RevocationError::TooLarge);
        }
        let v = crate::json::parse(body).map_err(|_| RevocationError::NotAList)?;
        RevocationList::from_value(&v)
    }

    /// True when `jti` is on the list.
    pub fn contains(&self, jti: &str) -> bool {
        self.jtis.contains(jti)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.jtis.len()
    }

    /// True when nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.jtis.is_empty()
    }
}

/// `token_revoked` when the token's `jti` is on the provider's list.
pub fn check(claims: &Map<String, Value>, revoked: Option<&RevocationList>) -> Result<(), Reason> {
    // No list, no lookup: most providers have none, and this runs on every cache hit.
    let Some(list) = revoked else {
        return Ok(());
    };
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if list.contains(jti) => Err(Reason::TokenRevoked),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_shapes_and_bounds() {
        let l = RevocationList::from_value(&json!(["a", "b"])).unwrap();
        assert!(l.contains("a") && !l.contains("c"));
        let l = RevocationList::from_value(&json!({"revoked": ["x"]})).unwrap();
        assert!(l.contains("x"));
        assert_eq!(
            RevocationList::from_value(&json!(["a", 1])),
            Err(RevocationError::BadEntry(1))
        );
        assert_eq!(
            RevocationList::from_value(&json!([""])),
            Err(RevocationError::BadEntry(0))
        );
        assert_eq!(
            RevocationList::from_value(&json!("a")),
            Err(RevocationError::NotAList)
        );
        let many: Vec<String> = (0..=MAX_REVOKED).map(|i| i.to_string()).collect();
        assert_eq!(
            RevocationList::from_value(&json!(many)),
            Err(RevocationError::TooMany)
        );
        assert_eq!(
            RevocationList::parse(&vec![b' '; MAX_REVOCATION_BYTES + 1]),
            Err(RevocationError::TooLarge)
        );
        assert_eq!(RevocationList::parse(b"[\"j\"]").map(|l| l.len()), Ok(1));
    }
}
