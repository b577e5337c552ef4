//! Token → full validation: `gate::prepare` + `gate::decide` on the fixture config (local ES256 and
//! RS256 keys of the test suite).
//!
//! Input: `flags, extra_len, extra_name, extra[extra_len], material…`.
//! - flags bits 0-1: where the token goes (Bearer header, `access_token` parameter, `session`
//!   cookie, or a Kong-style `Authorization: bearer …`); bits 2-3: the token is `material` as is,
//!   or `material` = `header JSON \n payload JSON` signed here with ec-a (ES256), rsa-a (RS256) or
//!   ec-b (published without `kid`), so mutations reach every claim check; bit 4: a forged
//!   `X-User-Id`; bits 5-7: the request path (one per rule kind).
//! - `extra`: the value of one more header (`cookie`, `authorization`, `host` or `x-user-roles`).
//!
//! Checked beyond "no panic": a request that passes carries a token that really verifies with one
//! of the fixture keys; identity headers are removed whenever the request goes
//! upstream; claim headers carry no control characters; a rejection never echoes the token;
//! local keys never make a request wait; deciding again from the token cache gives the same result.
#![no_main]

use jwtgate::TokenCache;
use jwtgate::extract::{self, RequestParts};
use jwtgate::gate::{self, Decision, Mutations, Outcome, Start};
use jwtgate::Rejection;
use jwtgate_fuzz::*;
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Verifier;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};

const PATHS: [&str; 8] = [
    "/",
    "/admin",
    "/public/x",
    "/lenient",
    "/eu",
    "/healthz",
    "/x/../admin",
    "/%61dmin",
];

#[derive(Debug, PartialEq)]
enum Summary {
    Forward(Mutations, Outcome),
    Reject(Rejection, Outcome),
    Wait,
}

fn summary(d: Decision) -> Summary {
    match d {
        Decision::Forward(m, o) => Summary::Forward(m, o),
        Decision::Reject(r, o) => Summary::Reject(r, o),
        Decision::Wait(_) => Summary::Wait,
    }
}

fn build_token(mode: u8, material: &[u8]) -> String {
    if mode == 0 {
        return String::from_utf8_lossy(material).into_owned();
    }
    let (h, p) = match material.iter().position(|&b| b == b'\n') {
        Some(i) => (&material[..i], &material[i + 1..]),
        None => (&b"{\"alg\":\"ES256\"}"[..], material),
    };
    let input = format!("{}.{}", b64(h), b64(p));
    let sig = match mode {
        1 => sign_es256(ec_a(), input.as_bytes()),
        2 => sign_rs256(rsa_a(), input.as_bytes()),
        _ => sign_es256(ec_b(), input.as_bytes()),
    };
    format!("{input}.{}", b64(sig))
}

/// Independent check (RustCrypto directly) that `token` is signed by one of the fixture keys.
fn really_signed(token: &str) -> bool {
    let Some((input, sig)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
    else {
        return false;
    };
    let ec_ok = p256::ecdsa::Signature::from_slice(&sig).is_ok_and(|s| {
        [ec_a(), ec_b()]
            .iter()
            .any(|k| k.verifying_key().verify(input.as_bytes(), &s).is_ok())
    });
    let rsa_ok = RsaPublicKey::from(rsa_a())
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(input.as_bytes()),
            &sig,
        )
        .is_ok();
    ec_ok || rsa_ok
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    let flags = input.byte();
    let extra_len = (input.byte() % 32) as usize;
    let extra_name = ["cookie", "authorization", "host", "x-user-roles"][input.byte() as usize % 4];
    let extra = String::from_utf8_lossy(input.take(extra_len)).into_owned();
    let token = build_token((flags >> 2) & 3, input.rest());
    let path = PATHS[(flags >> 5) as usize];

    let mut headers: Vec<(String, String)> = vec![
        (":method".into(), "GET".into()),
        (":authority".into(), "api.example.com".into()),
    ];
    let mut full_path = path.to_owned();
    match flags & 3 {
        0 => headers.push(("authorization".into(), format!("Bearer {token}"))),
        1 => full_path = format!("{path}?a=1&access_token={token}"),
        2 => headers.push(("cookie".into(), format!("x=1; session={token}"))),
        _ => headers.push(("Authorization".into(), format!("bearer {token}"))),
    }
    headers.push((":path".into(), full_path.clone()));
    if flags & 0x10 != 0 {
        headers.push(("X-User-Id".into(), "admin".into()));
    }
    if extra_len > 0 {
        headers.push((extra_name.into(), extra));
    }

    let cfg = config();
    let keys = LocalKeys(cfg);
    let mut cache = TokenCache::new(cfg.providers.len(), cfg.token_cache_size);
    let prep = match gate::prepare(cfg, &headers) {
        Start::Done(d) => {
            check(cfg, &headers, &full_path, &token, &summary(d));
            return;
        }
        Start::Check(p) => p,
    };
    let first = summary(gate::decide(cfg, &prep, &keys, &mut cache, NOW));
    check(cfg, &headers, &full_path, &token, &first);
    // Again: now from the verified-token cache when the token passed.
    let second = summary(gate::decide(cfg, &prep, &keys, &mut cache, NOW));
    assert_eq!(first, second, "the token cache changed the decision");
});

fn check(
    cfg: &jwtgate::config::Config,
    headers: &[(String, String)],
    path: &str,
    token: &str,
    s: &Summary,
) {
    match s {
        Summary::Wait => panic!("local keys never make a request wait"),
        Summary::Reject(r, _) => {
            if token.len() >= 16 {
                assert!(!r.body.contains(token), "rejection echoes the token");
            }
        }
        Summary::Forward(m, outcome) => {
            for (n, _) in headers {
                if IDENTITY_HEADERS.iter().any(|h| n.eq_ignore_ascii_case(h)) {
                    assert!(m.remove.contains(n), "identity header {n} not removed");
                }
            }
            for (n, v) in &m.set {
                if IDENTITY_HEADERS.contains(&n.as_str()) {
                    assert!(!v.chars().any(|c| c.is_control()), "control char in {n}");
                }
            }
            if let Outcome::Allowed(providers) = outcome {
                if !providers.is_empty() {
                    let query = path.split_once('?').map(|(_, q)| q);
                    let found = extract::extract(
                        &cfg.providers[0].sources,
                        &RequestParts { headers, query },
                    );
                    assert_eq!(found.len(), 1, "allowed with {} tokens", found.len());
                    assert!(
                        really_signed(&found[0].token),
                        "allowed a token no fixture key signed"
                    );
                }
            }
        }
    }
}
