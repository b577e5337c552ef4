//! The plugin configuration as `docs/configuration.md` documents it: the reference's own
//! example, refusals that name the offending field in one line, and the documented defaults.

mod common;

use common::*;
use jwtgate::config::{
    self, ConfigError, JwksLocation, JwksSource, Mode, PathMatch, Requirement, Revocation,
};
use jwtgate::token::Alg;
use serde_json::{json, Value};

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");

/// The JSON block under the reference's heading "A complete example".
fn reference_example() -> Value {
    let doc = std::fs::read_to_string(REFERENCE).expect("the reference is readable");
    let section = doc
        .find("## A complete example")
        .expect("the reference has a complete example");
    let start = doc[section..].find("```json").expect("a JSON block") + section + "```json".len();
    let len = doc[start..].find("```").expect("closing fence");
    let text = &doc[start..start + len];
    serde_json::from_str(text).unwrap_or_else(|e| panic!("the example is not JSON: {e}\n{text}"))
}

/// Asserts `v` is refused naming `field`, on one line that carries the field.
fn refused(v: &Value, field: &str) -> ConfigError {
    let e = config_error(v);
    assert_eq!(e.field, field, "{e}");
    let line = e.to_string();
    assert!(!line.contains('\n'), "not one line: {line:?}");
    assert!(line.contains(field), "{line}");
    assert!(!e.problem.is_empty());
    e
}

fn provider_mut(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    v["providers"][0].as_object_mut().unwrap()
}

#[test]
fn reference_example_revocation_is_read() {
    let cfg = parse_config(&reference_example());
    let Some(Revocation::Inline(list)) = &cfg.providers[0].revocation else {
        panic!("inline revocation expected");
    };
    assert!(list.contains("jti-1") && list.len() == 1);
    let Some(Revocation::Remote(r)) = &cfg.providers[2].revocation else {
        panic!("fetched revocation expected");
    };
    assert_eq!(
        (
            r.cluster.as_str(),
            r.endpoint.authority.as_str(),
            r.endpoint.path.as_str()
        ),
        ("sso", "login.example.org", "/revoked.json")
    );
    assert_eq!((r.cache_duration_s, r.timeout_ms), (60, 2000));
}

#[test]
fn reference_example_parses_as_documented() {
    let v = reference_example();
    let cfg = parse_config(&v);
    assert_eq!(cfg.providers.len(), 3);
    let p = &cfg.providers[0];
    assert_eq!(p.name, "corp");
    assert_eq!(p.issuer, "https://auth.example.com/");
    assert_eq!(p.audiences.as_deref(), Some(&["orders-api".to_owned()][..]));
    assert_eq!(p.algorithms, vec![Alg::Es256, Alg::Rs256]);
    let JwksSource::Remote(r) = &p.jwks else {
        panic!("remote_jwks expected")
    };
    assert_eq!(r.cluster, "idp");
    let JwksLocation::Uri(e) = &r.location else {
        panic!("a configured JWKS uri expected")
    };
    assert_eq!(e.authority, "idp.local");
    assert_eq!(e.path, "/.well-known/jwks.json");
    assert_eq!(
        (
            r.timeout_ms,
            r.cache_duration_s,
            r.min_refetch_interval_s,
            r.max_stale_s
        ),
        (5000, 600, 30, 86400)
    );
    assert_eq!(p.sources.headers.len(), 1);
    assert_eq!(p.sources.headers[0].name, "authorization");
    assert_eq!(
        p.sources.headers[0].value_prefix.as_deref(),
        Some("Bearer ")
    );
    assert_eq!(p.sources.params, vec!["access_token"]);
    assert_eq!(p.sources.cookies, vec!["session"]);
    assert_eq!(p.clock_skew_s, 60);
    assert!(p.require_expiration);
    assert_eq!(p.max_lifetime_s, Some(86400));
    assert_eq!(p.token_types.as_deref(), Some(&["at+jwt".to_owned()][..]));
    assert!(!p.forward);
    assert_eq!(p.claim_to_headers.len(), 3);
    assert_eq!(p.claim_to_headers[1].header, "x-user-roles");
    assert_eq!(p.forward_payload_header.as_deref(), Some("x-jwt-payload"));

    let partner = &cfg.providers[1];
    assert_eq!(partner.algorithms, vec![Alg::Rs256]);
    assert_eq!(partner.clock_skew_s, 30);
    let JwksSource::Local(set) = &partner.jwks else {
        panic!("local_jwks expected")
    };
    assert_eq!(set.len(), 1);

    let sso = &cfg.providers[2];
    let JwksSource::Remote(r) = &sso.jwks else {
        panic!("remote_jwks expected")
    };
    let JwksLocation::Discovery(d) = &r.location else {
        panic!("discovery endpoint expected")
    };
    assert_eq!(d.authority, "login.example.org");
    assert_eq!(d.path, "/tenant/v2.0/.well-known/openid-configuration");

    assert_eq!(cfg.rules.len(), 7);
    assert_eq!(cfg.rules[0].matcher, PathMatch::Prefix("/healthz".into()));
    assert!(matches!(cfg.rules[0].requires, Requirement::None));
    assert_eq!(cfg.rules[1].matcher, PathMatch::Exact("/admin".into()));
    assert!(
        matches!(&cfg.rules[1].requires, Requirement::Provider { provider: 0, scopes, .. } if scopes == &["admin"])
    );
    assert!(matches!(&cfg.rules[3].requires, Requirement::All(list) if list.len() == 2));
    assert!(matches!(
        &cfg.rules[4].requires,
        Requirement::AllowMissing(_)
    ));
    assert!(matches!(
        &cfg.rules[5].requires,
        Requirement::AllowMissingOrFailed(_)
    ));
    assert!(matches!(&cfg.rules[6].requires, Requirement::Any(list) if list.len() == 3));
    assert_eq!(cfg.mode, Mode::Enforce);
    assert!(cfg.bypass_cors_preflight);
    assert_eq!(cfg.max_token_size, 8192);
    assert_eq!(cfg.token_cache_size, 4096);
    for h in ["x-user-id", "x-user-roles", "x-org-id", "x-jwt-payload"] {
        assert!(cfg.identity_headers.contains(&h.to_owned()), "{h}");
    }
}

