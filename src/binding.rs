//! Sender-constrained tokens: a verified token's `cnf` claim against what the request proves,
//! checked on every request (a cached token never skips it).
//!
//! - `cnf.jkt` (RFC 9449): the token must come as `Authorization: DPoP <token>` with one `DPoP`
//!   proof signed by that key ([`crate::dpop`]).
//! - `cnf.x5t#S256` (RFC 8705 §3): the client certificate must be the one named ([`crate::mtls`]).
//!
//! A binding the provider is not configured to check, or a confirmation method jwtgate does
//! not know, fails `token_bound`: a bound token is never taken as a Bearer token.

use crate::config::{DpopPolicy, MtlsPolicy, Provider, DPOP_SCHEME};
use crate::dpop::{self, proof, replay::Ticket};
use crate::extract::HeaderPair;
use crate::mtls::{self, Digest32};
use crate::Reason;
use serde_json::{Map, Value};

/// What one request offers as proof of possession, read once from its headers (the TLS
/// certificate from the host, through [`Evidence::set_peer_certificate`]).
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    method: String,
    scheme: String,
    authority: String,
    path: String,
    /// Every `DPoP` header value (a host may join repeated headers with `,`: split there, a
    /// JWS never holds one).
    proofs: Vec<String>,
    /// Tokens presented under the DPoP scheme of `Authorization`.
    dpop_tokens: Vec<String>,
    /// Every spelling of the `DPoP` header in the request (each removed with the token).
    pub proof_headers: Vec<String>,
    forwarded_cert: Option<Digest32>,
    peer_cert: Option<Digest32>,
}

/// Evidence is read only when some provider checks a binding.
pub fn needed(providers: &[Provider]) -> bool {
    providers
        .iter()
        .any(|p| p.dpop.is_some() || p.mtls.is_some())
}

/// True when a provider takes the client certificate from the TLS connection (the host must
/// then be asked for it).
pub fn needs_peer_certificate(providers: &[Provider]) -> bool {
    providers
        .iter()
        .any(|p| p.mtls == Some(MtlsPolicy::Connection))
}

fn strip_scheme(piece: &str) -> Option<&str> {
    let head = piece.get(..DPOP_SCHEME.len())?;
    head.eq_ignore_ascii_case(DPOP_SCHEME)
        .then(|| piece.get(DPOP_SCHEME.len()..))
        .flatten()
}

impl Evidence {
    /// Reads the request headers (names in any case). `authority` is the host the client
    /// asked for, `path` the `:path` as the client sent it.
    pub fn read<H: HeaderPair>(headers: &[H], authority: &str, path: &str) -> Evidence {
        let mut ev = Evidence {
            authority: authority.to_owned(),
            path: path.split('?').next().unwrap_or(path).to_owned(),
            ..Evidence::default()
        };
        let mut xfcc: Vec<&str> = Vec::new();
        for h in headers {
            let (n, v) = (h.name(), h.value());
            if n.eq_ignore_ascii_case(":method") {
                v.clone_into(&mut ev.method);
            } else if n.eq_ignore_ascii_case(":scheme") {
                ev.scheme = v.to_ascii_lowercase();
            } else if n.eq_ignore_ascii_case(dpop::PROOF_HEADER) {
                if !ev.proof_headers.iter().any(|s| s == n) {
                    ev.proof_headers.push(n.to_owned());
                }
                ev.proofs.extend(v.split(',').map(|p| p.trim().to_owned()));
            } else if n.eq_ignore_ascii_case("authorization") {
                for piece in v.split(',') {
                    if let Some(t) = strip_scheme(piece.trim_start()) {
                        ev.dpop_tokens.push(t.trim().to_owned());
                    }
                }
            } else if n.eq_ignore_ascii_case(mtls::XFCC) {
                xfcc.push(v);
            }
        }
        ev.forwarded_cert = mtls::digest_from_xfcc(&xfcc);
        ev
    }

    /// The client certificate digest of the TLS connection, as the host reports it (`None`:
    /// no certificate, or a host that cannot tell).
    pub fn set_peer_certificate(&mut self, digest: Option<Digest32>) {
        self.peer_cert = digest;
    }

    /// True when `token` came under the DPoP scheme.
    pub fn presented_as_dpop(&self, token: &str) -> bool {
        self.dpop_tokens.iter().any(|t| t == token)
    }

