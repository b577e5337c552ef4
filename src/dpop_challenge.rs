//! The `WWW-Authenticate` challenges of the DPoP scheme (RFC 9449 §7.1), as the contract words
//! them: `DPoP realm="…", error="…", error_description="<reason>", algs="ES256 RS256"`.

use crate::outcome::Rejection;
use crate::token::Alg;
use crate::Reason;

const HEADER: &str = "www-authenticate";

/// `algs="…"`: the proof algorithms, space-separated, each once.
fn algs(algorithms: &[Alg]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for a in algorithms {
        if !names.contains(&a.name()) {
            names.push(a.name());
        }
    }
    names.join(" ")
}

/// The realm as the Bearer challenge of `r` already has it (made safe there).
fn realm(r: &Rejection) -> String {
    r.headers
        .iter()
        .find(|(n, _)| n == HEADER)
        .and_then(|(_, v)| v.strip_prefix("Bearer realm=\""))
        .and_then(|v| v.split('"').next())
        .unwrap_or("")
        .to_owned()
}

/// Adds `DPoP realm="…", algs="…"` beside the Bearer challenge (no token, or a Bearer token
/// where DPoP is required): the client learns it may (or must) use DPoP.
pub fn offer(r: &mut Rejection, algorithms: &[Alg]) {
    if algorithms.is_empty() {
        return;
    }
    let ch = format!("DPoP realm=\"{}\", algs=\"{}\"", realm(r), algs(algorithms));
    r.headers.push((HEADER.to_owned(), ch));
}

/// Replaces the Bearer challenge of a token presented under the DPoP scheme: the proof's
/// failures are `invalid_dpop_proof`; any other keeps the Bearer challenge's parameters
/// (`invalid_token`, or step-up's `insufficient_user_authentication` with `acr_values` and
/// `max_age`) in the DPoP scheme.
pub fn replace(r: &mut Rejection, reason: Reason, algorithms: &[Alg]) {
    let algs = algs(algorithms);
    let ch = if reason.is_dpop_proof() {
        // The body names the same error as the challenge (RFC 9449 §7.1's `invalid_dpop_proof`).
        r.body = format!(
            "{{\"error\":\"invalid_dpop_proof\",\"reason\":\"{}\"}}",
            reason.as_str()
        );
        format!(
            "DPoP realm=\"{}\", error=\"invalid_dpop_proof\", error_description=\"{}\", algs=\"{algs}\"",
            realm(r),
            reason.as_str(),
        )
    } else {
        let bearer = r
            .headers
            .iter()
            .find(|(n, _)| n == HEADER)
            .and_then(|(_, v)| v.strip_prefix("Bearer "));
        match bearer {
            Some(params) => format!("DPoP {params}, algs=\"{algs}\""),
            None => return,
        }
    };
    r.headers.retain(|(n, _)| n != HEADER);
    r.headers.push((HEADER.to_owned(), ch));
}