#[test]
fn reference_example_refusals_name_the_field() {
    // Both key sources at once.
    let mut v = reference_example();
    v["providers"][0]["local_jwks"] = v["providers"][1]["local_jwks"].clone();
    refused(&v, "providers[0]");
    // A rule naming a provider that is not configured.
    let mut v = reference_example();
    v["providers"].as_array_mut().unwrap().remove(1);
    refused(&v, "rules[3].requires.all[1].provider");
    // A local JWKS given as text that is not JSON.
    let mut v = reference_example();
    v["providers"][1]["local_jwks"]["inline"] = json!("{\"keys\":[...]}");
    refused(&v, "providers[1].local_jwks.inline");
}

#[test]
fn discovery_needs_remote_jwks_and_an_http_issuer() {
    let mut v = base_config();
    v["providers"][0]["discovery"] = json!(true);
    refused(&v, "providers[0].remote_jwks");
    v["providers"][0]["discovery"] = json!(false);
    parse_config(&v);

    let mut v = remote(json!(null), json!({}));
    provider_mut(&mut v)
        .get_mut("remote_jwks")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("uri");
    refused(&v, "providers[0].remote_jwks.uri");
    v["providers"][0]["discovery"] = json!(true);
    v["providers"][0]["issuer"] = json!("https://login.example.com/tenant/v2.0/");
    let cfg = parse_config(&v);
    let JwksSource::Remote(r) = &cfg.providers[0].jwks else {
        panic!("remote expected");
    };
    let JwksLocation::Discovery(d) = &r.location else {
        panic!("discovery endpoint expected")
    };
    assert_eq!(d.authority, "login.example.com");
    assert_eq!(d.path, "/tenant/v2.0/.well-known/openid-configuration");
    v["providers"][0]["issuer"] = json!("corp");
    refused(&v, "providers[0].discovery");
}

/// An edit that introduces one unknown field.
type Edit = fn(&mut Value);

