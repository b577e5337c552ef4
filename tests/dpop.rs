//! Contract v1.2 "DPoP" and "Certificate-bound tokens" through `gate::prepare`/`decide`: for
//! every check of a proof, a proof that fails that check alone (the proof the suite starts
//! from passes every check, and each case changes one thing); then the token's binding, the
//! challenges, replays, the token cache and header edits.

mod common;

use common::dpop::*;
use common::*;
use jwtgate::config::{Config, DpopPolicy};
use jwtgate::dpop::proof::{self, ProofError, Target};
use jwtgate::gate::{self, Decision, Outcome, Start};
use jwtgate::jwks_cache::store::MemoryStore;
use jwtgate::TokenCache;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn dpop_config(dpop: Value) -> Config {
    parse_config(&with_dpop(dpop))
}

fn cfg() -> Config {
    dpop_config(json!({}))
}

/// A request to `https://api.example.com{path}` with the token under the DPoP scheme.
fn dpop_request(method: &str, path: &str, token: &str, proofs: &[&str]) -> Vec<(String, String)> {
    let mut h = vec![
        (":method".to_owned(), method.to_owned()),
        (":scheme".to_owned(), "https".to_owned()),
        (":path".to_owned(), path.to_owned()),
        (":authority".to_owned(), AUTHORITY.to_owned()),
        ("authorization".to_owned(), format!("DPoP {token}")),
    ];
    for p in proofs {
        h.push(("dpop".to_owned(), p.to_string()));
    }
    h
}

fn get(token: &str, proof: &str) -> Vec<(String, String)> {
    dpop_request("GET", "/orders", token, &[proof])
}

fn decide(
    cfg: &Config,
    headers: &[(String, String)],
    seen: &mut MemoryStore,
    cache: &mut TokenCache,
) -> Decision {
    match gate::prepare(cfg, headers) {
        Start::Done(d) => d,
        Start::Check(prep) => {
            gate::decide_with(cfg, &prep, &Keys::from_config(cfg), cache, NOW, seen)
        }
    }
}

/// The decision with nothing seen before: a new replay memory and an empty token cache.
fn decide_new(cfg: &Config, headers: &[(String, String)]) -> Decision {
    decide(
        cfg,
        headers,
        &mut MemoryStore::default(),
        &mut TokenCache::new(1, 16),
    )
}

fn allowed(d: &Decision) -> bool {
    matches!(d, Decision::Forward(_, Outcome::Allowed(_)))
}

fn challenges(d: &Decision) -> Vec<String> {
    rejection(d)
        .headers
        .iter()
        .filter(|(n, _)| n == "www-authenticate")
        .map(|(_, v)| v.clone())
        .collect()
}

fn assert_proof_failure(d: &Decision, reason: &str) {
    let r = rejection(d);
    assert_eq!(r.status, 401, "{reason}: {r:?}");
    assert_eq!(
        challenges(d),
        vec![format!(
            "DPoP realm=\"{AUTHORITY}\", error=\"invalid_dpop_proof\", error_description=\"{reason}\", algs=\"ES256 RS256\""
        )]
    );
    assert_eq!(
        r.body,
        format!("{{\"error\":\"invalid_dpop_proof\",\"reason\":\"{reason}\"}}")
    );
}

/// The proof through the whole gate, and alone through the proof check (which names the one
/// check that failed).
fn fails_only(p: &Proof, token: &str, check: ProofError) {
    text_fails_only(&p.text(), token, client(), check);
}

/// As `fails_only`, for a proof's text, with `token` bound to `bound`.
fn text_fails_only(proof_text: &str, token: &str, bound: Signer, check: ProofError) {
    let cfg = cfg();
    let d = decide_new(&cfg, &get(token, proof_text));
    assert_proof_failure(&d, check.reason().as_str());
    let policy = cfg.providers[0].dpop.clone().unwrap();
    let target = Target {
        method: "GET",
        uri: Some(HTU),
    };
    assert_eq!(
        proof::check(proof_text, &policy, 60, target, token, &jkt(bound), NOW),
        Err(check),
        "{}",
        check
    );
}

// ------------------------------------------------------------------ the proof, check by check

