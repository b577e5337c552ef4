//! Fixtures shared by the fuzz targets: the test suite's fixed keys (`tests/common/keys.rs`, so
//! the tests' tokens are valid seeds here), one config using them, signers and a `KeyLookup`.

#[path = "../../tests/common/keys.rs"]
#[allow(dead_code)]
mod keys;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwtgate::KeyState;
use jwtgate::config::{self, Config, JwksSource};
use jwtgate::KeySet;
use jwtgate::KeyLookup;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The fixed "now" of every target (the tests' `NOW`).
pub const NOW: i64 = 1_700_000_000;
/// The tests' issuer and audience.
pub const ISSUER: &str = "https://issuer.test/";
/// Audience of the fixture provider.
pub const AUDIENCE: &str = "api";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// The tests' `ec_a` P-256 key.
pub fn ec_a() -> &'static p256::ecdsa::SigningKey {
    static K: OnceLock<p256::ecdsa::SigningKey> = OnceLock::new();
    K.get_or_init(|| p256::ecdsa::SigningKey::from_slice(&unhex(keys::EC_A_D)).unwrap())
}

/// The tests' `ec_b` P-256 key (published without `kid`).
pub fn ec_b() -> &'static p256::ecdsa::SigningKey {
    static K: OnceLock<p256::ecdsa::SigningKey> = OnceLock::new();
    K.get_or_init(|| p256::ecdsa::SigningKey::from_slice(&unhex(keys::EC_B_D)).unwrap())
}

/// The tests' `rsa_a` 2048-bit key.
pub fn rsa_a() -> &'static RsaPrivateKey {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| {
        let big = |h: &str| BigUint::from_bytes_be(&unhex(h));
        let mut k = RsaPrivateKey::from_components(
            big(keys::RSA_A_N),
            BigUint::from(65537u32),
            big(keys::RSA_A_D),
            vec![big(keys::RSA_A_P), big(keys::RSA_A_Q)],
        )
        .unwrap();
        k.precompute().unwrap();
        k
    })
}

pub fn ec_jwk(k: &p256::ecdsa::SigningKey, kid: Option<&str>) -> Value {
    let p = k.verifying_key().to_encoded_point(false);
    let mut v =
        json!({"kty": "EC", "crv": "P-256", "x": b64(p.x().unwrap()), "y": b64(p.y().unwrap())});
    if let Some(kid) = kid {
        v["kid"] = json!(kid);
    }
    v
}

pub fn rsa_jwk(k: &RsaPrivateKey, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "n": b64(k.n().to_bytes_be()), "e": b64(k.e().to_bytes_be())})
}

/// `ec-a`, `rsa-a` (as the tests' default JWKS) and `ec-b` without `kid`.
pub fn jwks() -> Value {
    json!({"keys": [ec_jwk(ec_a(), Some("ec-a")), rsa_jwk(rsa_a(), "rsa-a"), ec_jwk(ec_b(), None)]})
}

/// Raw ES256 signature r‖s.
pub fn sign_es256(k: &p256::ecdsa::SigningKey, input: &[u8]) -> Vec<u8> {
    use p256::ecdsa::signature::Signer;
    let sig: p256::ecdsa::Signature = k.sign(input);
    sig.to_bytes().to_vec()
}

/// RS256 (PKCS#1 v1.5, SHA-256).
pub fn sign_rs256(k: &RsaPrivateKey, input: &[u8]) -> Vec<u8> {
    k.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input))
        .unwrap()
}

/// Header names the fixture config fills from claims (removed from every request).
pub const IDENTITY_HEADERS: [&str; 3] = ["x-user-id", "x-user-roles", "x-jwt-payload"];

/// The fixture config: one provider over [`jwks`], tokens from the Bearer header, the
/// `access_token` parameter and the `session` cookie, claim headers, and one rule of each kind.
pub fn config() -> &'static Config {
    // Config holds `Rc`s: one per thread (libFuzzer runs the target on one thread).
    thread_local! {
        static C: &'static Config = Box::leak(Box::new(build_config()));
    }
    C.with(|c| *c)
}

fn build_config() -> Config {
    let v = json!({
        "providers": [{
            "name": "corp",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline": jwks()},
            "from_params": ["access_token"],
            "from_cookies": ["session"],
            "claim_to_headers": [
                {"claim": "sub", "header": "x-user-id"},
                {"claim": "roles", "header": "x-user-roles"}
            ],
            "forward_payload_header": "x-jwt-payload"
        }],
        "rules": [
            {"match": {"prefix": "/healthz"}},
            {"match": {"path": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
            {"match": {"prefix": "/public"}, "requires": {"allow_missing": {"provider": "corp"}}},
            {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {"provider": "corp"}}},
            {"match": {"prefix": "/eu"}, "requires": {"provider": "corp", "claims": {"region": ["eu"]}}},
            {"match": {"prefix": "/"}, "requires": {"provider": "corp"}}
        ]
    });
    config::parse(v.to_string().as_bytes()).unwrap()
}

/// Local keys as configured; remote providers have none (`Unavailable`).
pub struct LocalKeys<'a>(pub &'a Config);

impl KeyLookup for LocalKeys<'_> {
    fn key_state(&self, provider: usize) -> KeyState<'_> {
        match self.0.providers.get(provider).map(|p| &p.jwks) {
            Some(JwksSource::Local(set)) => KeyState::Ready {
                keys: set,
                version: 1,
                refetch_allowed: false,
                revoked: None,
            },
            _ => KeyState::Unavailable,
        }
    }
}

/// The fixture's key set.
pub fn keyset(cfg: &Config) -> &KeySet {
    match &cfg.providers[0].jwks {
        JwksSource::Local(set) => set,
        JwksSource::Remote(_) => unreachable!(),
    }
}

/// A small cursor over fuzz input.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}
