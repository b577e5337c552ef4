//! Shared helpers for the integration tests: native signers (independent of jwtgate's own
//! crypto, so a bug there cannot cancel itself out), JWKs, plugin configs, a `KeyLookup` over
//! fixed key sets, and assertions over gate decisions.
//!
//! Every test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

pub mod dpop;
pub mod flow_host;
pub mod keys;
pub mod rfc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwtgate::config::{self, Config, JwksSource};
use jwtgate::gate::{self, Decision, Mutations, Start};
use jwtgate::KeyLookup;
use jwtgate::KeySet;
use jwtgate::KeyState;
use jwtgate::Rejection;
use jwtgate::TokenCache;
use p256::ecdsa::signature::Signer as _;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The fixed "current time" of the suite: tests never read the real clock.
pub const NOW: i64 = 1_700_000_000;
pub const ISSUER: &str = "https://issuer.test/";
pub const AUDIENCE: &str = "api";
pub const AUTHORITY: &str = "api.example.com";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("test data is base64url")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test key constants are hex")
}

/// A private key the tests sign with.
#[derive(Clone, Copy)]
pub enum Signer {
    Ec(&'static p256::ecdsa::SigningKey),
    Rsa(&'static RsaPrivateKey),
}

fn ec_key(d: &str) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&unhex(d)).expect("valid P-256 scalar")
}

fn rsa_key(n: &str, d: &str, p: &str, q: &str) -> RsaPrivateKey {
    let big = |h: &str| BigUint::from_bytes_be(&unhex(h));
    RsaPrivateKey::from_components(
        big(n),
        BigUint::from(65537u32),
        big(d),
        vec![big(p), big(q)],
    )
    .expect("consistent RSA components")
}

pub fn ec_a() -> Signer {
    static K: OnceLock<p256::ecdsa::SigningKey> = OnceLock::new();
    Signer::Ec(K.get_or_init(|| ec_key(keys::EC_A_D)))
}

pub fn ec_b() -> Signer {
    static K: OnceLock<p256::ecdsa::SigningKey> = OnceLock::new();
    Signer::Ec(K.get_or_init(|| ec_key(keys::EC_B_D)))
}

pub fn rsa_a() -> Signer {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    Signer::Rsa(
        K.get_or_init(|| rsa_key(keys::RSA_A_N, keys::RSA_A_D, keys::RSA_A_P, keys::RSA_A_Q)),
    )
}

pub fn rsa_b() -> Signer {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    Signer::Rsa(
        K.get_or_init(|| rsa_key(keys::RSA_B_N, keys::RSA_B_D, keys::RSA_B_P, keys::RSA_B_Q)),
    )
}

/// A 1024-bit key: the contract refuses it, so tokens it signs must never verify.
pub fn rsa_1024() -> Signer {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    Signer::Rsa(K.get_or_init(|| {
        rsa_key(
            keys::RSA_1024_N,
            keys::RSA_1024_D,
            keys::RSA_1024_P,
            keys::RSA_1024_Q,
        )
    }))
}

impl Signer {
    /// The raw JWS signature over `input`: r‖s for ES256, PKCS#1 v1.5 for RS256.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Signer::Ec(k) => {
                let sig: p256::ecdsa::Signature = k.sign(input);
                sig.to_bytes().to_vec()
            }
            Signer::Rsa(k) => k
                .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input))
                .expect("RSA signing"),
        }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Signer::Ec(_) => "ES256",
            Signer::Rsa(_) => "RS256",
        }
    }

    /// The public JWK, with `kid` when given.
    pub fn jwk(&self, kid: Option<&str>) -> Value {
        let mut v = match self {
            Signer::Ec(k) => {
                let p = k.verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64(p.x().expect("affine x")),
                    "y": b64(p.y().expect("affine y")),
                })
            }
            Signer::Rsa(k) => json!({
                "kty": "RSA",
                "n": b64(k.n().to_bytes_be()),
                "e": b64(k.e().to_bytes_be()),
            }),
        };
        if let Some(kid) = kid {
            v["kid"] = json!(kid);
        }
        v
    }

    /// RSA modulus bytes (big-endian); panics for EC keys.
    pub fn rsa_n(&self) -> Vec<u8> {
        match self {
            Signer::Rsa(k) => k.n().to_bytes_be(),
            Signer::Ec(_) => panic!("not an RSA key"),
        }
    }
}

/// `h.p.sig` where `h` and `p` are already base64url segments.
pub fn sign_segments(signer: Signer, h: &str, p: &str) -> String {
    let input = format!("{h}.{p}");
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", b64(sig))
}

