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
/// failures are `invalid_dpop_proof`, the token's own `invalid_token`.
pub fn replace(r: &mut Rejection, reason: Reason, algorithms: &[Alg]) {
    let error = if reason.is_dpop_proof() {
        "invalid_dpop_proof"
    } else {
        "invalid_token"
    };
    let ch = format!(
        "DPoP realm=\"{}\", error=\"{error}\", error_description=\"{}\", algs=\"{}\"",
        realm(r),
        reason.as_str(),
        algs(algorithms)
    );
    r.headers.retain(|(n, _)| n != HEADER);
    r.headers.push((HEADER.to_owned(), ch));
    // The body names the same error as the challenge (RFC 9449 §7.1's `invalid_dpop_proof`).
    r.body = format!(
        "{{\"error\":\"{error}\",\"reason\":\"{}\"}}",
        reason.as_str()
    );
}
