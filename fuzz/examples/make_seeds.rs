//! Writes the seed corpora under fuzz/corpus/<target>/ from the test suite's vectors (its fixed
//! keys, claims and spellings): `cargo run --example make_seeds` in fuzz/. Deterministic except
//! for ES256 signatures (random nonces); re-running only rewrites the files.

use jwtgate_fuzz::*;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

fn token(kind: &str, kid: Option<&str>, claims: &Value) -> String {
    let mut h = json!({"alg": kind, "typ": "JWT"});
    if let Some(kid) = kid {
        h["kid"] = json!(kid);
    }
    let input = format!("{}.{}", b64(h.to_string()), b64(claims.to_string()));
    let sig = match kind {
        "RS256" => sign_rs256(rsa_a(), input.as_bytes()),
        _ if kid.is_none() => sign_es256(ec_b(), input.as_bytes()),
        _ => sign_es256(ec_a(), input.as_bytes()),
    };
    format!("{input}.{}", b64(sig))
}

fn claims(patch: Value) -> Value {
    let mut c =
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": NOW - 10, "exp": NOW + 300});
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

/// token target input: flags, extra_len, extra_name, extra, material.
fn token_input(flags: u8, extra: (u8, &str), material: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, extra.1.len() as u8, extra.0];
    v.extend_from_slice(extra.1.as_bytes());
    v.extend_from_slice(material);
    v
}

