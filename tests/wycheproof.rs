//! Wycheproof vectors through jwtgate's own signature layer (`crypto::EcKey` / `crypto::RsaKey`)
//! and, for the JWK file, through `KeySet::parse` and the authenticator.
//!
//! Vectors: `tests/vectors/wycheproof/` (a copy of the upstream files, see its README), or the
//! directory `$JWTGATE_TESTVECTORS` names.
//! `valid` must verify, `invalid` must not; `acceptable` is counted, never asserted (either
//! verdict is defensible). A key the layer refuses rejects every signature of its group.

mod common;

use jwtgate::crypto::{bit_len, EcKey, RsaKey, MIN_RSA_BITS};
use jwtgate::token::Alg;
use jwtgate::Reason;
use jwtgate::TokenCache;
use jwtgate::{Auth, KeyState};
use jwtgate::{Candidates, KeySet};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = common::wycheproof_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set JWTGATE_TESTVECTORS)", path.display()));
    serde_json::from_str(&text).expect("vector files are JSON")
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

/// Big-endian integer as exactly 32 bytes; `None` if it does not fit.
fn be32(bytes: &[u8]) -> Option<[u8; 32]> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let digits = &bytes[start..];
    if digits.len() > 32 {
        return None;
    }
    let mut out = [0u8; 32];
    out[32 - digits.len()..].copy_from_slice(digits);
    Some(out)
}