#[test]
fn the_base_proof_passes_every_check() {
    let token = bound_token(client());
    let p = Proof::new(&token);
    let d = decide_new(&cfg(), &get(&token, &p.text()));
    assert!(allowed(&d), "{d:?}");
    // RS256 proofs too, with an RSA key bound.
    let rs_token_bound = bound_token(rsa_b());
    let p = Proof::new(&rs_token_bound).key(rsa_b());
    let d = decide_new(&cfg(), &get(&rs_token_bound, &p.text()));
    assert!(allowed(&d), "{d:?}");
}

#[test]
fn shape() {
    let token = bound_token(client());
    let good = Proof::new(&token).text();
    let parts: Vec<&str> = good.split('.').collect();
    for bad in [
        "abc".to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.x"),
        format!("{}.{}.!!!", parts[0], parts[1]),
        // Claims that are not an object.
        Proof::new(&token).text_with_raw_claims("[1]"),
        "x".repeat(proof::MAX_PROOF_BYTES + 1),
    ] {
        text_fails_only(&bad, &token, client(), ProofError::Shape);
    }
}

#[test]
fn typ() {
    let token = bound_token(client());
    for typ in [json!("JWT"), json!("at+jwt"), json!(null), json!(7)] {
        let p = Proof::new(&token).header("typ", typ.clone());
        // A `typ` that is not a string fails the shape already.
        let check = if typ.is_number() {
            ProofError::Shape
        } else {
            ProofError::Typ
        };
        fails_only(&p, &token, check);
    }
    // The media type compares case-insensitively, with or without `application/`.
    for typ in ["DPoP+JWT", "application/dpop+jwt"] {
        let p = Proof::new(&token).header("typ", json!(typ));
        let d = decide_new(&cfg(), &get(&token, &p.text()));
        assert!(allowed(&d), "{typ}");
    }
}

#[test]
fn alg_hs256_none_and_not_listed() {
    let token = bound_token(client());
    // HS256 over the same input, keyed with the public key's x (what a confused verifier
    // would use): the alg check refuses it before any key is looked at.
    let x = client().jwk(None)["x"].as_str().unwrap().to_owned();
    let hs = Proof::new(&token).hs256_text(x.as_bytes());
    text_fails_only(&hs, &token, client(), ProofError::Alg);
    let p = Proof::new(&token).header("alg", json!("none"));
    fails_only(&p, &token, ProofError::Alg);
    // ES256 proofs where only RS256 is listed.
    let only_rs = dpop_config(json!({"algorithms": ["RS256"]}));
    let p = Proof::new(&token);
    let d = decide_new(&only_rs, &get(&token, &p.text()));
    assert_eq!(reason_of(&d), "dpop_proof_invalid");
    assert_eq!(
        challenges(&d),
        vec![format!("DPoP realm=\"{AUTHORITY}\", error=\"invalid_dpop_proof\", error_description=\"dpop_proof_invalid\", algs=\"RS256\"")]
    );
}

#[test]
fn jwk() {
    let token = bound_token(client());
    let mut private = client().jwk(None);
    private["d"] = json!(b64([1u8; 32]));
    let mut oct = json!({"kty": "oct", "k": b64([7u8; 32])});
    oct["alg"] = json!("HS256");
    let mut wrong_alg = client().jwk(None);
    wrong_alg["alg"] = json!("RS256");
    let mut enc = client().jwk(None);
    enc["use"] = json!("enc");
    for jwk in [
        json!(null),
        json!("not an object"),
        private,
        oct,
        // An RSA key under an ES256 header.
        rsa_b().jwk(None),
        wrong_alg,
        enc,
        json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}),
    ] {
        let p = Proof::new(&token).header("jwk", jwk.clone());
        fails_only(&p, &token, ProofError::Jwk);
    }
    // An RSA key of 1024 bits, with a proof it really signed.
    let p = Proof::new(&token).key(rsa_1024());
    fails_only(&p, &token, ProofError::Jwk);
}

#[test]
fn signature_by_a_key_other_than_its_jwk() {
    let token = bound_token(client());
    let p = Proof::new(&token).signed_by(ec_a());
    fails_only(&p, &token, ProofError::Signature);
    let tampered = Proof::new(&token).text_with_tampered_signature();
    let d = decide_new(&cfg(), &get(&token, &tampered));
    assert_eq!(reason_of(&d), "dpop_proof_invalid");
}