    /// The request's URI in comparable form, for a provider's policy.
    fn target_uri(&self, policy: &DpopPolicy) -> Option<String> {
        let origin = match &policy.external_origin {
            Some(o) => o.clone(),
            None => {
                // Without `:scheme` the proxy saw plain HTTP.
                let scheme = if self.scheme.is_empty() {
                    "http"
                } else {
                    &self.scheme
                };
                format!("{scheme}://{}", self.authority)
            }
        };
        crate::htu::request(&origin, &self.path)
    }
}

/// The confirmation methods of a `cnf` claim.
struct Cnf<'a> {
    jkt: Option<&'a str>,
    x5t: Option<&'a str>,
    /// Some member jwtgate cannot check (or a `cnf` that is not an object of strings).
    unknown: bool,
}

fn cnf(claims: &Map<String, Value>) -> Cnf<'_> {
    let mut out = Cnf {
        jkt: None,
        x5t: None,
        unknown: false,
    };
    match claims.get("cnf") {
        None => {}
        Some(Value::Object(o)) => {
            for (k, v) in o {
                match (k.as_str(), v.as_str()) {
                    ("jkt", Some(s)) => out.jkt = Some(s),
                    ("x5t#S256", Some(s)) => out.x5t = Some(s),
                    _ => out.unknown = true,
                }
            }
            if out.jkt.is_none() && out.x5t.is_none() {
                out.unknown = true;
            }
        }
        Some(_) => out.unknown = true,
    }
    out
}

fn certificate(p: &Provider, x5t: &str, ev: Option<&Evidence>) -> Result<(), Reason> {
    let Some(policy) = p.mtls else {
        return Err(Reason::TokenBound);
    };
    let digest = ev.and_then(|e| match policy {
        MtlsPolicy::Connection => e.peer_cert,
        MtlsPolicy::ForwardedHeader => e.forwarded_cert,
    });
    match digest {
        Some(d) if mtls::matches(x5t, &d) => Ok(()),
        _ => Err(Reason::CertMismatch),
    }
}

/// Checks the binding of `token` (verified for provider `p`, with `claims`) against the
/// request's evidence at `now`. `Ok(Some)`: a proof was accepted and must still pass the
/// replay check; `Ok(None)`: nothing more to check.
pub fn check(
    p: &Provider,
    claims: &Map<String, Value>,
    token: &str,
    ev: Option<&Evidence>,
    now: i64,
) -> Result<Option<Ticket>, Reason> {
    let c = cnf(claims);
    let dpop_policy = p.dpop.as_ref();
    let as_dpop = dpop_policy.is_some() && ev.is_some_and(|e| e.presented_as_dpop(token));
    let (Some(policy), Some(ev), true) = (dpop_policy, ev, as_dpop) else {
        if dpop_policy.is_some_and(|d| d.required) {
            return Err(Reason::DpopRequired);
        }
        if c.unknown || c.jkt.is_some() {
            return Err(Reason::TokenBound);
        }
        if let Some(x5t) = c.x5t {
            certificate(p, x5t, ev)?;
        }
        return Ok(None);
    };
    // Under the DPoP scheme the token must be bound to a key, and to nothing unknown.
    let (Some(jkt), false) = (c.jkt, c.unknown) else {
        return Err(Reason::TokenBound);
    };
    let proof = match ev.proofs.as_slice() {
        [] => return Err(Reason::DpopProofMissing),
        [one] if !one.is_empty() => one,
        [_] => return Err(Reason::DpopProofMissing),
        _ => return Err(Reason::DpopProofInvalid),
    };
    let uri = ev.target_uri(policy);
    let target = proof::Target {
        method: &ev.method,
        uri: uri.as_deref(),
    };
    let accepted = proof::check(proof, policy, p.clock_skew_s, target, token, jkt, now)
        .map_err(proof::ProofError::reason)?;
    if let Some(x5t) = c.x5t {
        certificate(p, x5t, Some(ev))?;
    }
    // Kept until the proof would fail its `iat` check anyway.
    let until = accepted
        .iat
        .saturating_add(policy.max_age_s as i64)
        .saturating_add(p.clock_skew_s as i64)
        .saturating_add(1);
    Ok(Some(Ticket::new(&accepted.jkt, &accepted.jti, until)))
}