#[derive(Default, Debug)]
struct Tally {
    valid: usize,
    valid_accepted: usize,
    invalid: usize,
    invalid_rejected: usize,
    acceptable: usize,
    acceptable_accepted: usize,
    refused_keys: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, tc: &Value, accepted: bool, context: &str) {
        let id = &tc["tcId"];
        let comment = tc["comment"].as_str().unwrap_or("");
        match tc["result"].as_str() {
            Some("valid") => {
                self.valid += 1;
                if accepted {
                    self.valid_accepted += 1;
                } else {
                    self.failures.push(format!(
                        "tcId {id} valid but rejected ({comment}) {context}"
                    ));
                }
            }
            Some("invalid") => {
                self.invalid += 1;
                if accepted {
                    self.failures.push(format!(
                        "tcId {id} invalid but accepted ({comment}) {context}"
                    ));
                } else {
                    self.invalid_rejected += 1;
                }
            }
            Some("acceptable") => {
                self.acceptable += 1;
                if accepted {
                    self.acceptable_accepted += 1;
                }
            }
            other => panic!("tcId {id}: unknown result {other:?}"),
        }
    }

    fn report(&self, file: &str) {
        println!(
            "{file}: valid {}/{} accepted, invalid {}/{} rejected, acceptable {} ({} accepted), \
             keys refused {}",
            self.valid_accepted,
            self.valid,
            self.invalid_rejected,
            self.invalid,
            self.acceptable,
            self.acceptable_accepted,
            self.refused_keys
        );
        assert!(
            self.failures.is_empty(),
            "{file}: {} failures:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

fn ec_key(group: &Value) -> Option<EcKey> {
    let pk = &group["publicKey"];
    let x = be32(&unhex(&pk["wx"]))?;
    let y = be32(&unhex(&pk["wy"]))?;
    EcKey::from_affine(&x, &y)
}

fn tests(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().expect("tests[]")
}

fn groups(doc: &Value) -> &Vec<Value> {
    doc["testGroups"].as_array().expect("testGroups[]")
}

#[test]
fn ecdsa_p256_sha256_p1363() {
    let file = "ecdsa_secp256r1_sha256_p1363_test.json";
    let doc = load(file);
    let mut t = Tally::default();
    for g in groups(&doc) {
        let key = ec_key(g);
        if key.is_none() {
            t.refused_keys += 1;
        }
        for tc in tests(g) {
            let accepted = key
                .as_ref()
                .is_some_and(|k| k.verify(&unhex(&tc["msg"]), &unhex(&tc["sig"])));
            let ctx = if key.is_none() { "[key refused]" } else { "" };
            t.record(tc, accepted, ctx);
        }
    }
    assert_eq!(
        t.valid + t.invalid + t.acceptable,
        262,
        "tests/vectors/wycheproof/README.md says 262 tests"
    );
    t.report(file);
}

/// Minimal strict DER `SEQUENCE { INTEGER r, INTEGER s }` → r‖s, for cross-checking only.
fn der_to_p1363(der: &[u8]) -> Option<Vec<u8>> {
    let int = |b: &[u8]| -> Option<(Vec<u8>, usize)> {
        if b.first() != Some(&0x02) {
            return None;
        }
        let len = *b.get(1)? as usize;
        if len >= 0x80 {
            return None;
        }
        Some((b.get(2..2 + len)?.to_vec(), 2 + len))
    };
    if der.first() != Some(&0x30) || der.get(1).copied()? as usize != der.len() - 2 {
        return None;
    }
    let (r, used) = int(&der[2..])?;
    let (s, used2) = int(&der[2 + used..])?;
    if 2 + used + used2 != der.len() {
        return None;
    }
    let mut out = be32(&r)?.to_vec();
    out.extend(be32(&s)?);
    Some(out)
}

#[test]
fn ecdsa_p256_sha256_der_signatures_are_all_rejected() {
    let file = "ecdsa_secp256r1_sha256_test.json";
    let doc = load(file);
    let (mut total, mut rejected, mut valid_der_converted_ok) = (0, 0, 0);
    let mut valid_total = 0;
    let mut failures = Vec::new();
    for g in groups(&doc) {
        let key = ec_key(g);
        for tc in tests(g) {
            total += 1;
            let msg = unhex(&tc["msg"]);
            let sig = unhex(&tc["sig"]);
            // A JWS ES256 signature is r‖s only: DER must never verify, valid or not.
            if key.as_ref().is_some_and(|k| k.verify(&msg, &sig)) {
                failures.push(format!("tcId {} DER signature accepted", tc["tcId"]));
            } else {
                rejected += 1;
            }
            // Proof the rejection is about the encoding: the same valid signature as r‖s passes.
            if tc["result"] == "valid" {
                valid_total += 1;
                let raw = der_to_p1363(&sig).expect("valid DER parses");
                if key.as_ref().is_some_and(|k| k.verify(&msg, &raw)) {
                    valid_der_converted_ok += 1;
                } else {
                    failures.push(format!("tcId {} valid, as r||s rejected", tc["tcId"]));
                }
            }
        }
    }
    println!(
        "{file}: {rejected}/{total} DER signatures rejected; \
         {valid_der_converted_ok}/{valid_total} valid ones accepted once converted to r||s"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn rsa_file(file: &str, bits: usize) {
    let doc = load(file);
    let mut t = Tally::default();
    let mut jwk_disagreements = Vec::new();
    for g in groups(&doc) {
        let pk = &g["publicKey"];
        let n = unhex(&pk["modulus"]);
        let e = unhex(&pk["publicExponent"]);
        let n_bits = bit_len(&n);
        assert_eq!(n_bits, bits, "{file}: group key size");
        let key = RsaKey::from_components(&n, &e);
        // The JWK path applies the contract's key rules on top of the primitive.
        let jwk_key = KeySet::parse(format!(r#"{{"keys":[{}]}}"#, g["keyJwk"]).as_bytes())
            .ok()
            .map(|(set, _)| set);
        match &key {
            None => {
                t.refused_keys += 1;
                println!(
                    "{file}: backend REFUSES the {n_bits}-bit key (e = {})",
                    hex::encode(&e)
                );
            }
            Some(k) => assert_eq!(k.modulus_bits(), n_bits),
        }
        for tc in tests(g) {
            let msg = unhex(&tc["msg"]);
            let sig = unhex(&tc["sig"]);
            let accepted = key.as_ref().is_some_and(|k| k.verify(&msg, &sig));
            // Keys under 2048 bits are refused by contract, so their valid cases may fail;
            // every Wycheproof RS256 key here is >= 2048 bits, so a refusal is a real failure.
            let ctx = match &key {
                None if n_bits < MIN_RSA_BITS => "[key < 2048 bits, refused by contract]",
                None => "[key refused by backend]",
                Some(_) => "",
            };
            if key.is_none() && n_bits < MIN_RSA_BITS && tc["result"] == "valid" {
                t.valid += 1;
                continue;
            }
            t.record(tc, accepted, ctx);
            if let Some(set) = &jwk_key {
                let via_jwk = set.keys().iter().any(|k| k.verify(&msg, &sig));
                if via_jwk != accepted {
                    jwk_disagreements.push(format!("tcId {}", tc["tcId"]));
                }
            }
        }
    }
    t.report(file);
    assert!(
        jwk_disagreements.is_empty(),
        "{file}: KeySet key and RsaKey disagree on {jwk_disagreements:?}"
    );
}

#[test]
fn rsa_pkcs1_2048_sha256() {
    rsa_file("rsa_signature_2048_sha256_test.json", 2048);
}

#[test]
fn rsa_pkcs1_3072_sha256() {
    rsa_file("rsa_signature_3072_sha256_test.json", 3072);
}

#[test]
fn rsa_pkcs1_4096_sha256() {
    // rsa 0.9 accepts moduli up to 4096 bits: the backend must support this file fully.
    rsa_file("rsa_signature_4096_sha256_test.json", 4096);
}

// ---------------------------------------------------------------- json_web_key_test.json

/// The verifier's view of a keyset: Wycheproof gives some groups only as private JWKs, and a
/// verifier only ever holds the public half (jwtgate refuses JWKs carrying private members).
fn public_keyset(group: &Value) -> Value {
    if let Some(p) = group.get("public") {
        return p.clone();
    }
    let mut ks = group["private"].clone();
    for k in ks["keys"].as_array_mut().expect("keys[]") {
        let obj = k.as_object_mut().expect("JWK object");
        for m in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            obj.remove(m);
        }
    }
    ks
}

/// The JWS layer on its own: algorithm allow-list, key choice, signature over the signing
/// input, with the payload treated as opaque bytes.
fn jws_verdict(set: Option<&KeySet>, jws: &str) -> bool {
    let parts: Vec<&str> = jws.split('.').collect();
    let [h, p, s] = parts[..] else { return false };
    let Ok(header) = serde_json::from_slice::<Value>(&common::unb64(h)) else {
        return false;
    };
    let Some(alg) = header["alg"].as_str().and_then(Alg::from_name) else {
        return false;
    };
    let kid = header["kid"].as_str();
    let (Some(set), Ok(sig)) = (set, base64_sig(s)) else {
        return false;
    };
    match set.candidates(alg, kid) {
        Candidates::Keys(keys) => {
            let input = format!("{h}.{p}");
            keys.iter().any(|k| k.verify(input.as_bytes(), &sig))
        }
        Candidates::None => false,
    }
}

fn base64_sig(s: &str) -> Result<Vec<u8>, ()> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| ())
}

#[test]
fn json_web_key_cases() {
    let file = "json_web_key_test.json";
    let doc = load(file);
    let cfg = common::parse_config(&common::base_config());
    let provider = &cfg.providers[0];
    assert_eq!(provider.algorithms, vec![Alg::Es256, Alg::Rs256]);
    let empty = KeySet::default();
    let mut t = Tally::default();
    let mut hs_valid_refused = 0;
    for g in groups(&doc) {
        let public = public_keyset(g);
        let parsed = KeySet::parse(public.to_string().as_bytes());
        let set = parsed.as_ref().ok().map(|(s, _)| s);
        if set.is_none() {
            t.refused_keys += 1;
        }
        for tc in tests(g) {
            let jws = tc["jws"].as_str().expect("jws");
            let alg =
                serde_json::from_slice::<Value>(&common::unb64(jws.split('.').next().unwrap()))
                    .ok()
                    .and_then(|h| h["alg"].as_str().map(str::to_owned))
                    .unwrap_or_default();
            let supported = Alg::from_name(&alg).is_some();
            let jws_ok = jws_verdict(set, jws);

            // The authenticator's JWS layer and the full pipeline see the same token.
            let sig_layer =
                jwtgate::check_signature(&provider.algorithms, set.unwrap_or(&empty), jws, 8192);
            let mut cache = TokenCache::new(1, 16);
            let state = KeyState::Ready {
                keys: set.unwrap_or(&empty),
                version: 1,
                refetch_allowed: false,
                revoked: None,
            };
            let full =
                jwtgate::authenticate(provider, 0, jws, state, 8192, common::NOW, &mut cache);
            let full_reason = match &full {
                Auth::Invalid(f) => Some(f.reason),
                Auth::Valid(_) => None,
                other => panic!("tcId {}: unexpected {other:?}", tc["tcId"]),
            };

            if !supported {
                // jwtgate never accepts HS*/none/anything but ES256 and RS256: the header
                // does not choose the algorithm. Wycheproof's `valid` HS cases are valid for a
                // JOSE library holding the shared secret, which a gateway never has.
                assert!(!jws_ok);
                // The JWS layer reads the payload "foo" as the octets it is, so `alg` decides
                // there; the JWT pipeline parses the claims set before it looks at `alg`, so
                // for it the vector is token_malformed...
                assert_eq!(
                    sig_layer.as_ref().err().map(|f| f.reason),
                    Some(Reason::AlgNotAllowed),
                    "tcId {} ({alg})",
                    tc["tcId"]
                );
                assert_eq!(
                    full_reason,
                    Some(Reason::TokenMalformed),
                    "tcId {}",
                    tc["tcId"]
                );
                // ...and the same header and signature over a JWT claims set is refused for
                // its algorithm, whatever keys the set holds.
                let mut segs = jws.split('.');
                let (h, _, s) = (segs.next().unwrap(), segs.next(), segs.next().unwrap_or(""));
                let as_jwt = format!("{h}.{}.{s}", common::b64(common::claims().to_string()));
                let state = KeyState::Ready {
                    keys: set.unwrap_or(&empty),
                    version: 1,
                    refetch_allowed: false,
                    revoked: None,
                };
                let full = jwtgate::authenticate(
                    provider,
                    0,
                    &as_jwt,
                    state,
                    8192,
                    common::NOW,
                    &mut cache,
                );
                assert!(
                    matches!(&full, Auth::Invalid(f) if f.reason == Reason::AlgNotAllowed),
                    "tcId {} ({alg}): {full:?}",
                    tc["tcId"]
                );
                if tc["result"] == "valid" {
                    hs_valid_refused += 1;
                    continue;
                }
                t.record(tc, false, "");
                continue;
            }
            t.record(tc, jws_ok, &format!("alg {alg}"));
            if !jws_ok {
                assert!(sig_layer.is_err(), "tcId {}", tc["tcId"]);
                assert!(full_reason.is_some(), "tcId {}", tc["tcId"]);
            } else {
                // The signature holds: the JWS layer accepts the payload "foo" as octets
                // (RFC 7515), but it is not a JWT claims set, so the JWT pipeline must say
                // token_malformed rather than accept (RFC 7519 §7.2 step 10).
                match &sig_layer {
                    Ok((_, payload)) => assert_eq!(payload, b"foo", "tcId {}", tc["tcId"]),
                    Err(f) => panic!("tcId {}: JWS layer refused: {f:?}", tc["tcId"]),
                }
                assert_eq!(full_reason, Some(Reason::TokenMalformed));
            }
        }
    }
    println!(
        "{file}: {hs_valid_refused} `valid` HS* cases refused with alg_not_allowed (by design); \
         ES256/RS256 and invalid cases below"
    );
    assert_eq!(
        t.valid + t.invalid + t.acceptable + hs_valid_refused,
        26,
        "tests/vectors/wycheproof/README.md says 26 tests"
    );
    t.report(file);
}