#[test]
fn unknown_fields_anywhere_are_refused_naming_the_path() {
    let cases: Vec<(&str, Edit)> = vec![
        ("providerz", |v| v["providerz"] = json!([])),
        ("providers[0].isuer", |v| {
            v["providers"][0]["isuer"] = json!("x")
        }),
        ("providers[0].local_jwks.uri", |v| {
            v["providers"][0]["local_jwks"]["uri"] = json!("x")
        }),
        ("providers[0].from_headers[0].prefix", |v| {
            v["providers"][0]["from_headers"] =
                json!([{"name": "authorization", "prefix": "Bearer "}])
        }),
        ("providers[0].claim_to_headers[0].name", |v| {
            v["providers"][0]["claim_to_headers"] =
                json!([{"claim": "sub", "header": "x-sub", "name": "x"}])
        }),
        (
            "rules[0].require",
            |v| v["rules"] = json!([{"match": {"prefix": "/"}, "require": {"provider": "corp"}}]),
        ),
        ("rules[0].match.regex", |v| {
            v["rules"] = json!([{"match": {"regex": ".*"}}])
        }),
        (
            "rules[0].requires.scope",
            |v| v["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"provider": "corp", "scope": ["a"]}}]),
        ),
        (
            "rules[0].requires.any[0].providers",
            |v| {
                v["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"any": [{"providers": ["corp"]}]}}])
            },
        ),
    ];
    for (path, edit) in cases {
        let mut v = base_config();
        edit(&mut v);
        let e = config_error(&v);
        let line = e.to_string();
        assert!(!line.contains('\n'), "{line:?}");
        let unknown = path.rsplit('.').next().unwrap();
        let unknown = unknown.split('[').next().unwrap();
        assert_eq!(e.field, path, "{line}");
        assert!(e.problem.contains("unknown field"), "{line}");
        assert!(line.contains(unknown), "{line}");
    }
    let mut v = base_config();
    v["providers"][0]["remote_jwks"] =
        json!({"cluster": "idp", "uri": "http://idp/jwks", "refresh_s": 1});
    provider_mut(&mut v).remove("local_jwks");
    refused(&v, "providers[0].remote_jwks.refresh_s");
}

#[test]
fn duplicate_provider_names() {
    let v = json!({"providers": [provider("corp"), provider("corp")]});
    let e = refused(&v, "providers[1].name");
    assert!(e.problem.contains("duplicate"), "{e}");
}

#[test]
fn unknown_provider_in_a_rule() {
    let mut v = base_config();
    v["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"provider": "nobody"}}]);
    refused(&v, "rules[0].requires.provider");
    v["rules"] = json!([{"match": {"prefix": "/"},
        "requires": {"all": [{"provider": "corp"}, {"allow_missing": {"provider": "Corp"}}]}}]);
    refused(&v, "rules[0].requires.all[1].allow_missing.provider");
}

#[test]
fn exactly_one_of_remote_and_local_jwks() {
    let mut v = base_config();
    v["providers"][0]["remote_jwks"] = json!({"cluster": "idp", "uri": "http://idp/jwks"});
    let e = refused(&v, "providers[0]");
    assert!(e.problem.contains("remote_jwks") && e.problem.contains("local_jwks"));
    provider_mut(&mut v).remove("remote_jwks");
    provider_mut(&mut v).remove("local_jwks");
    let e = refused(&v, "providers[0]");
    assert!(e.problem.contains("remote_jwks") && e.problem.contains("local_jwks"));
}

#[test]
fn algorithms_other_than_es256_and_rs256() {
    for (algs, field) in [
        (json!(["HS256"]), "providers[0].algorithms[0]"),
        (json!(["ES256", "none"]), "providers[0].algorithms[1]"),
        (json!(["es256"]), "providers[0].algorithms[0]"),
        (json!(["RS384"]), "providers[0].algorithms[0]"),
        (json!(["PS256"]), "providers[0].algorithms[0]"),
        (json!([]), "providers[0].algorithms"),
    ] {
        let mut v = base_config();
        v["providers"][0]["algorithms"] = algs;
        refused(&v, field);
    }
}

fn remote(uri: Value, extra: Value) -> Value {
    let mut v = base_config();
    provider_mut(&mut v).remove("local_jwks");
    let mut r = json!({"cluster": "idp", "uri": uri});
    for (k, x) in extra.as_object().unwrap() {
        r[k] = x.clone();
    }
    v["providers"][0]["remote_jwks"] = r;
    v
}

#[test]
fn remote_jwks_uri_must_be_absolute_http() {
    for uri in [
        "ftp://idp/jwks",
        "idp.local/jwks",
        "/jwks",
        "http://",
        "https:///jwks",
        "http://a b/jwks",
        "http://user@idp/jwks",
        "http://idp/jw ks",
        "",
    ] {
        refused(
            &remote(json!(uri), json!({})),
            "providers[0].remote_jwks.uri",
        );
    }
    for uri in [
        "http://idp.local/.well-known/jwks.json",
        "https://idp:8443/k?x=1",
        "http://10.0.0.1",
    ] {
        parse_config(&remote(json!(uri), json!({})));
    }
    let mut v = remote(json!("http://idp/jwks"), json!({}));
    v["providers"][0]["remote_jwks"]
        .as_object_mut()
        .unwrap()
        .remove("uri");
    refused(&v, "providers[0].remote_jwks.uri");
}

#[test]
fn zero_timeouts_are_refused() {
    let uri = json!("http://idp/jwks");
    refused(
        &remote(uri.clone(), json!({"timeout_ms": 0})),
        "providers[0].remote_jwks.timeout_ms",
    );
    refused(
        &remote(uri.clone(), json!({"cache_duration_s": 0})),
        "providers[0].remote_jwks.cache_duration_s",
    );
    refused(
        &remote(uri.clone(), json!({"timeout_ms": -5})),
        "providers[0].remote_jwks.timeout_ms",
    );
    refused(
        &remote(uri.clone(), json!({"timeout_ms": "5000"})),
        "providers[0].remote_jwks.timeout_ms",
    );
    // Contract v1.1: min_refetch_interval_s is at least 1 (0 would let every unknown kid refetch).
    refused(
        &remote(uri.clone(), json!({"min_refetch_interval_s": 0})),
        "providers[0].remote_jwks.min_refetch_interval_s",
    );
    let cfg = parse_config(&remote(uri, json!({"min_refetch_interval_s": 1})));
    let jwtgate::config::JwksSource::Remote(r) = &cfg.providers[0].jwks else {
        panic!("remote expected");
    };
    assert_eq!(r.min_refetch_interval_s, 1);
}

#[test]
fn header_names_must_be_tokens() {
    for bad in ["x user", ":path", "", "x-user\r\n", "x\"y", "ümlaut"] {
        let mut v = base_config();
        v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": bad}]);
        refused(&v, "providers[0].claim_to_headers[0].header");

        let mut v = base_config();
        v["providers"][0]["forward_payload_header"] = json!(bad);
        refused(&v, "providers[0].forward_payload_header");

        let mut v = base_config();
        v["providers"][0]["from_headers"] = json!([{"name": bad}]);
        refused(&v, "providers[0].from_headers[0].name");
    }
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user_id.1"}]);
    parse_config(&v);
}

/// Contract v1.1 "Headers": a configured name in any case means the same header, so the
/// model holds it lowercased and every comparison downstream is case-blind.
#[test]
fn header_names_in_any_case_mean_the_same_header() {
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "X-User-Id"}]);
    v["providers"][0]["forward_payload_header"] = json!("X-JWT-Payload");
    v["providers"][0]["from_headers"] = json!([{"name": "X-Partner-Token"}]);
    let cfg = parse_config(&v);
    let p = &cfg.providers[0];
    assert_eq!(p.claim_to_headers[0].header, "x-user-id");
    assert_eq!(p.forward_payload_header.as_deref(), Some("x-jwt-payload"));
    assert_eq!(p.sources.headers[0].name, "x-partner-token");
    assert!(cfg.identity_headers.contains(&"x-user-id".to_owned()));
    // A claim header spelled differently from a token source header is still the same header.
    let mut v = base_config();
    v["providers"][0]["from_headers"] = json!([{"name": "X-Token"}]);
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-token"}]);
    refused(&v, "providers[0].claim_to_headers[0].header");
    let mut v = base_config();
    v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "Cookie"}]);
    refused(&v, "providers[0].claim_to_headers[0].header");
}

