//! One DPoP proof (RFC 9449 §4.3) against one request and one token, each check in the
//! contract's order; the first that fails names itself ([`ProofError`]).

use crate::config::DpopPolicy;
use crate::htu;
use crate::keys::Key;
use crate::token::{self, Alg};
use crate::{json, Reason};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Largest proof read: an RSA-4096 `jwk` and its signature fit many times over.
pub const MAX_PROOF_BYTES: usize = 8192;
/// Longest `jti` accepted (RFC 9449 suggests 96 bits of randomness: a few dozen characters).
pub const MAX_JTI_BYTES: usize = 256;
/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// Dates beyond this (year 2286) are junk, not far futures: no arithmetic is done on them.
const MAX_DATE: f64 = 1e10;

/// The check a proof failed, in the order they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// Not a compact JWS with JSON object header and claims (or too large).
    Shape,
    /// Header `typ` is not `dpop+jwt`.
    Typ,
    /// Header `alg` is not in the provider's proof algorithms.
    Alg,
    /// Header `jwk` missing, private, or not a usable key for `alg`.
    Jwk,
    /// The signature does not verify with the header's `jwk`.
    Signature,
    /// `jti` missing, not a string, empty or too long.
    Jti,
    /// `htm` is not the request method.
    Htm,
    /// `htu` is not the request URI.
    Htu,
    /// `iat` missing, not a number, or outside the accepted window.
    Iat,
    /// `ath` is not the hash of the presented token.
    Ath,
    /// The token's `cnf.jkt` is not the thumbprint of the proof's `jwk`.
    KeyMismatch,
}

impl ProofError {
    /// The contract's reason code.
    pub fn reason(self) -> Reason {
        match self {
            ProofError::KeyMismatch => Reason::DpopKeyMismatch,
            _ => Reason::DpopProofInvalid,
        }
    }

    /// A short name of the check, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ProofError::Shape => "shape",
            ProofError::Typ => "typ",
            ProofError::Alg => "alg",
            ProofError::Jwk => "jwk",
            ProofError::Signature => "signature",
            ProofError::Jti => "jti",
            ProofError::Htm => "htm",
            ProofError::Htu => "htu",
            ProofError::Iat => "iat",
            ProofError::Ath => "ath",
            ProofError::KeyMismatch => "jkt",
        }
    }
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ProofError {}

/// What the request says a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The request method (`:method`), compared exactly.
    pub method: &'a str,
    /// The request URI in [`htu::normalize`] form; `None` when the request has none (no proof
    /// can match it).
    pub uri: Option<&'a str>,
}

/// A proof that passed every check but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Its `jti`.
    pub jti: String,
    /// Its `iat` (seconds).
    pub iat: i64,
    /// The RFC 7638 thumbprint of its key (base64url).
    pub jkt: String,
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: the required members in
/// lexicographic order, no whitespace. `None` for a key type without a thumbprint here.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let s = |name: &str| jwk.get(name).and_then(Value::as_str);
    // Written out, not left to a map's key order (a dependency may turn on `preserve_order`).
    let q = |v: &str| serde_json::to_string(v).ok();
    let text = match s("kty")? {
        "EC" => format!(
            "{{\"crv\":{},\"kty\":\"EC\",\"x\":{},\"y\":{}}}",
            q(s("crv")?)?,
            q(s("x")?)?,
            q(s("y")?)?
        ),
        "RSA" => format!(
            "{{\"e\":{},\"kty\":\"RSA\",\"n\":{}}}",
            q(s("e")?)?,
            q(s("n")?)?
        ),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes())))
}

/// base64url(SHA-256(token)): what a proof's `ath` must hold (RFC 9449 §4.2).
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The proof's `jwk` as a usable key for `alg` (the contract's Keys rules, RSA ≥ 2048 bits),
/// public members only.
fn proof_key(jwk: &Map<String, Value>, alg: Alg) -> Option<Key> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return None;
    }
    Key::for_one_signature(&Value::Object(jwk.clone())).filter(|k| k.fits(alg))
}

fn header_object(proof: &str) -> Option<Map<String, Value>> {
    let segment = proof.split('.').next()?;
    json::parse_object(&URL_SAFE_NO_PAD.decode(segment).ok()?)
}

fn iat(claims: &Map<String, Value>) -> Option<i64> {
    let v = claims.get("iat")?.as_f64()?;
    // Range first: no date arithmetic on what could overflow it.
    (0.0..=MAX_DATE).contains(&v).then(|| v.floor() as i64)
}

/// Checks `proof` for `target`, the presented `token` and its `cnf.jkt`, at `now` with the
/// provider's `clock_skew_s`, in the contract's order. The replay check is the caller's.
pub fn check(
    proof: &str,
    policy: &DpopPolicy,
    clock_skew_s: u64,
    target: Target<'_>,
    token: &str,
    jkt: &str,
    now: i64,
) -> Result<Accepted, ProofError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofError::Shape);
    }
    let parsed = token::parse(proof).map_err(|_| ProofError::Shape)?;
    let header = header_object(proof).ok_or(ProofError::Shape)?;
    // RFC 9449 §4.2: `typ` is exactly this media type (compared case-insensitively).
    if parsed.header.typ.as_deref().map(token::normalize_typ) != Some("dpop+jwt".to_owned()) {
        return Err(ProofError::Typ);
    }
    let alg = Alg::from_name(&parsed.header.alg)
        .filter(|a| policy.algorithms.contains(a))
        .ok_or(ProofError::Alg)?;
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(ProofError::Jwk)?;
    let key = proof_key(jwk, alg).ok_or(ProofError::Jwk)?;
    if !key.verify(parsed.signing_input, &parsed.signature) {
        return Err(ProofError::Signature);
    }
    let claims = &parsed.claims;
    let jti = match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI_BYTES => j.clone(),
        _ => return Err(ProofError::Jti),
    };
    if claims.get("htm").and_then(Value::as_str) != Some(target.method) {
        return Err(ProofError::Htm);
    }
    let htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .and_then(htu::normalize);
    if htu.is_none() || htu.as_deref() != target.uri {
        return Err(ProofError::Htu);
    }
    let iat = iat(claims).ok_or(ProofError::Iat)?;
    let skew = clock_skew_s as i64;
    let oldest = now
        .saturating_sub(policy.max_age_s as i64)
        .saturating_sub(skew);
    if iat < oldest || iat > now.saturating_add(skew) {
        return Err(ProofError::Iat);
    }
    if claims.get("ath").and_then(Value::as_str) != Some(token_hash(token).as_str()) {
        return Err(ProofError::Ath);
    }
    let thumb = thumbprint(jwk).ok_or(ProofError::Jwk)?;
    if thumb != jkt {
        return Err(ProofError::KeyMismatch);
    }
    Ok(Accepted {
        jti,
        iat,
        jkt: thumb,
    })
}
