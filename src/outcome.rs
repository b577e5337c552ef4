//! Reason → status, `WWW-Authenticate` and JSON body (RFC 6750); verified claims → headers.

use crate::claims;
use crate::config::Provider;
use crate::verifier::Denial;
use crate::Reason;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A local reply that rejects the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP status: 400, 401, 403 or 503.
    pub status: u32,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: String,
}

/// Keeps a realm printable and free of quote-breaking characters (it comes from the client).
fn realm(authority: &str) -> String {
    authority
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .take(255)
        .collect()
}

/// The rejection for a denial (or a missing token when `denial` is `None`).
pub fn reject(denial: Option<&Denial>, authority: &str) -> Rejection {
    let realm = realm(authority);
    let reason = denial.map_or(Reason::TokenMissing, |d| d.reason);
    let (status, code, challenge) = match reason {
        Reason::TokenMissing => (
            401,
            "unauthorized",
            Some(format!("Bearer realm=\"{realm}\"")),
        ),
        // DPoP: a proof that cannot be remembered is refused, never let through as fresh.
        Reason::JwksUnavailable | Reason::DpopReplayUnavailable => {
            (503, "temporarily_unavailable", None)
        }
        // A request-shape refusal, not a token failure: no challenge.
        Reason::PathAmbiguous => (400, "invalid_request", None),
        Reason::InsufficientScope => {
            let scopes = denial.map(|d| d.scopes.join(" ")).unwrap_or_default();
            let ch = format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{scopes}\""
            );
            (403, "insufficient_scope", Some(ch))
        }
        Reason::ClaimMismatch => {
            let ch = format!("Bearer realm=\"{realm}\", error=\"insufficient_scope\"");
            (403, "insufficient_scope", Some(ch))
        }
        r => {
            let ch = format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
                r.as_str()
            );
            (401, "invalid_token", Some(ch))
        }
    };
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(ch) = challenge {
        headers.push(("www-authenticate".to_owned(), ch));
    }
    Rejection {
        status,
        headers,
        body: format!(
            "{{\"error\":\"{code}\",\"reason\":\"{}\"}}",
            reason.as_str()
        ),
    }
}

/// Headers a verified token sets: `claim_to_headers` and `forward_payload_header`.
pub fn claim_headers(p: &Provider, v: &claims::Verified) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ch in &p.claim_to_headers {
        if let Some(value) = claims::lookup(&v.claims, &ch.claim).and_then(claims::header_value) {
            out.push((ch.header.clone(), value));
        }
    }
    if let Some(h) = &p.forward_payload_header {
        // Re-encode from the verified bytes' segment: it is already base64url without padding.
        let payload = if v.payload_b64.is_empty() {
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v.claims).unwrap_or_default())
        } else {
            v.payload_b64.clone()
        };
        out.push((h.clone(), payload));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(reason: Reason, scopes: &[&str]) -> Denial {
        Denial {
            reason,
            provider: Some(0),
            kid: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn header<'a>(r: &'a Rejection, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn outcome_table() {
        let r = reject(None, "api.example.com");
        assert_eq!(r.status, 401);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer realm=\"api.example.com\"")
        );
        assert_eq!(
            r.body,
            r#"{"error":"unauthorized","reason":"token_missing"}"#
        );

        let r = reject(Some(&denial(Reason::TokenExpired, &[])), "h");
        assert_eq!(r.status, 401);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some(
                "Bearer realm=\"h\", error=\"invalid_token\", error_description=\"token_expired\""
            )
        );

        let r = reject(Some(&denial(Reason::InsufficientScope, &["a", "b"])), "h");
        assert_eq!(r.status, 403);
        assert!(header(&r, "www-authenticate").is_some_and(|v| v.ends_with("scope=\"a b\"")));

        let r = reject(Some(&denial(Reason::ClaimMismatch, &[])), "h");
        assert_eq!(r.status, 403);
        assert!(header(&r, "www-authenticate").is_some_and(|v| !v.contains("scope=")));
        assert_eq!(
            r.body,
            r#"{"error":"insufficient_scope","reason":"claim_mismatch"}"#
        );

        let r = reject(Some(&denial(Reason::PathAmbiguous, &[])), "h");
        assert_eq!(r.status, 400);
        assert_eq!(header(&r, "www-authenticate"), None);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_eq!(
            r.body,
            r#"{"error":"invalid_request","reason":"path_ambiguous"}"#
        );

        let r = reject(Some(&denial(Reason::JwksUnavailable, &[])), "h");
        assert_eq!(r.status, 503);
        assert_eq!(header(&r, "www-authenticate"), None);
        assert_eq!(
            r.body,
            r#"{"error":"temporarily_unavailable","reason":"jwks_unavailable"}"#
        );
    }

    #[test]
    fn realm_cannot_break_the_header() {
        let r = reject(None, "a\"b\\c d");
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer realm=\"abcd\"")
        );
    }
}