#[test]
fn jti() {
    let token = bound_token(client());
    for jti in [
        json!(null),
        json!(42),
        json!(""),
        json!("j".repeat(proof::MAX_JTI_BYTES + 1)),
    ] {
        fails_only(
            &Proof::new(&token).claim("jti", jti),
            &token,
            ProofError::Jti,
        );
    }
}

#[test]
fn htm() {
    let token = bound_token(client());
    for htm in [json!("POST"), json!("get"), json!(null), json!(1)] {
        fails_only(
            &Proof::new(&token).claim("htm", htm),
            &token,
            ProofError::Htm,
        );
    }
    // A POST with a POST proof passes.
    let p = Proof::for_request(&token, "POST", HTU);
    let d = decide_new(
        &cfg(),
        &dpop_request("POST", "/orders", &token, &[&p.text()]),
    );
    assert!(allowed(&d));
}

#[test]
fn htu() {
    let token = bound_token(client());
    for htu in [
        json!("https://api.example.com/other"),
        json!("http://api.example.com/orders"),
        json!("https://api.example.com:8443/orders"),
        json!("https://evil.example.com/orders"),
        json!("https://api.example.com/orders/"),
        json!("/orders"),
        json!(null),
        json!(3),
    ] {
        fails_only(
            &Proof::new(&token).claim("htu", htu),
            &token,
            ProofError::Htu,
        );
    }
    // Spellings of the same URI pass: default port, query, fragment, case of scheme and host.
    for htu in [
        "https://api.example.com:443/orders",
        "https://api.example.com/orders?page=2",
        "HTTPS://API.EXAMPLE.COM/orders#x",
        "https://api.example.com/x/../orders",
    ] {
        let p = Proof::new(&token).claim("htu", json!(htu));
        let d = decide_new(&cfg(), &get(&token, &p.text()));
        assert!(allowed(&d), "{htu}: {d:?}");
    }
    // The request side is normalized too, and its query ignored.
    for path in ["/orders?x=1", "/./orders", "//orders", "/%6Frders"] {
        let p = Proof::new(&token);
        let d = decide_new(&cfg(), &dpop_request("GET", path, &token, &[&p.text()]));
        assert!(allowed(&d), "{path}: {d:?}");
    }
    // A proof for /a sent to /a/../b is a proof for /a, not for /b.
    let p = Proof::new(&token).claim("htu", json!("https://api.example.com/a"));
    let d = decide_new(
        &cfg(),
        &dpop_request("GET", "/a/../b", &token, &[&p.text()]),
    );
    assert_proof_failure(&d, "dpop_proof_invalid");
    let d = decide_new(
        &cfg(),
        &dpop_request("GET", "/a/../a", &token, &[&p.text()]),
    );
    assert!(allowed(&d));
    // The request's authority with its default port is the same origin.
    let mut h = get(&token, &Proof::new(&token).text());
    h[3].1 = "API.example.com:443".into();
    assert!(allowed(&decide_new(&cfg(), &h)));
}

#[test]
fn htu_with_external_origin() {
    let token = bound_token(client());
    let cfg = dpop_config(json!({"external_origin": "https://public.example.com"}));
    // Behind a TLS terminator the proxy sees http and an inner authority.
    let mut h = get(
        &token,
        &Proof::new(&token)
            .claim("htu", json!("https://public.example.com/orders"))
            .text(),
    );
    h[1].1 = "http".into();
    h[3].1 = "inner:8080".into();
    assert!(allowed(&decide_new(&cfg, &h)));
    let mut h = get(&token, &Proof::new(&token).text());
    h[1].1 = "http".into();
    assert_eq!(reason_of(&decide_new(&cfg, &h)), "dpop_proof_invalid");
}