/// Signs raw JSON texts, so tests can send what `serde_json` would never produce
/// (duplicate keys, odd spacing, non-objects).
pub fn sign_raw(signer: Signer, header_json: &str, payload_json: &str) -> String {
    sign_segments(signer, &b64(header_json), &b64(payload_json))
}

pub fn jwt(signer: Signer, header: &Value, claims: &Value) -> String {
    sign_raw(signer, &header.to_string(), &claims.to_string())
}

pub fn header(signer: Signer, kid: Option<&str>) -> Value {
    let mut h = json!({"alg": signer.alg(), "typ": "JWT"});
    if let Some(kid) = kid {
        h["kid"] = json!(kid);
    }
    h
}

/// Claims that pass the default provider at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": NOW - 10,
        "exp": NOW + 300,
    })
}

/// `claims()` with `patch`'s members replaced (a `null` removes the member).
pub fn claims_with(patch: Value) -> Value {
    let mut c = claims();
    for (k, v) in patch.as_object().expect("patch is an object") {
        let obj = c.as_object_mut().expect("claims are an object");
        if v.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
    c
}

/// An ES256 token by `ec_a` (kid `ec-a`).
pub fn es_token(claims: &Value) -> String {
    jwt(ec_a(), &header(ec_a(), Some("ec-a")), claims)
}

/// An RS256 token by `rsa_a` (kid `rsa-a`).
pub fn rs_token(claims: &Value) -> String {
    jwt(rsa_a(), &header(rsa_a(), Some("rsa-a")), claims)
}

/// The default provider's JWKS: `ec_a` as `ec-a`, `rsa_a` as `rsa-a`.
pub fn default_jwks() -> Value {
    json!({"keys": [ec_a().jwk(Some("ec-a")), rsa_a().jwk(Some("rsa-a"))]})
}

pub fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// A provider named `name` with the default issuer, audience and keys.
pub fn provider(name: &str) -> Value {
    json!({
        "name": name,
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": {"inline": default_jwks()},
    })
}

/// A one-provider config (`corp`) with no rules.
pub fn base_config() -> Value {
    json!({ "providers": [provider("corp")] })
}

/// The base config with its provider's keys fetched from `http://idp/jwks` (cluster `idp`):
/// a 1 s wait for keys, a 60 s refresh, one unknown-`kid` refetch per 30 s.
pub fn remote_config() -> Config {
    remote_config_with(json!({"timeout_ms": 1000, "cache_duration_s": 60,
                              "min_refetch_interval_s": 30}))
}

/// As [`remote_config`], with `remote_jwks` fields of its own (beside cluster and uri).
pub fn remote_config_with(fields: Value) -> Config {
    let mut v = base_config();
    let p = v["providers"][0].as_object_mut().unwrap();
    p.remove("local_jwks");
    let mut remote = json!({"cluster": "idp", "uri": "http://idp/jwks"});
    if let (Some(r), Some(f)) = (remote.as_object_mut(), fields.as_object()) {
        r.extend(f.clone());
    }
    p.insert("remote_jwks".into(), remote);
    parse_config(&v)
}

pub fn parse_config(v: &Value) -> Config {
    match config::parse(v.to_string().as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("test config refused: {e}\n{v:#}"),
    }
}

pub fn config_error(v: &Value) -> config::ConfigError {
    match config::parse(v.to_string().as_bytes()) {
        Ok(_) => panic!("config unexpectedly accepted:\n{v:#}"),
        Err(e) => e,
    }
}

/// The state a test wants a provider's keys in.
pub enum Slot {
    Ready(KeySet),
    Pending,
    Unavailable,
}

/// A `KeyLookup` over fixed key sets, one slot per provider.
pub struct Keys {
    pub slots: Vec<Slot>,
    pub refetch_allowed: bool,
}

impl Keys {
    /// Local JWKS as configured; remote providers have no keys (`Unavailable`).
    pub fn from_config(cfg: &Config) -> Keys {
        let slots = cfg
            .providers
            .iter()
            .map(|p| match &p.jwks {
                JwksSource::Local(set) => Slot::Ready((**set).clone()),
                JwksSource::Remote(_) => Slot::Unavailable,
            })
            .collect();
        Keys {
            slots,
            refetch_allowed: false,
        }
    }

    /// One provider's keys in `slot`, no refetch allowed.
    pub fn one(slot: Slot) -> Keys {
        Keys {
            slots: vec![slot],
            refetch_allowed: false,
        }
    }
}

impl KeyLookup for Keys {
    fn key_state(&self, provider: usize) -> KeyState<'_> {
        match self.slots.get(provider) {
            Some(Slot::Ready(keys)) => KeyState::Ready {
                keys,
                version: 1,
                refetch_allowed: self.refetch_allowed,
                revoked: None,
            },
            Some(Slot::Pending) => KeyState::Pending,
            _ => KeyState::Unavailable,
        }
    }
}

