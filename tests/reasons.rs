//! The contract's reason codes and outcome table, driven through `gate::prepare`/`decide` with
//! real request headers; then requirement forms, header edits, modes, rules and key rules.

mod common;

use common::*;
use jwtgate::gate::{self, Decision, Outcome, Start};
use jwtgate::TokenCache;
use serde_json::{json, Value};

fn cfg_with(patch_provider: Value) -> jwtgate::config::Config {
    let mut v = base_config();
    for (k, val) in patch_provider.as_object().unwrap() {
        v["providers"][0][k] = val.clone();
    }
    parse_config(&v)
}

fn forwarded(d: &Decision) -> bool {
    matches!(d, Decision::Forward(..))
}

fn allowed(d: &Decision) -> bool {
    matches!(d, Decision::Forward(_, Outcome::Allowed(_)))
}

// ---------------------------------------------------------------- one test per reason code

#[test]
fn valid_es256_and_rs256_tokens_pass() {
    let cfg = parse_config(&base_config());
    for token in [es_token(&claims()), rs_token(&claims())] {
        let d = run(&cfg, &bearer(&token));
        assert!(allowed(&d), "{d:?}");
    }
}

#[test]
fn token_missing() {
    let cfg = parse_config(&base_config());
    let d = run(&cfg, &request("/", &[]));
    let r = rejection(&d);
    assert_eq!(r.status, 401);
    assert_eq!(
        resp_header(r, "www-authenticate"),
        Some(format!("Bearer realm=\"{AUTHORITY}\"").as_str())
    );
    assert_eq!(resp_header(r, "content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        r#"{"error":"unauthorized","reason":"token_missing"}"#
    );
    // Another auth scheme is not a bearer token: still missing, not malformed.
    let d = run(
        &cfg,
        &request("/", &[("authorization", "Basic dXNlcjpwdw==")]),
    );
    assert_eq!(reason_of(&d), "token_missing");
}

#[test]
fn token_malformed() {
    let cfg = parse_config(&base_config());
    for bad in ["abc", "a.b", "a.b.c.d", "e30.e30.", "!!!.e30.AAAA"] {
        assert_invalid_token(&run(&cfg, &bearer(bad)), "token_malformed");
    }
}

#[test]
fn token_malformed_for_two_different_tokens() {
    let cfg = parse_config(&base_config());
    let a = es_token(&claims());
    let b = es_token(&claims_with(json!({"sub": "other"})));
    // Two header entries, and one merged value as Envoy delivers repeated headers.
    let two = request(
        "/",
        &[
            ("authorization", &format!("Bearer {a}")),
            ("authorization", &format!("Bearer {b}")),
        ],
    );
    assert_invalid_token(&run(&cfg, &two), "token_malformed");
    let merged = request("/", &[("authorization", &format!("Bearer {a},Bearer {b}"))]);
    assert_invalid_token(&run(&cfg, &merged), "token_malformed");
    // The same token twice is one token.
    let same = request(
        "/",
        &[
            ("authorization", &format!("Bearer {a}")),
            ("authorization", &format!("bearer {a}")),
        ],
    );
    assert!(allowed(&run(&cfg, &same)));
}

#[test]
fn token_too_large() {
    let mut v = base_config();
    v["max_token_size"] = json!(64);
    let cfg = parse_config(&v);
    // Checked before parsing: junk of the wrong size is too large, not malformed.
    assert_invalid_token(&run(&cfg, &bearer(&"x".repeat(65))), "token_too_large");
    let token = es_token(&claims());
    assert!(token.len() > 64);
    assert_invalid_token(&run(&cfg, &bearer(&token)), "token_too_large");
}

#[test]
fn token_too_large_at_the_default_8192() {
    let cfg = parse_config(&base_config());
    let big = claims_with(json!({"pad": "p".repeat(8192)}));
    assert_invalid_token(&run(&cfg, &bearer(&es_token(&big))), "token_too_large");
}

#[test]
fn alg_not_allowed() {
    let cfg = cfg_with(json!({"algorithms": ["ES256"]}));
    assert_invalid_token(&run(&cfg, &bearer(&rs_token(&claims()))), "alg_not_allowed");
    assert!(allowed(&run(&cfg, &bearer(&es_token(&claims())))));
    let cfg = cfg_with(json!({"algorithms": ["RS256"]}));
    assert_invalid_token(&run(&cfg, &bearer(&es_token(&claims()))), "alg_not_allowed");
}

#[test]
fn alg_not_allowed_for_names_jwtgate_never_accepts() {
    let cfg = parse_config(&base_config());
    for alg in [
        "none", "HS256", "RS384", "ES384", "PS256", "es256", "EdDSA", "",
    ] {
        let h = json!({"alg": alg, "kid": "ec-a"});
        let t = jwt(ec_a(), &h, &claims());
        assert_invalid_token(&run(&cfg, &bearer(&t)), "alg_not_allowed");
    }
}

#[test]
fn unknown_kid() {
    let cfg = parse_config(&base_config());
    let t = jwt(ec_a(), &header(ec_a(), Some("nope")), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&t)), "unknown_kid");
}

#[test]
fn bad_signature() {
    let cfg = parse_config(&base_config());
    let t = jwt(ec_b(), &header(ec_b(), Some("ec-a")), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&t)), "bad_signature");
    let t = jwt(rsa_b(), &header(rsa_b(), Some("rsa-a")), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&t)), "bad_signature");
    // A valid signature moved onto other claims.
    let good = es_token(&claims());
    let other = es_token(&claims_with(json!({"sub": "admin"})));
    let g: Vec<&str> = good.split('.').collect();
    let o: Vec<&str> = other.split('.').collect();
    let spliced = format!("{}.{}.{}", g[0], o[1], g[2]);
    assert_invalid_token(&run(&cfg, &bearer(&spliced)), "bad_signature");
}