#[test]
fn iat_window() {
    let token = bound_token(client());
    // max_age_s 300 and clock_skew_s 60: [NOW - 360, NOW + 60].
    for iat in [
        json!(NOW - 361),
        json!(NOW + 61),
        json!(null),
        json!("1700000000"),
        json!(-1),
        json!(1e12),
    ] {
        fails_only(
            &Proof::new(&token).claim("iat", iat),
            &token,
            ProofError::Iat,
        );
    }
    for iat in [NOW - 360, NOW + 60, NOW] {
        let p = Proof::new(&token).claim("iat", json!(iat));
        assert!(
            allowed(&decide_new(&cfg(), &get(&token, &p.text()))),
            "{iat}"
        );
    }
    let short = dpop_config(json!({"max_age_s": 10}));
    let p = Proof::new(&token).claim("iat", json!(NOW - 71));
    assert_eq!(
        reason_of(&decide_new(&short, &get(&token, &p.text()))),
        "dpop_proof_invalid"
    );
}

#[test]
fn ath_claim() {
    let token = bound_token(client());
    for a in [
        json!(null),
        json!(ath("another token")),
        json!(token.clone()),
        json!(1),
    ] {
        fails_only(&Proof::new(&token).claim("ath", a), &token, ProofError::Ath);
    }
}

#[test]
fn key_mismatch() {
    // The token is bound to another key than the one that signed the (valid) proof.
    let token = bound_token(ec_a());
    let p = Proof::new(&token);
    text_fails_only(&p.text(), &token, ec_a(), ProofError::KeyMismatch);
}

#[test]
fn thumbprint_is_rfc7638() {
    // RFC 7638 §3.1's example key and thumbprint.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        proof::thumbprint(jwk.as_object().unwrap()).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    assert_eq!(
        proof::thumbprint(client().jwk(Some("kid")).as_object().unwrap()),
        Some(jkt(client()))
    );
}

// ------------------------------------------------------------------ the token's binding

#[test]
fn the_proof_header_must_be_there_once() {
    let token = bound_token(client());
    let cfg = cfg();
    let d = decide_new(&cfg, &dpop_request("GET", "/orders", &token, &[]));
    assert_proof_failure(&d, "dpop_proof_missing");
    let d = decide_new(&cfg, &dpop_request("GET", "/orders", &token, &[""]));
    assert_proof_failure(&d, "dpop_proof_missing");
    let (a, b) = (Proof::new(&token).text(), Proof::new(&token).text());
    // Two headers, one header joined by a host, and the same proof twice: all refused.
    for proofs in [
        vec![a.clone(), b.clone()],
        vec![format!("{a},{b}")],
        vec![a.clone(), a.clone()],
    ] {
        let refs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let d = decide_new(&cfg, &dpop_request("GET", "/orders", &token, &refs));
        assert_proof_failure(&d, "dpop_proof_invalid");
    }
}

#[test]
fn the_scheme_word_is_case_insensitive() {
    let token = bound_token(client());
    for scheme in ["dpop", "DPOP", "DPoP"] {
        let mut h = get(&token, &Proof::new(&token).text());
        h[4].1 = format!("{scheme} {token}");
        assert!(allowed(&decide_new(&cfg(), &h)), "{scheme}");
    }
}

#[test]
fn bound_tokens_are_not_bearer_tokens() {
    let token = bound_token(client());
    // A DPoP-bound token sent as Bearer: token_bound, with or without `dpop` configured.
    assert_invalid_token(&run(&cfg(), &bearer(&token)), "token_bound");
    assert_invalid_token(
        &run(&parse_config(&base_config()), &bearer(&token)),
        "token_bound",
    );
    // Without `dpop` the DPoP scheme is no token of this provider at all.
    let base = parse_config(&base_config());
    let h = get(&token, &Proof::new(&token).text());
    assert_eq!(reason_of(&run(&base, &h)), "token_missing");
    // A token without cnf.jkt under the DPoP scheme: token_bound, challenged in that scheme.
    let plain = es_token(&claims());
    let d = decide_new(&cfg(), &get(&plain, &Proof::new(&plain).text()));
    assert_eq!(
        challenges(&d),
        vec![format!("DPoP realm=\"{AUTHORITY}\", error=\"invalid_token\", error_description=\"token_bound\", algs=\"ES256 RS256\"")]
    );
    // A cnf with a method jwtgate does not check is bound to something unproven.
    for cnf in [
        json!({"jwk": {"kty": "EC"}}),
        json!({"jkt": jkt(client()), "kid": "x"}),
        json!("x"),
        json!({}),
    ] {
        let t = es_token(&claims_with(json!({"cnf": cnf})));
        assert_eq!(
            reason_of(&decide_new(&cfg(), &get(&t, &Proof::new(&t).text()))),
            "token_bound",
            "{cnf}"
        );
        assert_invalid_token(&run(&cfg(), &bearer(&t)), "token_bound");
    }
}