/// Request headers as a host passes them: lowercase names, pseudo-headers first.
pub fn request(path: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut h = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":path".to_owned(), path.to_owned()),
        (":authority".to_owned(), AUTHORITY.to_owned()),
    ];
    h.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    h
}

pub fn bearer(token: &str) -> Vec<(String, String)> {
    request("/", &[("authorization", &format!("Bearer {token}"))])
}

/// prepare + decide with the config's own keys, a fresh cache and [`NOW`].
pub fn run(cfg: &Config, headers: &[(String, String)]) -> Decision {
    run_with(cfg, headers, &Keys::from_config(cfg), NOW)
}

pub fn run_with(cfg: &Config, headers: &[(String, String)], keys: &Keys, now: i64) -> Decision {
    let mut cache = TokenCache::new(cfg.providers.len(), cfg.token_cache_size);
    match gate::prepare(cfg, headers) {
        Start::Done(d) => d,
        Start::Check(prep) => gate::decide(cfg, &prep, keys, &mut cache, now),
    }
}

pub fn rejection(d: &Decision) -> &Rejection {
    match d {
        Decision::Reject(r, _) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

pub fn mutations(d: &Decision) -> &Mutations {
    match d {
        Decision::Forward(m, _) => m,
        other => panic!("expected the request to go upstream, got {other:?}"),
    }
}

pub fn resp_header<'a>(r: &'a Rejection, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub fn set_value<'a>(m: &'a Mutations, name: &str) -> Option<&'a str> {
    m.set
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Asserts the contract's row "token invalid for any reason": 401, challenge and body.
pub fn assert_invalid_token(d: &Decision, reason: &str) {
    let r = rejection(d);
    assert_eq!(r.status, 401, "{reason}: {r:?}");
    assert_eq!(
        resp_header(r, "www-authenticate"),
        Some(
            format!(
                "Bearer realm=\"{AUTHORITY}\", error=\"invalid_token\", error_description=\"{reason}\""
            )
            .as_str()
        ),
        "{reason}"
    );
    assert_eq!(resp_header(r, "content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        format!("{{\"error\":\"invalid_token\",\"reason\":\"{reason}\"}}")
    );
}

/// Asserts a 403 for `reason` whose challenge names no scope (the token lacks something
/// other than a scope: a claim, a client); `what` says which case.
pub fn assert_forbidden_without_scope(d: &Decision, reason: &str, what: &str) {
    let r = rejection(d);
    assert_eq!(r.status, 403, "{what}");
    assert_eq!(
        resp_header(r, "www-authenticate"),
        Some(format!("Bearer realm=\"{AUTHORITY}\", error=\"insufficient_scope\"").as_str()),
        "no scope parameter: {what}"
    );
    assert_eq!(
        r.body,
        format!("{{\"error\":\"insufficient_scope\",\"reason\":\"{reason}\"}}")
    );
}

/// Authenticates `token` with provider 0's local keys, without the token cache (a cached
/// token would hide a re-verification bug).
pub fn authenticate_uncached(cfg: &Config, token: &str, now: i64) -> jwtgate::Auth {
    let JwksSource::Local(keys) = &cfg.providers[0].jwks else {
        unreachable!("local keys")
    };
    let state = KeyState::Ready {
        keys,
        version: 1,
        refetch_allowed: false,
        revoked: None,
    };
    let mut cache = TokenCache::new(1, 0);
    jwtgate::authenticate(&cfg.providers[0], 0, token, state, 8192, now, &mut cache)
}

/// The Wycheproof vectors: the directory `$JWTGATE_TESTVECTORS` names, else the copy in
/// tests/vectors/wycheproof.
pub fn wycheproof_dir() -> std::path::PathBuf {
    match std::env::var_os("JWTGATE_TESTVECTORS") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/wycheproof"
        )),
    }
}

/// A proptest configuration that runs the same `cases` every time: the fixed seed `seed`,
/// no failure file.
pub fn proptest_fixed(cases: u32, seed: u64) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// `contents` in a file `name` of a directory of its own for each call: tests run in parallel
/// and must never read another's half-written file.
pub fn temp_file(name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("jwtgate-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// The reason code of a rejection (from its JSON body).
pub fn reason_of(d: &Decision) -> String {
    let r = rejection(d);
    let body: Value = serde_json::from_str(&r.body).expect("rejection bodies are JSON");
    body["reason"]
        .as_str()
        .expect("body has a reason")
        .to_owned()
}