#[test]
fn token_expired_with_clock_skew() {
    let cfg = parse_config(&base_config());
    let at = |exp: i64| run(&cfg, &bearer(&es_token(&claims_with(json!({"exp": exp})))));
    assert!(allowed(&at(NOW - 59)), "within the default 60 s skew");
    assert_invalid_token(&at(NOW - 60), "token_expired");
    assert_invalid_token(&at(NOW - 86400), "token_expired");

    let cfg = cfg_with(json!({"clock_skew_s": 0}));
    let at = |exp: i64| run(&cfg, &bearer(&es_token(&claims_with(json!({"exp": exp})))));
    assert!(allowed(&at(NOW + 1)));
    assert_invalid_token(&at(NOW), "token_expired");
}

#[test]
fn token_not_yet_valid() {
    let cfg = parse_config(&base_config());
    let nbf = |nbf: i64| run(&cfg, &bearer(&es_token(&claims_with(json!({"nbf": nbf})))));
    assert!(allowed(&nbf(NOW + 60)), "within the default 60 s skew");
    assert_invalid_token(&nbf(NOW + 61), "token_not_yet_valid");
    // `iat` in the future is the same failure.
    let t = es_token(&claims_with(json!({"iat": NOW + 3600, "exp": NOW + 7200})));
    assert_invalid_token(&run(&cfg, &bearer(&t)), "token_not_yet_valid");
}

#[test]
fn exp_missing() {
    let cfg = parse_config(&base_config());
    let t = es_token(&claims_with(json!({"exp": null})));
    assert_invalid_token(&run(&cfg, &bearer(&t)), "exp_missing");
    let cfg = cfg_with(json!({"require_expiration": false}));
    assert!(allowed(&run(&cfg, &bearer(&t))));
}

#[test]
fn lifetime_too_long() {
    let cfg = cfg_with(json!({"max_lifetime_s": 3600}));
    let ok = es_token(&claims_with(json!({"iat": NOW - 10, "exp": NOW + 3590})));
    assert!(allowed(&run(&cfg, &bearer(&ok))));
    let long = es_token(&claims_with(json!({"iat": NOW - 10, "exp": NOW + 3591})));
    assert_invalid_token(&run(&cfg, &bearer(&long)), "lifetime_too_long");
    // Without iat the lifetime counts from now.
    let no_iat = es_token(&claims_with(json!({"iat": null, "exp": NOW + 3601})));
    assert_invalid_token(&run(&cfg, &bearer(&no_iat)), "lifetime_too_long");
    let no_iat = es_token(&claims_with(json!({"iat": null, "exp": NOW + 3600})));
    assert!(allowed(&run(&cfg, &bearer(&no_iat))));
}

#[test]
fn wrong_issuer() {
    let cfg = parse_config(&base_config());
    for iss in [
        json!("https://issuer.test"),
        json!("https://ISSUER.test/"),
        json!("https://evil.test/"),
        json!(null),
        json!(["https://issuer.test/"]),
    ] {
        // A null patch removes `iss` altogether.
        let t = es_token(&claims_with(json!({ "iss": iss })));
        assert_invalid_token(&run(&cfg, &bearer(&t)), "wrong_issuer");
    }
}

#[test]
fn wrong_audience() {
    let cfg = parse_config(&base_config());
    for aud in [json!("other"), json!(["x", "y"]), json!([]), json!("API")] {
        let t = es_token(&claims_with(json!({ "aud": aud })));
        assert_invalid_token(&run(&cfg, &bearer(&t)), "wrong_audience");
    }
    let t = es_token(&claims_with(json!({"aud": null})));
    assert_invalid_token(&run(&cfg, &bearer(&t)), "wrong_audience");
    let t = es_token(&claims_with(json!({"aud": ["x", AUDIENCE]})));
    assert!(allowed(&run(&cfg, &bearer(&t))));
    // No `audiences` configured: not checked.
    let mut v = base_config();
    v["providers"][0]
        .as_object_mut()
        .unwrap()
        .remove("audiences");
    let cfg = parse_config(&v);
    let t = es_token(&claims_with(json!({"aud": "whatever"})));
    assert!(allowed(&run(&cfg, &bearer(&t))));
}

#[test]
fn wrong_type() {
    let cfg = cfg_with(json!({"token_types": ["at+jwt"]}));
    let with_typ = |typ: Option<&str>| {
        let mut h = json!({"alg": "ES256", "kid": "ec-a"});
        if let Some(t) = typ {
            h["typ"] = json!(t);
        }
        run(&cfg, &bearer(&jwt(ec_a(), &h, &claims())))
    };
    assert_invalid_token(&with_typ(Some("JWT")), "wrong_type");
    assert_invalid_token(&with_typ(None), "wrong_type");
    assert!(allowed(&with_typ(Some("at+jwt"))));
    assert!(
        allowed(&with_typ(Some("AT+JWT"))),
        "typ is case-insensitive"
    );
    assert!(allowed(&with_typ(Some("application/at+jwt"))));
}

fn scoped_config(requires: Value) -> jwtgate::config::Config {
    let mut v = base_config();
    v["rules"] = json!([{ "match": {"prefix": "/"}, "requires": requires }]);
    parse_config(&v)
}