#[test]
fn a_token_failing_its_own_checks_under_dpop_is_challenged_in_that_scheme() {
    let token = es_token(&claims_with(
        json!({"cnf": {"jkt": jkt(client())}, "exp": NOW - 100}),
    ));
    let d = decide_new(&cfg(), &get(&token, &Proof::new(&token).text()));
    assert_eq!(rejection(&d).status, 401);
    assert_eq!(
        challenges(&d),
        vec![format!("DPoP realm=\"{AUTHORITY}\", error=\"invalid_token\", error_description=\"token_expired\", algs=\"ES256 RS256\"")]
    );
}

#[test]
fn step_up_and_grpc_under_dpop_keep_their_challenge_in_that_scheme() {
    let mut v = with_dpop(json!({}));
    v["rules"] = json!([{"match": {"prefix": "/"}, "requires": {
        "provider": "corp", "acr_values": ["mfa"], "max_age_s": 60}}]);
    let step_up = parse_config(&v);
    let token = es_token(&claims_with(
        json!({"cnf": {"jkt": jkt(client())}, "acr": "pwd", "auth_time": NOW - 10}),
    ));
    let d = decide_new(&step_up, &get(&token, &Proof::new(&token).text()));
    assert_eq!(reason_of(&d), "acr_insufficient");
    assert_eq!(
        challenges(&d),
        vec![format!("DPoP realm=\"{AUTHORITY}\", error=\"insufficient_user_authentication\", error_description=\"acr_insufficient\", acr_values=\"mfa\", max_age=\"60\", algs=\"ES256 RS256\"")]
    );
    assert!(rejection(&d)
        .body
        .contains("insufficient_user_authentication"));
    // A gRPC request gets the gRPC answer, with the same DPoP challenge.
    let expired = es_token(&claims_with(
        json!({"cnf": {"jkt": jkt(client())}, "exp": NOW - 100}),
    ));
    let mut h = get(&expired, &Proof::new(&expired).text());
    h.push(("content-type".to_owned(), "application/grpc".to_owned()));
    let d = decide_new(&cfg(), &h);
    let r = rejection(&d);
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .contains(&("grpc-status".to_owned(), "16".to_owned())));
    assert!(r.body.is_empty());
    assert_eq!(
        challenges(&d),
        vec![format!("DPoP realm=\"{AUTHORITY}\", error=\"invalid_token\", error_description=\"token_expired\", algs=\"ES256 RS256\"")]
    );
}

#[test]
fn required() {
    let cfg = dpop_config(json!({"required": true}));
    let plain = es_token(&claims());
    let d = run(&cfg, &bearer(&plain));
    assert_eq!(reason_of(&d), "dpop_required");
    assert_eq!(
        challenges(&d),
        vec![
            format!("Bearer realm=\"{AUTHORITY}\", error=\"invalid_token\", error_description=\"dpop_required\""),
            format!("DPoP realm=\"{AUTHORITY}\", algs=\"ES256 RS256\""),
        ]
    );
    // Bound and proven still passes.
    let token = bound_token(client());
    assert!(allowed(&decide_new(
        &cfg,
        &get(&token, &Proof::new(&token).text())
    )));
    // Not required: a plain Bearer token passes beside DPoP.
    assert!(allowed(&run(&dpop_config(json!({})), &bearer(&plain))));
}

#[test]
fn no_token_offers_both_schemes() {
    let d = run(&cfg(), &request("/", &[]));
    assert_eq!(
        challenges(&d),
        vec![
            format!("Bearer realm=\"{AUTHORITY}\""),
            format!("DPoP realm=\"{AUTHORITY}\", algs=\"ES256 RS256\""),
        ]
    );
    assert_eq!(
        challenges(&run(&parse_config(&base_config()), &request("/", &[]))).len(),
        1
    );
}