/// Contract v1.1: `null` is not "omitted", at any depth.
#[test]
fn null_fields_are_refused_naming_the_field() {
    let mut v = base_config();
    v["providers"][0]["audiences"] = json!(null);
    refused(&v, "providers[0].audiences");
    let mut v = base_config();
    v["mode"] = json!(null);
    refused(&v, "mode");
    let mut v = base_config();
    v["providers"][0]["from_headers"] = json!([{"name": "authorization", "value_prefix": null}]);
    refused(&v, "providers[0].from_headers[0].value_prefix");
}

#[test]
fn other_field_level_refusals() {
    let mut v = base_config();
    v["mode"] = json!("block");
    refused(&v, "mode");

    let mut v = base_config();
    v["max_token_size"] = json!("8192");
    refused(&v, "max_token_size");

    let v = json!({"providers": []});
    refused(&v, "providers");

    let mut v = base_config();
    v["providers"][0]["issuer"] = json!("");
    refused(&v, "providers[0].issuer");

    let mut v = base_config();
    v["providers"][0]["local_jwks"]["inline"] = json!({"keys": []});
    refused(&v, "providers[0].local_jwks.inline");

    let mut v = base_config();
    v["providers"][0]["local_jwks"]["inline"] = json!(42);
    refused(&v, "providers[0].local_jwks.inline");

    let mut v = base_config();
    v["rules"] = json!([{"match": {"prefix": "/", "path": "/x"}}]);
    refused(&v, "rules[0].match");

    let mut v = base_config();
    v["rules"] = json!([{"match": {"prefix": "/"},
        "requires": {"provider": "corp", "any": [{"provider": "corp"}]}}]);
    refused(&v, "rules[0].requires");

    let e = config::parse(b"{\"providers\": [] } trailing").unwrap_err();
    assert!(!e.to_string().contains('\n'));
    let e = config::parse(b"not json").unwrap_err();
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[test]
fn local_jwks_as_string_or_object() {
    let mut v = base_config();
    v["providers"][0]["local_jwks"]["inline"] = json!(default_jwks().to_string());
    let cfg = parse_config(&v);
    let JwksSource::Local(set) = &cfg.providers[0].jwks else {
        panic!()
    };
    assert_eq!(set.len(), 2);
    assert!(matches!(
        run(&cfg, &bearer(&es_token(&claims()))),
        jwtgate::gate::Decision::Forward(..)
    ));
}

#[test]
fn contract_defaults() {
    let cfg = parse_config(&json!({"providers": [{
        "name": "corp",
        "issuer": ISSUER,
        "local_jwks": {"inline": default_jwks()}
    }]}));
    let p = &cfg.providers[0];
    assert!(p.require_expiration);
    assert_eq!(p.clock_skew_s, 60);
    assert_eq!(cfg.max_token_size, 8192);
    assert!(!p.forward);
    assert_eq!(p.algorithms, vec![Alg::Es256, Alg::Rs256]);
    assert_eq!(p.audiences, None);
    assert_eq!(p.token_types, None);
    assert_eq!(p.max_lifetime_s, None);
    assert_eq!(p.forward_payload_header, None);
    assert!(p.claim_to_headers.is_empty());
    assert_eq!(
        p.sources.headers.len(),
        1,
        "default: exactly Authorization Bearer"
    );
    assert_eq!(p.sources.headers[0].name, "authorization");
    assert_eq!(
        p.sources.headers[0].value_prefix.as_deref(),
        Some("Bearer ")
    );
    assert!(p.sources.params.is_empty() && p.sources.cookies.is_empty());
    assert_eq!(cfg.mode, Mode::Enforce);
    assert!(cfg.rules.is_empty());
    // No rules: every request requires the (only) provider.
    assert!(matches!(
        cfg.default_requirement,
        Requirement::Provider { provider: 0, .. }
    ));
}

#[test]
fn claim_headers_cannot_name_reserved_or_token_headers() {
    for h in ["host", "cookie", "content-length", "authorization"] {
        let mut v = base_config();
        v["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": h}]);
        refused(&v, "providers[0].claim_to_headers[0].header");
    }
}