#[test]
fn insufficient_scope() {
    let cfg = scoped_config(json!({"provider": "corp", "scopes": ["admin", "write"]}));
    let t = es_token(&claims_with(json!({"scope": "read write"})));
    let d = run(&cfg, &bearer(&t));
    let r = rejection(&d);
    assert_eq!(r.status, 403);
    assert_eq!(
        resp_header(r, "www-authenticate"),
        Some(
            format!(
                "Bearer realm=\"{AUTHORITY}\", error=\"insufficient_scope\", scope=\"admin write\""
            )
            .as_str()
        )
    );
    assert_eq!(
        r.body,
        r#"{"error":"insufficient_scope","reason":"insufficient_scope"}"#
    );
    // Granted through `scope` (string) or `scp` (array).
    let t = es_token(&claims_with(json!({"scope": "write admin read"})));
    assert!(allowed(&run(&cfg, &bearer(&t))));
    let t = es_token(&claims_with(json!({"scp": ["admin", "write"]})));
    assert!(allowed(&run(&cfg, &bearer(&t))));
    // And the other way round: an array `scope` (Istio's samples), a string `scp` (Entra ID).
    let t = es_token(&claims_with(json!({"scope": ["admin", "write"]})));
    assert!(allowed(&run(&cfg, &bearer(&t))));
    let t = es_token(&claims_with(json!({"scp": "admin write"})));
    assert!(allowed(&run(&cfg, &bearer(&t))));
    let t = es_token(&claims_with(json!({"scope": ["admin"], "scp": "write"})));
    assert!(
        allowed(&run(&cfg, &bearer(&t))),
        "granted across both claims"
    );
    // A scope is a whole word, not a substring.
    let t = es_token(&claims_with(json!({"scope": "administrator write"})));
    assert_eq!(reason_of(&run(&cfg, &bearer(&t))), "insufficient_scope");
}

#[test]
fn claim_mismatch() {
    let cfg = scoped_config(json!({
        "provider": "corp",
        "claims": {"tenant": ["acme", "globex"], "org.level": [3]}
    }));
    let ok = es_token(&claims_with(json!({"tenant": "acme", "org": {"level": 3}})));
    assert!(allowed(&run(&cfg, &bearer(&ok))));
    let ok = es_token(&claims_with(
        json!({"tenant": ["x", "globex"], "org": {"level": 3}}),
    ));
    assert!(allowed(&run(&cfg, &bearer(&ok))), "array claims contain");
    for bad in [
        json!({"tenant": "initech", "org": {"level": 3}}),
        json!({"tenant": "acme", "org": {"level": 2}}),
        json!({"tenant": "acme"}),
        json!({"tenant": "ACME", "org": {"level": 3}}),
    ] {
        let d = run(&cfg, &bearer(&es_token(&claims_with(bad.clone()))));
        assert_forbidden_without_scope(&d, "claim_mismatch", &format!("claim mismatch {bad}"));
    }
}

#[test]
fn jwks_unavailable() {
    let cfg = remote_config_with(json!({}));
    let keys = Keys::one(Slot::Unavailable);
    let d = run_with(&cfg, &bearer(&es_token(&claims())), &keys, NOW);
    let r = rejection(&d);
    assert_eq!(r.status, 503);
    assert_eq!(resp_header(r, "www-authenticate"), None);
    assert_eq!(resp_header(r, "content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        r#"{"error":"temporarily_unavailable","reason":"jwks_unavailable"}"#
    );
    // Keys still coming: the request waits instead of failing.
    let keys = Keys::one(Slot::Pending);
    let d = run_with(&cfg, &bearer(&es_token(&claims())), &keys, NOW);
    assert!(matches!(d, Decision::Wait(_)), "{d:?}");
}

#[test]
fn token_revoked() {
    let cfg = cfg_with(json!({"revocation": {"inline": ["jti-1"]}}));
    let revoked = es_token(&claims_with(json!({"jti": "jti-1"})));
    assert_invalid_token(&run(&cfg, &bearer(&revoked)), "token_revoked");
    let other = es_token(&claims_with(json!({"jti": "jti-2"})));
    assert!(allowed(&run(&cfg, &bearer(&other))));
    // No jti: nothing to look up, nothing revoked.
    assert!(allowed(&run(&cfg, &bearer(&es_token(&claims())))));
}

#[test]
fn token_revoked_also_when_already_cached() {
    let plain = parse_config(&base_config());
    let listed = cfg_with(json!({"revocation": {"inline": ["jti-1"]}}));
    let t = es_token(&claims_with(json!({"jti": "jti-1"})));
    let mut cache = TokenCache::new(1, 16);
    let keys = Keys::from_config(&plain);
    let decide = |cfg: &jwtgate::config::Config, cache: &mut TokenCache| match gate::prepare(
        cfg,
        &bearer(&t),
    ) {
        Start::Check(prep) => gate::decide(cfg, &prep, &keys, cache, NOW),
        Start::Done(d) => d,
    };
    assert!(allowed(&decide(&plain, &mut cache)));
    assert_eq!(cache.len(), 1, "the token is cached");
    cache.take_stats();
    let d = decide(&listed, &mut cache);
    assert_eq!(cache.take_stats(), (1, 0), "decided from the cache");
    assert_invalid_token(&d, "token_revoked");
}

#[test]
fn token_bound_for_dpop_and_mtls_bound_tokens() {
    let cfg = parse_config(&base_config());
    for cnf in [
        json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        json!({}),
    ] {
        let t = es_token(&claims_with(json!({ "cnf": cnf })));
        assert_invalid_token(&run(&cfg, &bearer(&t)), "token_bound");
    }
}

#[test]
fn rejections_never_echo_the_token() {
    let cfg = parse_config(&base_config());
    let t = es_token(&claims_with(json!({"exp": NOW - 3600})));
    let d = run(&cfg, &bearer(&t));
    let r = rejection(&d);
    assert!(!r.body.contains(&t));
    for (_, v) in &r.headers {
        assert!(!v.contains(&t) && !v.contains(t.split('.').nth(1).unwrap()));
    }
}

// ---------------------------------------------------------------- requirement forms

/// `corp` (Authorization, keys ec-a/rsa-a) and `partner` (x-partner-token, key ec_b as p1).
fn two_providers(rules: Value) -> jwtgate::config::Config {
    let mut partner = provider("partner");
    partner["issuer"] = json!("https://partner.test/");
    partner["local_jwks"] = json!({"inline": jwks(&[ec_b().jwk(Some("p1"))])});
    partner["from_headers"] = json!([{"name": "x-partner-token"}]);
    parse_config(&json!({"providers": [provider("corp"), partner], "rules": rules}))
}

fn partner_token() -> String {
    jwt(
        ec_b(),
        &header(ec_b(), Some("p1")),
        &claims_with(json!({"iss": "https://partner.test/"})),
    )
}

#[test]
fn requirement_any() {
    let cfg = two_providers(json!([{ "match": {"prefix": "/"},
        "requires": {"any": [{"provider": "corp"}, {"provider": "partner"}]} }]));
    let corp = es_token(&claims());
    let d = run(&cfg, &bearer(&corp));
    assert!(matches!(&d, Decision::Forward(_, Outcome::Allowed(p)) if p == &vec![0]));
    let d = run(
        &cfg,
        &request("/", &[("x-partner-token", &partner_token())]),
    );
    assert!(matches!(&d, Decision::Forward(_, Outcome::Allowed(p)) if p == &vec![1]));
    assert_eq!(reason_of(&run(&cfg, &request("/", &[]))), "token_missing");
    let expired = es_token(&claims_with(json!({"exp": NOW - 3600})));
    assert_eq!(reason_of(&run(&cfg, &bearer(&expired))), "token_expired");
}

#[test]
fn requirement_all() {
    let cfg = two_providers(json!([{ "match": {"prefix": "/"},
        "requires": {"all": [{"provider": "corp"}, {"provider": "partner"}]} }]));
    let corp = format!("Bearer {}", es_token(&claims()));
    let both = request(
        "/",
        &[
            ("authorization", &corp),
            ("x-partner-token", &partner_token()),
        ],
    );
    let d = run(&cfg, &both);
    assert!(
        matches!(&d, Decision::Forward(_, Outcome::Allowed(p)) if p.len() == 2),
        "{d:?}"
    );
    let one = request("/", &[("authorization", &corp)]);
    assert_eq!(reason_of(&run(&cfg, &one)), "token_missing");
    let bad_partner = request(
        "/",
        &[
            ("authorization", &corp),
            ("x-partner-token", &es_token(&claims())),
        ],
    );
    assert_eq!(rejection(&run(&cfg, &bad_partner)).status, 401);
}

#[test]
fn requirement_allow_missing() {
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}]);
    v["rules"] = json!([{ "match": {"prefix": "/"},
        "requires": {"allow_missing": {"provider": "corp"}} }]);
    let cfg = parse_config(&v);
    let d = run(&cfg, &request("/", &[("x-user-id", "forged")]));
    let m = mutations(&d);
    assert!(m.remove.contains(&"x-user-id".to_owned()));
    assert_eq!(set_value(m, "x-user-id"), None);

    let bad = es_token(&claims_with(json!({"exp": NOW - 3600})));
    assert_invalid_token(&run(&cfg, &bearer(&bad)), "token_expired");

    let d = run(&cfg, &bearer(&es_token(&claims())));
    assert_eq!(set_value(mutations(&d), "x-user-id"), Some("user-1"));
}