#[test]
fn replays_fail_and_a_waiting_request_consumes_nothing() {
    let token = bound_token(client());
    let cfg = cfg();
    let proof = Proof::new(&token).text();
    let mut seen = MemoryStore::default();
    seen.overwrite_without_cas = true;
    let mut cache = TokenCache::new(1, 16);
    assert!(allowed(&decide(
        &cfg,
        &get(&token, &proof),
        &mut seen,
        &mut cache
    )));
    let d = decide(&cfg, &get(&token, &proof), &mut seen, &mut cache);
    assert_proof_failure(&d, "dpop_replayed");
    // A fresh proof passes again.
    assert!(allowed(&decide(
        &cfg,
        &get(&token, &Proof::new(&token).text()),
        &mut seen,
        &mut cache
    )));

    // Keys pending: the request waits, its proof is not spent.
    let cfg = dpop_config(json!({}));
    let proof = Proof::new(&token).text();
    let mut seen = MemoryStore::default();
    let h = get(&token, &proof);
    let Start::Check(prep) = gate::prepare(&cfg, &h) else {
        panic!()
    };
    let pending = Keys::one(Slot::Pending);
    let d = gate::decide_with(
        &cfg,
        &prep,
        &pending,
        &mut TokenCache::new(1, 16),
        NOW,
        &mut seen,
    );
    assert!(matches!(d, Decision::Wait(_)), "{d:?}");
    assert!(allowed(&decide(
        &cfg,
        &h,
        &mut seen,
        &mut TokenCache::new(1, 16)
    )));
}

#[test]
fn a_replay_memory_that_cannot_remember_fails_closed() {
    let token = bound_token(client());
    let mut seen = MemoryStore::default();
    seen.refuse_writes = true;
    let d = decide(
        &cfg(),
        &get(&token, &Proof::new(&token).text()),
        &mut seen,
        &mut TokenCache::new(1, 16),
    );
    let r = rejection(&d);
    assert_eq!(r.status, 503);
    assert_eq!(resp_header(r, "www-authenticate"), None);
    assert_eq!(
        r.body,
        r#"{"error":"temporarily_unavailable","reason":"dpop_replay_unavailable"}"#
    );
}

#[test]
fn a_cached_token_never_skips_its_proof() {
    let token = bound_token(client());
    let cfg = cfg();
    let mut seen = MemoryStore::default();
    let mut cache = TokenCache::new(1, 16);
    assert!(allowed(&decide(
        &cfg,
        &get(&token, &Proof::new(&token).text()),
        &mut seen,
        &mut cache
    )));
    assert_eq!(cache.len(), 1, "the token is cached");
    let d = decide(
        &cfg,
        &dpop_request("GET", "/orders", &token, &[]),
        &mut seen,
        &mut cache,
    );
    assert_proof_failure(&d, "dpop_proof_missing");
    let d = decide(
        &cfg,
        &get(&token, &Proof::new(&token).signed_by(ec_a()).text()),
        &mut seen,
        &mut cache,
    );
    assert_proof_failure(&d, "dpop_proof_invalid");
    assert_invalid_token(
        &run_cached(&cfg, &bearer(&token), &mut cache),
        "token_bound",
    );
}

fn run_cached(cfg: &Config, h: &[(String, String)], cache: &mut TokenCache) -> Decision {
    decide(cfg, h, &mut MemoryStore::default(), cache)
}

#[test]
fn forward_false_removes_the_proof_with_the_token() {
    let token = bound_token(client());
    let mut h = get(&token, &Proof::new(&token).text());
    h.push(("DPoP".to_owned(), "ignored-second-spelling".to_owned()));
    // Two spellings make two proofs: refused. One spelling, removed with the token:
    let h1 = get(&token, &Proof::new(&token).text());
    let d = decide_new(&cfg(), &h1);
    let m = mutations(&d);
    assert!(m.remove.contains(&"authorization".to_owned()), "{m:?}");
    assert!(m.remove.contains(&"dpop".to_owned()), "{m:?}");
    assert_eq!(reason_of(&decide_new(&cfg(), &h)), "dpop_proof_invalid");
    // forward: true keeps both.
    let mut v = with_dpop(json!({}));
    v["providers"][0]["forward"] = json!(true);
    let d = decide_new(&parse_config(&v), &h1);
    assert!(mutations(&d).remove.is_empty());
}

