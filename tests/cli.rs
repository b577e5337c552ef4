//! The `jwtgate` command as a user runs it: exit codes, output, and the same verdicts as the
//! filter's core.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jwtgate"))
}

fn jwks_file() -> PathBuf {
    temp_file("jwks.json", default_jwks().to_string())
}

fn check(args: &[&str]) -> Output {
    bin().arg("check").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const NOW_S: &str = "1700000000";

#[test]
fn a_valid_token_exits_0_with_its_claims() {
    let jwks = jwks_file();
    let t = es_token(&claims());
    let o = check(&[
        "--jwks",
        jwks.to_str().unwrap(),
        "--now",
        NOW_S,
        "--json",
        &t,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], json!(true));
    assert_eq!(v["claims"]["sub"], json!("user-1"));
}

#[test]
fn an_invalid_token_exits_1_with_the_reason() {
    let jwks = jwks_file();
    let expired = es_token(&claims_with(json!({"exp": NOW - 3600})));
    let o = check(&["--jwks", jwks.to_str().unwrap(), "--now", NOW_S, &expired]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).trim(), "invalid: token_expired");

    let rs = rs_token(&claims());
    let mut tampered = rs.clone();
    tampered.truncate(rs.len() - 4);
    tampered.push_str("AAAA");
    let o = check(&[
        "--jwks",
        jwks.to_str().unwrap(),
        "--now",
        NOW_S,
        "--json",
        &tampered,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["reason"], json!("bad_signature"));
    assert_eq!(v["kid"], json!("rsa-a"));
}

#[test]
fn the_token_can_come_from_standard_input() {
    let jwks = jwks_file();
    let mut child = bin()
        .args([
            "check",
            "--jwks",
            jwks.to_str().unwrap(),
            "--now",
            NOW_S,
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let t = es_token(&claims());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{t}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn signature_only_ignores_claims_but_not_the_jws_layer() {
    let jwks = jwks_file();
    let expired = es_token(&claims_with(json!({"exp": 1, "iss": "elsewhere"})));
    let o = check(&[
        "--jwks",
        jwks.to_str().unwrap(),
        "--signature-only",
        &expired,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(claims().to_string())
    );
    let o = check(&["--jwks", jwks.to_str().unwrap(), "--signature-only", &none]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_config_adds_its_provider_checks() {
    let jwks = jwks_file();
    let cfg = temp_file("cfg.json", base_config().to_string());
    let wrong_aud = es_token(&claims_with(json!({"aud": "other"})));
    let args = |t: &str| -> Vec<String> {
        ["--config", cfg.to_str().unwrap(), "--now", NOW_S, t]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let a = args(&wrong_aud);
    let o = check(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).trim(), "invalid: wrong_audience");
    // Without the config the audience is not checked.
    let o = check(&["--jwks", jwks.to_str().unwrap(), "--now", NOW_S, &wrong_aud]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn usage_and_config_errors_exit_2() {
    assert_eq!(check(&[]).status.code(), Some(2));
    assert_eq!(check(&["--bogus", "x"]).status.code(), Some(2));
    let bad = temp_file("bad.json", r#"{"providers":[],"x":1}"#);
    let o = check(&["--config", bad.to_str().unwrap(), "tok"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid configuration"));
    let o = check(&["--jwks", "/nonexistent/jwks.json", "tok"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn config_validate_names_the_field() {
    let good = temp_file("good.json", base_config().to_string());
    let o = bin()
        .args(["config", "validate", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let mut cfg = base_config();
    cfg["providers"][0]["algorithms"] = json!(["ES256", "HS256"]);
    let bad = temp_file("bad-alg.json", cfg.to_string());
    let o = bin()
        .args(["config", "validate", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("providers[0].algorithms[1]"), "{out}");
    assert_eq!(out.trim().lines().count(), 1);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers for the tests below.

fn run_bin(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", stdout(o), stderr(o)))
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A config with `corp` (local keys) and these rules.
fn rules_config(rules: Value) -> PathBuf {
    let mut cfg = base_config();
    cfg["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}]);
    cfg["providers"][0]["from_params"] = json!(["access_token"]);
    cfg["providers"][0]["from_cookies"] = json!(["session"]);
    cfg["rules"] = rules;
    temp_file("rules.json", cfg.to_string())
}

fn admin_rules() -> Value {
    json!([
        {"match": {"prefix": "/healthz"}},
        {"match": {"path": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
        {"match": {"prefix": "/eu"}, "requires": {"provider": "corp", "claims": {"region": ["eu"]}}},
        {"match": {"prefix": "/"}, "requires": {"provider": "corp"}}
    ])
}

fn request(cfg: &std::path::Path, path: &str, extra: &[&str]) -> Output {
    check_request(cfg, path, true, extra)
}

/// As `request`, for the human output: `jwtgate check --config CFG --path PATH --now NOW TOKEN`.
fn human_request(cfg: &std::path::Path, path: &str, token: &str) -> Output {
    check_request(cfg, path, false, &[token])
}

/// `jwtgate check --config CFG --path PATH --now NOW [--json] EXTRA...`.
fn check_request(cfg: &std::path::Path, path: &str, json: bool, extra: &[&str]) -> Output {
    let mut args = owned(&[
        "check",
        "--config",
        cfg.to_str().unwrap(),
        "--path",
        path,
        "--now",
        NOW_S,
    ]);
    if json {
        args.push("--json".into());
    }
    args.extend(owned(extra));
    run_bin(&refs(&args))
}

// ---------------------------------------------------------------------------------------------
// The whole request verdict (gate::prepare + gate::decide).

#[test]
fn a_token_lacking_a_required_scope_is_403_insufficient_scope() {
    let cfg = rules_config(admin_rules());
    let t = es_token(&claims_with(json!({"scope": "read"})));
    let o = request(&cfg, "/admin", &[&t]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["verdict"], json!("reject"));
    assert_eq!(v["valid"], json!(false));
    assert_eq!(v["status"], json!(403));
    assert_eq!(v["reason"], json!("insufficient_scope"));
    assert_eq!(v["provider"], json!("corp"));
    assert_eq!(v["kid"], json!("ec-a"));
    assert_eq!(v["rule"], json!({"index": 1, "match": {"path": "/admin"}}));
    assert_eq!(
        v["requires"],
        json!({"provider": "corp", "scopes": ["admin"]})
    );
    assert_eq!(
        v["www_authenticate"],
        json!("Bearer realm=\"localhost\", error=\"insufficient_scope\", scope=\"admin\"")
    );
    assert_eq!(
        v["body"],
        json!(r#"{"error":"insufficient_scope","reason":"insufficient_scope"}"#)
    );
    assert!(v["response_headers"]
        .as_array()
        .unwrap()
        .contains(&json!(["content-type", "application/json"])));

    // The same token with the scope passes, and the filter's edits are listed.
    let t = es_token(&claims_with(json!({"scope": "read admin"})));
    let o = request(&cfg, "/admin", &[&t]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v = json_out(&o);
    assert_eq!(v["verdict"], json!("forward"));
    assert_eq!(v["outcome"], json!("allowed"));
    assert_eq!(v["providers"], json!(["corp"]));
    assert_eq!(v["status"], Value::Null);
    assert_eq!(v["remove_headers"], json!(["authorization"]));
    assert_eq!(v["set_headers"], json!([["x-user-id", "user-1"]]));

    // A claim requirement: 403 claim_mismatch, no scope parameter.
    let o = request(&cfg, "/eu/x", &[&es_token(&claims())]);
    assert_eq!(o.status.code(), Some(1));
    let v = json_out(&o);
    assert_eq!(v["reason"], json!("claim_mismatch"));
    assert_eq!(v["status"], json!(403));
    assert!(!v["www_authenticate"].as_str().unwrap().contains("scope="));
}

#[test]
fn rules_are_matched_on_the_normalized_path() {
    let cfg = rules_config(admin_rules());
    let t = es_token(&claims());
    // `/x/../admin` and `/%61dmin` are /admin: the scope rule, not the catch-all.
    for p in ["/x/../admin", "/%61dmin", "//admin"] {
        let o = request(&cfg, p, &[&t]);
        assert_eq!(o.status.code(), Some(1), "{p}: {}", stdout(&o));
        assert_eq!(json_out(&o)["reason"], json!("insufficient_scope"), "{p}");
    }
    let o = request(&cfg, "/other", &[&t]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json_out(&o)["rule"]["index"], json!(3));
}

/// The rule and requirement printed are the ones the verdict came from: the gate matches on the
/// normalized path without its query, and `/admin` also matches `/admin/`.
#[test]
fn the_rule_shown_is_the_rule_the_gate_matched() {
    let cfg = rules_config(admin_rules());
    let admin_rule = json!({"index": 1, "match": {"path": "/admin"}});
    let admin_requires = json!({"provider": "corp", "scopes": ["admin"]});
    let no_scope = es_token(&claims());
    let with_scope = es_token(&claims_with(json!({"scope": "admin"})));
    for p in ["/admin?x=1", "/%61dmin", "/admin/", "/%61dmin/?x=/eu"] {
        let o = request(&cfg, p, &[&no_scope]);
        assert_eq!(o.status.code(), Some(1), "{p}: {}", stdout(&o));
        let v = json_out(&o);
        assert_eq!(v["reason"], json!("insufficient_scope"), "{p}");
        assert_eq!(v["rule"], admin_rule, "{p}: the rule of the verdict");
        assert_eq!(v["requires"], admin_requires, "{p}");

        let o = request(&cfg, p, &[&with_scope]);
        assert_eq!(o.status.code(), Some(0), "{p}: {}", stdout(&o));
        let v = json_out(&o);
        assert_eq!(v["outcome"], json!("allowed"), "{p}");
        assert_eq!(v["rule"], admin_rule, "{p}");
        assert_eq!(v["requires"], admin_requires, "{p}");

        // The human output names the same rule and requirement.
        let mut args = owned(&["check", "--config", cfg.to_str().unwrap()]);
        args.extend(owned(&["--path", p, "--now", NOW_S, &no_scope]));
        let o = run_bin(&refs(&args));
        let out = stdout(&o);
        assert!(
            out.starts_with("reject: 403 insufficient_scope\n"),
            "{p}: {out}"
        );
        assert!(
            out.contains("rule: #1 {\"path\":\"/admin\"}\n"),
            "{p}: {out}"
        );
        assert!(
            out.contains(r#"requires: {"provider":"corp","scopes":["admin"]}"#),
            "{p}: {out}"
        );
    }
    // Not the exact rule: `/admin/x` and `/admin//x` fall to the catch-all, and say so.
    for p in ["/admin/x", "/admin/x?y=/admin"] {
        let o = request(&cfg, p, &[&no_scope]);
        assert_eq!(o.status.code(), Some(0), "{p}: {}", stdout(&o));
        let v = json_out(&o);
        assert_eq!(
            v["rule"],
            json!({"index": 3, "match": {"prefix": "/"}}),
            "{p}"
        );
        assert_eq!(v["requires"], json!({"provider": "corp"}), "{p}");
    }
}

/// A path refused before any rule shows no rule and no requirement (it was never matched).
#[test]
fn a_refused_path_shows_no_rule() {
    let cfg = rules_config(admin_rules());
    let t = es_token(&claims_with(json!({"scope": "admin"})));
    let o = request(&cfg, "/admin%2F", &[&t]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let v = json_out(&o);
    assert_eq!(v["reason"], json!("path_ambiguous"));
    assert_eq!(v["rule"], Value::Null);
    assert_eq!(v["requires"], Value::Null);
    let mut args = owned(&["check", "--config", cfg.to_str().unwrap()]);
    args.extend(owned(&["--path", "/admin%2F", "--now", NOW_S, &t]));
    let out = stdout(&run_bin(&refs(&args)));
    assert!(
        out.contains("rule: none (refused before any rule)\n"),
        "{out}"
    );
    assert!(!out.contains("requires:"), "{out}");
}

#[test]
fn a_request_without_a_token_and_rules_without_requires() {
    let cfg = rules_config(admin_rules());
    let o = request(&cfg, "/healthz", &["--no-token"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v = json_out(&o);
    assert_eq!(v["outcome"], json!("not_required"));
    assert_eq!(v["requires"], Value::Null);
    assert_eq!(v["rule"]["index"], json!(0));

    let o = request(
        &cfg,
        "/orders",
        &["--no-token", "--authority", "api.example.com"],
    );
    assert_eq!(o.status.code(), Some(1));
    let v = json_out(&o);
    assert_eq!(v["status"], json!(401));
    assert_eq!(v["reason"], json!("token_missing"));
    assert_eq!(
        v["www_authenticate"],
        json!("Bearer realm=\"api.example.com\"")
    );
    assert_eq!(
        v["body"],
        json!(r#"{"error":"unauthorized","reason":"token_missing"}"#)
    );

    // A forged identity header is removed even where no token is needed.
    let o = request(&cfg, "/healthz", &["--no-token", "-H", "X-User-Id: admin"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json_out(&o)["remove_headers"], json!(["X-User-Id"]));

    // An expired token is 401 invalid_token with its reason.
    let expired = es_token(&claims_with(json!({"exp": NOW - 3600})));
    let o = request(&cfg, "/orders", &[&expired]);
    assert_eq!(o.status.code(), Some(1));
    let v = json_out(&o);
    assert_eq!(v["reason"], json!("token_expired"));
    assert_eq!(
        v["www_authenticate"],
        json!("Bearer realm=\"localhost\", error=\"invalid_token\", error_description=\"token_expired\"")
    );
}

#[test]
fn a_token_in_the_query_or_a_cookie_is_stripped_by_rewrites() {
    let cfg = rules_config(admin_rules());
    let t = es_token(&claims());
    let path = format!("/orders?a=1&access_token={t}&b=2");
    // The path carries the token: it is not added as a header as well.
    let o = request(&cfg, &path, &[&t]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v = json_out(&o);
    assert!(v["set_headers"]
        .as_array()
        .unwrap()
        .contains(&json!([":path", "/orders?a=1&b=2"])));
    assert!(!v["remove_headers"]
        .as_array()
        .unwrap()
        .contains(&json!("authorization")));

    let cookie = format!("cookie: a=1; session={t}; b=2");
    let o = request(&cfg, "/orders", &["-H", &cookie]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v = json_out(&o);
    assert!(v["remove_headers"]
        .as_array()
        .unwrap()
        .contains(&json!("cookie")));
    assert!(v["set_headers"]
        .as_array()
        .unwrap()
        .contains(&json!(["cookie", "a=1; b=2"])));

    // Two different tokens in one request: token_malformed.
    let other = rs_token(&claims());
    let o = request(
        &cfg,
        "/orders",
        &[&t, "-H", &format!("authorization: Bearer {other}")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_out(&o)["reason"], json!("token_malformed"));
}

#[test]
fn remote_providers_take_their_keys_from_jwks_files() {
    let mut cfg = json!({"providers": [
        {
            "name": "corp",
            "issuer": ISSUER,
            "remote_jwks": {"cluster": "idp", "uri": "https://idp.test/jwks.json"}
        },
        {
            "name": "partner",
            "issuer": "https://partner.test/",
            "remote_jwks": {"cluster": "partner", "uri": "https://partner.test/jwks.json"}
        }
    ]});
    cfg["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"any": [{"provider": "corp"}, {"provider": "partner"}]}}]);
    let cfg = temp_file("remote.json", cfg.to_string());
    let t = es_token(&claims());
    let keys_file = jwks_file();

    // No keys for a remote provider: the filter would answer 503 jwks_unavailable.
    let o = request(&cfg, "/", &[&t]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let v = json_out(&o);
    assert_eq!(v["status"], json!(503));
    assert_eq!(v["reason"], json!("jwks_unavailable"));
    assert_eq!(v["www_authenticate"], Value::Null);
    assert!(stderr(&o).contains("no --jwks"), "{}", stderr(&o));

    // One file for every remote provider.
    let o = request(&cfg, "/", &[&t, "--jwks", keys_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(json_out(&o)["providers"], json!(["corp"]));

    // NAME=FILE: corp's keys only for corp; partner has none (and its token's issuer is corp's).
    let named = format!("corp={}", keys_file.to_str().unwrap());
    let o = request(&cfg, "/", &[&t, "--jwks", &named]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let named = format!("partner={}", keys_file.to_str().unwrap());
    let o = request(&cfg, "/", &[&t, "--jwks", &named]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_out(&o)["reason"], json!("jwks_unavailable"));

    // A JWKS file whose keys are all unusable: the filter keeps no keys either.
    let weak = temp_file(
        "weak.json",
        jwks(&[rsa_1024().jwk(Some("rsa-a"))]).to_string(),
    );
    let o = request(&cfg, "/", &[&t, "--jwks", weak.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_out(&o)["reason"], json!("jwks_unavailable"));
    assert!(
        stderr(&o).contains("rsa_modulus_too_small"),
        "{}",
        stderr(&o)
    );

    // Without --path: the token for one provider, which must be named.
    let o = check(&["--config", cfg.to_str().unwrap(), "--now", NOW_S, &t]);
    assert_eq!(o.status.code(), Some(2));
    let o = check(&[
        "--config",
        cfg.to_str().unwrap(),
        "--provider",
        "corp",
        "--jwks",
        keys_file.to_str().unwrap(),
        "--now",
        NOW_S,
        &t,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn human_output_starts_with_the_verdict() {
    let cfg = rules_config(admin_rules());
    let t = es_token(&claims());
    let o = human_request(&cfg, "/admin", &t);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "reject: 403 insufficient_scope", "{out}");
    assert!(lines.contains(&"rule: #1 {\"path\":\"/admin\"}"), "{out}");
    assert!(
        out.contains("www-authenticate: Bearer realm=\"localhost\", error=\"insufficient_scope\", scope=\"admin\""),
        "{out}"
    );
    assert!(!out.contains(&t), "the token is never echoed");
    let o = human_request(&cfg, "/orders", &t);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert_eq!(out.lines().next(), Some("forward: allowed (corp)"), "{out}");
    assert!(out.contains("remove: authorization\n"), "{out}");
    assert!(out.contains("set: x-user-id: user-1\n"), "{out}");
}

#[test]
fn report_mode_forwards_a_failure_and_says_so() {
    let mut cfg = base_config();
    cfg["mode"] = json!("report");
    let cfg = temp_file("report.json", cfg.to_string());
    let expired = es_token(&claims_with(json!({"exp": NOW - 3600})));
    let o = request(&cfg, "/", &[&expired]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v = json_out(&o);
    assert_eq!(v["outcome"], json!("reported"));
    assert_eq!(v["reason"], json!("token_expired"));
    assert_eq!(v["rule"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// Flags and usage.

#[test]
fn help_and_version_on_every_subcommand() {
    for sub in [
        &["check"][..],
        &["config"],
        &["config", "validate"],
        &["config", "from-istio"],
        &["demo-idp"],
        &["demo-echo"],
        &[],
    ] {
        for flag in ["--help", "--version"] {
            let mut args: Vec<&str> = sub.to_vec();
            args.push(flag);
            let o = run_bin(&args);
            assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
            let out = stdout(&o);
            if flag == "--version" {
                assert!(out.contains(env!("CARGO_PKG_VERSION")), "{args:?}: {out}");
            } else {
                assert!(out.contains("Usage: jwtgate"), "{args:?}: {out}");
            }
        }
    }
    let o = run_bin(&["check", "--help"]);
    for flag in [
        "--path",
        "--header",
        "--no-token",
        "--jwks",
        "--signature-only",
    ] {
        assert!(stdout(&o).contains(flag), "{flag}");
    }
    // Usage errors: exit 2 with a message on stderr.
    for args in [
        &["nonsense"][..],
        &["check", "--path", "/x", "tok"],
        &[
            "check",
            "--config",
            "c.json",
            "--path",
            "/x",
            "--signature-only",
            "t",
        ],
        &["check", "--now", "yesterday", "t"],
        &["config", "validate"],
        &["demo-idp", "--bogus"],
    ] {
        let o = run_bin(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!stderr(&o).is_empty(), "{args:?}");
    }
    let cfg = rules_config(admin_rules());
    let o = request(&cfg, "/", &["-H", "no-colon-here", "t"]);
    assert_eq!(o.status.code(), Some(2));
    let o = request(&cfg, "/", &[]);
    assert_eq!(o.status.code(), Some(2), "no token and no --no-token");
}

#[test]
fn without_a_config_iss_is_not_checked_even_when_absent() {
    let jwks = jwks_file();
    let t = es_token(&claims_with(json!({"iss": null, "aud": "anything"})));
    let o = check(&["--jwks", jwks.to_str().unwrap(), "--now", NOW_S, &t]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // The other identity checks still hold.
    let bound = es_token(&claims_with(json!({"iss": null, "cnf": {"jkt": "x"}})));
    let o = check(&["--jwks", jwks.to_str().unwrap(), "--now", NOW_S, &bound]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).trim(), "invalid: token_bound");
}

#[test]
fn a_single_jwk_file_is_a_set_of_one() {
    let jwk = temp_file("one.json", ec_a().jwk(Some("ec-a")).to_string());
    let o = check(&[
        "--jwks",
        jwk.to_str().unwrap(),
        "--now",
        NOW_S,
        &es_token(&claims()),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let junk = temp_file("junk.json", "[1,2]");
    let o = check(&["--jwks", junk.to_str().unwrap(), &es_token(&claims())]);
    assert_eq!(o.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// A closed pipe.

#[test]
fn a_closed_pipe_is_a_quiet_exit_not_a_panic() {
    let jwks = jwks_file();
    let cfg = rules_config(admin_rules());
    let t = es_token(&claims());
    let cases: Vec<Vec<String>> = vec![
        owned(&[
            "check",
            "--jwks",
            jwks.to_str().unwrap(),
            "--now",
            NOW_S,
            &t,
        ]),
        owned(&[
            "check",
            "--config",
            cfg.to_str().unwrap(),
            "--path",
            "/admin",
            "--now",
            NOW_S,
            &t,
        ]),
        owned(&["check", "--help"]),
        owned(&["config", "validate", cfg.to_str().unwrap()]),
    ];
    for (args, expected) in cases.iter().zip([0, 1, 0, 0]) {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Both ends closed before the child writes (as `2>&1 | head -0` would).
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), None, "{args:?}: killed by a signal");
        }
        assert_eq!(status.code(), Some(expected), "{args:?}: {status:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// --signature-only: the JWS layer (RFC 7515) through the binary, with published vectors.

fn sig_only(jwks: &Value, token: &str) -> Output {
    let f = temp_file("sig-jwks.json", jwks.to_string());
    check(&[
        "--jwks",
        f.to_str().unwrap(),
        "--signature-only",
        "--json",
        token,
    ])
}

fn tamper(token: &str) -> String {
    // One character of the payload changed.
    let at = token.find('.').unwrap() + 3;
    let mut b = token.as_bytes().to_vec();
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

#[test]
fn signature_only_verifies_the_rfc_7515_and_7520_examples() {
    use common::rfc::*;
    for (token, jwk, alg) in [
        (a2_token(), a2_jwk(), "RS256"),
        (a3_token(), a3_jwk(), "ES256"),
    ] {
        let o = sig_only(&jwks(std::slice::from_ref(&jwk)), &token);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{alg}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        let v = json_out(&o);
        assert_eq!(v["valid"], json!(true));
        assert_eq!(v["header"]["alg"], json!(alg));
        assert_eq!(v["claims"]["iss"], json!("joe"));
        assert_eq!(v["payload"], Value::Null);
        let o = sig_only(&jwks(std::slice::from_ref(&jwk)), &tamper(&token));
        assert_eq!(o.status.code(), Some(1), "{alg} tampered");
        assert_eq!(json_out(&o)["reason"], json!("bad_signature"));
        // The full validation of the same example (expired since 2011) is another question.
        let f = temp_file("rfc.json", jwks(&[jwk]).to_string());
        let o = check(&["--jwks", f.to_str().unwrap(), "--now", NOW_S, &token]);
        assert_eq!(stdout(&o).trim(), "invalid: token_expired", "{alg}");
        let then = (RFC7515_EXP - 60).to_string();
        let o = check(&["--jwks", f.to_str().unwrap(), "--now", &then, &token]);
        assert_eq!(o.status.code(), Some(0), "{alg}: {}", stdout(&o));
    }

    // RFC 7520 §4.1 signs a text, not a claims set: the JWS verifies...
    let o = sig_only(&jwks(&[r7520_jwk()]), &r7520_41_token());
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["header"]["kid"], json!(R7520_KID));
    assert_eq!(v["claims"], Value::Null);
    assert!(v["payload"]
        .as_str()
        .unwrap()
        .starts_with("It\u{2019}s a dangerous business, Frodo, going out your door."));
    let f = temp_file("r7520.json", jwks(&[r7520_jwk()]).to_string());
    let o = check(&[
        "--jwks",
        f.to_str().unwrap(),
        "--signature-only",
        &r7520_41_token(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("valid\nIt\u{2019}s a dangerous business"));
    let o = sig_only(&jwks(&[r7520_jwk()]), &tamper(&r7520_41_token()));
    assert_eq!(o.status.code(), Some(1));
    // ...but it is no JWT: the full path still wants a JSON object payload.
    let o = check(&[
        "--jwks",
        f.to_str().unwrap(),
        "--now",
        NOW_S,
        &r7520_41_token(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).trim(), "invalid: token_malformed");

    // RFC 7520 §4.3 is ES512: out of scope, refused for its algorithm.
    let es512 = format!(
        "{}.{R7520_PAYLOAD}.{}",
        b64(json!({"alg": "ES512", "kid": R7520_KID}).to_string()),
        b64([1u8; 132])
    );
    let o = sig_only(&jwks(&[a3_jwk()]), &es512);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_out(&o)["reason"], json!("alg_not_allowed"));
}

#[test]
fn signature_only_takes_any_payload_with_our_own_keys() {
    for payload in ["plain text", "", "[1,2,3]", "\u{1}binary\u{0}"] {
        let t = sign_segments(
            ec_a(),
            &b64(r#"{"alg":"ES256","kid":"ec-a"}"#),
            &b64(payload),
        );
        let o = sig_only(&default_jwks(), &t);
        assert_eq!(o.status.code(), Some(0), "{payload:?}: {}", stdout(&o));
        assert_eq!(json_out(&o)["payload"], json!(payload), "{payload:?}");
        // The JWT path refuses every one of them.
        let o = check(&["--jwks", jwks_file().to_str().unwrap(), &t]);
        assert_eq!(stdout(&o).trim(), "invalid: token_malformed", "{payload:?}");
    }
}

#[test]
fn signature_only_with_unusable_keys_is_invalid_unknown_kid() {
    use common::rfc::*;
    let token = a2_token();
    let cases = [
        (
            json!({"kty": "RSA", "n": A2_N, "e": "AQAB", "use": "enc"}),
            "use_not_sig",
        ),
        (
            json!({"kty": "RSA", "n": A2_N, "e": "AQAB", "key_ops": ["sign"]}),
            "key_ops_without_verify",
        ),
        (json!({"kty": "RSA", "n": A2_N, "e": "AQ"}), "rsa_invalid"),
    ];
    for (jwk, why) in cases {
        let o = sig_only(&jwks(std::slice::from_ref(&jwk)), &token);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{why}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert_eq!(json_out(&o)["reason"], json!("unknown_kid"), "{why}");
        assert!(stderr(&o).contains(why), "{why}: {}", stderr(&o));
        // The same key usable: the signature holds (the case is about the key alone).
        let mut good = jwk.clone();
        let obj = good.as_object_mut().unwrap();
        obj.remove("use");
        obj.remove("key_ops");
        obj.insert("e".into(), json!("AQAB"));
        assert_eq!(
            sig_only(&jwks(&[good]), &token).status.code(),
            Some(0),
            "{why}"
        );
    }
    // A 1024-bit key signs a token that verifies mathematically; the key is refused.
    let t = jwt(rsa_1024(), &header(rsa_1024(), Some("small")), &claims());
    let o = sig_only(&jwks(&[rsa_1024().jwk(Some("small"))]), &t);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_out(&o)["reason"], json!("unknown_kid"));
    assert!(stderr(&o).contains("rsa_modulus_too_small"));
    // A usable key next to the unusable ones still verifies (the skipped ones are reported).
    let o = sig_only(
        &jwks(&[rsa_1024().jwk(Some("small")), ec_a().jwk(Some("ec-a"))]),
        &es_token(&claims()),
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("rsa_modulus_too_small"));
}

/// Every Wycheproof JWK case through `jwtgate check --signature-only`: a `valid` ES256/RS256
/// JWS verifies (its payload "foo" is no JSON), every `invalid` one exits 1 (never 2: an
/// unusable key set is a verdict), and HS* is refused for its algorithm.
#[test]
fn wycheproof_jwk_vectors_through_the_binary() {
    let path = wycheproof_dir().join("json_web_key_test.json");
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set JWTGATE_TESTVECTORS)", path.display())),
    )
    .unwrap();
    let mut seen = 0;
    for g in doc["testGroups"].as_array().unwrap() {
        let mut set = g
            .get("public")
            .cloned()
            .unwrap_or_else(|| g["private"].clone());
        for k in set["keys"].as_array_mut().unwrap() {
            for m in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
                k.as_object_mut().unwrap().remove(m);
            }
        }
        for tc in g["tests"].as_array().unwrap() {
            seen += 1;
            let jws = tc["jws"].as_str().unwrap();
            let header: Value =
                serde_json::from_slice(&unb64(jws.split('.').next().unwrap())).unwrap();
            let alg = header["alg"].as_str().unwrap();
            let o = sig_only(&set, jws);
            let id = &tc["tcId"];
            let code = o.status.code();
            if alg != "ES256" && alg != "RS256" {
                assert_eq!(code, Some(1), "tcId {id} ({alg})");
                assert_eq!(
                    json_out(&o)["reason"],
                    json!("alg_not_allowed"),
                    "tcId {id}"
                );
            } else if tc["result"] == "valid" {
                assert_eq!(code, Some(0), "tcId {id}: {}{}", stdout(&o), stderr(&o));
                assert_eq!(json_out(&o)["payload"], json!("foo"), "tcId {id}");
            } else {
                assert_eq!(code, Some(1), "tcId {id}: {}{}", stdout(&o), stderr(&o));
                assert_eq!(json_out(&o)["valid"], json!(false), "tcId {id}");
            }
        }
    }
    assert_eq!(seen, 26);
}

// ---------------------------------------------------------------------------------------------
// config from-istio, on the istio.io examples in tests/fixtures/istio/.

fn fixture(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/istio/").to_owned() + name
}

/// Converts, checks the output with `config validate`, returns (config, stderr).
fn from_istio(files: &[&str]) -> (Value, String) {
    let paths: Vec<String> = files.iter().map(|f| fixture(f)).collect();
    let mut args = vec!["config", "from-istio"];
    args.extend(paths.iter().map(String::as_str));
    let o = run_bin(&args);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let cfg = json_out(&o);
    let f = temp_file("istio.json", cfg.to_string());
    let v = run_bin(&["config", "validate", f.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}\n{cfg:#}", stdout(&v));
    (cfg, stderr(&o))
}

#[test]
fn from_istio_authorization_with_jwt() {
    let (cfg, notes) = from_istio(&["authz-jwt.yaml"]);
    let p = &cfg["providers"][0];
    assert_eq!(cfg["providers"].as_array().unwrap().len(), 1);
    assert_eq!(p["issuer"], json!("testing@secure.istio.io"));
    assert_eq!(p["name"], json!("secure-istio-io"));
    assert_eq!(
        p["remote_jwks"]["cluster"],
        json!("outbound|443||raw.githubusercontent.com")
    );
    assert!(p["remote_jwks"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("/security/tools/jwt/samples/jwks.json"));
    // Istio's default token locations: the bearer header and access_token.
    assert_eq!(p["from_params"], json!(["access_token"]));
    assert_eq!(p.get("from_headers"), None);
    assert_eq!(
        cfg["rules"],
        json!([{"match": {"prefix": "/"}, "requires": {"provider": "secure-istio-io",
            "claims": {"sub": ["testing@secure.istio.io"], "groups": ["group1"]}}}])
    );
    assert!(
        notes.contains("outbound|443||raw.githubusercontent.com"),
        "{notes}"
    );

    // The converted config decides like Istio would, with keys for the remote provider.
    let f = temp_file("authz.json", cfg.to_string());
    let keys = jwks_file();
    let keys = keys.to_str().unwrap();
    let claims_for = |groups: Value| {
        json!({"iss": "testing@secure.istio.io", "sub": "testing@secure.istio.io",
            "groups": groups, "exp": NOW + 60})
    };
    let ok = es_token(&claims_for(json!(["group1", "group2"])));
    let o = request(&f, "/headers", &["--jwks", keys, &ok]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let bad = es_token(&claims_for(json!(["group2"])));
    let o = request(&f, "/headers", &["--jwks", keys, &bad]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_out(&o)["reason"], json!("claim_mismatch"));
}

#[test]
fn from_istio_request_authentication_reference() {
    let (cfg, _) = from_istio(&["request-authentication.yaml"]);
    assert_eq!(cfg["providers"][0]["issuer"], json!("issuer-foo"));
    assert_eq!(
        cfg["providers"][0]["remote_jwks"]["cluster"],
        json!("outbound|443||example.com")
    );
    // /healthz needs no token (but an invalid one still fails, as in Istio); the rest does.
    assert_eq!(
        cfg["rules"],
        json!([
            {"match": {"path": "/healthz"}, "requires": {"allow_missing": {"provider": "issuer-foo"}}},
            {"match": {"prefix": "/"}, "requires": {"provider": "issuer-foo"}}
        ])
    );
}

#[test]
fn from_istio_several_rules_and_every_jwt_rule_field() {
    let (cfg, notes) = from_istio(&["two-issuers.yaml"]);
    let providers = cfg["providers"].as_array().unwrap();
    let names: Vec<&str> = providers
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "issuer-foo-example-com",
            "issuer-bar-example-com",
            "issuer-foo-example-com-2"
        ]
    );
    // No jwksUri nor jwks: OpenID discovery on the issuer, through Istio's cluster for it.
    assert_eq!(providers[0]["discovery"], json!(true));
    assert_eq!(
        providers[0]["remote_jwks"],
        json!({"cluster": "outbound|443||issuer-foo.example.com"})
    );
    let bar = &providers[1];
    assert_eq!(
        bar["remote_jwks"],
        json!({"cluster": "outbound|8443||issuer-bar.example.com",
            "uri": "https://issuer-bar.example.com:8443/.secret/jwks.json", "timeout_ms": 5000})
    );
    assert_eq!(
        bar["from_headers"],
        json!([{"name": "x-goog-iap-jwt-assertion"},
            {"name": "Authorization", "value_prefix": "Bearer "}])
    );
    assert_eq!(bar["from_params"], json!(["my_token"]));
    assert_eq!(bar["from_cookies"], json!(["session"]));
    assert_eq!(bar["forward"], json!(true));
    assert_eq!(bar["forward_payload_header"], json!("x-jwt-payload"));
    assert_eq!(
        bar["claim_to_headers"],
        json!([{"claim": "foo", "header": "x-jwt-claim-foo"},
            {"claim": "nested.key1", "header": "x-jwt-nested"}])
    );
    assert_eq!(
        bar["audiences"],
        json!([
            "bookstore_android.apps.example.com",
            "bookstore_web.apps.example.com"
        ])
    );
    assert!(providers[2]["local_jwks"]["inline"].is_string());
    // Host conditions cannot be checked: those rules are left out, and said so.
    assert!(notes.contains("operation.hosts"), "{notes}");
    let rules = cfg["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{cfg:#}");
    assert_eq!(rules[0]["match"], json!({"prefix": "/api/"}));
    assert_eq!(
        rules[0]["requires"]["any"][1],
        json!({"provider": "issuer-bar-example-com", "claims": {"realm_access.roles": ["admin"]}})
    );

    // Several files merge into one config, provider names staying unique.
    let (cfg, _) = from_istio(&["two-issuers.yaml", "request-authentication.yaml"]);
    assert_eq!(cfg["providers"].as_array().unwrap().len(), 4);
}

#[test]
fn from_istio_refuses_what_it_cannot_map() {
    let empty = temp_file(
        "empty.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    let o = run_bin(&["config", "from-istio", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let bad = temp_file("bad.yaml", "kind: [unclosed\n");
    let o = run_bin(&["config", "from-istio", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.yaml"));
    // A field of the wrong type is refused, not skipped: `audiences: api` dropped would convert
    // into a provider that accepts every audience. Other kinds and scalars are ignored.
    let typo = temp_file(
        "typo.yaml",
        "kind: Deployment\nmetadata: {name: x}\nspec: {replicas: 2}\n---\nplain\n---\n\
         kind: RequestAuthentication\nmetadata: {name: r}\nspec:\n  jwtRules:\n  \
         - issuer: https://a.example\n    audiences: api\n",
    );
    let o = run_bin(&["config", "from-istio", typo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(
        err.contains("typo.yaml: document 3: RequestAuthentication.spec"),
        "{err}"
    );
    assert!(err.contains("expected a sequence"), "{err}");
}

#[test]
fn token_in_places_the_token_where_the_provider_looks() {
    let cfg = rules_config(admin_rules());
    let t = es_token(&claims());
    let o = request(
        &cfg,
        "/orders?x=1",
        &["--token-in", "param:access_token", &t],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(json_out(&o)["set_headers"]
        .as_array()
        .unwrap()
        .contains(&json!([":path", "/orders?x=1"])));
    let o = request(
        &cfg,
        "/orders",
        &["--token-in", "cookie:session", "-H", "cookie: a=1", &t],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(json_out(&o)["set_headers"]
        .as_array()
        .unwrap()
        .contains(&json!(["cookie", "a=1"])));
    // A header the provider does not read: the token is not seen.
    let o = request(&cfg, "/orders", &["--token-in", "header:x-jwt", &t]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_out(&o)["reason"], json!("token_missing"));

    let mut c = base_config();
    c["providers"][0]["from_headers"] = json!([{"name": "x-jwt"}]);
    let c = temp_file("xjwt.json", c.to_string());
    let o = request(&c, "/", &["--token-in", "header:X-JWT", &t]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(json_out(&o)["remove_headers"], json!(["X-JWT"]));
    let o = request(&c, "/", &[&t]);
    assert_eq!(json_out(&o)["reason"], json!("token_missing"));
    let o = request(&c, "/", &["--token-in", "somewhere", &t]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn from_istio_deny_without_principal_requires_a_token_on_its_paths() {
    // Through standard input, as `kubectl get … -o yaml | jwtgate config from-istio -`.
    let text = std::fs::read_to_string(fixture("end-user-auth.yaml")).unwrap();
    let mut child = bin()
        .args(["config", "from-istio", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let cfg = json_out(&o);
    assert_eq!(
        cfg["rules"],
        json!([
            {"match": {"path": "/headers"}, "requires": {"provider": "secure-istio-io"}},
            {"match": {"prefix": "/"}, "requires": {"allow_missing": {"provider": "secure-istio-io"}}}
        ])
    );
    // The verdicts: /headers without a token is 401, /ip without one passes, a bad token fails.
    let f = temp_file("deny.json", cfg.to_string());
    let keys = jwks_file();
    let keys = keys.to_str().unwrap();
    let o = request(&f, "/headers", &["--jwks", keys, "--no-token"]);
    assert_eq!(json_out(&o)["status"], json!(401));
    let o = request(&f, "/ip", &["--jwks", keys, "--no-token"]);
    assert_eq!(o.status.code(), Some(0));
    let elsewhere = es_token(&json!({"iss": "elsewhere", "exp": NOW + 60}));
    let o = request(&f, "/ip", &["--jwks", keys, &elsewhere]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_out(&o)["reason"], json!("wrong_issuer"));
}

#[test]
fn config_schema_prints_the_committed_schema() {
    let o = bin().args(["config", "schema"]).output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/plugin-config.schema.json"),
    )
    .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        printed, committed,
        "regenerate: jwtgate config schema > schema/plugin-config.schema.json"
    );
}

// ---------------------------------------------------------------------------------------------
// Contract v1.2 in the verdict: step-up, clients, claims_to_metadata, gRPC; from-istio.

fn v12_config() -> PathBuf {
    let mut cfg = base_config();
    cfg["providers"][0]["claims_to_metadata"] = json!([{"claim": "sub", "key": "sub"}]);
    cfg["rules"] = json!([
        {"match": {"prefix": "/mfa"}, "requires": {"provider": "corp", "clients": ["console"],
            "acr_values": ["urn:mfa"], "max_age_s": 300}},
        {"match": {"prefix": "/"}, "requires": {"provider": "corp"}}
    ]);
    temp_file("v12.json", cfg.to_string())
}

#[test]
fn the_verdict_shows_step_up_clients_and_metadata() {
    let cfg = v12_config();
    let weak = es_token(&claims_with(
        json!({"client_id": "console", "acr": "urn:pwd"}),
    ));
    let o = request(&cfg, "/mfa", &[&weak]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    assert_eq!(
        v["requires"],
        json!({"provider": "corp", "clients": ["console"], "acr_values": ["urn:mfa"], "max_age_s": 300})
    );
    assert_eq!(v["status"], json!(401));
    assert_eq!(v["reason"], json!("acr_insufficient"));
    assert_eq!(
        v["www_authenticate"],
        json!(
            "Bearer realm=\"localhost\", error=\"insufficient_user_authentication\", \
               error_description=\"acr_insufficient\", acr_values=\"urn:mfa\", max_age=\"300\""
        )
    );
    let other = es_token(&claims_with(json!({"client_id": "mobile"})));
    let v = json_out(&request(&cfg, "/mfa", &[&other]));
    assert_eq!(
        (v["status"].clone(), v["reason"].clone()),
        (json!(403), json!("client_not_allowed"))
    );

    let strong = es_token(&claims_with(
        json!({"client_id": "console", "acr": "urn:mfa", "auth_time": NOW - 5}),
    ));
    let o = request(&cfg, "/mfa", &[&strong]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(json_out(&o)["metadata"], json!([["sub", "user-1"]]));
    let human = human_request(&cfg, "/mfa", &strong);
    assert!(
        stdout(&human).contains("metadata: wasm.jwtgate.sub = user-1\n"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn the_verdict_of_a_grpc_request_is_a_grpc_status() {
    let cfg = v12_config();
    let o = request(
        &cfg,
        "/pkg.Svc/Call",
        &["--no-token", "-H", "content-type:application/grpc"],
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["status"], json!(200));
    assert_eq!(v["reason"], json!("token_missing"));
    let headers = v["response_headers"].as_array().unwrap();
    assert!(
        headers.contains(&json!(["grpc-status", "16"])),
        "{headers:?}"
    );
    assert!(
        headers.contains(&json!(["grpc-message", "token_missing"])),
        "{headers:?}"
    );
    assert_eq!(v["body"], json!(""));
}

#[test]
fn from_istio_produces_no_v12_fields() {
    for f in [
        "authz-jwt.yaml",
        "end-user-auth.yaml",
        "request-authentication.yaml",
        "two-issuers.yaml",
    ] {
        let (cfg, _) = from_istio(&[f]);
        let text = cfg.to_string();
        for field in [
            "tenants",
            "claims_to_metadata",
            "\"clients\"",
            "acr_values",
            "max_age_s",
            "{tid}",
        ] {
            assert!(!text.contains(field), "{f}: {field} in {cfg:#}");
        }
    }
}
