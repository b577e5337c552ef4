//! Published JOSE examples, typed in from the RFCs with their keys:
//! RFC 7515 appendix A.1–A.5 and RFC 7520 §4.1 (RS256). RFC 7520 §4.3 is ES512, which
//! jwtgate does not support: only its refusal is checked (its signature is randomized, so
//! the RFC's bytes cannot be reproduced here anyway).

mod common;

use jwtgate::config::Config;
use jwtgate::token::Alg;
use jwtgate::Auth;
use jwtgate::Reason;
use jwtgate::{Candidates, KeySet};
use serde_json::{json, Value};

use common::authenticate_uncached;
use common::rfc::*;

fn keyset(jwk: Value) -> KeySet {
    let (set, skipped) = KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes())
        .expect("the RFC key is usable");
    assert!(skipped.is_empty());
    set
}

/// A provider for the RFC examples: issuer "joe", no audience, the RFC key inline.
fn joe_config(jwk: Value) -> Config {
    common::parse_config(&json!({"providers": [{
        "name": "rfc",
        "issuer": "joe",
        "local_jwks": {"inline": {"keys": [jwk]}}
    }]}))
}

fn reason(a: &Auth) -> Option<Reason> {
    match a {
        Auth::Invalid(f) => Some(f.reason),
        Auth::Valid(_) => None,
        other => panic!("unexpected {other:?}"),
    }
}

fn check_example(token: &str, jwk: Value, alg: Alg) {
    let set = keyset(jwk.clone());
    let (header, payload) =
        jwtgate::check_signature(&[alg], &set, token, 8192).unwrap_or_else(|f| panic!("{f:?}"));
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(header.alg, alg.name());
    assert_eq!(claims["iss"], "joe");
    assert_eq!(claims["exp"], RFC7515_EXP);
    assert_eq!(claims["http://example.com/is_root"], true);

    // The full pipeline, at a time when the example was still valid, and after.
    let cfg = joe_config(jwk);
    assert!(matches!(
        authenticate_uncached(&cfg, token, RFC7515_EXP - 3600),
        Auth::Valid(_)
    ));
    assert_eq!(
        reason(&authenticate_uncached(&cfg, token, RFC7515_EXP + 60)),
        Some(Reason::TokenExpired)
    );

    // One bit of the payload changed: the published signature no longer holds.
    let mut bytes = token.as_bytes().to_vec();
    let at = token.find('.').unwrap() + 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let r = jwtgate::check_signature(&[alg], &set, &tampered, 8192);
    assert!(r.is_err(), "tampered example accepted");
}

#[test]
fn rfc7515_a2_rs256_example_verifies() {
    check_example(&a2_token(), a2_jwk(), Alg::Rs256);
}

#[test]
fn rfc7515_a3_es256_example_verifies() {
    check_example(&a3_token(), a3_jwk(), Alg::Es256);
}

#[test]
fn rfc7515_examples_refused_for_the_other_algorithm_or_key() {
    let rsa = keyset(a2_jwk());
    let ec = keyset(a3_jwk());
    let err = |t: &str, algs: &[Alg], set: &KeySet| {
        jwtgate::check_signature(algs, set, t, 8192)
            .err()
            .map(|f| f.reason)
    };
    assert_eq!(
        err(&a2_token(), &[Alg::Es256], &rsa),
        Some(Reason::AlgNotAllowed)
    );
    assert_eq!(
        err(&a3_token(), &[Alg::Rs256], &ec),
        Some(Reason::AlgNotAllowed)
    );
    let both = [Alg::Es256, Alg::Rs256];
    // An RS256 header with only an EC key: no usable key, not a signature failure.
    assert_eq!(err(&a2_token(), &both, &ec), Some(Reason::UnknownKid));
    assert_eq!(err(&a3_token(), &both, &rsa), Some(Reason::UnknownKid));
}