/// The same proof sent twice under `cfg` (one replay memory): the first passes; the
/// second's decision.
fn replayed(cfg: &Config, token: &str, proof: &str) -> Decision {
    let mut seen = MemoryStore::default();
    assert!(allowed(&decide(
        cfg,
        &get(token, proof),
        &mut seen,
        &mut TokenCache::new(1, 16)
    )));
    decide(
        cfg,
        &get(token, proof),
        &mut seen,
        &mut TokenCache::new(1, 16),
    )
}

#[test]
fn report_mode_and_allow_missing_or_failed_pass_a_replay() {
    let token = bound_token(client());
    let mut v = with_dpop(json!({}));
    v["mode"] = json!("report");
    let cfg = parse_config(&v);
    let proof = Proof::new(&token).text();
    let d = replayed(&cfg, &token, &proof);
    assert!(
        gate::denied_for(&d, jwtgate::Reason::DpopReplayed) && matches!(d, Decision::Forward(..))
    );

    let mut v = with_dpop(json!({}));
    v["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"allow_missing_or_failed": {"provider": "corp"}}}]);
    let cfg = parse_config(&v);
    let d = replayed(&cfg, &token, &proof);
    assert!(
        matches!(
            &d,
            Decision::Forward(_, Outcome::Denied { reported: true, .. })
        ),
        "{d:?}"
    );
    assert!(gate::denied_for(&d, jwtgate::Reason::DpopReplayed));
}

// ------------------------------------------------------------------ certificate-bound tokens

fn cert_digest(n: u8) -> [u8; 32] {
    Sha256::digest([0x30, 0x01, n]).into()
}

fn x5t_token(digest: &[u8; 32]) -> String {
    es_token(&claims_with(json!({"cnf": {"x5t#S256": b64(digest)}})))
}

fn mtls_decide(cfg: &Config, h: &[(String, String)], peer: Option<[u8; 32]>) -> Decision {
    match gate::prepare(cfg, h) {
        Start::Done(d) => d,
        Start::Check(mut prep) => {
            assert_eq!(
                prep.wants_peer_certificate(cfg),
                cfg.providers[0].mtls == Some(jwtgate::config::MtlsPolicy::Connection)
            );
            prep.set_peer_certificate(peer);
            gate::decide(
                cfg,
                &prep,
                &Keys::from_config(cfg),
                &mut TokenCache::new(1, 16),
                NOW,
            )
        }
    }
}

#[test]
fn certificate_bound_tokens_on_the_connection() {
    let mut v = base_config();
    v["providers"][0]["mtls"] = json!({"client_cert_header": null});
    let cfg = parse_config(&v);
    let token = x5t_token(&cert_digest(1));
    assert!(allowed(&mtls_decide(
        &cfg,
        &bearer(&token),
        Some(cert_digest(1))
    )));
    assert_invalid_token(
        &mtls_decide(&cfg, &bearer(&token), Some(cert_digest(2))),
        "cert_mismatch",
    );
    assert_invalid_token(&mtls_decide(&cfg, &bearer(&token), None), "cert_mismatch");
    // A forwarded header means nothing when the connection is the source.
    let mut h = bearer(&token);
    h.push((
        "x-forwarded-client-cert".into(),
        format!("Hash={}", hex::encode(cert_digest(1))),
    ));
    assert_invalid_token(&mtls_decide(&cfg, &h, None), "cert_mismatch");
    // An unbound token needs no certificate.
    assert!(allowed(&mtls_decide(
        &cfg,
        &bearer(&es_token(&claims())),
        None
    )));
    // Without `mtls` the bound token is not a Bearer token.
    assert_invalid_token(
        &run(&parse_config(&base_config()), &bearer(&token)),
        "token_bound",
    );
}

#[test]
fn certificate_bound_tokens_through_a_trusted_xfcc() {
    let mut v = base_config();
    v["providers"][0]["mtls"] = json!({"client_cert_header": "x-forwarded-client-cert"});
    let cfg = parse_config(&v);
    let token = x5t_token(&cert_digest(1));
    let with = |xfcc: &[&str]| {
        let mut h = bearer(&token);
        for x in xfcc {
            h.push(("X-Forwarded-Client-Cert".into(), x.to_string()));
        }
        h
    };
    let good = format!(
        "By=spiffe://proxy;Hash={};Subject=\"CN=client\"",
        hex::encode(cert_digest(1))
    );
    assert!(allowed(&mtls_decide(&cfg, &with(&[&good]), None)));
    // The connection's certificate is not the source here.
    assert_invalid_token(
        &mtls_decide(&cfg, &with(&[]), Some(cert_digest(1))),
        "cert_mismatch",
    );
    let other = format!("Hash={}", hex::encode(cert_digest(2)));
    assert_invalid_token(&mtls_decide(&cfg, &with(&[&other]), None), "cert_mismatch");
    // Appended to (two elements) or sent twice: which one the terminator set is unknown.
    assert_invalid_token(
        &mtls_decide(&cfg, &with(&[&format!("{good},{other}")]), None),
        "cert_mismatch",
    );
    assert_invalid_token(
        &mtls_decide(&cfg, &with(&[&good, &good]), None),
        "cert_mismatch",
    );
}

#[test]
fn both_bindings_need_both_proofs() {
    let mut v = with_dpop(json!({}));
    v["providers"][0]["mtls"] = json!({});
    let cfg = parse_config(&v);
    let token = es_token(&claims_with(
        json!({"cnf": {"jkt": jkt(client()), "x5t#S256": b64(cert_digest(1))}}),
    ));
    let h = get(&token, &Proof::new(&token).text());
    assert!(allowed(&mtls_decide(&cfg, &h, Some(cert_digest(1)))));
    let h = get(&token, &Proof::new(&token).text());
    assert_eq!(reason_of(&mtls_decide(&cfg, &h, None)), "cert_mismatch");
}

// ------------------------------------------------------------------ configuration

#[test]
fn config_fields() {
    let p = &cfg().providers[0];
    assert_eq!(
        p.dpop,
        Some(DpopPolicy {
            required: false,
            algorithms: vec![jwtgate::token::Alg::Es256, jwtgate::token::Alg::Rs256],
            max_age_s: 300,
            external_origin: None,
        })
    );
    assert_eq!(p.mtls, None);
    let c = dpop_config(json!({"external_origin": "HTTPS://Api.Example.com:443/"}));
    assert_eq!(
        c.providers[0]
            .dpop
            .as_ref()
            .unwrap()
            .external_origin
            .as_deref(),
        Some("https://api.example.com")
    );
    for (dpop, field) in [
        (
            json!({"algorithms": ["HS256"]}),
            "providers[0].dpop.algorithms[0]",
        ),
        (json!({"algorithms": []}), "providers[0].dpop.algorithms"),
        (json!({"max_age_s": 0}), "providers[0].dpop.max_age_s"),
        (
            json!({"external_origin": "https://h/path"}),
            "providers[0].dpop.external_origin",
        ),
        (
            json!({"external_origin": "ftp://h"}),
            "providers[0].dpop.external_origin",
        ),
        (json!({"required": null}), "providers[0].dpop.required"),
        (json!({"nonce": true}), "providers[0].dpop.nonce"),
    ] {
        let mut v = base_config();
        v["providers"][0]["dpop"] = dpop.clone();
        assert_eq!(config_error(&v).field, field, "{dpop}");
    }
    for (mtls, ok) in [
        (json!({}), true),
        (json!({"client_cert_header": null}), true),
        (
            json!({"client_cert_header": "X-Forwarded-Client-Cert"}),
            true,
        ),
        (json!({"client_cert_header": "x-client-cert"}), false),
        (json!({"other": 1}), false),
    ] {
        let mut v = base_config();
        v["providers"][0]["mtls"] = mtls.clone();
        assert_eq!(
            jwtgate::config::parse(v.to_string().as_bytes()).is_ok(),
            ok,
            "{mtls}"
        );
    }
}
