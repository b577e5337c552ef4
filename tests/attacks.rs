//! Known JWT attacks and hostile inputs, each validly signed where a signature matters, so the
//! only thing that can stop them is the check under test. All go through the gate with real
//! headers; none may be accepted and none may panic.

mod common;

use common::*;
use hmac::{Hmac, Mac};
use jwtgate::config::Config;
use jwtgate::gate::{Decision, Outcome};
use jwtgate::{KeySet, SkipReason};
use serde_json::{json, Value};

fn cfg() -> Config {
    parse_config(&base_config())
}

/// The reason a token is refused with (asserting it is refused as an invalid token).
fn refused(cfg: &Config, token: &str) -> String {
    let d = run(cfg, &bearer(token));
    assert!(
        !matches!(d, Decision::Forward(_, Outcome::Allowed(_))),
        "ACCEPTED: {token}"
    );
    let reason = reason_of(&d);
    assert_invalid_token(&d, &reason);
    reason
}

fn assert_refused(cfg: &Config, token: &str, reason: &str) {
    assert_eq!(refused(cfg, token), reason, "{token}");
}

fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(mac.finalize().into_bytes()))
}

#[test]
fn alg_none_with_and_without_signature() {
    let c = cfg();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = b64(json!({"alg": alg}).to_string());
        let p = b64(claims().to_string());
        // RFC 7515 A.5 form: empty signature segment.
        assert_refused(&c, &format!("{h}.{p}."), "token_malformed");
        // Unsecured header, but a real ES256 signature of the same input.
        let signed = sign_segments(ec_a(), &h, &p);
        assert_refused(&c, &signed, "alg_not_allowed");
        let with_kid = jwt(ec_a(), &json!({"alg": alg, "kid": "ec-a"}), &claims());
        assert_refused(&c, &with_kid, "alg_not_allowed");
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key() {
    // The classic key-confusion attack: a verifier that lets the header pick HMAC would use
    // the published RSA key bytes as the shared secret.
    let c = cfg();
    let pem = keys::RSA_A_PUBLIC_PEM;
    let jwk = rsa_a().jwk(Some("rsa-a")).to_string();
    let secrets: Vec<Vec<u8>> = vec![
        pem.as_bytes().to_vec(),
        pem.trim_end().as_bytes().to_vec(),
        format!("{pem}\n").into_bytes(),
        jwk.into_bytes(),
        rsa_a().rsa_n(),
    ];
    for secret in &secrets {
        for kid in [Some("rsa-a"), None] {
            let mut h = json!({"alg": "HS256", "typ": "JWT"});
            if let Some(k) = kid {
                h["kid"] = json!(k);
            }
            assert_refused(&c, &hs256(secret, &h, &claims()), "alg_not_allowed");
        }
    }
}

#[test]
fn alg_swap_between_rs256_and_es256() {
    let c = cfg();
    // Header and key kind disagree, kid names a key: no usable key (contract: unknown_kid).
    let t = jwt(ec_a(), &json!({"alg": "RS256", "kid": "ec-a"}), &claims());
    assert_refused(&c, &t, "unknown_kid");
    let t = jwt(rsa_a(), &json!({"alg": "ES256", "kid": "rsa-a"}), &claims());
    assert_refused(&c, &t, "unknown_kid");
    // The other alg over the right key of that kind: the signature cannot verify.
    let t = jwt(ec_a(), &json!({"alg": "RS256", "kid": "rsa-a"}), &claims());
    assert_refused(&c, &t, "bad_signature");
    let t = jwt(rsa_a(), &json!({"alg": "ES256", "kid": "ec-a"}), &claims());
    assert_refused(&c, &t, "bad_signature");
    // Without kid, the header's alg picks the candidates: still no cross-kind verification.
    let t = jwt(ec_a(), &json!({"alg": "RS256"}), &claims());
    assert_refused(&c, &t, "bad_signature");
    let t = jwt(rsa_a(), &json!({"alg": "ES256"}), &claims());
    assert_refused(&c, &t, "bad_signature");
}

/// The order n of P-256.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

#[test]
fn ecdsa_zero_and_out_of_range_r_s() {
    let c = cfg();
    let good = es_token(&claims());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let sig = unb64(sig);
    let (r, s) = sig.split_at(32);
    let n = hex::decode(P256_N).unwrap();
    let zero = [0u8; 32];
    let ff = [0xffu8; 32];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("r=s=0", [zero, zero].concat()),
        ("r=0", [&zero[..], s].concat()),
        ("s=0", [r, &zero[..]].concat()),
        ("r=n", [&n[..], s].concat()),
        ("s=n", [r, &n[..]].concat()),
        ("r=s=n", [&n[..], &n[..]].concat()),
        ("r=2^256-1", [&ff[..], s].concat()),
        ("s=2^256-1", [r, &ff[..]].concat()),
    ];
    for (name, raw) in cases {
        let t = format!("{input}.{}", b64(&raw));
        assert_eq!(refused(&c, &t), "bad_signature", "{name}");
    }
    // r or s shifted by n would verify in an implementation that reduces mod n first. For a
    // real signature r + n < 2^256 only when r < 2^256 - n (odds ~2^-32), so the range rule is
    // tested on the scalar parser itself (`p256_scalar::r_and_s_must_lie_in_one_to_n_minus_one`).
}

