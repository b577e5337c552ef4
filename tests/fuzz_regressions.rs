//! Inputs found by the fuzz targets in fuzz/ (`make fuzz`), kept as ordinary tests.

mod common;

use common::*;
use jwtgate::gate::{Decision, Outcome};
use jwtgate::matcher;
use jwtgate::path;
use jwtgate::KeySet;
use serde_json::json;

fn scoped_config() -> jwtgate::config::Config {
    let mut c = base_config();
    c["rules"] = json!([
        {"match": {"prefix": "/public"}, "requires": {"allow_missing": {"provider": "corp"}}},
        {"match": {"prefix": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
        {"match": {"prefix": "/"}, "requires": {"provider": "corp"}}
    ]);
    parse_config(&c)
}

/// fuzz/path: a path with non-ASCII text was not decoded at all, so `%2e%2e` was no dot segment
/// for the matcher but is `..` for an upstream: `/public/é/%2e%2e/%2e%2e/admin` matched the
/// public rule and reached `/admin`. Fixed by the Paths v1.1 module (`path::normalize`).
#[test]
fn non_ascii_paths_are_normalized_like_ascii_ones() {
    assert_eq!(path::normalize("/public/é/%2e%2e/%2e%2e/admin"), "/admin");
    assert_eq!(path::normalize("/%61dmin/é"), "/admin/é");
    assert_eq!(path::normalize("/é/%2E/x%7E"), "/é/x~");
    let cfg = scoped_config();
    for path in [
        "/public/é/%2e%2e/%2e%2e/admin",
        "/%61dmin/é",
        "/public/ü/../../admin/x",
    ] {
        assert_eq!(
            matcher::rule_for(&cfg, &path::normalize(path)),
            Some(1),
            "{path}"
        );
        // Without a token this is the admin rule's 401, not the public rule's pass.
        let d = run(&cfg, &request(path, &[]));
        assert_eq!(rejection(&d).status, 401, "{path}");
    }
}

/// fuzz/path: `%4%41` decodes to `%4A`, which a second pass decodes to `J`, so normalizing twice
/// differs from once. Contract v1.1 refuses such broken escapes before any rule
/// (`path_ambiguous`), so no such path is ever normalized or matched.
#[test]
fn broken_escapes_are_refused_before_matching() {
    for raw in ["/public/%7Eu%7Euu%4%41", "/%2%45/leniente"] {
        assert!(path::ambiguous(raw, false), "{raw}");
        let d = run(&scoped_config(), &request(raw, &[]));
        assert_eq!(rejection(&d).status, 400, "{raw}");
    }
}

/// fuzz/jwks (and tests/limits.rs): a refused JWKS named every skipped key with its whole `kid`,
/// so one bad publish made a log line (and config error) of up to 1 MiB.
#[test]
fn jwks_refusal_is_one_bounded_line() {
    let doc = format!("{{\"keys\":[{}1]}}", "1,".repeat(50_000));
    let msg = KeySet::parse(doc.as_bytes()).unwrap_err().to_string();
    assert!(msg.len() < 512, "{} bytes", msg.len());
    assert!(msg.ends_with(", and 49993 more)"), "{msg}");
}

/// The extraction cap keeps removal exact for the one token that can pass: every location of a
/// single token is still recorded however many other values the request carries.
#[test]
fn token_cap_keeps_all_locations_of_a_single_token() {
    let mut c = base_config();
    c["providers"][0]["from_cookies"] = json!(["session"]);
    c["providers"][0]["from_params"] = json!(["access_token"]);
    let cfg = parse_config(&c);
    let token = es_token(&claims());
    let path = format!("/?access_token={token}");
    let cookie = format!("session={token}");
    let auth = format!("Bearer {token}");
    let d = run(
        &cfg,
        &request(
            &path,
            &[
                ("authorization", &auth),
                ("Authorization", &auth),
                ("cookie", &cookie),
            ],
        ),
    );
    let Decision::Forward(m, Outcome::Allowed(_)) = &d else {
        panic!("{d:?}")
    };
    assert!(m.remove.contains(&"authorization".to_owned()));
    assert!(m.remove.contains(&"Authorization".to_owned()));
    assert!(m.remove.contains(&"cookie".to_owned()));
    assert_eq!(set_value(m, ":path"), Some("/"));
}
