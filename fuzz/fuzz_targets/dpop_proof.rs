//! DPoP proof parsing and checking (`dpop::proof::check`) on proofs that are raw bytes, or
//! signed here by the fixture key `ec_b` from fuzzed header and claims JSON (its public `jwk`
//! put in the header unless the input brings one).
//! Checked beyond "no panic": a proof that passes was signed by `ec_b` with ES256, types as
//! `dpop+jwt`, names GET and the fixed URI, carries the token's hash and an `iat` in the
//! window, and its key's thumbprint is the bound one.
#![no_main]

use jwtgate::config::DpopPolicy;
use jwtgate::dpop::proof::{self, Target};
use jwtgate::token::Alg;
use jwtgate_fuzz::{b64, ec_b, ec_jwk, sign_es256, NOW};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const TOKEN: &str = "a.b.c";
const URI: &str = "https://api.example.com/orders";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let signed = mode & 1 == 1;
    let text = if signed {
        let mid = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let (h, c) = rest.split_at(mid);
        let c = c.get(1..).unwrap_or_default();
        let mut header: Value = match serde_json::from_slice(h) {
            Ok(v) => v,
            Err(_) => return,
        };
        if let Some(o) = header.as_object_mut() {
            o.entry("jwk").or_insert_with(|| ec_jwk(ec_b(), None));
        }
        let input = format!("{}.{}", b64(header.to_string()), b64(c));
        format!("{input}.{}", b64(sign_es256(ec_b(), input.as_bytes())))
    } else {
        match std::str::from_utf8(rest) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        }
    };
    let policy = DpopPolicy {
        required: false,
        algorithms: vec![Alg::Es256, Alg::Rs256],
        max_age_s: 300,
        external_origin: None,
    };
    let jkt = proof::thumbprint(ec_jwk(ec_b(), None).as_object().unwrap()).unwrap();
    let target = Target { method: "GET", uri: Some(URI) };
    let Ok(accepted) = proof::check(&text, &policy, 60, target, TOKEN, &jkt, NOW) else {
        return;
    };
    // Only a proof this target signed with ec_b can pass (a raw input cannot forge one).
    assert!(signed, "an unsigned input passed: {text}");
    assert_eq!(accepted.jkt, jkt);
    assert!((NOW - 360..=NOW + 60).contains(&accepted.iat));
    let t = jwtgate::token::parse(&text).unwrap();
    assert_eq!(t.header.alg, "ES256");
    assert_eq!(jwtgate::token::normalize_typ(t.header.typ.as_deref().unwrap()), "dpop+jwt");
    assert_eq!(t.claims["htm"], "GET");
    assert_eq!(jwtgate::htu::normalize(t.claims["htu"].as_str().unwrap()).as_deref(), Some(URI));
    assert_eq!(t.claims["ath"], proof::token_hash(TOKEN));
    assert_eq!(t.claims["jti"].as_str(), Some(accepted.jti.as_str()));
});
