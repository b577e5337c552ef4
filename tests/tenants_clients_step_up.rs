//! Contract v1.2 rules of requirements and providers beyond v1.1: step-up (RFC 9470
//! `acr_values`, `max_age_s`), `{tid}` issuer templates and `tenants`, `clients`,
//! `claims_to_metadata`, and rejections of gRPC requests, through `gate::prepare`/`decide`
//! with real request headers.

mod common;

use common::*;
use jwtgate::gate::{self, Decision, Outcome, Start};
use jwtgate::TokenCache;
use serde_json::{json, Value};

fn allowed(d: &Decision) -> bool {
    matches!(d, Decision::Forward(_, Outcome::Allowed(_)))
}

fn with_rule(requires: Value) -> Value {
    let mut v = base_config();
    v["rules"] = json!([{ "match": {"prefix": "/"}, "requires": requires }]);
    v
}

fn rule_config(requires: Value) -> jwtgate::config::Config {
    parse_config(&with_rule(requires))
}

fn token(patch: Value) -> Vec<(String, String)> {
    bearer(&es_token(&claims_with(patch)))
}

// ---------------------------------------------------------------- step-up (RFC 9470)

fn assert_step_up(d: &Decision, reason: &str, params: &str) {
    let r = rejection(d);
    assert_eq!(r.status, 401, "{reason}: {r:?}");
    assert_eq!(
        resp_header(r, "www-authenticate"),
        Some(
            format!(
                "Bearer realm=\"{AUTHORITY}\", error=\"insufficient_user_authentication\", \
                 error_description=\"{reason}\"{params}"
            )
            .as_str()
        )
    );
    assert_eq!(resp_header(r, "content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        format!("{{\"error\":\"insufficient_user_authentication\",\"reason\":\"{reason}\"}}")
    );
}

#[test]
fn acr_insufficient() {
    let cfg = rule_config(json!({"provider": "corp", "acr_values": ["urn:mfa", "urn:hwk"]}));
    assert!(allowed(&run(&cfg, &token(json!({"acr": "urn:mfa"})))));
    assert!(allowed(&run(&cfg, &token(json!({"acr": "urn:hwk"})))));
    let params = ", acr_values=\"urn:mfa urn:hwk\"";
    for acr in [
        json!("urn:pwd"),
        json!("URN:MFA"),
        json!(["urn:mfa"]),
        json!(1),
    ] {
        assert_step_up(
            &run(&cfg, &token(json!({ "acr": acr }))),
            "acr_insufficient",
            params,
        );
    }
    assert_step_up(&run(&cfg, &token(json!({}))), "acr_insufficient", params);
}

#[test]
fn auth_time_too_old_with_clock_skew() {
    let cfg = rule_config(json!({"provider": "corp", "max_age_s": 300}));
    let at = |t: Value| run(&cfg, &token(json!({ "auth_time": t })));
    assert!(allowed(&at(json!(NOW))));
    assert!(
        allowed(&at(json!(NOW - 360))),
        "300 s + the default 60 s skew"
    );
    assert!(allowed(&at(json!(NOW + 3600))), "recent is not too old");
    let params = ", max_age=\"300\"";
    assert_step_up(&at(json!(NOW - 361)), "auth_time_too_old", params);
    // Missing, or not a NumericDate: as good as missing.
    for bad in [json!(null), json!("1700000000"), json!(-1), json!(1e300)] {
        assert_step_up(&at(bad), "auth_time_too_old", params);
    }

    let mut v = with_rule(json!({"provider": "corp", "max_age_s": 300}));
    v["providers"][0]["clock_skew_s"] = json!(0);
    let cfg = parse_config(&v);
    let at = |t: i64| run(&cfg, &token(json!({ "auth_time": t })));
    assert!(allowed(&at(NOW - 300)));
    assert_step_up(&at(NOW - 301), "auth_time_too_old", params);
}

#[test]
fn step_up_challenge_names_both_and_acr_comes_first() {
    let cfg = rule_config(json!({"provider": "corp", "acr_values": ["urn:mfa"], "max_age_s": 0}));
    let params = ", acr_values=\"urn:mfa\", max_age=\"0\"";
    let d = run(
        &cfg,
        &token(json!({"acr": "urn:pwd", "auth_time": NOW - 3600})),
    );
    assert_step_up(&d, "acr_insufficient", params);
    let d = run(
        &cfg,
        &token(json!({"acr": "urn:mfa", "auth_time": NOW - 3600})),
    );
    assert_step_up(&d, "auth_time_too_old", params);
    assert!(allowed(&run(
        &cfg,
        &token(json!({"acr": "urn:mfa", "auth_time": NOW}))
    )));
}

/// A verified token is cached, but its `auth_time` keeps ageing: checked on every request.
#[test]
fn auth_time_is_checked_again_on_a_cached_token() {
    let cfg = rule_config(json!({"provider": "corp", "max_age_s": 300}));
    let t = es_token(&claims_with(json!({"auth_time": NOW, "exp": NOW + 86400})));
    let keys = Keys::from_config(&cfg);
    let mut cache = TokenCache::new(1, 16);
    let mut decide = |now: i64| match gate::prepare(&cfg, &bearer(&t)) {
        Start::Check(prep) => gate::decide(&cfg, &prep, &keys, &mut cache, now),
        Start::Done(d) => d,
    };
    assert!(allowed(&decide(NOW)));
    let d = decide(NOW + 361);
    assert_eq!(reason_of(&d), "auth_time_too_old");
}

/// Order after a valid token: client, scopes, claims, step-up.
#[test]
fn client_then_scopes_then_claims_then_step_up() {
    let cfg = rule_config(json!({
        "provider": "corp", "clients": ["console"], "scopes": ["admin"],
        "claims": {"team": ["ops"]}, "acr_values": ["urn:mfa"], "max_age_s": 60
    }));
    let all_wrong = json!({"client_id": "mobile", "scope": "read", "team": "dev", "acr": "pwd"});
    assert_eq!(
        reason_of(&run(&cfg, &token(all_wrong))),
        "client_not_allowed"
    );
    let d = run(
        &cfg,
        &token(json!({"client_id": "console", "scope": "read", "team": "dev", "acr": "pwd"})),
    );
    assert_eq!(reason_of(&d), "insufficient_scope");
    let d = run(
        &cfg,
        &token(json!({"client_id": "console", "scope": "admin", "team": "dev", "acr": "pwd"})),
    );
    assert_eq!(reason_of(&d), "claim_mismatch");
    let d = run(
        &cfg,
        &token(json!({"client_id": "console", "scope": "admin", "team": "ops", "acr": "pwd"})),
    );
    assert_eq!(reason_of(&d), "acr_insufficient");
    let ok = json!({"client_id": "console", "scope": "admin", "team": "ops", "acr": "urn:mfa",
                    "auth_time": NOW});
    assert!(allowed(&run(&cfg, &token(ok))));
}

#[test]
fn step_up_under_any_is_reported_over_another_providers_wrong_issuer() {
    let mut v = base_config();
    let mut partner = provider("partner");
    partner["issuer"] = json!("https://partner.test/");
    v["providers"].as_array_mut().unwrap().push(partner);
    v["rules"] = json!([{ "match": {"prefix": "/"}, "requires": {"any": [
        {"provider": "partner"},
        {"provider": "corp", "acr_values": ["urn:mfa"]}
    ]}}]);
    let cfg = parse_config(&v);
    let d = run(&cfg, &token(json!({"acr": "urn:pwd"})));
    assert_step_up(&d, "acr_insufficient", ", acr_values=\"urn:mfa\"");
}

#[test]
fn step_up_in_report_mode_forwards() {
    let mut v = with_rule(json!({"provider": "corp", "acr_values": ["urn:mfa"]}));
    v["mode"] = json!("report");
    let cfg = parse_config(&v);
    let d = run(&cfg, &token(json!({"acr": "urn:pwd"})));
    assert!(
        matches!(&d, Decision::Forward(_, Outcome::Denied { denial, reported: true })
            if denial.reason.as_str() == "acr_insufficient"),
        "{d:?}"
    );
}

#[test]
fn step_up_config_errors_name_the_field() {
    let e = config_error(&with_rule(json!({"provider": "corp", "acr_values": []})));
    assert_eq!(e.field, "rules[0].requires.acr_values", "{e}");
    for bad in ["", "a b", "a\"b", "a\\b"] {
        let e = config_error(&with_rule(json!({"provider": "corp", "acr_values": [bad]})));
        assert_eq!(e.field, "rules[0].requires.acr_values[0]", "{bad:?}: {e}");
    }
    let e = config_error(&with_rule(json!({"provider": "corp", "max_age_s": -1})));
    assert_eq!(e.field, "rules[0].requires.max_age_s", "{e}");
    let e = config_error(&with_rule(
        json!({"provider": "corp", "max_age_s": 315_360_001u64}),
    ));
    assert_eq!(e.field, "rules[0].requires.max_age_s", "{e}");
    for field in ["acr_values", "max_age_s", "clients"] {
        let val = if field == "max_age_s" {
            json!(1)
        } else {
            json!(["x"])
        };
        let e = config_error(&with_rule(
            json!({"any": [{"provider": "corp"}], field: val}),
        ));
        assert_eq!(e.field, "rules[0].requires", "{field}: {e}");
        assert!(e.problem.contains("go with \"provider\""), "{e}");
    }
}

// ---------------------------------------------------------------- clients

#[test]
fn client_not_allowed() {
    let cfg = rule_config(json!({"provider": "corp", "clients": ["spa", "cli"]}));
    assert!(allowed(&run(&cfg, &token(json!({"client_id": "spa"})))));
    assert!(
        allowed(&run(&cfg, &token(json!({"azp": "cli"})))),
        "azp without client_id"
    );
    for bad in [
        json!({"client_id": "mobile"}),
        json!({"azp": "mobile"}),
        json!({}),
        json!({"client_id": "SPA"}),
        // client_id decides when present: a listed azp does not rescue it.
        json!({"client_id": "mobile", "azp": "spa"}),
        json!({"client_id": ["spa"]}),
        json!({"client_id": 1, "azp": "spa"}),
    ] {
        let d = run(&cfg, &token(bad.clone()));
        assert_forbidden_without_scope(&d, "client_not_allowed", &bad.to_string());
    }
    let e = config_error(&with_rule(json!({"provider": "corp", "clients": []})));
    assert_eq!(e.field, "rules[0].requires.clients", "{e}");
    let e = config_error(&with_rule(json!({"provider": "corp", "clients": [""]})));
    assert_eq!(e.field, "rules[0].requires.clients[0]", "{e}");
}

// ---------------------------------------------------------------- tenants

const TEMPLATE: &str = "https://login.example.com/{tid}/v2.0";

fn tenant_config(extra: Value) -> Value {
    let mut v = base_config();
    v["providers"][0]["issuer"] = json!(TEMPLATE);
    for (k, val) in extra.as_object().unwrap() {
        v["providers"][0][k] = val.clone();
    }
    v
}

fn iss_of(tid: &str) -> String {
    TEMPLATE.replace("{tid}", tid)
}

#[test]
fn issuer_template_binds_the_tokens_own_tid() {
    let cfg = parse_config(&tenant_config(json!({})));
    let a = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    assert!(allowed(&run(
        &cfg,
        &token(json!({"iss": iss_of(a), "tid": a}))
    )));
    assert!(allowed(&run(
        &cfg,
        &token(json!({"iss": iss_of("b"), "tid": "b"}))
    )));
    for (iss, tid) in [
        // Another tenant's issuer with this tid, and the other way round.
        (json!(iss_of("b")), json!(a)),
        (json!(iss_of(a)), json!("b")),
        (json!(iss_of(a)), json!(null)),
        (json!(iss_of(a)), json!([a])),
        (json!(TEMPLATE), json!("{tid}")),
        (json!(iss_of("")), json!("")),
        // Only [A-Za-z0-9-]: a tid must not reach into the issuer's path or host.
        (json!(iss_of("x/y")), json!("x/y")),
        (json!(iss_of("x.y")), json!("x.y")),
        (json!(iss_of("x_y")), json!("x_y")),
        (json!(iss_of("x y")), json!("x y")),
        (json!(iss_of(a) + "/"), json!(a)),
        (json!(null), json!(a)),
    ] {
        let d = run(&cfg, &token(json!({"iss": iss, "tid": tid})));
        assert_invalid_token(&d, "wrong_issuer");
    }
}

#[test]
fn tenants_allow_list() {
    let cfg = parse_config(&tenant_config(json!({"tenants": ["acme", "globex-1"]})));
    for t in ["acme", "globex-1"] {
        assert!(allowed(&run(
            &cfg,
            &token(json!({"iss": iss_of(t), "tid": t}))
        )));
    }
    for t in ["initech", "ACME", "acme-"] {
        let d = run(&cfg, &token(json!({"iss": iss_of(t), "tid": t})));
        assert_invalid_token(&d, "wrong_issuer");
    }
}

/// With remote keys not there yet, only a token this provider would accept waits for them.
#[test]
fn issuer_template_decides_whether_a_token_waits_for_keys() {
    let mut v = tenant_config(json!({"tenants": ["acme"]}));
    let p = &mut v["providers"][0];
    p.as_object_mut().unwrap().remove("local_jwks");
    p["remote_jwks"] = json!({"cluster": "idp", "uri": "http://idp.local/jwks.json"});
    let cfg = parse_config(&v);
    let keys = Keys::one(Slot::Pending);
    let d = run_with(
        &cfg,
        &token(json!({"iss": iss_of("acme"), "tid": "acme"})),
        &keys,
        NOW,
    );
    assert!(matches!(d, Decision::Wait(_)), "{d:?}");
    let d = run_with(
        &cfg,
        &token(json!({"iss": iss_of("other"), "tid": "other"})),
        &keys,
        NOW,
    );
    assert_invalid_token(&d, "wrong_issuer");
}

#[test]
fn tenant_config_errors_name_the_field() {
    let e = config_error(&tenant_config(json!({"issuer": "https://x/{tid}/{tid}"})));
    assert_eq!(e.field, "providers[0].issuer", "{e}");
    assert!(e.problem.contains("more than one placeholder"), "{e}");
    for issuer in ["https://x/{tenant}/", "https://x/{TID}", "https://x/{tid}}"] {
        let e = config_error(&tenant_config(json!({ "issuer": issuer })));
        assert_eq!(e.field, "providers[0].issuer", "{issuer}: {e}");
    }
    let mut v = tenant_config(json!({"discovery": true}));
    let p = &mut v["providers"][0];
    p.as_object_mut().unwrap().remove("local_jwks");
    p["remote_jwks"] = json!({"cluster": "idp"});
    let e = config_error(&v);
    assert_eq!(e.field, "providers[0].discovery", "{e}");
    let mut v = base_config();
    v["providers"][0]["tenants"] = json!(["acme"]);
    let e = config_error(&v);
    assert_eq!(e.field, "providers[0].tenants", "{e}");
    assert!(e.problem.contains("{tid}"), "{e}");
    let e = config_error(&tenant_config(json!({"tenants": []})));
    assert_eq!(e.field, "providers[0].tenants", "{e}");
    let e = config_error(&tenant_config(json!({"tenants": ["ok", "a/b"]})));
    assert_eq!(e.field, "providers[0].tenants[1]", "{e}");
    assert!(!e.to_string().contains('\n'));
}

// ---------------------------------------------------------------- claims_to_metadata

fn metadata_config(entries: Value) -> Value {
    let mut v = base_config();
    v["providers"][0]["claims_to_metadata"] = entries;
    v
}

#[test]
fn claims_to_metadata_on_success_only() {
    let mut v = metadata_config(json!([
        {"claim": "sub", "key": "sub"},
        {"claim": "org.team", "key": "team"},
        {"claim": "roles", "key": "roles"},
        {"claim": "absent", "key": "absent"},
        {"claim": "bad", "key": "bad"}
    ]));
    v["rules"] = json!([
        {"match": {"prefix": "/soft"}, "requires": {"allow_missing_or_failed": {"provider": "corp"}}},
        {"match": {"prefix": "/"}, "requires": {"provider": "corp"}}
    ]);
    let cfg = parse_config(&v);
    let t = es_token(&claims_with(json!({
        "sub": "alice", "org": {"team": "ops"}, "roles": ["a", "b"], "bad": "x\ny"
    })));
    let d = run(&cfg, &bearer(&t));
    assert!(allowed(&d), "{d:?}");
    let m = mutations(&d);
    assert_eq!(
        m.metadata,
        vec![
            ("sub".to_owned(), "alice".to_owned()),
            ("team".to_owned(), "ops".to_owned()),
            ("roles".to_owned(), "a,b".to_owned()),
        ]
    );
    // A failure let through (allow_missing_or_failed, report mode) writes nothing.
    let expired = es_token(&claims_with(json!({"sub": "alice", "exp": NOW - 3600})));
    let mut h = bearer(&expired);
    h[1].1 = "/soft".into();
    let d = run(&cfg, &h);
    assert!(mutations(&d).metadata.is_empty(), "{d:?}");
    let mut r = v.clone();
    r["mode"] = json!("report");
    let cfg = parse_config(&r);
    let d = run(&cfg, &bearer(&expired));
    assert!(matches!(d, Decision::Forward(..)));
    assert!(mutations(&d).metadata.is_empty(), "{d:?}");
    // Headers a client sends cannot stand in for it: nothing without a token.
    let d = run(&cfg, &request("/", &[("x-jwtgate-sub", "alice")]));
    assert!(mutations(&d).metadata.is_empty(), "{d:?}");
}

#[test]
fn claims_to_metadata_config_errors_name_the_field() {
    for bad in ["", "a.b", "a b", "a/b", "é", &"k".repeat(65)] {
        let e = config_error(&metadata_config(json!([{"claim": "sub", "key": bad}])));
        assert_eq!(
            e.field, "providers[0].claims_to_metadata[0].key",
            "{bad:?}: {e}"
        );
    }
    assert!(config::parse(
        metadata_config(json!([{"claim": "sub", "key": "A-z_09"}]))
            .to_string()
            .as_bytes()
    )
    .is_ok());
    let e = config_error(&metadata_config(json!([
        {"claim": "sub", "key": "u"}, {"claim": "email", "key": "u"}
    ])));
    assert_eq!(e.field, "providers[0].claims_to_metadata[1].key", "{e}");
    assert!(e.problem.contains("duplicate"), "{e}");
    let e = config_error(&metadata_config(json!([{"claim": "a..b", "key": "k"}])));
    assert_eq!(e.field, "providers[0].claims_to_metadata[0].claim", "{e}");
    let e = config_error(&metadata_config(json!([{"claim": "sub"}])));
    assert_eq!(e.field, "providers[0].claims_to_metadata[0].key", "{e}");
    let e = config_error(&metadata_config(
        json!([{"claim": "sub", "key": "k", "x": 1}]),
    ));
    assert_eq!(e.field, "providers[0].claims_to_metadata[0].x", "{e}");
}

use jwtgate::config;

// ---------------------------------------------------------------- gRPC

fn grpc(path: &str, content_type: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut h = request(path, &[("content-type", content_type)]);
    h.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    h
}

fn assert_grpc(d: &Decision, grpc_status: &str, reason: &str) {
    let r = rejection(d);
    assert_eq!(r.status, 200, "trailers-only: {r:?}");
    assert_eq!(resp_header(r, "content-type"), Some("application/grpc"));
    assert_eq!(resp_header(r, "grpc-status"), Some(grpc_status), "{r:?}");
    assert_eq!(resp_header(r, "grpc-message"), Some(reason), "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
    assert_eq!(
        r.headers
            .iter()
            .filter(|(n, _)| n == "content-type")
            .count(),
        1
    );
}

#[test]
fn grpc_requests_get_grpc_statuses() {
    let cfg = rule_config(json!({"provider": "corp", "scopes": ["admin"]}));
    let ct = "application/grpc";
    let d = run(&cfg, &grpc("/pkg.Svc/Call", ct, &[]));
    assert_grpc(&d, "16", "token_missing");
    assert_eq!(
        resp_header(rejection(&d), "www-authenticate"),
        Some(format!("Bearer realm=\"{AUTHORITY}\"").as_str()),
        "the challenge stays"
    );
    let expired = format!(
        "Bearer {}",
        es_token(&claims_with(json!({"exp": NOW - 3600})))
    );
    let d = run(
        &cfg,
        &grpc("/pkg.Svc/Call", ct, &[("authorization", &expired)]),
    );
    assert_grpc(&d, "16", "token_expired");
    let good = format!("Bearer {}", es_token(&claims()));
    let d = run(
        &cfg,
        &grpc("/pkg.Svc/Call", ct, &[("authorization", &good)]),
    );
    assert_grpc(&d, "7", "insufficient_scope");
    assert!(resp_header(rejection(&d), "www-authenticate")
        .is_some_and(|c| c.contains("scope=\"admin\"")));
    let d = run(&cfg, &grpc("/a%2Fb", ct, &[("authorization", &good)]));
    assert_grpc(&d, "3", "path_ambiguous");
    // Other spellings of the gRPC media types; not JSON, not look-alikes.
    for ct in [
        "application/grpc+proto",
        "Application/GRPC",
        "application/grpc; charset=utf-8",
        "application/grpc-web+proto",
        "application/grpc-web-text",
    ] {
        assert_grpc(&run(&cfg, &grpc("/x", ct, &[])), "16", "token_missing");
    }
    for ct in ["application/json", "application/grpcx", "text/grpc"] {
        let d = run(&cfg, &grpc("/x", ct, &[]));
        assert_eq!(rejection(&d).status, 401, "{ct}");
    }
    // 503 → UNAVAILABLE.
    let cfg = remote_config_with(json!({}));
    let keys = Keys::one(Slot::Unavailable);
    let d = run_with(
        &cfg,
        &grpc("/x", ct, &[("authorization", &good)]),
        &keys,
        NOW,
    );
    assert_grpc(&d, "14", "jwks_unavailable");
}

#[test]
fn grpc_step_up_and_client_failures() {
    let cfg = rule_config(json!({"provider": "corp", "clients": ["a"], "acr_values": ["m"]}));
    let t = |c: Value| format!("Bearer {}", es_token(&claims_with(c)));
    let d = run(
        &cfg,
        &grpc(
            "/x",
            "application/grpc",
            &[("authorization", &t(json!({"client_id": "b"})))],
        ),
    );
    assert_grpc(&d, "7", "client_not_allowed");
    let d = run(
        &cfg,
        &grpc(
            "/x",
            "application/grpc",
            &[("authorization", &t(json!({"client_id": "a"})))],
        ),
    );
    assert_grpc(&d, "16", "acr_insufficient");
    assert!(resp_header(rejection(&d), "www-authenticate")
        .is_some_and(|c| c.contains("acr_values=\"m\"")));
}