fn main() {
    // token: raw tokens of the tests (flags mode 0) in each location and on each path.
    let valid_es = token("ES256", Some("ec-a"), &claims(json!({})));
    let raw: Vec<(&str, String)> = vec![
        ("valid_es256", valid_es.clone()),
        (
            "valid_rs256",
            token(
                "RS256",
                Some("rsa-a"),
                &claims(json!({"roles": ["a", "b"]})),
            ),
        ),
        ("valid_no_kid", token("ES256", None, &claims(json!({})))),
        (
            "admin_scope",
            token(
                "ES256",
                Some("ec-a"),
                &claims(json!({"scope": "read admin"})),
            ),
        ),
        (
            "region_eu",
            token(
                "ES256",
                Some("ec-a"),
                &claims(json!({"region": ["eu"], "scp": ["x"]})),
            ),
        ),
        (
            "expired",
            token("ES256", Some("ec-a"), &claims(json!({"exp": NOW - 1000}))),
        ),
        (
            "wrong_aud",
            token("ES256", Some("ec-a"), &claims(json!({"aud": ["other"]}))),
        ),
        (
            "cnf",
            token("ES256", Some("ec-a"), &claims(json!({"cnf": {"jkt": "x"}}))),
        ),
        (
            "unknown_kid",
            token("ES256", Some("nope"), &claims(json!({}))),
        ),
        (
            "alg_mismatch",
            token("RS256", Some("ec-a"), &claims(json!({}))),
        ),
        ("junk", "a.b.c".to_owned()),
        (
            "none_alg",
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("{}")),
        ),
    ];
    for (i, (name, t)) in raw.iter().enumerate() {
        let flags = ((i as u8 % 4) & 3) | ((i as u8 % 8) << 5);
        write("token", name, &token_input(flags, (0, ""), t.as_bytes()));
    }
    write(
        "token",
        "forged_identity",
        &token_input(0x10, (3, "a,b"), valid_es.as_bytes()),
    );
    write(
        "token",
        "two_tokens",
        &token_input(0, (1, "Bearer other"), valid_es.as_bytes()),
    );
    write(
        "token",
        "cookie_extra",
        &token_input(2, (0, "session=x"), valid_es.as_bytes()),
    );
    // Signed modes: header JSON \n payload JSON, signed by the target.
    let payload = claims(json!({"roles": ["r1"], "scope": "admin"})).to_string();
    for (mode, hdr, name) in [
        (
            1u8,
            r#"{"alg":"ES256","kid":"ec-a","typ":"JWT"}"#,
            "signed_es256",
        ),
        (2, r#"{"alg":"RS256","kid":"rsa-a"}"#, "signed_rs256"),
        (3, r#"{"alg":"ES256"}"#, "signed_no_kid"),
        (
            1,
            r#"{"alg":"ES256","kid":"ec-a","crit":["x"]}"#,
            "signed_crit",
        ),
    ] {
        let material = format!("{hdr}\n{payload}");
        write(
            "token",
            name,
            &token_input(mode << 2 | (1 << 5), (0, ""), material.as_bytes()),
        );
    }

    // jwks
    write("jwks", "fixture", jwks().to_string().as_bytes());
    let rfc7517 = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"},{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}]}"#;
    write("jwks", "rfc7517_a1", rfc7517.as_bytes());
    let mut bad = ec_jwk(ec_a(), Some("k"));
    bad["d"] = json!("AAAA");
    let odd = json!({"keys": [
        bad,
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "small"},
        {"kty": "oct", "k": "AAAA"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "key_ops": ["sign"]},
        1, "x", null,
        ec_jwk(ec_b(), Some("dup")), ec_jwk(ec_a(), Some("dup"))
    ]});
    write("jwks", "odd_keys", odd.to_string().as_bytes());
    write(
        "jwks",
        "no_usable",
        br#"{"keys":[{"kty":"EC"},{"kty":"RSA","kid":"a"}]}"#,
    );
    write("jwks", "empty", br#"{"keys":[]}"#);
    write("jwks", "dup_member", br#"{"keys":[],"keys":[]}"#);

    // config: the fixture config and two configs like docs/configuration.md's examples.
    let fixture = json!({
        "providers": [{"name": "corp", "issuer": ISSUER, "audiences": [AUDIENCE], "local_jwks": {"inline": jwks()},
            "from_params": ["access_token"], "from_cookies": ["session"],
            "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}], "forward_payload_header": "x-jwt-payload"}],
        "rules": [{"match": {"prefix": "/healthz"}}, {"match": {"path": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
            {"match": {"prefix": "/"}, "requires": {"any": [{"provider": "corp"}, {"allow_missing": {"provider": "corp"}}]}}],
        "mode": "report", "max_token_size": 4096, "token_cache_size": 0
    });
    write("config", "fixture", fixture.to_string().as_bytes());
    let two = json!({
        "providers": [
            {"name": "corp", "issuer": "https://auth.example.com/", "remote_jwks": {"cluster": "idp", "uri": "http://idp.local/jwks.json"},
             "from_params": ["access_token"], "token_types": ["at+jwt"], "max_lifetime_s": 86400,
             "revocation": {"inline": ["jti-1"]}},
            {"name": "partner", "issuer": ISSUER, "algorithms": ["RS256"], "local_jwks": {"inline": jwks().to_string()}, "clock_skew_s": 30}
        ],
        "rules": [
            {"match": {"prefix": "/public"}, "requires": {"allow_missing": {"provider": "corp"}}},
            {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {"provider": "corp"}}},
            {"match": {"prefix": "/both"}, "requires": {"all": [{"provider": "corp"}, {"provider": "partner"}]}},
            {"match": {"prefix": "/eu"}, "requires": {"provider": "partner", "claims": {"region": ["eu", "global"]}}}
        ]
    });
    write("config", "two_providers", two.to_string().as_bytes());
    let disc = json!({"providers": [{"name": "d", "issuer": "https://auth.example.com", "discovery": true,
        "remote_jwks": {"cluster": "idp", "max_stale_s": 0}, "revocation": {"uri": "http://r/x", "cluster": "r"}}]});
    write("config", "discovery", disc.to_string().as_bytes());
    write(
        "config",
        "null_field",
        br#"{"providers":[{"name":"p","issuer":"i","audiences":null}]}"#,
    );

    // path: the spellings of the matcher's and paths tests.
    for (i, p) in [
        "/admin",
        "//admin",
        "/x/../admin?q=1",
        "/./%61dmin",
        "/admin/",
        "/a%2Fb",
        "",
        "/../..",
        "/admin;jsessionid=1/x",
        "/%2e%2e/admin",
        "/a/b/../../admin#f",
        "\\admin",
        "/ADMIN",
        "/healthz/../admin",
        "/%7Euser/%41",
        "/a//b///c/./d/..",
    ]
    .iter()
    .enumerate()
    {
        write("path", &format!("p{i:02}"), p.as_bytes());
    }

    // extract: first line the query, then `name:value` headers (a line without ':' is a cookie).
    for (i, s) in [
        "a=1&access_token=tok&b=2\nauthorization:Bearer tok",
        "access%5Ftoken=t+x&access_token=u\nAuthorization:bearer a,Bearer b\nx-token: v ",
        "\nsession=abc; x=1\ncookie:a=1; session=\"q\"; session=r",
        "&&=&access_token\nX-Token:\nsession",
    ]
    .iter()
    .enumerate()
    {
        write("extract", &format!("e{i}"), s.as_bytes());
    }

    // crypto_diff: one seed per mode.
    let msg = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0";
    let mut m0 = vec![0u8, 0, 0];
    m0.extend_from_slice(&[0u8; 31]);
    m0.push(msg.len() as u8);
    m0.extend_from_slice(msg);
    write("crypto_diff", "es256_valid", &m0);
    let mut m0b = vec![0u8, 1];
    m0b.extend_from_slice(
        &hex::decode("cbefe56614c76f0f08452b0a84942758707cd29d43e0a37d8445cc86fe041e7a").unwrap(),
    );
    m0b.push(msg.len() as u8);
    m0b.extend_from_slice(msg);
    m0b.extend_from_slice(&[0, 0, 0, 1]);
    write("crypto_diff", "es256_own_key_flip", &m0b);
    let p = ec_a().verifying_key().to_encoded_point(false);
    let mut m1 = vec![1u8];
    m1.extend_from_slice(p.x().unwrap());
    m1.extend_from_slice(p.y().unwrap());
    m1.extend_from_slice(&sign_es256(ec_a(), msg));
    m1.extend_from_slice(msg);
    write("crypto_diff", "es256_raw_key", &m1);
    let mut m2 = vec![2u8, 0, msg.len() as u8];
    m2.extend_from_slice(msg);
    write("crypto_diff", "rs256_valid", &m2);
    let mut m2b = vec![2u8, 1 | (2 << 1), msg.len() as u8];
    m2b.extend_from_slice(msg);
    m2b.extend_from_slice(&[0, 40, 0xfe, 0, 230, 0x31]);
    write("crypto_diff", "rs256_emsa_edit", &m2b);
    let (n, e) = (rsa_a().n().to_bytes_be(), rsa_a().e().to_bytes_be());
    let mut m3 = vec![3u8, (n.len() - 256) as u8, (e.len() - 1) as u8];
    m3.extend_from_slice(&e);
    m3.extend_from_slice(&n);
    m3.extend_from_slice(&sign_rs256(rsa_a(), msg));
    m3.extend_from_slice(msg);
    write("crypto_diff", "rs256_raw_key", &m3);
}