#[test]
fn requirement_allow_missing_or_failed() {
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}]);
    v["rules"] = json!([{ "match": {"prefix": "/"},
        "requires": {"allow_missing_or_failed": {"provider": "corp"}} }]);
    let cfg = parse_config(&v);
    assert!(forwarded(&run(&cfg, &request("/", &[]))));

    // A failed token is passed on unchanged and annotates nothing.
    let bad = es_token(&claims_with(json!({"exp": NOW - 3600})));
    let d = run(&cfg, &spoofed(bearer(&bad), &["x-user-id"]));
    let m = mutations(&d);
    assert!(!m.remove.contains(&"authorization".to_owned()), "{m:?}");
    assert!(m.remove.contains(&"x-user-id".to_owned()));
    assert!(m.set.is_empty(), "{m:?}");

    let d = run(&cfg, &bearer(&es_token(&claims())));
    let m = mutations(&d);
    assert_eq!(set_value(m, "x-user-id"), Some("user-1"));
    assert!(m.remove.contains(&"authorization".to_owned()));
}

/// Contract v1.1: a failure under allow_missing_or_failed is counted and logged like a
/// report-mode failure, though the request passes.
#[test]
fn allow_missing_or_failed_reports_the_failure() {
    let mut v = base_config();
    v["rules"] = json!([{ "match": {"prefix": "/"},
        "requires": {"allow_missing_or_failed": {"provider": "corp"}} }]);
    let cfg = parse_config(&v);
    let bad = es_token(&claims_with(json!({"exp": NOW - 3600})));
    match run(&cfg, &bearer(&bad)) {
        Decision::Forward(_, Outcome::Denied { denial, reported }) => {
            assert!(reported);
            assert_eq!(denial.reason.as_str(), "token_expired");
        }
        other => panic!("expected a reported failure, got {other:?}"),
    }
    // No token is not a failure to report.
    assert!(matches!(
        run(&cfg, &request("/", &[])),
        Decision::Forward(_, Outcome::Allowed(_))
    ));
}

// ---------------------------------------------------------------- header case (nginx keeps the client's)

/// `x-user-id` from `sub` and the payload in `payload_header`; `/public` open, the rest `corp`.
fn identity_config(payload_header: &str) -> jwtgate::config::Config {
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}]);
    v["providers"][0]["forward_payload_header"] = json!(payload_header);
    v["rules"] = json!([
        {"match": {"prefix": "/public"}},
        {"match": {"prefix": "/"}, "requires": {"provider": "corp"}}
    ]);
    parse_config(&v)
}

/// CGI-style upstreams (WSGI, PHP, Rack) read `X_User_Id` as `X-User-Id`, and Envoy forwards
/// underscores by default: an underscore spelling of an identity header is a forgery too.
#[test]
fn identity_headers_with_underscores_are_removed() {
    let cfg = identity_config("X-Jwt-Payload");
    let forged = ["x_user_id", "X_User-Id", "x_jwt_payload"];
    // Same length, other punctuation or one character off: not the same header, left alone.
    let unrelated = ["x.user.id", "x_user_ix", "x_user_id_", "xuser_id"];
    let t = es_token(&claims());
    let authed = run(&cfg, &spoofed(spoofed(bearer(&t), &forged), &unrelated));
    let open = run(&cfg, &spoofed(request("/public/a", &[]), &forged));
    for d in [&authed, &open] {
        let m = mutations(d);
        for name in forged {
            assert!(
                m.remove.contains(&name.to_owned()),
                "{name} not removed: {m:?}"
            );
        }
        for name in unrelated {
            assert!(
                !m.remove.contains(&name.to_owned()),
                "{name} removed: {m:?}"
            );
        }
    }
    assert_eq!(set_value(mutations(&authed), "x-user-id"), Some("user-1"));
}

