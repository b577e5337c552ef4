//! `jwtgate check` with a DPoP proof (`--dpop`, `--method`, `--url`) and a client certificate
//! (`--client-cert`): the whole verdict offline, as the filter would give it.

mod common;

use common::dpop::*;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::{Command, Output};

fn jwtgate(args: &[&str]) -> (Option<i32>, Value, String) {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(args)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let v = serde_json::from_str(&out).unwrap_or(Value::Null);
    (
        o.status.code(),
        v,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const NOW_S: &str = "1700000000";

/// `jwtgate check ARGS --now NOW --json TOKEN`.
fn check_at_now(args: &[&str], token: &str) -> (Option<i32>, Value, String) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--now", NOW_S, "--json", token]);
    jwtgate(&all)
}

fn dpop_config() -> PathBuf {
    temp_file("cfg.json", with_dpop(json!({})).to_string().as_bytes())
}

#[test]
fn a_request_with_a_proof_gets_the_filters_verdict() {
    let cfg = dpop_config();
    let cfg = cfg.to_str().unwrap();
    let token = bound_token(client());
    let proof = Proof::new(&token).text();
    let run = |url: &str| check_at_now(&["--config", cfg, "--url", url, "--dpop", &proof], &token);
    let (code, v, err) = run(HTU);
    assert_eq!(code, Some(0), "{v} {err}");
    assert_eq!(v["outcome"], json!("allowed"), "{v}");
    // Another URL than the proof's: the filter's 401 and its DPoP challenge.
    let (code, v, _) = run("https://api.example.com/other");
    assert_eq!(code, Some(1));
    assert_eq!(v["reason"], json!("dpop_proof_invalid"), "{v}");
    assert!(v.to_string().contains("invalid_dpop_proof"), "{v}");
    // The token without its proof: as the filter, dpop_proof_missing under the DPoP scheme is
    // only for a DPoP request; as Bearer it is token_bound.
    let (code, v, _) = check_at_now(&["--config", cfg, "--url", HTU], &token);
    assert_eq!(code, Some(1));
    assert_eq!(v["reason"], json!("token_bound"), "{v}");
}

#[test]
fn a_lone_token_with_a_proof() {
    let jwks = temp_file("jwks.json", default_jwks().to_string().as_bytes());
    let jwks = jwks.to_str().unwrap();
    let token = bound_token(client());
    let post = Proof::for_request(&token, "POST", HTU).text();
    let (code, v, err) = check_at_now(
        &[
            "--jwks", jwks, "--dpop", &post, "--method", "POST", "--url", HTU,
        ],
        &token,
    );
    assert_eq!(code, Some(0), "{v} {err}");
    assert_eq!(v["valid"], json!(true));
    let (code, v, _) = check_at_now(&["--jwks", jwks, "--dpop", &post, "--url", HTU], &token);
    assert_eq!(code, Some(1));
    assert_eq!(
        v["reason"],
        json!("dpop_proof_invalid"),
        "GET is not the proof's POST: {v}"
    );
    // Without a proof the bound token is not a Bearer token.
    let (code, v, _) = check_at_now(&["--jwks", jwks], &token);
    assert_eq!((code, v["reason"].clone()), (Some(1), json!("token_bound")));
    // --dpop without --url cannot know the proof's htu.
    let (code, _, err) = jwtgate(&["check", "--jwks", jwks, "--dpop", &post, &token]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn a_client_certificate_pem_or_der() {
    let der = b"\x30\x03\x02\x01\x07".to_vec();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der)
    );
    let x5t = b64(Sha256::digest(&der));
    let token = es_token(&claims_with(json!({"cnf": {"x5t#S256": x5t}})));
    let jwks = temp_file("jwks.json", default_jwks().to_string().as_bytes());
    let jwks = jwks.to_str().unwrap();
    for file in [temp_file("c.pem", pem.as_bytes()), temp_file("c.der", &der)] {
        let cert = file.to_str().unwrap();
        let (code, v, err) = check_at_now(&["--jwks", jwks, "--client-cert", cert], &token);
        assert_eq!(code, Some(0), "{v} {err}");
    }
    let other = temp_file("o.der", b"\x30\x03\x02\x01\x08");
    let other = other.to_str().unwrap();
    let (code, v, _) = check_at_now(&["--jwks", jwks, "--client-cert", other], &token);
    assert_eq!(
        (code, v["reason"].clone()),
        (Some(1), json!("cert_mismatch"))
    );
    // With a config: the provider's `mtls` decides where the certificate is read.
    for mtls in [
        json!({}),
        json!({"client_cert_header": "x-forwarded-client-cert"}),
    ] {
        let mut c = base_config();
        c["providers"][0]["mtls"] = mtls.clone();
        let cfg = temp_file("cfg.json", c.to_string().as_bytes());
        let cfg = cfg.to_str().unwrap();
        let good = temp_file("c.der", &der);
        let good = good.to_str().unwrap();
        let (code, v, err) = check_at_now(
            &["--config", cfg, "--path", "/x", "--client-cert", good],
            &token,
        );
        assert_eq!(code, Some(0), "{mtls}: {v} {err}");
        let (code, v, _) = check_at_now(&["--config", cfg, "--path", "/x"], &token);
        assert_eq!(
            (code, v["reason"].clone()),
            (Some(1), json!("cert_mismatch")),
            "{mtls}"
        );
    }
    let junk = temp_file("junk.txt", b"hello");
    let (code, _, err) = jwtgate(&[
        "check",
        "--jwks",
        jwks,
        "--client-cert",
        junk.to_str().unwrap(),
        &token,
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a certificate"), "{err}");
}

#[test]
fn from_istio_says_dpop_and_mtls_are_left_out() {
    let f = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/istio/authz-jwt.yaml"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(["config", "from-istio", f])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let cfg: Value = serde_json::from_slice(&o.stdout).unwrap();
    for p in cfg["providers"].as_array().unwrap() {
        assert!(p.get("dpop").is_none() && p.get("mtls").is_none(), "{p}");
    }
    let notes = String::from_utf8_lossy(&o.stderr);
    assert!(notes.contains("dpop and mtls are left out"), "{notes}");
}
