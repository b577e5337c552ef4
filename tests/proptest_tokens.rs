//! Property tests: arbitrary bytes and mutations of valid tokens never panic and are never
//! accepted (unless the mutation gave back the original bytes); arbitrary JSON never panics the
//! JWKS parser. Seeds are fixed so every run checks the same cases.

mod common;

use common::*;
use jwtgate::config::Config;
use jwtgate::gate::{Decision, Outcome};
use jwtgate::Auth;
use jwtgate::KeySet;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

fn config() -> &'static Config {
    // Config holds Rc (it lives on one thread in the filter), so it cannot be a shared
    // static: leak one per test thread instead.
    thread_local! {
        static CFG: &'static Config = Box::leak(Box::new(parse_config(&base_config())));
    }
    CFG.with(|c| *c)
}

fn es_original() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| es_token(&claims()))
}

fn rs_original() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| rs_token(&claims()))
}

/// Authenticates without the cache (a cached original would hide a re-verification bug).
fn accepted(token: &str) -> bool {
    match authenticate_uncached(config(), token, NOW) {
        Auth::Valid(_) => true,
        Auth::Invalid(_) => false,
        other => panic!("local keys never wait: {other:?}"),
    }
}

fn gate_accepts(token: &str) -> bool {
    let cfg = config();
    let d = run(cfg, &bearer(token));
    matches!(d, Decision::Forward(_, Outcome::Allowed(_)))
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Replace { at: usize, with: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
    SwapSegments { a: usize, b: usize },
    DuplicateSegment { which: usize },
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        // Staying inside the alphabet gets past base64 decoding and exercises the crypto.
        (any::<usize>(), prop::sample::select(B64URL))
            .prop_map(|(at, with)| Mutation::Replace { at, with }),
        (
            any::<usize>(),
            prop_oneof![prop::sample::select(B64URL), any::<u8>()]
        )
            .prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (0usize..3, 0usize..3).prop_map(|(a, b)| Mutation::SwapSegments { a, b }),
        (0usize..3).prop_map(|which| Mutation::DuplicateSegment { which }),
    ]
}

fn apply(original: &str, muts: &[Mutation]) -> Vec<u8> {
    let mut b = original.as_bytes().to_vec();
    for m in muts {
        let n = b.len().max(1);
        match *m {
            Mutation::Flip { at, mask } => {
                if let Some(x) = b.get_mut(at % n) {
                    *x ^= mask;
                }
            }
            Mutation::Replace { at, with } => {
                if let Some(x) = b.get_mut(at % n) {
                    *x = with;
                }
            }
            Mutation::Insert { at, byte } => b.insert(at % (b.len() + 1), byte),
            Mutation::Delete { at, len } => {
                let start = at % n;
                let end = (start + len).min(b.len());
                if start < end {
                    b.drain(start..end);
                }
            }
            Mutation::Truncate { at } => b.truncate(at % n),
            Mutation::SwapSegments { a, b: c } => {
                let mut segs: Vec<Vec<u8>> = b.split(|&x| x == b'.').map(<[u8]>::to_vec).collect();
                if a < segs.len() && c < segs.len() {
                    segs.swap(a, c);
                }
                b = segs.join(&b'.');
            }
            Mutation::DuplicateSegment { which } => {
                let mut segs: Vec<Vec<u8>> = b.split(|&x| x == b'.').map(<[u8]>::to_vec).collect();
                if let Some(s) = segs.get(which).cloned() {
                    segs.insert(which, s);
                }
                b = segs.join(&b'.');
            }
        }
    }
    b
}

fn check_mutated(original: &str, muts: &[Mutation]) -> Result<(), TestCaseError> {
    let bytes = apply(original, muts);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let same = text.as_bytes() == original.as_bytes();
    let ok = accepted(&text);
    prop_assert!(!ok || same, "mutated token accepted: {text}");
    if same {
        prop_assert!(ok, "the original token must still verify");
    }
    Ok(())
}

#[test]
fn originals_verify() {
    assert!(accepted(es_original()));
    assert!(accepted(rs_original()));
    assert!(gate_accepts(es_original()));
}

proptest! {
    #![proptest_config(proptest_fixed(1000, 0x6a77_7467_0001))]

    #[test]
    fn random_bytes_never_panic_nor_pass(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(!accepted(&text));
    }
}

