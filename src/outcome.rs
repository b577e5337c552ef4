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
        // A wrong client is refused like a missing claim: no `scope` would help it.
        Reason::ClaimMismatch | Reason::ClientNotAllowed => {
            let ch = format!("Bearer realm=\"{realm}\", error=\"insufficient_scope\"");
            (403, "insufficient_scope", Some(ch))
        }
        // RFC 9470 §3: the challenge says what authentication would do. The body's code is the
        // challenge's error code, as for every other 401 with an error.
        r @ (Reason::AcrInsufficient | Reason::AuthTimeTooOld) => {
            let mut ch = format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_user_authentication\", error_description=\"{}\"",
                r.as_str()
            );
            if let Some(s) = denial.and_then(|d| d.step_up.as_ref()) {
                if !s.acr_values.is_empty() {
                    ch.push_str(&format!(", acr_values=\"{}\"", s.acr_values.join(" ")));
                }
                if let Some(m) = s.max_age_s {
                    ch.push_str(&format!(", max_age=\"{m}\""));
                }
            }
            (401, "insufficient_user_authentication", Some(ch))
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

/// True for a gRPC request's `content-type`: `application/grpc`, `application/grpc+proto`,
/// `application/grpc-web…` (any case, parameters ignored).
pub fn is_grpc(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/grpc"
        || media.starts_with("application/grpc+")
        || media.starts_with("application/grpc-web")
}

/// The gRPC status code (grpc/doc/statuscodes.md) a rejection's HTTP status stands for.
fn grpc_status(http: u32) -> u32 {
    match http {
        401 => 16, // UNAUTHENTICATED
        403 => 7,  // PERMISSION_DENIED
        503 => 14, // UNAVAILABLE
        400 => 3,  // INVALID_ARGUMENT: the request itself, whatever its token
        _ => 13,   // INTERNAL
    }
}

/// A rejection as a gRPC client reads it: a trailers-only response (HTTP 200,
/// `content-type: application/grpc`, no body) whose `grpc-status` stands for the HTTP status
/// (401 → 16 UNAUTHENTICATED, 403 → 7 PERMISSION_DENIED, 503 → 14 UNAVAILABLE, 400 → 3
/// INVALID_ARGUMENT) and whose `grpc-message` is the reason code. `WWW-Authenticate` stays.
/// A gRPC client ignores an HTTP error's body, and a host that does not translate local
/// replies for gRPC (nginx) would leave it with no message at all.
pub fn for_grpc(r: Rejection, reason: Reason) -> Rejection {
    let mut headers = vec![
        ("content-type".to_owned(), "application/grpc".to_owned()),
        ("grpc-status".to_owned(), grpc_status(r.status).to_string()),
        ("grpc-message".to_owned(), reason.as_str().to_owned()),
    ];
    headers.extend(r.headers.into_iter().filter(|(n, _)| n != "content-type"));
    Rejection {
        status: 200,
        headers,
        body: String::new(),
    }
}

/// Verified claims for the proxy's other filters (`claims_to_metadata`): `(key, value)`,
/// rendered as for headers; a claim that is absent or cannot be rendered is left out.
pub fn claim_metadata(p: &Provider, v: &claims::Verified) -> Vec<(String, String)> {
    p.claims_to_metadata
        .iter()
        .filter_map(|m| {
            claims::lookup(&v.claims, &m.claim)
                .and_then(claims::header_value)
                .map(|value| (m.key.clone(), value))
        })
        .collect()
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
        let payload = if v.payload_b64().is_empty() {
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v.claims).unwrap_or_default())
        } else {
            v.payload_b64().to_owned()
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
            step_up: None,
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
