//! The `jwtgate` command as a user runs it: exit codes, output, and the same verdicts as the
//! filter's core.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jwtgate"))
}

/// A file of its own for each call: tests run in parallel and must never read another's
/// half-written file.
fn temp_file(name: &str, contents: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("jwtgate-cli-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn jwks_file() -> PathBuf {
    temp_file("jwks.json", &default_jwks().to_string())
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
    let cfg = temp_file("cfg.json", &base_config().to_string());
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
    let good = temp_file("good.json", &base_config().to_string());
    let o = bin()
        .args(["config", "validate", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let mut cfg = base_config();
    cfg["providers"][0]["algorithms"] = json!(["ES256", "HS256"]);
    let bad = temp_file("bad-alg.json", &cfg.to_string());
    let o = bin()
        .args(["config", "validate", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("providers[0].algorithms[1]"), "{out}");
    assert_eq!(out.trim().lines().count(), 1);
}
