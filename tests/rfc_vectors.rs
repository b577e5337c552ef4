//! Published JOSE examples, typed in from the RFCs with their keys:
//! RFC 7515 appendix A.1–A.5 and RFC 7520 §4.1 (RS256). RFC 7520 §4.3 is ES512, which
//! jwtgate does not support: only its refusal is checked (its signature is randomized, so
//! the RFC's bytes cannot be reproduced here anyway).

mod common;

use jwtgate::authenticator::{self, Auth, KeyState};
use jwtgate::cache::TokenCache;
use jwtgate::config::Config;
use jwtgate::keys::{Candidates, KeySet};
use jwtgate::token::Alg;
use jwtgate::Reason;
use serde_json::{json, Value};

/// The claims of RFC 7515 A.1–A.3: `{"iss":"joe",\r\n "exp":1300819380,\r\n ...}`.
const RFC7515_PAYLOAD: &str = concat!(
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
);
const RFC7515_EXP: i64 = 1_300_819_380;

/// RFC 7515 A.2.1: the RSA key of the RS256 example (public part).
const A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx",
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
);
const A2_SIG: &str = concat!(
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw"
);

/// RFC 7515 A.3.1: the P-256 key of the ES256 example (public part).
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const A3_SIG: &str = concat!(
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA",
    "pmWQxfKTUJqPP3-Kg6NU1Q"
);

/// RFC 7520 §3.4 (RSA key "bilbo.baggins@hobbiton.example", public part) and §4.1.
const R7520_KID: &str = "bilbo.baggins@hobbiton.example";
const R7520_N: &str = concat!(
    "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT",
    "-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV",
    "wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-",
    "oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde",
    "3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuC",
    "LqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g",
    "HdrNP5zw"
);
const R7520_41_HEADER: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX",
    "hhbXBsZSJ9"
);
/// RFC 7520 §4 payload: "It’s a dangerous business, Frodo, …" (text, not a claims set).
const R7520_PAYLOAD: &str = concat!(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
);
const R7520_41_SIG: &str = concat!(
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK",
    "ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J",
    "IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w",
    "W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP",
    "xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f",
    "cIe8u9ipH84ogoree7vjbU5y18kDquDg"
);

fn a2_token() -> String {
    format!("eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}.{A2_SIG}")
}

fn a3_token() -> String {
    format!("eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.{A3_SIG}")
}

fn a2_jwk() -> Value {
    json!({"kty": "RSA", "n": A2_N, "e": "AQAB"})
}

fn a3_jwk() -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y})
}

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

fn authenticate(cfg: &Config, token: &str, now: i64) -> Auth {
    let jwtgate::config::JwksSource::Local(keys) = &cfg.providers[0].jwks else {
        unreachable!("local keys")
    };
    let state = KeyState::Ready {
        keys,
        version: 1,
        refetch_allowed: false,
        revoked: None,
    };
    let mut cache = TokenCache::new(1, 0);
    authenticator::authenticate(&cfg.providers[0], 0, token, state, 8192, now, &mut cache)
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
    let (header, payload) = authenticator::check_signature(&[alg], &set, token, 8192)
        .unwrap_or_else(|f| panic!("{f:?}"));
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(header.alg, alg.name());
    assert_eq!(claims["iss"], "joe");
    assert_eq!(claims["exp"], RFC7515_EXP);
    assert_eq!(claims["http://example.com/is_root"], true);

    // The full pipeline, at a time when the example was still valid, and after.
    let cfg = joe_config(jwk);
    assert!(matches!(
        authenticate(&cfg, token, RFC7515_EXP - 3600),
        Auth::Valid(_)
    ));
    assert_eq!(
        reason(&authenticate(&cfg, token, RFC7515_EXP + 60)),
        Some(Reason::TokenExpired)
    );

    // One bit of the payload changed: the published signature no longer holds.
    let mut bytes = token.as_bytes().to_vec();
    let at = token.find('.').unwrap() + 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let r = authenticator::check_signature(&[alg], &set, &tampered, 8192);
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
        authenticator::check_signature(algs, set, t, 8192)
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
        let r = authenticator::check_signature(&both, &set, t, 8192);
        assert_eq!(
            r.err().map(|f| f.reason),
            Some(Reason::AlgNotAllowed),
            "{t}"
        );
    }
    // A.5: `alg: none` with an empty signature; strict parsing refuses it before `alg`.
    let a5 = format!("eyJhbGciOiJub25lIn0.{RFC7515_PAYLOAD}.");
    let r = authenticator::check_signature(&both, &set, &a5, 8192);
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
    let (_, payload) = authenticator::check_signature(&[Alg::Rs256], &set, &token, 8192)
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
        reason(&authenticate(&cfg, &token, 0)),
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
    let r = authenticator::check_signature(&[Alg::Es256, Alg::Rs256], &set, &t, 8192);
    assert_eq!(r.err().map(|f| f.reason), Some(Reason::AlgNotAllowed));
    let p521 = json!({"keys": [{"kty": "EC", "crv": "P-521", "kid": R7520_KID,
        "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
        "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"}]});
    assert!(KeySet::parse(p521.to_string().as_bytes()).is_err());
}