#[test]
fn header_names_in_the_clients_spelling() {
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "X-User-Id"}]);
    v["providers"][0]["from_cookies"] = json!(["session"]);
    let cfg = parse_config(&v);
    let t = es_token(&claims());
    // Authorization as nginx hands it over, with a forged identity header in two spellings.
    let h = request(
        "/",
        &[
            ("Authorization", &format!("Bearer {t}")),
            ("X-User-Id", "root"),
            ("x-USER-id", "root"),
        ],
    );
    let d = run(&cfg, &h);
    let m = mutations(&d);
    for name in ["Authorization", "X-User-Id", "x-USER-id"] {
        assert!(
            m.remove.contains(&name.to_owned()),
            "{name} not removed: {m:?}"
        );
    }
    assert_eq!(set_value(m, "x-user-id"), Some("user-1"));

    // Two spellings of Authorization with different tokens are two tokens.
    let other = es_token(&claims_with(json!({"sub": "someone-else"})));
    let h = request(
        "/",
        &[
            ("Authorization", &format!("Bearer {t}")),
            ("authorization", &format!("Bearer {other}")),
        ],
    );
    assert_invalid_token(&run(&cfg, &h), "token_malformed");

    // A token in a Cookie header spelled as the client did is found and stripped from it.
    let h = request("/", &[("Cookie", &format!("theme=dark; session={t}"))]);
    let d = run(&cfg, &h);
    let m = mutations(&d);
    assert!(m.remove.contains(&"Cookie".to_owned()), "{m:?}");
    assert_eq!(set_value(m, "cookie"), Some("theme=dark"));
}

#[test]
fn realm_is_the_host_the_client_asked_for() {
    let cfg = parse_config(&base_config());
    // nginx: `:authority` is its own server name, `host` is the client's.
    let mut h = request("/", &[]);
    h.retain(|(n, _)| n != ":authority");
    h.push((":authority".into(), "vm:44391".into()));
    h.push(("Host".into(), "orders.example.com".into()));
    let r = rejection(&run(&cfg, &h)).clone();
    assert_eq!(
        resp_header(&r, "www-authenticate"),
        Some("Bearer realm=\"orders.example.com\"")
    );
    // Envoy: no host header, `:authority` is the client's Host.
    let r = rejection(&run(&cfg, &request("/", &[]))).clone();
    assert_eq!(
        resp_header(&r, "www-authenticate"),
        Some(format!("Bearer realm=\"{AUTHORITY}\"").as_str())
    );
}

#[test]
fn array_claims_with_commas_are_not_set() {
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([
        {"claim": "groups", "header": "x-groups"},
        {"claim": "sub", "header": "x-user-id"}
    ]);
    let cfg = parse_config(&v);
    let t = es_token(&claims_with(json!({"groups": ["a,b", "c"]})));
    let d = run(&cfg, &bearer(&t));
    let m = mutations(&d);
    assert_eq!(set_value(m, "x-groups"), None, "{m:?}");
    assert_eq!(
        set_value(m, "x-user-id"),
        Some("user-1"),
        "the request is not failed"
    );
    let t = es_token(&claims_with(json!({"groups": ["a", "b"]})));
    assert_eq!(
        set_value(mutations(&run(&cfg, &bearer(&t))), "x-groups"),
        Some("a,b")
    );
}

// ---------------------------------------------------------------- header edits

#[test]
fn claim_to_headers_shapes() {
    let cfg = cfg_with(json!({
        "claim_to_headers": [
            {"claim": "sub", "header": "x-user-id"},
            {"claim": "n", "header": "x-n"},
            {"claim": "roles", "header": "x-roles"},
            {"claim": "org.team.name", "header": "x-team"},
            {"claim": "absent", "header": "x-absent"}
        ],
        "forward_payload_header": "x-jwt-payload"
    }));
    let c = claims_with(json!({
        "n": 42,
        "roles": ["admin", "dev"],
        "org": {"team": {"name": "core"}}
    }));
    let t = es_token(&c);
    let forged = [
        "x-user-id",
        "x-n",
        "x-roles",
        "x-team",
        "x-absent",
        "x-jwt-payload",
    ];
    let d = run(&cfg, &spoofed(bearer(&t), &forged));
    let m = mutations(&d);
    assert_eq!(set_value(m, "x-user-id"), Some("user-1"));
    assert_eq!(set_value(m, "x-n"), Some("42"));
    assert_eq!(set_value(m, "x-roles"), Some("admin,dev"));
    assert_eq!(set_value(m, "x-team"), Some("core"));
    assert_eq!(set_value(m, "x-absent"), None);
    assert_eq!(set_value(m, "x-jwt-payload"), t.split('.').nth(1));
    // Set headers were removed first, so a client value can never survive next to ours.
    for h in [
        "x-user-id",
        "x-n",
        "x-roles",
        "x-team",
        "x-absent",
        "x-jwt-payload",
    ] {
        assert!(m.remove.contains(&h.to_owned()), "{h} not scrubbed");
    }
}