#[test]
fn rfc7515_a1_hs256_a4_es512_and_a5_unsecured_are_refused() {
    let both = [Alg::Es256, Alg::Rs256];
    let set = keyset(a3_jwk());
    let a1 = format!(
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.{RFC7515_PAYLOAD}.{}",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    // A.4 signs the text "Payload"; with a claims payload the header alone must decide.
    let a4_like = format!(
        "eyJhbGciOiJFUzUxMiJ9.{RFC7515_PAYLOAD}.{}",
        common::b64([7u8; 132])
    );
    for t in [&a1, &a4_like] {
        let r = jwtgate::check_signature(&both, &set, t, 8192);
        assert_eq!(
            r.err().map(|f| f.reason),
            Some(Reason::AlgNotAllowed),
            "{t}"
        );
    }
    // A.5: `alg: none` with an empty signature; strict parsing refuses it before `alg`.
    let a5 = format!("eyJhbGciOiJub25lIn0.{RFC7515_PAYLOAD}.");
    let r = jwtgate::check_signature(&both, &set, &a5, 8192);
    assert!(
        matches!(
            r.as_ref().err().map(|f| f.reason),
            Some(Reason::TokenMalformed | Reason::AlgNotAllowed)
        ),
        "{r:?}"
    );
}

#[test]
fn rfc7520_4_1_rs256_signature_verifies() {
    let jwk = json!({"kty": "RSA", "kid": R7520_KID, "use": "sig", "n": R7520_N, "e": "AQAB"});
    let set = keyset(jwk);
    let header: Value = serde_json::from_slice(&common::unb64(R7520_41_HEADER)).unwrap();
    assert_eq!(header, json!({"alg": "RS256", "kid": R7520_KID}));
    let input = format!("{R7520_41_HEADER}.{R7520_PAYLOAD}");
    let sig = common::unb64(R7520_41_SIG);
    // Signature-only (the `--signature-only` layer): the payload is prose, not claims.
    let Candidates::Keys(keys) = set.candidates(Alg::Rs256, Some(R7520_KID)) else {
        panic!("the RFC 7520 key is not a candidate for RS256 with its kid");
    };
    assert_eq!(keys.len(), 1);
    assert!(keys[0].verify(input.as_bytes(), &sig));
    assert!(!keys[0].verify(format!("{input}x").as_bytes(), &sig));
    // The JWS layer verifies the text payload (RFC 7515 signs octets)...
    let token = format!("{input}.{R7520_41_SIG}");
    let (_, payload) = jwtgate::check_signature(&[Alg::Rs256], &set, &token, 8192)
        .unwrap_or_else(|f| panic!("{f:?}"));
    assert!(String::from_utf8(payload)
        .unwrap()
        .starts_with("It\u{2019}s a dangerous business, Frodo"));
    // ...but as a JWT it is not one: the payload is not a JSON object.
    let cfg = common::parse_config(&json!({"providers": [{
        "name": "rfc", "issuer": "joe", "require_expiration": false,
        "local_jwks": {"inline": {"keys": [
            {"kty": "RSA", "kid": R7520_KID, "use": "sig", "n": R7520_N, "e": "AQAB"}]}}
    }]}));
    assert_eq!(
        reason(&authenticate_uncached(&cfg, &token, 0)),
        Some(Reason::TokenMalformed)
    );
}

#[test]
fn rfc7520_4_3_es512_is_not_supported() {
    // §4.3 is ES512 over P-521: jwtgate refuses the algorithm and the key. The RFC's token is
    // not reproduced (ECDSA signatures are randomized); its header over a claims set suffices.
    let header = common::b64(json!({"alg": "ES512", "kid": R7520_KID}).to_string());
    let t = format!(
        "{header}.{}.{}",
        common::b64(common::claims().to_string()),
        common::b64([1u8; 132])
    );
    let set = keyset(a3_jwk());
    let r = jwtgate::check_signature(&[Alg::Es256, Alg::Rs256], &set, &t, 8192);
    assert_eq!(r.err().map(|f| f.reason), Some(Reason::AlgNotAllowed));
    let p521 = json!({"keys": [{"kty": "EC", "crv": "P-521", "kid": R7520_KID,
        "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
        "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"}]});
    assert!(KeySet::parse(p521.to_string().as_bytes()).is_err());
}