#[test]
fn ecdsa_signature_lengths_other_than_64() {
    let c = cfg();
    let good = es_token(&claims());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let sig = unb64(sig);
    for raw in [
        sig[..63].to_vec(),
        [&sig[..], &[0u8][..]].concat(),
        [&[0u8][..], &sig[..]].concat(),
        vec![0u8; 1],
        sig[..32].to_vec(),
        [&sig[..], &sig[..]].concat(),
    ] {
        let t = format!("{input}.{}", b64(&raw));
        assert_eq!(refused(&c, &t), "bad_signature", "{} bytes", raw.len());
    }
}

#[test]
fn der_encoded_es256_signature() {
    let c = cfg();
    let Signer::Ec(key) = ec_a() else {
        unreachable!()
    };
    let h = b64(header(ec_a(), Some("ec-a")).to_string());
    let p = b64(claims().to_string());
    let input = format!("{h}.{p}");
    let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, input.as_bytes());
    let der = sig.to_der();
    let t = format!("{input}.{}", b64(der.as_bytes()));
    assert_refused(&c, &t, "bad_signature");
    // The same signature as r‖s is fine: only the encoding is refused.
    let t = format!("{input}.{}", b64(sig.to_bytes()));
    assert!(matches!(
        run(&c, &bearer(&t)),
        Decision::Forward(_, Outcome::Allowed(_))
    ));
}

#[test]
fn rsa_1024_key_in_the_jwks() {
    let small = rsa_1024();
    let (set, skipped) = KeySet::parse(
        jwks(&[small.jwk(Some("small")), rsa_a().jwk(Some("rsa-a"))])
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].kid.as_deref(), Some("small"));
    assert_eq!(skipped[0].why, SkipReason::RsaTooSmall);

    let mut v = base_config();
    v["providers"][0]["local_jwks"]["inline"] =
        jwks(&[small.jwk(Some("small")), rsa_a().jwk(Some("rsa-a"))]);
    let c = parse_config(&v);
    let t = jwt(small, &header(small, Some("small")), &claims());
    assert_refused(&c, &t, "unknown_kid");
    // Without kid the small key is still never a candidate.
    let t = jwt(small, &header(small, None), &claims());
    assert_refused(&c, &t, "bad_signature");
}

#[test]
fn kid_with_path_and_sql_like_junk() {
    let c = cfg();
    let long = "k".repeat(4000);
    for kid in [
        "../../../../etc/passwd",
        "/dev/null",
        "' OR '1'='1",
        "ec-a' --",
        "ec-a\u{0}",
        "ec-a ",
        " ec-a",
        "EC-A",
        "ec-a\r\nx-injected: 1",
        "%2e%2e%2f",
        "\u{202e}a-ce",
        "",
        long.as_str(),
    ] {
        let t = jwt(ec_a(), &json!({"alg": "ES256", "kid": kid}), &claims());
        if t.len() > 8192 {
            assert_refused(&c, &t, "token_too_large");
        } else {
            assert_refused(&c, &t, "unknown_kid");
        }
        let safe = jwtgate::gate::log_safe(kid);
        assert!(safe.len() <= 64 && safe.chars().all(|ch| ch.is_ascii_graphic()));
    }
    // kid of the wrong JSON type is not a kid at all.
    for kid in [
        json!(1),
        json!(null),
        json!(["ec-a"]),
        json!({"a": 1}),
        json!(true),
    ] {
        let t = jwt(ec_a(), &json!({"alg": "ES256", "kid": kid}), &claims());
        assert_refused(&c, &t, "token_malformed");
    }
}

#[test]
fn base64_padding_and_non_base64url_characters() {
    let c = cfg();
    let good = es_token(&claims());
    let segs: Vec<&str> = good.split('.').collect();
    for i in 0..3 {
        for pad in ["=", "==", "%3D"] {
            let mut s: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
            s[i].push_str(pad);
            assert_refused(&c, &s.join("."), "token_malformed");
        }
        // The standard alphabet instead of base64url.
        let mut s: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
        if s[i].contains(['-', '_']) {
            s[i] = s[i].replace('-', "+").replace('_', "/");
            assert_refused(&c, &s.join("."), "token_malformed");
        }
        for junk in ["+", "/", "*", "~", "\\", "é"] {
            let mut s: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
            s[i].insert_str(4, junk);
            assert_refused(&c, &s.join("."), "token_malformed");
        }
    }
    // Correctly padded standard base64 of a header that needs padding.
    let h = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        json!({"alg": "ES256", "kid": "ec-a", "x": "?>?>"}).to_string(),
    );
    let t = sign_segments(ec_a(), &h, &b64(claims().to_string()));
    assert_refused(&c, &t, "token_malformed");
}