#[test]
fn identity_headers_removed_on_every_forwarded_request() {
    let cfg = identity_config("x-jwt-payload");
    let forged = [("x-user-id", "admin"), ("x-jwt-payload", "e30")];
    let no_auth = run(&cfg, &request("/public/a", &forged));
    let mut h = bearer(&es_token(&claims()));
    h.extend(forged.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    let authed = run(&cfg, &h);
    for d in [&no_auth, &authed] {
        let m = mutations(d);
        assert!(m.remove.contains(&"x-user-id".to_owned()), "{m:?}");
        assert!(m.remove.contains(&"x-jwt-payload".to_owned()), "{m:?}");
    }
    assert_eq!(set_value(mutations(&authed), "x-user-id"), Some("user-1"));
}

/// Found forwarding client identity headers on preflights; fixed in src since. Keep it fixed.
#[test]
fn identity_headers_removed_even_on_cors_preflight() {
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}]);
    let cfg = parse_config(&v);
    let mut h = request(
        "/",
        &[
            ("origin", "https://app.test"),
            ("access-control-request-method", "POST"),
            ("x-user-id", "admin"),
        ],
    );
    h[0].1 = "OPTIONS".into();
    let d = run(&cfg, &h);
    assert!(
        mutations(&d).remove.contains(&"x-user-id".to_owned()),
        "contract, Headers: removed from every request first, authenticated or not"
    );
}

#[test]
fn forward_false_strips_the_token_from_header_param_and_cookie() {
    let cfg = cfg_with(json!({
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
        "from_params": ["access_token"],
        "from_cookies": ["session"]
    }));
    let t = es_token(&claims());

    let d = run(&cfg, &bearer(&t));
    assert!(mutations(&d).remove.contains(&"authorization".to_owned()));

    let path = format!("/p?a=1&access_token={t}&b=2");
    let d = run(&cfg, &request(&path, &[]));
    let m = mutations(&d);
    assert_eq!(set_value(m, ":path"), Some("/p?a=1&b=2"));
    assert!(!m.remove.contains(&"authorization".to_owned()));

    let cookie = format!("a=1; session={t}; b=2");
    let d = run(&cfg, &request("/", &[("cookie", &cookie)]));
    assert_eq!(set_value(mutations(&d), "cookie"), Some("a=1; b=2"));

    let cookie = format!("session={t}");
    let d = run(&cfg, &request("/", &[("cookie", &cookie)]));
    assert!(mutations(&d).remove.contains(&"cookie".to_owned()));
}

#[test]
fn forward_true_keeps_the_token() {
    let cfg = cfg_with(json!({"forward": true, "from_params": ["access_token"]}));
    let t = es_token(&claims());
    let d = run(&cfg, &bearer(&t));
    assert!(!mutations(&d).remove.contains(&"authorization".to_owned()));
    let d = run(&cfg, &request(&format!("/p?access_token={t}"), &[]));
    assert_eq!(set_value(mutations(&d), ":path"), None);
}

#[test]
fn header_source_without_prefix_and_custom_prefix() {
    let cfg = cfg_with(json!({"from_headers": [
        {"name": "x-token"},
        {"name": "authorization", "value_prefix": "JWT "}
    ]}));
    let t = es_token(&claims());
    assert!(allowed(&run(&cfg, &request("/", &[("x-token", &t)]))));
    assert!(allowed(&run(
        &cfg,
        &request("/", &[("authorization", &format!("jwt {t}"))])
    )));
    assert_eq!(reason_of(&run(&cfg, &bearer(&t))), "token_missing");
}

// ---------------------------------------------------------------- modes, CORS, rules

/// `headers` plus client-sent values for `names`: identity headers a client tries to forge.
fn spoofed(mut headers: Vec<(String, String)>, names: &[&str]) -> Vec<(String, String)> {
    headers.extend(names.iter().map(|n| (n.to_string(), "forged".to_string())));
    headers
}

