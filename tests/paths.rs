//! The contract's "Paths (v1.1)" through `gate::prepare`/`decide`: refusals before any rule,
//! `:path` rewritten to what was authorized, `ignore_case`, `escaped_slashes`; and properties of
//! `jwtgate::path` on arbitrary paths.

mod common;

use common::*;
use jwtgate::config::{Config, PathMatch, Requirement, Rule};
use jwtgate::gate::{self, Decision, Escapes, Outcome, Start};
use jwtgate::TokenCache;
use jwtgate::{matcher, path};
use proptest::prelude::*;
use serde_json::{json, Value};

fn rules() -> Value {
    json!([
        {"match": {"prefix": "/healthz"}},
        {"match": {"path": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
        {"match": {"path": "/Ops", "ignore_case": true}, "requires": {"provider": "corp", "scopes": ["ops"]}},
        {"match": {"prefix": "/api/"}, "requires": {"provider": "corp", "scopes": ["api"]}},
        {"match": {"prefix": "/"}, "requires": {"provider": "corp"}},
    ])
}

fn config_with(extra: Value) -> Config {
    let mut v = base_config();
    v["providers"][0]["from_params"] = json!(["access_token"]);
    v["rules"] = rules();
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    parse_config(&v)
}

fn cfg() -> Config {
    config_with(json!({}))
}

fn at(path: &str, token: Option<&str>) -> Vec<(String, String)> {
    match token {
        Some(t) => request(path, &[("authorization", &format!("Bearer {t}"))]),
        None => request(path, &[]),
    }
}

fn plain_token() -> String {
    es_token(&claims())
}

fn scoped(scope: &str) -> String {
    es_token(&claims_with(json!({ "scope": scope })))
}

fn assert_path_ambiguous(d: &Decision) {
    let r = rejection(d);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.body,
        r#"{"error":"invalid_request","reason":"path_ambiguous"}"#
    );
    assert_eq!(resp_header(r, "content-type"), Some("application/json"));
    assert_eq!(resp_header(r, "www-authenticate"), None);
    assert!(matches!(
        d,
        Decision::Reject(
            _,
            Outcome::Denied {
                reported: false,
                ..
            }
        )
    ));
}

const AMBIGUOUS: &[&str] = &[
    "/admin%2f",
    "/admin%2F",
    "/healthz%2F..%2Fadmin",
    "/healthz/..%2Fadmin",
    "/healthz%5C..%5Cadmin",
    "/healthz%5c",
    "/healthz\\..\\admin",
    "/healthz\u{0}",
    "/healthz%00",
    "/healthz%0a",
    "/healthz%0D%0A",
    "/healthz%7F",
    "/healthz\u{7f}",
    "/healthz%zz",
    "/healthz%",
    "/healthz%2",
    "/healthz%%32%66",
    "/healthz#/../admin",
    "/healthz/\u{FFFD}",
    "*",
    "http://h/admin",
    "healthz",
    "",
    "?a=1",
];

#[test]
fn ambiguous_paths_are_refused_before_any_rule() {
    let cfg = cfg();
    let admin = scoped("admin");
    for p in AMBIGUOUS {
        // No-token rule, a valid token, and a query: all refused the same way.
        assert_path_ambiguous(&run(&cfg, &at(p, None)));
        assert_path_ambiguous(&run(&cfg, &at(p, Some(&admin))));
        assert_path_ambiguous(&run(&cfg, &at(&format!("{p}?x=1"), Some(&admin))));
    }
    // No `:path` at all is not an origin-form path either.
    let no_path: Vec<(String, String)> = request("/", &[])
        .into_iter()
        .filter(|(n, _)| n != ":path")
        .collect();
    assert_path_ambiguous(&run(&cfg, &no_path));
}

#[test]
fn ambiguous_paths_are_refused_before_cors_preflight_and_in_report_mode() {
    let preflight = |p: &str| {
        let mut h = request(p, &[]);
        h[0].1 = "OPTIONS".into();
        h.push(("origin".into(), "https://app.test".into()));
        h.push(("access-control-request-method".into(), "POST".into()));
        h
    };
    let cfg = cfg();
    assert_path_ambiguous(&run(&cfg, &preflight("/admin%2F")));
    assert!(matches!(
        run(&cfg, &preflight("/admin")),
        Decision::Forward(_, Outcome::Preflight)
    ));
    let report = config_with(json!({"mode": "report"}));
    assert_path_ambiguous(&run(&report, &at("/healthz%2F", None)));
    assert!(matches!(
        run(&report, &at("/admin", None)),
        Decision::Forward(_, Outcome::Denied { reported: true, .. })
    ));
}

#[test]
fn spellings_of_the_scoped_exact_path_need_its_scope() {
    let cfg = cfg();
    let plain = plain_token();
    let admin = scoped("admin");
    for p in [
        "/admin",
        "/admin/",
        "/admin;jsessionid=1",
        "/admin;x/",
        "/admin/.",
        "/admin/./",
        "/%61dmin",
        "/%61%64%6d%69%6e",
        "//admin",
        "///admin//",
        "/x/../admin",
        "/healthz/../admin",
        "/healthz/%2e%2e/admin",
        "/healthz/%2E%2E/admin",
        "/healthz/.%2e/admin",
        "/healthz/..;/admin",
        "/./admin",
        "/../admin",
        "/admin%3B",
        "/admin%3bx",
        "/admin/x/..",
        "/admin?x=/../y",
    ] {
        assert_eq!(
            reason_of(&run(&cfg, &at(p, Some(&plain)))),
            "insufficient_scope",
            "{p}"
        );
        assert_eq!(reason_of(&run(&cfg, &at(p, None))), "token_missing", "{p}");
        assert!(
            matches!(
                run(&cfg, &at(p, Some(&admin))),
                Decision::Forward(_, Outcome::Allowed(_))
            ),
            "{p}"
        );
    }
    // Other resources: the catch-all (any corp token), not the exact rule.
    for p in ["/admin/x", "/adminx", "/ADMIN", "/admin//x", "/admin%20"] {
        assert!(
            matches!(
                run(&cfg, &at(p, Some(&plain))),
                Decision::Forward(_, Outcome::Allowed(_))
            ),
            "{p}"
        );
    }
}

#[test]
fn ignore_case_rules_match_any_case() {
    let cfg = cfg();
    let plain = plain_token();
    for p in ["/ops", "/OPS", "/Ops/", "/%4Fps", "/oPs;x"] {
        assert_eq!(
            reason_of(&run(&cfg, &at(p, Some(&plain)))),
            "insufficient_scope",
            "{p}"
        );
    }
    let d = run(&cfg, &at("/OPS", Some(&scoped("ops"))));
    assert!(matches!(d, Decision::Forward(_, Outcome::Allowed(_))));
}

#[test]
fn prefix_rules_see_the_normalized_path() {
    let cfg = cfg();
    let plain = plain_token();
    for p in ["/api/x", "//api//x", "/x/../api/y", "/%61pi/", "/api;v=1/x"] {
        assert_eq!(
            reason_of(&run(&cfg, &at(p, Some(&plain)))),
            "insufficient_scope",
            "{p}"
        );
    }
    for p in [
        "/healthz",
        "/healthz/live",
        "/healthzx",
        "//healthz",
        "/healthz;a",
    ] {
        assert!(
            matches!(
                run(&cfg, &at(p, None)),
                Decision::Forward(_, Outcome::NotRequired)
            ),
            "{p}"
        );
    }
    for p in ["/healthz/../admin", "/x/healthz", "/HEALTHZ"] {
        assert!(!forwarded_without_token(&cfg, p), "{p}");
    }
}

fn forwarded_without_token(cfg: &Config, p: &str) -> bool {
    matches!(run(cfg, &at(p, None)), Decision::Forward(..))
}

#[test]
fn upstream_gets_the_normalized_path_with_the_query_as_sent() {
    let cfg = cfg();
    let admin = scoped("admin");
    // No token needed: rewritten too.
    let d = run(&cfg, &at("/x/../healthz/./live?q=%2F..%2F&b", None));
    assert_eq!(
        set_value(mutations(&d), ":path"),
        Some("/healthz/live?q=%2F..%2F&b")
    );
    // A pass.
    let d = run(&cfg, &at("//%61dmin/?", Some(&admin)));
    assert_eq!(set_value(mutations(&d), ":path"), Some("/admin/?"));
    // `;` parameters are for matching only: forwarded as sent.
    let d = run(&cfg, &at("/admin;jsessionid=1", Some(&admin)));
    assert_eq!(set_value(mutations(&d), ":path"), None);
    let d = run(&cfg, &at("/a/../admin;jsessionid=1", Some(&admin)));
    assert_eq!(
        set_value(mutations(&d), ":path"),
        Some("/admin;jsessionid=1")
    );
    // A canonical path is not touched.
    for p in ["/admin", "/admin?x=/../y", "/caf%c3%a9"] {
        let d = run(&cfg, &at(p, Some(&admin)));
        assert_eq!(set_value(mutations(&d), ":path"), None, "{p}");
    }
    // Report mode forwards what it matched, too.
    let report = config_with(json!({"mode": "report"}));
    let d = run(&report, &at("/x/../admin", None));
    assert_eq!(set_value(mutations(&d), ":path"), Some("/admin"));
}

#[test]
fn access_token_stripping_works_on_the_normalized_path() {
    let cfg = cfg();
    let admin = scoped("admin");
    let d = run(
        &cfg,
        &at(
            &format!("/x/../admin?a=%20&access_token={admin}&b=c%26d"),
            None,
        ),
    );
    assert_eq!(
        set_value(mutations(&d), ":path"),
        Some("/admin?a=%20&b=c%26d")
    );
    let d = run(&cfg, &at(&format!("//admin?access_token={admin}"), None));
    assert_eq!(set_value(mutations(&d), ":path"), Some("/admin"));
    let d = run(&cfg, &at(&format!("/admin?access_token={admin}"), None));
    assert_eq!(set_value(mutations(&d), ":path"), Some("/admin"));
    assert_eq!(
        mutations(&d)
            .set
            .iter()
            .filter(|(n, _)| n == ":path")
            .count(),
        1
    );
}

#[test]
fn escaped_slashes_keep() {
    let cfg = config_with(json!({"escaped_slashes": "keep"}));
    let plain = plain_token();
    // Passed on unchanged, an ordinary character of its segment: not the exact path /admin.
    let d = run(&cfg, &at("/admin%2F", Some(&plain)));
    assert!(
        matches!(d, Decision::Forward(_, Outcome::Allowed(_))),
        "{d:?}"
    );
    assert_eq!(set_value(mutations(&d), ":path"), None);
    // %2F.. is not a dot segment; a real one still is.
    let d = run(&cfg, &at("/healthz%2F..%2Fadmin", None));
    assert!(matches!(d, Decision::Forward(_, Outcome::NotRequired)));
    let d = run(&cfg, &at("/healthz/a%5C..%5Cb/../x%2fy", None));
    assert!(matches!(d, Decision::Forward(_, Outcome::NotRequired)));
    assert_eq!(set_value(mutations(&d), ":path"), Some("/healthz/x%2fy"));
    // Everything else stays refused.
    for p in ["/a\\b", "/a%00", "/a%", "*"] {
        assert_path_ambiguous(&run(&cfg, &at(p, None)));
    }
    let reject = config_with(json!({"escaped_slashes": "reject"}));
    assert_path_ambiguous(&run(&reject, &at("/admin%2F", Some(&plain))));
}

/// nginx sends `%2F` upstream as `/`: there "keep" would let a rule match one segment where the
/// upstream serves two, so a host that decodes them refuses such paths under either setting.
#[test]
fn escaped_slashes_stay_refused_where_the_host_decodes_them() {
    let keep = config_with(json!({"escaped_slashes": "keep"}));
    let plain = plain_token();
    let decide = |cfg: &Config, h: &[(String, String)], escapes: Escapes| match gate::prepare_for(
        cfg, h, escapes,
    ) {
        Start::Done(d) => d,
        Start::Check(prep) => gate::decide(
            cfg,
            &prep,
            &Keys::from_config(cfg),
            &mut TokenCache::new(cfg.providers.len(), 16),
            NOW,
        ),
    };
    for p in [
        "/admin%2F",
        "/healthz%2F..%2Fadmin",
        "/healthz/a%5C..%5Cb",
        "/x%2fy",
    ] {
        assert_path_ambiguous(&decide(&keep, &at(p, Some(&plain)), Escapes::Decoded));
        assert!(
            !matches!(
                decide(&keep, &at(p, Some(&plain)), Escapes::Kept),
                Decision::Reject(..)
            ),
            "{p}: kept where the host keeps it"
        );
    }
    // Nothing else changes on such a host.
    let d = decide(&keep, &at("/x/../api/y", Some(&plain)), Escapes::Decoded);
    assert!(matches!(d, Decision::Reject(..)), "{d:?}");
    let d = decide(&keep, &at("/healthz/./live", None), Escapes::Decoded);
    assert!(
        matches!(d, Decision::Forward(_, Outcome::NotRequired)),
        "{d:?}"
    );
}

#[test]
fn config_fields() {
    let mut v = base_config();
    v["escaped_slashes"] = json!("allow");
    let e = config_error(&v);
    assert_eq!(e.field, "escaped_slashes", "{e}");
    v["escaped_slashes"] = json!(true);
    assert_eq!(config_error(&v).field, "escaped_slashes");

    let mut v = base_config();
    v["rules"] = json!([{"match": {"path": "/a", "ignore_case": "yes"}}]);
    assert_eq!(config_error(&v).field, "rules[0].match.ignore_case");
    v["rules"] = json!([{"match": {"path": "/a", "ignorecase": true}}]);
    assert_eq!(config_error(&v).field, "rules[0].match.ignorecase");

    // A rule in a spelling requests never have after normalization could never match.
    for (rule, want) in [
        ("/a//b", "\"/a/b\""),
        ("/a/./b", "\"/a/b\""),
        ("/%61dmin", "\"/admin\""),
        ("/admin;x", "\"/admin\""),
        ("/a%2fb", "\"/a%2Fb\""),
    ] {
        let mut v = base_config();
        v["escaped_slashes"] = json!("keep");
        v["rules"] = json!([{"match": {"prefix": rule}}]);
        let e = config_error(&v);
        assert_eq!(e.field, "rules[0].match.prefix", "{e}");
        assert!(e.problem.contains(want), "{rule}: {e}");
    }
    for rule in ["/a\\b", "/a%2Fb", "/a%"] {
        let mut v = base_config();
        v["rules"] = json!([{"match": {"path": rule}}]);
        let e = config_error(&v);
        assert_eq!(e.field, "rules[0].match.path", "{e}");
        assert!(e.problem.contains("path_ambiguous"), "{e}");
    }
    let mut v = base_config();
    v["escaped_slashes"] = json!("keep");
    v["rules"] = json!([{"match": {"path": "/a%2Fb", "ignore_case": false}}]);
    let cfg = parse_config(&v);
    assert!(!cfg.rules[0].ignore_case);
}

// ---------------------------------------------------------------- properties

/// Paths built from the pieces that matter: separators, dots, escapes (good, bad, of
/// unreserved and reserved characters, any case), parameters, controls, non-ASCII.
fn tricky_path() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just("//".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just(";".to_owned()),
        Just(";x=1".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E".to_owned()),
        Just("%2f".to_owned()),
        Just("%2F".to_owned()),
        Just("%5c".to_owned()),
        Just("%3B".to_owned()),
        Just("%3b".to_owned()),
        Just("%61".to_owned()),
        Just("%41".to_owned()),
        Just("%7e".to_owned()),
        Just("%25".to_owned()),
        Just("%c3%a9".to_owned()),
        Just("%".to_owned()),
        Just("%2".to_owned()),
        Just("%zz".to_owned()),
        Just("%00".to_owned()),
        Just("\\".to_owned()),
        Just("#".to_owned()),
        Just("\u{e9}".to_owned()),
        Just("\u{7f}".to_owned()),
        Just("admin".to_owned()),
        Just("ADMIN".to_owned()),
        Just("healthz".to_owned()),
        Just("api".to_owned()),
        "[a-zA-Z0-9._~-]{1,3}",
    ];
    (any::<bool>(), prop::collection::vec(piece, 0..10)).prop_map(|(slash, parts)| {
        let body: String = parts.concat();
        if slash {
            format!("/{body}")
        } else {
            body
        }
    })
}

fn rule_index(cfg: &Config, p: &str) -> Option<usize> {
    matcher::rule_for(cfg, &path::normalize(p))
}

proptest! {
    #![proptest_config(proptest_fixed(4000, 0x9a7e))]

    #[test]
    fn normalize_is_idempotent_and_total(p in tricky_path()) {
        let once = path::normalize(&p).into_owned();
        prop_assert_eq!(path::normalize(&once).into_owned(), once.clone());
        let form = path::match_form(&once).into_owned();
        prop_assert_eq!(path::match_form(&form).into_owned(), form.clone());
        let _ = path::ambiguous(&p, false);
        let _ = path::ambiguous(&p, true);
    }

    #[test]
    fn the_forwarded_path_means_what_was_authorized(p in tricky_path()) {
        for keep in [false, true] {
            if path::ambiguous(&p, keep) {
                continue;
            }
            let forwarded = path::normalize(&p).into_owned();
            // The upstream's path is not refused, is already normalized, and every rule
            // reads it as it read the request's.
            prop_assert!(!path::ambiguous(&forwarded, keep), "{:?} -> {:?}", p, forwarded);
            prop_assert_eq!(path::normalize(&forwarded).into_owned(), forwarded.clone());
            let original = path::normalize(&p).into_owned();
            prop_assert_eq!(
                path::match_form(&forwarded).into_owned(),
                path::match_form(&original).into_owned()
            );
            let cfg = if keep { keep_cfg() } else { reject_cfg() };
            prop_assert_eq!(rule_index(cfg, &p), rule_index(cfg, &forwarded));
            // And a server that strips `;` parameters itself sees the same resource.
            let stripped: String = path::match_form(&forwarded).into_owned();
            prop_assert_eq!(rule_index(cfg, &stripped), rule_index(cfg, &forwarded));
        }
    }

    #[test]
    fn any_rule_reads_the_forwarded_path_as_the_request(
        rule in tricky_path(),
        p in tricky_path(),
        exact in any::<bool>(),
        ignore_case in any::<bool>(),
    ) {
        let keep = true;
        // Config validation takes only origin-form rules, and only in this form.
        let rule = path::canonical_rule(&format!("/{rule}"));
        let p = format!("/{p}");
        if path::ambiguous(&rule, keep) || path::ambiguous(&p, keep) {
            return Ok(());
        }
        prop_assert_eq!(path::canonical_rule(&rule), rule.clone());
        let rule = Rule {
            matcher: if exact { PathMatch::Exact(rule) } else { PathMatch::Prefix(rule) },
            ignore_case,
            requires: Requirement::None,
        };
        let request = path::normalize(&p).into_owned();
        let forwarded = path::normalize(&request).into_owned();
        let stripped = path::match_form(&request).into_owned();
        let hit = |x: &str| matcher::matches(&rule, &path::match_form(&path::normalize(x)));
        prop_assert_eq!(hit(&p), hit(&forwarded));
        prop_assert_eq!(hit(&p), hit(&stripped));
        // The rule's own path (and, for an exact rule, with one trailing slash) matches it.
        let own = match &rule.matcher {
            PathMatch::Exact(r) | PathMatch::Prefix(r) => r.clone(),
        };
        prop_assert!(hit(&own));
        if exact && !own.ends_with('/') {
            let slashed = format!("{own}/");
            prop_assert!(hit(&slashed));
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(p in "\\PC{0,40}", q in any::<Vec<u8>>()) {
        let cfg = reject_cfg();
        let _ = run(cfg, &at(&p, None));
        let s = String::from_utf8_lossy(&q).into_owned();
        let _ = path::normalize(&s);
        let _ = path::match_form(&s);
        let _ = path::ambiguous(&s, false);
        let _ = run(cfg, &at(&s, None));
    }
}

fn reject_cfg() -> &'static Config {
    thread_local! {
        static CFG: &'static Config = Box::leak(Box::new(cfg()));
    }
    CFG.with(|c| *c)
}

fn keep_cfg() -> &'static Config {
    thread_local! {
        static CFG: &'static Config =
            Box::leak(Box::new(config_with(json!({"escaped_slashes": "keep"}))));
    }
    CFG.with(|c| *c)
}

/// The route `prepare_routed` reports is the rule the requirement came from: matched on the
/// normalized path without the query; none for a path refused or a preflight passed before any
/// rule.
#[test]
fn the_route_is_the_rule_of_the_normalized_path() {
    let cfg = config_with(json!({"bypass_cors_preflight": true}));
    let route = |h: &[(String, String)]| gate::prepare_routed(&cfg, h, Escapes::Kept).0;
    let plain = plain_token();
    for p in [
        "/admin",
        "/admin?x=1",
        "/%61dmin",
        "/admin/",
        "/x/../admin?y=/api/",
    ] {
        assert_eq!(route(&at(p, Some(&plain))), gate::Route::Rule(1), "{p}");
    }
    assert_eq!(route(&at("/healthz/live", None)), gate::Route::Rule(0));
    assert_eq!(route(&at("/api/?/admin", None)), gate::Route::Rule(3));
    assert_eq!(
        route(&at("/admin%2F", Some(&plain))),
        gate::Route::BeforeRules
    );
    let preflight: Vec<(String, String)> = [
        (":method", "OPTIONS"),
        (":path", "/admin"),
        (":authority", "api.example.com"),
        ("origin", "https://app.example"),
        ("access-control-request-method", "GET"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(route(&preflight), gate::Route::BeforeRules);
    let mut no_catch_all = base_config();
    no_catch_all["rules"] = json!([{"match": {"path": "/admin"}}]);
    let cfg = parse_config(&no_catch_all);
    let (r, _) = gate::prepare_routed(&cfg, &at("/other", None), Escapes::Kept);
    assert_eq!(r, gate::Route::Default);
}