#[test]
fn provider_name_is_required() {
    let mut v = base_config();
    provider_mut(&mut v).remove("name");
    refused(&v, "providers[0].name");
}

#[test]
fn token_cache_size_zero_verifies_every_request_again() {
    let mut v = base_config();
    v["token_cache_size"] = json!(0);
    let cfg = parse_config(&v);
    assert_eq!(cfg.token_cache_size, 0);
    let keys = Keys::from_config(&cfg);
    let mut cache = jwtgate::TokenCache::new(1, cfg.token_cache_size);
    let t = es_token(&claims());
    for _ in 0..3 {
        let jwtgate::gate::Start::Check(prep) = jwtgate::gate::prepare(&cfg, &bearer(&t)) else {
            panic!("a token is needed");
        };
        let d = jwtgate::gate::decide(&cfg, &prep, &keys, &mut cache, NOW);
        assert!(matches!(d, jwtgate::gate::Decision::Forward(..)), "{d:?}");
    }
    assert_eq!(cache.len(), 0);
    assert_eq!(cache.take_stats(), (0, 0), "never consulted");
}

#[test]
fn size_limits_are_the_contracts() {
    assert_eq!(
        jwtgate::revocation::MAX_REVOCATION_BYTES,
        1 << 20,
        "a list is limited like a JWKS"
    );
    assert_eq!(jwtgate::MAX_JWKS_BYTES, 1 << 20);
    assert_eq!(
        jwtgate::MAX_CACHE_BYTES,
        16 << 20,
        "16 MiB of tokens and claims per VM"
    );
}