#[test]
fn report_mode_never_rejects_and_forwards_unchanged() {
    let mut v = base_config();
    v["mode"] = json!("report");
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}]);
    let cfg = parse_config(&v);
    let bad = es_token(&claims_with(json!({"exp": NOW - 3600})));
    let d = run(&cfg, &spoofed(bearer(&bad), &["x-user-id"]));
    match &d {
        Decision::Forward(m, Outcome::Denied { denial, reported }) => {
            assert!(*reported);
            assert_eq!(denial.reason.as_str(), "token_expired");
            assert!(!m.remove.contains(&"authorization".to_owned()));
            assert!(m.remove.contains(&"x-user-id".to_owned()));
            assert!(m.set.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let d = run(&cfg, &request("/", &[]));
    assert!(matches!(
        d,
        Decision::Forward(_, Outcome::Denied { reported: true, .. })
    ));
    let d = run(&cfg, &bearer(&es_token(&claims())));
    assert_eq!(set_value(mutations(&d), "x-user-id"), Some("user-1"));
}

fn preflight(origin: bool, acrm: bool) -> Vec<(String, String)> {
    let mut h = request("/", &[]);
    h[0].1 = "OPTIONS".into();
    if origin {
        h.push(("origin".into(), "https://app.test".into()));
    }
    if acrm {
        h.push(("access-control-request-method".into(), "POST".into()));
    }
    h
}

#[test]
fn cors_preflight_bypass() {
    let cfg = parse_config(&base_config());
    let d = run(&cfg, &preflight(true, true));
    assert!(
        matches!(d, Decision::Forward(_, Outcome::Preflight)),
        "{d:?}"
    );
    // Not a preflight without both headers.
    assert_eq!(
        reason_of(&run(&cfg, &preflight(true, false))),
        "token_missing"
    );
    assert_eq!(
        reason_of(&run(&cfg, &preflight(false, true))),
        "token_missing"
    );
    let mut v = base_config();
    v["bypass_cors_preflight"] = json!(false);
    let cfg = parse_config(&v);
    assert_eq!(
        reason_of(&run(&cfg, &preflight(true, true))),
        "token_missing"
    );
}

fn ruled_config() -> jwtgate::config::Config {
    let mut v = base_config();
    v["rules"] = json!([
        {"match": {"prefix": "/healthz"}},
        {"match": {"path": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
        {"match": {"prefix": "/"}, "requires": {"provider": "corp"}},
    ]);
    parse_config(&v)
}

#[test]
fn rules_first_match_wins_and_no_requires_needs_no_token() {
    let cfg = ruled_config();
    let d = run(&cfg, &request("/healthz", &[]));
    assert!(matches!(d, Decision::Forward(_, Outcome::NotRequired)));
    let d = run(&cfg, &request("/healthz/deep?x=1", &[]));
    assert!(matches!(d, Decision::Forward(_, Outcome::NotRequired)));

    let plain = es_token(&claims());
    let mut h = bearer(&plain);
    h[1].1 = "/admin".into();
    assert_eq!(reason_of(&run(&cfg, &h)), "insufficient_scope");
    h[1].1 = "/admin/x".into();
    assert!(allowed(&run(&cfg, &h)), "exact match only");
    assert_eq!(
        reason_of(&run(&cfg, &request("/other", &[]))),
        "token_missing"
    );
}

#[test]
fn rules_cannot_be_bypassed_by_path_spelling() {
    let cfg = ruled_config();
    let plain = es_token(&claims());
    for path in [
        "//admin",
        "/./admin",
        "/healthz/../admin",
        "/%61dmin",
        "/admin?x=1",
    ] {
        let mut h = bearer(&plain);
        h[1].1 = path.into();
        assert_eq!(reason_of(&run(&cfg, &h)), "insufficient_scope", "{path}");
    }
}

#[test]
fn no_rules_means_any_provider_is_required() {
    let cfg = two_providers(json!([]));
    assert_eq!(reason_of(&run(&cfg, &request("/x", &[]))), "token_missing");
    assert!(allowed(&run(&cfg, &bearer(&es_token(&claims())))));
    let d = run(
        &cfg,
        &request("/", &[("x-partner-token", &partner_token())]),
    );
    assert!(allowed(&d));
}

// ---------------------------------------------------------------- key rules

fn with_jwks(keys: &[Value]) -> jwtgate::config::Config {
    cfg_with(json!({"local_jwks": {"inline": jwks(keys)}}))
}

fn with_member(mut jwk: Value, name: &str, v: Value) -> Value {
    jwk[name] = v;
    jwk
}

#[test]
fn key_use_must_be_sig() {
    let other = rsa_a().jwk(Some("rsa-a"));
    let t = es_token(&claims());
    let cfg = with_jwks(&[
        with_member(ec_a().jwk(Some("ec-a")), "use", json!("enc")),
        other.clone(),
    ]);
    assert_invalid_token(&run(&cfg, &bearer(&t)), "unknown_kid");
    let cfg = with_jwks(&[
        with_member(ec_a().jwk(Some("ec-a")), "use", json!("sig")),
        other,
    ]);
    assert!(allowed(&run(&cfg, &bearer(&t))));
}

#[test]
fn key_ops_must_contain_verify() {
    let other = rsa_a().jwk(Some("rsa-a"));
    let t = es_token(&claims());
    for (ops, ok) in [
        (json!(["sign"]), false),
        (json!([]), false),
        (json!(["encrypt", "verify"]), true),
        (json!(["verify"]), true),
    ] {
        let cfg = with_jwks(&[
            with_member(ec_a().jwk(Some("ec-a")), "key_ops", ops.clone()),
            other.clone(),
        ]);
        let d = run(&cfg, &bearer(&t));
        if ok {
            assert!(allowed(&d), "{ops}: {d:?}");
        } else {
            assert_invalid_token(&d, "unknown_kid");
        }
    }
}

#[test]
fn key_alg_must_equal_the_token_alg() {
    let t = es_token(&claims());
    let other = rsa_a().jwk(Some("rsa-a"));
    let cfg = with_jwks(&[
        with_member(ec_a().jwk(Some("ec-a")), "alg", json!("ES256")),
        other.clone(),
    ]);
    assert!(allowed(&run(&cfg, &bearer(&t))));
    for alg in ["RS256", "ES384", "HS256"] {
        let cfg = with_jwks(&[
            with_member(ec_a().jwk(Some("ec-a")), "alg", json!(alg)),
            other.clone(),
        ]);
        assert_invalid_token(&run(&cfg, &bearer(&t)), "unknown_kid");
    }
}

#[test]
fn key_kty_must_fit_the_token_alg() {
    // Contract: an RS256 header over an EC key's kid is unknown_kid, whatever the signature.
    let cfg = parse_config(&base_config());
    let t = jwt(ec_a(), &json!({"alg": "RS256", "kid": "ec-a"}), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&t)), "unknown_kid");
    let t = jwt(rsa_a(), &json!({"alg": "ES256", "kid": "rsa-a"}), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&t)), "unknown_kid");
}

#[test]
fn rsa_keys_under_2048_bits_are_not_used() {
    let small = rsa_1024();
    let cfg = with_jwks(&[small.jwk(Some("small")), ec_a().jwk(Some("ec-a"))]);
    let t = jwt(small, &header(small, Some("small")), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&t)), "unknown_kid");
    // A JWKS holding only the small key is no key set at all.
    let e = config_error(&json!({"providers": [{
        "name": "corp", "issuer": ISSUER,
        "local_jwks": {"inline": jwks(&[small.jwk(Some("small"))])}
    }]}));
    assert_eq!(e.field, "providers[0].local_jwks.inline");
}

#[test]
fn kid_selects_only_that_key() {
    let cfg = with_jwks(&[ec_a().jwk(Some("k1")), ec_b().jwk(Some("k2"))]);
    let by_b = |kid: &str| jwt(ec_b(), &header(ec_b(), Some(kid)), &claims());
    assert!(allowed(&run(&cfg, &bearer(&by_b("k2")))));
    assert_invalid_token(&run(&cfg, &bearer(&by_b("k1"))), "bad_signature");
}