proptest! {
    #![proptest_config(proptest_fixed(500, 0x6a77_7467_0002))]

    /// Three base64url-ish segments: gets past the splitter far more often than raw bytes.
    #[test]
    fn random_compact_shapes_never_pass(
        h in "[A-Za-z0-9_-]{0,60}",
        p in "[A-Za-z0-9_-]{0,120}",
        s in "[A-Za-z0-9_-]{0,100}",
    ) {
        let t = format!("{h}.{p}.{s}");
        prop_assert!(!accepted(&t));
        prop_assert!(!gate_accepts(&t));
    }

    /// Any JSON header and payload, signed by the real key: never a panic, and only a token
    /// whose claims are the provider's may pass.
    #[test]
    fn signed_arbitrary_json_never_passes_with_wrong_claims(
        header in json_value(2),
        payload in json_value(2),
    ) {
        let t = sign_raw(ec_a(), &header.to_string(), &payload.to_string());
        prop_assert!(!accepted(&t) || payload["iss"] == json!(ISSUER));
    }

    /// Signed tokens built from each claim's good and bad values, plus arbitrary extra members:
    /// the verdict is predicted both ways, so passing and failing are both exercised.
    #[test]
    fn signed_tokens_pass_exactly_when_every_checked_claim_is_good(
        alg in prop_oneof![Just("ES256"), Just("RS256"), Just("none"), Just("HS256")],
        iss_ok in any::<bool>(),
        aud in prop_oneof![Just(json!(AUDIENCE)), Just(json!([AUDIENCE, "x"])), Just(json!("x")), Just(json!(5))],
        exp in prop_oneof![Just(json!(NOW + 300)), Just(json!(NOW - 300)), Just(json!("soon")), Just(Value::Null)],
        nbf_future in any::<bool>(),
        cnf in any::<bool>(),
        extra in prop::collection::btree_map("x_[a-z]{1,6}", json_value(1), 0..4),
    ) {
        let mut payload = json!({"iss": if iss_ok { ISSUER } else { "https://other/" }, "aud": aud, "sub": "s"});
        if !exp.is_null() {
            payload["exp"] = exp.clone();
        }
        if nbf_future {
            payload["nbf"] = json!(NOW + 3600);
        }
        if cnf {
            payload["cnf"] = json!({"jkt": "x"});
        }
        for (k, v) in &extra {
            payload[k.as_str()] = v.clone();
        }
        let t = sign_raw(ec_a(), &json!({"alg": alg, "typ": "JWT"}).to_string(), &payload.to_string());
        let aud_ok = aud == json!(AUDIENCE) || aud == json!([AUDIENCE, "x"]);
        let claims_ok = alg == "ES256" && iss_ok && aud_ok && exp == json!(NOW + 300) && !nbf_future;
        // The authenticator judges the token alone; a `cnf` binding is checked on every request
        // by the gate (src/binding.rs), where a bound token sent as Bearer fails `token_bound`.
        prop_assert_eq!(accepted(&t), claims_ok, "{}", payload);
        prop_assert_eq!(gate_accepts(&t), claims_ok && !cnf, "{}", payload);
    }
}

proptest! {
    #![proptest_config(proptest_fixed(1000, 0x6a77_7467_0003))]

    #[test]
    fn mutated_es256_tokens_are_never_accepted(muts in prop::collection::vec(mutation(), 1..4)) {
        check_mutated(es_original(), &muts)?;
    }
}

proptest! {
    #![proptest_config(proptest_fixed(96, 0x6a77_7467_0004))]

    /// Smaller: RSA verification is slow in debug builds.
    #[test]
    fn mutated_rs256_tokens_are_never_accepted(muts in prop::collection::vec(mutation(), 1..3)) {
        check_mutated(rs_original(), &muts)?;
    }
}

/// Arbitrary JSON, biased toward JWK member names and base64url-looking strings.
fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "keys", "kty", "crv", "x", "y", "n", "e", "kid", "alg", "use", "key_ops", "d", "k",
            "iss", "exp", "nbf", "aud", "typ",
        ])
        .prop_map(str::to_owned),
        "[a-z]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[A-Za-z0-9_=+/-]{0,90}".prop_map(Value::from),
        prop::sample::select(vec![
            "EC", "RSA", "oct", "P-256", "P-384", "ES256", "RS256", "sig", "verify", "AQAB"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((name.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JWK with each member possibly replaced by junk.
fn jwk_like() -> impl Strategy<Value = Value> {
    let real = prop_oneof![
        Just(ec_a().jwk(Some("a"))),
        Just(ec_b().jwk(None)),
        Just(rsa_a().jwk(Some("r"))),
        Just(rsa_1024().jwk(Some("s"))),
    ];
    (
        real,
        prop::collection::vec((0usize..12, json_value(1)), 0..4),
    )
        .prop_map(|(mut k, edits)| {
            let names = [
                "kty", "crv", "x", "y", "n", "e", "kid", "alg", "use", "key_ops", "d", "k",
            ];
            for (i, v) in edits {
                k[names[i]] = v;
            }
            k
        })
}

proptest! {
    #![proptest_config(proptest_fixed(512, 0x6a77_7467_0005))]

    #[test]
    fn jwks_parser_survives_arbitrary_json(doc in json_value(3)) {
        let _ = KeySet::parse(doc.to_string().as_bytes());
        let _ = KeySet::parse(json!({ "keys": [doc] }).to_string().as_bytes());
    }

    #[test]
    fn jwks_parser_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = KeySet::parse(&bytes);
    }
}

proptest! {
    #![proptest_config(proptest_fixed(256, 0x6a77_7467_0006))]

    /// Damaged JWKs never panic, and whatever survives still only verifies real signatures.
    #[test]
    fn jwks_parser_survives_damaged_jwks(keys in prop::collection::vec(jwk_like(), 1..4)) {
        if let Ok((set, _)) = KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()) {
            let t = es_original();
            let (input, sig) = t.rsplit_once('.').unwrap();
            let sig = unb64(sig);
            for k in set.keys() {
                let _ = k.verify(input.as_bytes(), &sig);
                prop_assert!(!k.verify(b"other input", &sig));
            }
        }
    }
}