#[test]
fn duplicate_json_keys_in_header_and_payload() {
    let c = cfg();
    let payload = claims().to_string();
    for h in [
        r#"{"alg":"ES256","alg":"none","kid":"ec-a"}"#,
        r#"{"alg":"ES256","kid":"ec-a","alg":"ES256"}"#,
        r#"{"alg":"ES256","kid":"x","kid":"ec-a"}"#,
        r#"{"alg":"ES256","kid":"ec-a","typ":"JWT","typ":"at+jwt"}"#,
    ] {
        assert_refused(&c, &sign_raw(ec_a(), h, &payload), "token_malformed");
    }
    let h = r#"{"alg":"ES256","kid":"ec-a"}"#;
    let body = &payload[1..payload.len() - 1];
    for p in [
        format!(r#"{{{body},"iss":"https://evil.test/"}}"#),
        format!(r#"{{"iss":"https://evil.test/",{body}}}"#),
        format!(r#"{{{body},"exp":9999999999}}"#),
        format!(r#"{{{body},"sub":"admin","sub":"admin"}}"#),
        format!(r#"{{{body},"org":{{"id":1,"id":2}}}}"#),
    ] {
        assert_refused(&c, &sign_raw(ec_a(), h, &p), "token_malformed");
    }
}

#[test]
fn header_and_payload_must_be_objects() {
    let c = cfg();
    let h = r#"{"alg":"ES256","kid":"ec-a"}"#;
    let p = claims().to_string();
    for bad in [
        "[]",
        "null",
        "1",
        r#""ES256""#,
        "true",
        "",
        " ",
        "{",
        "{}}",
        r#"[{"alg":"ES256"}]"#,
    ] {
        assert_refused(&c, &sign_raw(ec_a(), bad, &p), "token_malformed");
        assert_refused(&c, &sign_raw(ec_a(), h, bad), "token_malformed");
    }
    // JSON followed by more bytes is not one JSON object.
    assert_refused(
        &c,
        &sign_raw(ec_a(), h, &format!("{p} {p}")),
        "token_malformed",
    );
    assert_refused(
        &c,
        &sign_raw(ec_a(), &format!("{h}x"), &p),
        "token_malformed",
    );
    // Not UTF-8.
    let raw = sign_segments(ec_a(), &b64(h), &b64(b"{\"a\":\"\xff\xfe\"}"));
    assert_refused(&c, &raw, "token_malformed");
}

#[test]
fn twenty_kb_token() {
    let c = cfg();
    let t = es_token(&claims_with(json!({"pad": "A".repeat(20 * 1024)})));
    assert!(t.len() > 20 * 1024);
    assert_refused(&c, &t, "token_too_large");
    assert_refused(&c, &"A".repeat(20 * 1024), "token_too_large");
}

fn date_token(name: &str, value: &str) -> String {
    // Raw JSON text so values like 1e300 or -0.0 reach the parser exactly as written.
    let mut c = claims();
    c.as_object_mut().unwrap().remove(name);
    let body = c.to_string();
    let payload = format!(r#"{{"{name}":{value},{}"#, &body[1..]);
    sign_raw(ec_a(), &header(ec_a(), Some("ec-a")).to_string(), &payload)
}

#[test]
fn exp_of_the_wrong_type_or_range() {
    let c = cfg();
    for v in [
        r#""1700000300""#,
        "1e300",
        "-1e300",
        "1e10000",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "-9223372036854775808",
        "-1",
        "true",
        "null",
        "[1700000300]",
        r#"{"$date":1700000300}"#,
    ] {
        let t = date_token("exp", v);
        let d = run(&c, &bearer(&t));
        assert!(
            !matches!(d, Decision::Forward(_, Outcome::Allowed(_))),
            "exp {v} accepted"
        );
        let reason = reason_of(&d);
        assert!(
            ["token_malformed", "token_expired", "exp_missing"].contains(&reason.as_str()),
            "exp {v}: {reason}"
        );
    }
    // RFC 7519 NumericDate may carry a fraction: a float in range is a date like any other.
    let ok = date_token("exp", &format!("{}.5", NOW + 300));
    assert!(matches!(
        run(&c, &bearer(&ok)),
        Decision::Forward(_, Outcome::Allowed(_))
    ));
    assert_refused(
        &c,
        &date_token("exp", &format!("{}.5", NOW - 3600)),
        "token_expired",
    );
}

#[test]
fn extreme_nbf_and_iat_do_not_panic() {
    // A validly signed extreme nbf panicked jwt-compact (chrono overflow): must be a reason.
    let c = cfg();
    for name in ["nbf", "iat"] {
        for v in [
            "-8334601228800",
            "8334601228800",
            "-9223372036854775808",
            "9223372036854775807",
            "18446744073709551615",
            "1e308",
            "-1e308",
            "-0.0",
            "1e-300",
            r#""now""#,
        ] {
            let t = date_token(name, v);
            let d = run(&c, &bearer(&t));
            if matches!(d, Decision::Forward(_, Outcome::Allowed(_))) {
                // Only dates at or before now may pass.
                let x: f64 = v.parse().unwrap_or(f64::NAN);
                assert!(
                    (0.0..=(NOW as f64)).contains(&x) || x == 0.0,
                    "{name} {v} accepted"
                );
            } else {
                let reason = reason_of(&d);
                assert!(
                    ["token_malformed", "token_not_yet_valid"].contains(&reason.as_str()),
                    "{name} {v}: {reason}"
                );
            }
        }
    }
    assert_refused(&c, &date_token("nbf", "-8334601228800"), "token_malformed");
}

#[test]
fn aud_as_a_number() {
    let mut v = base_config();
    v["providers"][0]["audiences"] = json!(["123"]);
    let c = parse_config(&v);
    for aud in [
        json!(123),
        json!([123]),
        json!(123.0),
        json!({"123": true}),
        json!(null),
    ] {
        let t = es_token(&claims_with(json!({ "aud": aud })));
        assert_refused(&c, &t, "wrong_audience");
    }
    let t = es_token(&claims_with(json!({"aud": "123"})));
    assert!(matches!(
        run(&c, &bearer(&t)),
        Decision::Forward(_, Outcome::Allowed(_))
    ));
}

#[test]
fn crit_and_b64_headers() {
    // RFC 7515 §4.1.11: a verifier must reject `crit` extensions it does not understand.
    let c = cfg();
    for h in [
        json!({"alg": "ES256", "kid": "ec-a", "crit": ["exp"], "exp": NOW + 300}),
        json!({"alg": "ES256", "kid": "ec-a", "crit": []}),
        json!({"alg": "ES256", "kid": "ec-a", "crit": ["b64"], "b64": false}),
        json!({"alg": "ES256", "kid": "ec-a", "b64": true}),
    ] {
        assert_refused(&c, &jwt(ec_a(), &h, &claims()), "token_malformed");
    }
}

#[test]
fn embedded_keys_in_the_header_are_ignored() {
    // jwk/jku/x5u/x5c in the header must never supply the verification key.
    let c = cfg();
    let attacker = ec_b();
    for extra in [
        json!({"jwk": attacker.jwk(None)}),
        json!({"jku": "https://evil.test/jwks.json"}),
        json!({"x5u": "https://evil.test/cert.pem"}),
        json!({"x5c": ["MIIB"]}),
    ] {
        let mut h = header(attacker, None);
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        assert_refused(&c, &jwt(attacker, &h, &claims()), "bad_signature");
    }
}

#[test]
fn signature_from_another_token_or_stripped() {
    let c = cfg();
    let a = es_token(&claims());
    let (input, sig) = a.rsplit_once('.').unwrap();
    assert_refused(&c, input, "token_malformed");
    assert_refused(&c, &format!("{input}."), "token_malformed");
    assert_refused(&c, &format!("{input}.{sig}.{sig}"), "token_malformed");
    let other = es_token(&claims_with(json!({"sub": "someone"})));
    let other_sig = other.rsplit_once('.').unwrap().1;
    assert_refused(&c, &format!("{input}.{other_sig}"), "bad_signature");
}

#[test]
fn non_canonical_base64_trailing_bits() {
    // Two encodings of the same bytes would make the token string malleable: the strict
    // decoder must refuse set padding bits in the last character of every segment.
    let c = cfg();
    let good = es_token(&claims());
    let segs: Vec<&str> = good.split('.').collect();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut tried = 0;
    for i in 0..3 {
        if segs[i].len() % 4 == 0 {
            continue;
        }
        let (head, last) = segs[i].split_at(segs[i].len() - 1);
        for alt in alphabet.chars().filter(|&a| a.to_string() != last) {
            let cand = format!("{head}{alt}");
            use base64::Engine;
            let lenient = base64::engine::GeneralPurpose::new(
                &base64::alphabet::URL_SAFE,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_allow_trailing_bits(true)
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
            );
            if lenient.decode(&cand).ok() == lenient.decode(segs[i]).ok() {
                let mut s: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
                s[i] = cand;
                assert_refused(&c, &s.join("."), "token_malformed");
                tried += 1;
            }
        }
    }
    assert!(tried > 0, "no segment had spare bits to test");
}