#[test]
fn token_without_kid_is_tried_against_every_usable_key() {
    let cfg = with_jwks(&[
        ec_a().jwk(Some("k1")),
        rsa_a().jwk(None),
        ec_b().jwk(Some("k2")),
    ]);
    for s in [ec_a(), ec_b(), rsa_a()] {
        let t = jwt(s, &header(s, None), &claims());
        assert!(allowed(&run(&cfg, &bearer(&t))), "{}", s.alg());
    }
    let t = jwt(rsa_b(), &header(rsa_b(), None), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&t)), "bad_signature");
    // A key without kid is not found by a token that names a kid.
    let t = jwt(rsa_a(), &header(rsa_a(), Some("rsa-a")), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&t)), "unknown_kid");
}

#[test]

fn forward_false_strips_a_cookie_token_from_any_cookie_header() {
    let cfg = cfg_with(json!({"from_cookies": ["session"]}));
    let t = es_token(&claims());
    let session = format!("session={t}");
    let d = run(
        &cfg,
        &request("/", &[("cookie", "a=1"), ("cookie", &session)]),
    );
    assert!(allowed(&d), "the token is found and verified: {d:?}");
    let m = mutations(&d);
    // Whatever the edit, no cookie header sent upstream may still carry the token.
    let rewritten = set_value(m, "cookie");
    let untouched_second = !m.remove.contains(&"cookie".to_owned()) && rewritten.is_none();
    assert!(
        !untouched_second && !rewritten.is_some_and(|c| c.contains(&t)),
        "token left upstream: {m:?}"
    );
}

#[test]
fn claim_values_cannot_inject_headers() {
    let cfg = cfg_with(json!({"claim_to_headers": [{"claim": "sub", "header": "x-user-id"}]}));
    for sub in ["a\r\nx-evil: 1", "a\nb", "a\u{0}b", "a\u{7f}b"] {
        let d = run(
            &cfg,
            &spoofed(
                bearer(&es_token(&claims_with(json!({ "sub": sub })))),
                &["x-user-id"],
            ),
        );
        let m = mutations(&d);
        assert_eq!(set_value(m, "x-user-id"), None, "{sub:?}");
        assert!(m.remove.contains(&"x-user-id".to_owned()));
    }
}

#[test]
fn unknown_kid_waits_for_a_refetch_only_when_allowed_and_issuer_matches() {
    let cfg = parse_config(&base_config());
    let mut keys = Keys::from_config(&cfg);
    keys.refetch_allowed = true;
    let t = jwt(ec_a(), &header(ec_a(), Some("rotated")), &claims());
    let d = run_with(&cfg, &bearer(&t), &keys, NOW);
    assert!(
        matches!(&d, Decision::Wait(n) if n == &vec![jwtgate::Need::Refetch(0)]),
        "{d:?}"
    );
    // A token for another issuer never triggers a fetch, and a kid this provider never had
    // says the token is someone else's: wrong_issuer (under `any`, the other provider's own
    // verdict then wins: see two_providers_any_reports_the_issuers_own_verdict).
    let t = jwt(
        ec_a(),
        &header(ec_a(), Some("rotated")),
        &claims_with(json!({"iss": "https://evil.test/"})),
    );
    assert_eq!(
        reason_of(&run_with(&cfg, &bearer(&t), &keys, NOW)),
        "wrong_issuer"
    );
}

#[test]
fn two_providers_any_reports_the_issuers_own_verdict() {
    // corp (default keys) first, partner (key b) second: a partner token's failure must be
    // reported as partner's verdict, not as "unknown kid" at corp.
    let mut v = base_config();
    let mut partner = provider("partner");
    partner["issuer"] = json!("https://partner.test/");
    partner["local_jwks"] = json!({"inline": jwks(&[ec_b().jwk(Some("pb"))])});
    v["providers"].as_array_mut().unwrap().push(partner);
    let cfg = parse_config(&v);
    let partner_claims = |patch: Value| {
        let mut c = claims_with(patch);
        c["iss"] = json!("https://partner.test/");
        c
    };
    let expired = jwt(
        ec_b(),
        &header(ec_b(), Some("pb")),
        &partner_claims(json!({"exp": NOW - 3600})),
    );
    assert_invalid_token(&run(&cfg, &bearer(&expired)), "token_expired");
    let forged = jwt(
        ec_a(),
        &header(ec_b(), Some("pb")),
        &partner_claims(json!({})),
    );
    assert_invalid_token(&run(&cfg, &bearer(&forged)), "bad_signature");
    let good = jwt(
        ec_b(),
        &header(ec_b(), Some("pb")),
        &partner_claims(json!({})),
    );
    assert!(allowed(&run(&cfg, &bearer(&good))));
}

#[test]
fn cached_tokens_still_expire() {
    use jwtgate::gate::{decide, prepare, Start};
    use jwtgate::TokenCache;
    let cfg = parse_config(&base_config());
    let keys = Keys::from_config(&cfg);
    let mut cache = TokenCache::new(1, 16);
    let t = es_token(&claims_with(json!({"exp": NOW + 100})));
    let h = bearer(&t);
    let mut at = |now: i64| match prepare(&cfg, &h) {
        Start::Check(p) => decide(&cfg, &p, &keys, &mut cache, now),
        Start::Done(d) => d,
    };
    assert!(allowed(&at(NOW)));
    assert!(allowed(&at(NOW + 1)), "served from the cache");
    assert_invalid_token(&at(NOW + 100 + 60), "token_expired");
    // Not valid before its nbf-free iat either, even when cached.
    assert_invalid_token(&at(NOW - 10 - 61), "token_not_yet_valid");
    assert_eq!(cache.len(), 1);
}

#[test]
fn only_identity_headers_the_request_carries_are_removed() {
    let cfg = cfg_with(json!({"claim_to_headers": [{"claim": "sub", "header": "x-user-id"}]}));
    let d = run(&cfg, &bearer(&es_token(&claims())));
    let m = mutations(&d);
    assert!(!m.remove.contains(&"x-user-id".to_owned()), "{m:?}");
    assert_eq!(set_value(m, "x-user-id"), Some("user-1"));
}
