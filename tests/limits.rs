//! Limits: oversized and overfull inputs get a bounded, clear outcome. Each test asserts the
//! outcome and, where the library bounds its work, that bound (keys parsed, tokens kept, message
//! length); the wall-clock bound is only a guard against unbounded work, generous on purpose
//! (speed is measured by the benchmarks, not here).

mod common;

use common::*;
use jwtgate::config::{Config, JwksSource};
use jwtgate::extract::{self, RequestParts, MAX_DISTINCT_TOKENS};
use jwtgate::gate::{self, Decision, Outcome, Start};
use jwtgate::Reason;
use jwtgate::{JwksError, KeySet, SkipReason, MAX_JWKS_BYTES, MAX_KEYS, MAX_LISTED_SKIPS};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

// Far above any real run (ms), so a loaded CI machine never trips it; unbounded work still would.
const GUARD: Duration = Duration::from_secs(30);
const MIB: usize = 1 << 20;

/// Runs `f`, asserting it finished within the guard.
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < GUARD, "{what} took {took:?}");
    out
}

fn big_token_config() -> Config {
    let mut c = base_config();
    c["max_token_size"] = json!(MIB);
    c["providers"][0]["from_params"] = json!(["access_token"]);
    c["providers"][0]["from_cookies"] = json!(["session"]);
    c["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}]);
    parse_config(&c)
}

fn default_config() -> Config {
    let mut c = base_config();
    c["providers"][0]["from_params"] = json!(["access_token"]);
    c["providers"][0]["from_cookies"] = json!(["session"]);
    parse_config(&c)
}

fn denied_reason(d: &Decision) -> Reason {
    match d {
        Decision::Reject(_, Outcome::Denied { denial, .. }) => denial.reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ---- 1 MiB header values ----

#[test]
fn one_mib_authorization_value_is_token_too_large() {
    let cfg = default_config();
    let token = "a".repeat(MIB);
    let d = bounded("1 MiB bearer", || run(&cfg, &bearer(&token)));
    assert_invalid_token(&d, "token_too_large");
    // Also past a configured maximum of 1 MiB: the prefix makes the value longer than the token,
    // the token itself is exactly at the limit plus one.
    let cfg = big_token_config();
    let token = "a".repeat(MIB + 1);
    let d = bounded("1 MiB + 1 bearer", || run(&cfg, &bearer(&token)));
    assert_invalid_token(&d, "token_too_large");
}

#[test]
fn one_mib_token_at_the_configured_maximum_is_parsed_and_refused() {
    // max_token_size 1 MiB lets it through the size check: a 1 MiB segment of junk is malformed.
    let cfg = big_token_config();
    let token = format!("{}.e30.AAAA", "e".repeat(MIB - 9));
    assert_eq!(token.len(), MIB);
    let d = bounded("1 MiB token", || run(&cfg, &bearer(&token)));
    assert_invalid_token(&d, "token_malformed");
}

#[test]
fn one_mib_of_distinct_bearer_tokens_in_one_header_is_token_malformed_in_bounded_work() {
    // `Bearer t0,Bearer t1,…`: how hosts merge repeated headers. ~90,000 distinct tokens.
    let cfg = default_config();
    let mut value = String::with_capacity(MIB + 32);
    let mut i = 0;
    while value.len() < MIB {
        value.push_str(&format!("Bearer t{i},"));
        i += 1;
    }
    let headers = request("/", &[("authorization", &value)]);
    let found = bounded("extract 1 MiB of tokens", || {
        extract::extract(
            &cfg.providers[0].sources,
            &RequestParts {
                headers: &headers,
                query: None,
            },
        )
    });
    assert_eq!(found.len(), MAX_DISTINCT_TOKENS, "distinct tokens kept");
    let d = bounded("decide 1 MiB of tokens", || run(&cfg, &headers));
    assert_invalid_token(&d, "token_malformed");
}

#[test]
fn one_mib_of_other_headers_does_not_change_a_valid_request() {
    let cfg = default_config();
    let token = es_token(&claims());
    let junk = "x".repeat(MIB);
    let mut headers = bearer(&token);
    headers.push(("x-junk".into(), junk.clone()));
    headers.push(("cookie".into(), junk));
    let d = bounded("1 MiB of other headers", || run(&cfg, &headers));
    assert!(
        matches!(d, Decision::Forward(_, Outcome::Allowed(_))),
        "{d:?}"
    );
}

#[test]
fn one_mib_host_header_gives_a_bounded_realm() {
    let cfg = default_config();
    let host = "h".repeat(MIB);
    let d = bounded("1 MiB host", || {
        run(&cfg, &request("/", &[("host", &host)]))
    });
    let r = rejection(&d);
    assert_eq!(r.status, 401);
    let challenge = resp_header(r, "www-authenticate").unwrap();
    assert!(challenge.len() < 300, "realm of {} bytes", challenge.len());
}

// ---- thousands of cookies and query parameters ----

#[test]
fn ten_thousand_session_cookies_are_token_malformed_in_bounded_work() {
    let cfg = default_config();
    let cookie: Vec<String> = (0..10_000).map(|i| format!("session=t{i}")).collect();
    let cookie = cookie.join("; ");
    let headers = request("/", &[("cookie", &cookie)]);
    let d = bounded("10,000 session cookies", || run(&cfg, &headers));
    assert_invalid_token(&d, "token_malformed");
}

#[test]
fn ten_thousand_other_cookies_around_a_valid_one_are_kept_and_the_token_stripped() {
    let cfg = default_config();
    let token = es_token(&claims());
    let mut parts: Vec<String> = (0..10_000).map(|i| format!("c{i}=v{i}")).collect();
    parts.insert(5_000, format!("session={token}"));
    let cookie = parts.join("; ");
    // And over 1,000 separate cookie headers (HTTP/2 splits them).
    let mut extra: Vec<(&str, &str)> = vec![("cookie", cookie.as_str())];
    let singles: Vec<String> = (0..1_000).map(|i| format!("h{i}=1")).collect();
    extra.extend(singles.iter().map(|s| ("cookie", s.as_str())));
    let headers = request("/", &extra);
    let d = bounded("10,000 cookies", || run(&cfg, &headers));
    let m = mutations(&d);
    let rewritten = set_value(m, "cookie").expect("cookie rewritten");
    assert!(!rewritten.contains(&token));
    assert_eq!(rewritten.split("; ").count(), 11_000);
    assert_eq!(m.remove, vec!["cookie".to_owned()]);
}

#[test]
fn ten_thousand_access_token_parameters_are_token_malformed_in_bounded_work() {
    let cfg = default_config();
    let q: Vec<String> = (0..10_000).map(|i| format!("access_token=t{i}")).collect();
    let path = format!("/?{}", q.join("&"));
    let d = bounded("10,000 parameters", || run(&cfg, &request(&path, &[])));
    assert_invalid_token(&d, "token_malformed");
}

#[test]
fn ten_thousand_other_parameters_around_a_valid_token_are_kept_and_it_stripped() {
    let cfg = default_config();
    let token = es_token(&claims());
    let mut q: Vec<String> = (0..10_000).map(|i| format!("p{i}=%41{i}")).collect();
    q.insert(7_000, format!("access_token={token}"));
    let path = format!("/items?{}", q.join("&"));
    let d = bounded("10,000 parameters", || run(&cfg, &request(&path, &[])));
    let m = mutations(&d);
    let p = set_value(m, ":path").expect(":path rewritten");
    assert!(!p.contains(&token));
    assert_eq!(p.split('&').count(), 10_000);
    assert!(p.starts_with("/items?p0=%410&"));
}

// ---- deeply nested JSON ----

/// A token over `payload` (raw JSON text), signed by the default ES256 key.
fn signed_payload(payload: &str) -> String {
    sign_raw(ec_a(), r#"{"alg":"ES256","kid":"ec-a"}"#, payload)
}

#[test]
fn one_hundred_thousand_brackets_in_a_signed_payload() {
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let payload = format!(r#"{{"iss":"{ISSUER}","deep":{nested}}}"#);
    let token = signed_payload(&payload);
    // Default max_token_size (8192): refused before parsing.
    let d = bounded("nested, default size", || {
        run(&default_config(), &bearer(&token))
    });
    assert_invalid_token(&d, "token_too_large");
    // Allowed by size: serde_json stops at depth 128 (json.rs keeps its recursion limit).
    let d = bounded("nested, 1 MiB allowed", || {
        run(&big_token_config(), &bearer(&token))
    });
    assert_invalid_token(&d, "token_malformed");
    // Unclosed brackets too (no stack spent on what never closes).
    let open = format!(r#"{{"deep":{}"#, "[".repeat(100_000));
    let d = bounded("unclosed", || {
        run(&big_token_config(), &bearer(&signed_payload(&open)))
    });
    assert_invalid_token(&d, "token_malformed");
}

#[test]
fn nesting_just_under_the_depth_limit_is_accepted() {
    // 126 arrays inside the payload object: 127 levels, below serde_json's 128.
    let nested = format!("{}{}", "[".repeat(126), "]".repeat(126));
    let payload = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"deep":{nested}}}"#,
        NOW + 300
    );
    let d = run(&big_token_config(), &bearer(&signed_payload(&payload)));
    assert!(
        matches!(d, Decision::Forward(_, Outcome::Allowed(_))),
        "{d:?}"
    );
    let nested = format!("{}{}", "[".repeat(128), "]".repeat(128));
    let payload = format!(r#"{{"iss":"{ISSUER}","deep":{nested}}}"#);
    let d = run(&big_token_config(), &bearer(&signed_payload(&payload)));
    assert_invalid_token(&d, "token_malformed");
}

#[test]
fn deeply_nested_header_jwks_and_config_are_refused() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // Header.
    let token = sign_raw(ec_a(), &format!(r#"{{"alg":"ES256","x":{deep}}}"#), "{}");
    let d = bounded("nested header", || {
        run(&big_token_config(), &bearer(&token))
    });
    assert_invalid_token(&d, "token_malformed");
    // JWKS.
    let jwks = format!(r#"{{"keys":[{{"kty":"EC","x":{deep}}}]}}"#);
    let r = bounded("nested JWKS", || KeySet::parse(jwks.as_bytes()));
    assert!(matches!(r, Err(JwksError::NotAJwks)), "{r:?}");
    // Config.
    let cfg = format!(r#"{{"providers":{deep}}}"#);
    let e = bounded("nested config", || jwtgate::config::parse(cfg.as_bytes())).unwrap_err();
    assert!(e.problem.contains("recursion limit"), "{e}");
    // A requirement tree 60 levels deep (120 JSON levels) is accepted and evaluated.
    let mut req = json!({"provider": "corp"});
    for _ in 0..60 {
        req = json!({"any": [req]});
    }
    let mut c = base_config();
    c["rules"] = json!([{"match": {"prefix": "/"}, "requires": req}]);
    let cfg = parse_config(&c);
    let d = run(&cfg, &bearer(&es_token(&claims())));
    assert!(
        matches!(d, Decision::Forward(_, Outcome::Allowed(_))),
        "{d:?}"
    );
}

// ---- a JWKS of 10,000 keys ----

fn many(n: usize, key: impl Fn(usize) -> Value) -> Value {
    json!({ "keys": (0..n).map(key).collect::<Vec<_>>() })
}

#[test]
fn jwks_of_ten_thousand_keys_stops_at_max_keys() {
    // As an object (local_jwks inline object: no byte limit applies), the same valid key 10,000
    // times under distinct kids: MAX_KEYS are built, the rest skipped as too_many_keys unparsed.
    let doc = many(10_000, |i| ec_a().jwk(Some(&format!("k{i}"))));
    let (set, skipped) = bounded("10,000 keys", || KeySet::from_value(&doc)).unwrap();
    assert_eq!(set.len(), MAX_KEYS);
    assert_eq!(skipped.len(), 10_000 - MAX_KEYS);
    assert!(skipped.iter().all(|s| s.why == SkipReason::TooManyKeys));
    assert_eq!(skipped[0].kid.as_deref(), Some("k100"));
    // A token for a key past the limit: unknown_kid; one of the first 100: valid.
    let mut c = base_config();
    c["providers"][0]["local_jwks"]["inline"] = doc;
    let cfg = bounded("config with 10,000 keys", || parse_config(&c));
    let late = jwt(ec_a(), &header(ec_a(), Some("k5000")), &claims());
    assert_invalid_token(&run(&cfg, &bearer(&late)), "unknown_kid");
    let early = jwt(ec_a(), &header(ec_a(), Some("k99")), &claims());
    assert!(matches!(
        run(&cfg, &bearer(&early)),
        Decision::Forward(_, Outcome::Allowed(_))
    ));
}

#[test]
fn fetched_jwks_of_ten_thousand_keys_is_refused_over_one_mib_or_capped_under() {
    // As fetched bytes, 10,000 real keys are over 1 MiB: refused before parsing.
    let doc = many(10_000, |i| rsa_a().jwk(Some(&format!("k{i}")))).to_string();
    assert!(doc.len() > MAX_JWKS_BYTES);
    let r = bounded("10,000 RSA keys", || KeySet::parse(doc.as_bytes()));
    assert!(matches!(r, Err(JwksError::TooLarge)), "{r:?}");
    // 10,000 small entries fit: parsing stops building at MAX_KEYS.
    let doc = many(
        10_000,
        |i| json!({"kty": "EC", "crv": "P-256", "kid": format!("k{i}")}),
    )
    .to_string();
    assert!(doc.len() < MAX_JWKS_BYTES);
    let r = bounded("10,000 small entries", || KeySet::parse(doc.as_bytes()));
    let Err(JwksError::NoUsableKey(skipped)) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(skipped.len(), 10_000);
    assert_eq!(
        skipped
            .iter()
            .filter(|s| s.why == SkipReason::TooManyKeys)
            .count(),
        10_000 - MAX_KEYS
    );
    // The refusal is one bounded line (it is logged, and shown in config errors).
    let msg = r.unwrap_err().to_string();
    assert!(msg.len() < 1024, "message of {} bytes", msg.len());
    assert!(
        msg.ends_with(&format!(", and {} more)", 10_000 - MAX_LISTED_SKIPS)),
        "{msg}"
    );
}

#[test]
fn a_token_without_kid_tries_at_most_max_keys() {
    // No kid: every usable key is a candidate, and there are at most MAX_KEYS of them.
    let doc = many(1_000, |_| ec_b().jwk(None));
    let (set, _) = KeySet::from_value(&doc).unwrap();
    assert_eq!(set.len(), MAX_KEYS);
    let mut c = base_config();
    c["providers"][0]["local_jwks"]["inline"] = doc;
    let cfg = parse_config(&c);
    let token = jwt(ec_a(), &header(ec_a(), None), &claims());
    let d = bounded("100 verifications", || run(&cfg, &bearer(&token)));
    assert_invalid_token(&d, "bad_signature");
}

// ---- a 64 KiB kid ----

#[test]
fn a_64_kib_kid_in_a_token() {
    let kid = "k".repeat(64 * 1024);
    let token = jwt(ec_a(), &header(ec_a(), Some(&kid)), &claims());
    // Default size: refused before parsing.
    assert_invalid_token(&run(&default_config(), &bearer(&token)), "token_too_large");
    // Allowed by size: no key has it; the denial keeps it, the log form is 64 characters.
    let d = bounded("64 KiB kid", || run(&big_token_config(), &bearer(&token)));
    assert_invalid_token(&d, "unknown_kid");
    let Decision::Reject(r, Outcome::Denied { denial, .. }) = &d else {
        unreachable!()
    };
    assert!(!r.body.contains("kkkk"));
    assert_eq!(gate::log_safe(denial.kid.as_deref().unwrap()).len(), 64);
    assert_eq!(denial_reason_kid_len(&d), 64 * 1024);
}

fn denial_reason_kid_len(d: &Decision) -> usize {
    assert_eq!(denied_reason(d), Reason::UnknownKid);
    match d {
        Decision::Reject(_, Outcome::Denied { denial, .. }) => {
            denial.kid.as_ref().map_or(0, String::len)
        }
        _ => 0,
    }
}

#[test]
fn a_64_kib_kid_in_a_jwks() {
    let kid = "\u{202e}k\n".repeat(16 * 1024);
    let doc = json!({"keys": [ec_a().jwk(Some(&kid))]});
    let (set, _) = bounded("64 KiB kid key", || {
        KeySet::parse(doc.to_string().as_bytes())
    })
    .unwrap();
    assert_eq!(set.len(), 1);
    // A token naming it verifies (kids are compared exactly, whatever their length).
    let mut c = big_token_config();
    if let Some(p) = c.providers.first_mut() {
        p.jwks = JwksSource::Local(std::rc::Rc::new(set));
    }
    let token = jwt(ec_a(), &header(ec_a(), Some(&kid)), &claims());
    let d = bounded("verify with a 64 KiB kid", || run(&c, &bearer(&token)));
    assert!(
        matches!(d, Decision::Forward(_, Outcome::Allowed(_))),
        "{d:?}"
    );
    // The same key unusable: the refusal names it in at most 64 log-safe characters.
    let mut bad = ec_a().jwk(Some(&kid));
    bad["use"] = json!("enc");
    let r = KeySet::parse(json!({ "keys": [bad] }).to_string().as_bytes());
    let msg = r.unwrap_err().to_string();
    assert!(msg.len() < 200, "{msg}");
    assert!(
        msg.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        "{msg}"
    );
}

#[test]
fn prepare_on_many_identity_header_spellings_is_bounded() {
    // Kong hands names over as spelled: every spelling of x-user-id must be removed.
    let mut c = base_config();
    c["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}]);
    let cfg = parse_config(&c);
    let spellings: Vec<String> = (0..512u32)
        .map(|m| {
            "x-user-id"
                .chars()
                .enumerate()
                .map(|(i, ch)| {
                    if m >> i & 1 == 1 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    }
                })
                .collect()
        })
        .collect();
    let mut headers = bearer(&es_token(&claims()));
    for _ in 0..4 {
        headers.extend(spellings.iter().map(|s| (s.clone(), "forged".to_owned())));
    }
    let d = bounded("2,048 identity headers", || run(&cfg, &headers));
    let m = mutations(&d);
    for s in &spellings {
        assert!(m.remove.contains(s), "{s} not removed");
    }
    assert!(m.remove.len() <= 512 + 1);
    match gate::prepare(&cfg, &headers) {
        Start::Check(_) => {}
        Start::Done(d) => panic!("{d:?}"),
    }
}

// ---- the token cache ----

#[test]
fn token_cache_stays_under_16_mib_with_large_tokens() {
    // 64 distinct valid tokens of ~512 KiB (max_token_size 1 MiB, token_cache_size 4096):
    // counted by entries alone that would be 32 MiB of tokens plus their claims.
    use jwtgate::{TokenCache, MAX_CACHE_BYTES};
    let cfg = big_token_config();
    let keys = Keys::from_config(&cfg);
    let mut cache = TokenCache::new(cfg.providers.len(), cfg.token_cache_size);
    let pad = "p".repeat(380 << 10);
    for i in 0..64 {
        let token = es_token(&claims_with(json!({"pad": pad, "n": i})));
        assert!(token.len() > 500 << 10);
        let Start::Check(prep) = gate::prepare(&cfg, &bearer(&token)) else {
            panic!("no check")
        };
        let d = gate::decide(&cfg, &prep, &keys, &mut cache, NOW);
        assert!(
            matches!(d, Decision::Forward(_, Outcome::Allowed(_))),
            "{i}"
        );
        assert!(cache.bytes() <= MAX_CACHE_BYTES, "{} bytes", cache.bytes());
    }
    assert!(cache.len() < 16, "{} entries", cache.len());
}
