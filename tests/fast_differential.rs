//! Differential tests against RustCrypto (`p256`, `rsa`): random keys, messages, valid signatures and
//! many mutated signatures; both implementations must give the same verdict on every case.
//! Iterations can be raised with FAST_DIFF_ITERS (ES256 keys) / FAST_DIFF_RSA_ITERS (per RSA key).

#[path = "crypto/mod.rs"]
mod common;

use jwtgate::crypto::fast::{P256Key, RsaKey};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};

const N_BE: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn env_iters(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Big-endian 32-byte subtraction a - b (wrapping).
fn sub_be(a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut v = a[i] as i16 - b[i] as i16 - borrow;
        borrow = 0;
        if v < 0 {
            v += 256;
            borrow = 1;
        }
        out[i] = v as u8;
    }
    out
}

/// Big-endian 32-byte addition a + small (wrapping).
fn add_small_be(a: &[u8; 32], small: u8) -> [u8; 32] {
    let mut out = *a;
    let mut carry = small as u16;
    for b in out.iter_mut().rev() {
        let v = *b as u16 + carry;
        *b = v as u8;
        carry = v >> 8;
    }
    out
}

fn ref_es256(vk: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    Signature::from_slice(sig).is_ok_and(|s| vk.verify(msg, &s).is_ok())
}

/// ES256 signature variants derived from a valid one (label, signature, message).
fn es256_variants(
    rng: &mut StdRng,
    sig: &[u8; 64],
    msg: &[u8],
) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let (r, s) = sig.split_at(32);
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    let mut v = vec![
        ("valid", sig.to_vec(), msg.to_vec()),
        ("swap", cat(s, r), msg.to_vec()),
        ("s=n-s", cat(r, &sub_be(&N_BE, s)), msg.to_vec()),
        ("r=0", cat(&[0; 32], s), msg.to_vec()),
        ("s=0", cat(r, &[0; 32]), msg.to_vec()),
        ("r=n", cat(&N_BE, s), msg.to_vec()),
        ("s=n", cat(r, &N_BE), msg.to_vec()),
        ("r=n+1", cat(&add_small_be(&N_BE, 1), s), msg.to_vec()),
        ("s=n+1", cat(r, &add_small_be(&N_BE, 1)), msg.to_vec()),
        ("all-ones", vec![0xff; 64], msg.to_vec()),
        ("zero", vec![0; 64], msg.to_vec()),
        (
            "r=n-1",
            cat(&sub_be(&N_BE, &add_small_be(&[0; 32], 1)), s),
            msg.to_vec(),
        ),
        ("s=1", cat(r, &add_small_be(&[0; 32], 1)), msg.to_vec()),
        ("short", sig[..63].to_vec(), msg.to_vec()),
        ("long", cat(sig, &[0]), msg.to_vec()),
        ("empty", Vec::new(), msg.to_vec()),
    ];
    let mut m2 = msg.to_vec();
    if m2.is_empty() {
        m2.push(0);
    } else {
        let i = rng.gen_range(0..m2.len());
        m2[i] ^= 1 << rng.gen_range(0..8);
    }
    v.push(("msg-flip", sig.to_vec(), m2));
    for _ in 0..4 {
        let mut f = sig.to_vec();
        let bit = rng.gen_range(0..512);
        f[bit / 8] ^= 1 << (bit % 8);
        v.push(("bit-flip", f, msg.to_vec()));
    }
    let mut rnd = vec![0u8; 64];
    rng.fill_bytes(&mut rnd);
    v.push(("random", rnd, msg.to_vec()));
    v
}

#[test]
fn es256_matches_rustcrypto() {
    let keys = env_iters("FAST_DIFF_ITERS", 150);
    let mut rng = StdRng::seed_from_u64(0x5eed_e5256);
    let (mut cases, mut accepted) = (0usize, 0usize);
    let mut prev: Option<(SigningKey, P256Key)> = None;
    for _ in 0..keys {
        let sk = SigningKey::random(&mut rng);
        let vk = VerifyingKey::from(&sk);
        let point = vk.to_encoded_point(false);
        let key = P256Key::from_affine(point.x().unwrap(), point.y().unwrap()).expect("valid key");
        // A DPoP proof's key: the same point with the one-use (width-4) table.
        let once = P256Key::from_affine_for_one_use(point.x().unwrap(), point.y().unwrap())
            .expect("valid key");
        for _ in 0..3 {
            let len = rng.gen_range(0..100);
            let mut msg = vec![0u8; len];
            rng.fill_bytes(&mut msg);
            let sig: Signature = sk.sign(&msg);
            let sig_bytes: [u8; 64] = sig.to_bytes().into();
            for (label, s, m) in es256_variants(&mut rng, &sig_bytes, &msg) {
                let ours = key.verify_es256(&m, &s);
                let theirs = ref_es256(&vk, &m, &s);
                assert_eq!(ours, theirs, "{label}: sig {s:02x?} msg {m:02x?}");
                assert_eq!(once.verify_es256(&m, &s), theirs, "one-use key, {label}");
                if label == "valid" || label == "s=n-s" {
                    assert!(ours, "{label} must verify");
                }
                cases += 1;
                accepted += ours as usize;
            }
            // A valid signature under another key must fail for this one.
            if let Some((other_sk, _)) = &prev {
                let other: Signature = other_sk.sign(&msg);
                let ob: [u8; 64] = other.to_bytes().into();
                assert_eq!(key.verify_es256(&msg, &ob), ref_es256(&vk, &msg, &ob));
                cases += 1;
            }
        }
        prev = Some((sk, key));
    }
    println!("ES256 differential: {keys} keys, {cases} cases, {accepted} accepted by both");
}

/// Raw RSA private operation on an arbitrary encoded block, to forge structured near-miss encodings.
fn raw_sign(sk: &RsaPrivateKey, em: &[u8]) -> Vec<u8> {
    let m = BigUint::from_bytes_be(em);
    let s = m.modpow(sk.d(), sk.n());
    common::fixed_be(&s.to_bytes_be(), sk.size())
}

fn emsa(k: usize, msg: &[u8]) -> Vec<u8> {
    let prefix = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let mut em = vec![0x00, 0x01];
    em.resize(k - 1 - prefix.len() - 32, 0xff);
    em.push(0);
    em.extend_from_slice(&prefix);
    em.extend_from_slice(&Sha256::digest(msg));
    em
}

fn rsa_case(sk: &RsaPrivateKey, key: &RsaKey, msg: &[u8], sig: &[u8]) -> bool {
    let hashed = Sha256::digest(msg);
    let theirs = sk
        .to_public_key()
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, sig)
        .is_ok();
    let ours = key.verify_rs256(msg, sig);
    assert_eq!(ours, theirs, "RSA-{} sig {:02x?}", key.modulus_bits(), sig);
    ours
}

#[test]
fn rs256_matches_rustcrypto() {
    let iters = env_iters("FAST_DIFF_RSA_ITERS", 40);
    let mut rng = StdRng::seed_from_u64(0x5eed_25256);
    let specs: [(usize, u64); 6] = [
        (2048, 65537),
        (2048, 65537),
        (2048, 3),
        (2052, 65537),
        (3072, 65537),
        (4096, 65537),
    ];
    let (mut cases, mut accepted) = (0usize, 0usize);
    for (bits, e) in specs {
        let sk = RsaPrivateKey::new_with_exp(&mut rng, bits, &BigUint::from(e)).expect("keygen");
        let n = sk.n().to_bytes_be();
        let key = RsaKey::from_components(&n, &sk.e().to_bytes_be()).expect("valid key");
        assert_eq!(key.modulus_bits(), bits);
        // Leading zeros on n and e are accepted and change nothing.
        let padded = RsaKey::from_components(&[&[0, 0][..], &n].concat(), &[0, 0, 0, e as u8]);
        assert!(padded.is_some() || e > 255);
        let k = sk.size();
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(sk.clone());
        for _ in 0..iters {
            let len = rng.gen_range(0..200);
            let mut msg = vec![0u8; len];
            rng.fill_bytes(&mut msg);
            let sig: Vec<u8> = rsa::signature::SignatureEncoding::to_vec(
                &rsa::signature::Signer::sign(&signer, &msg),
            );
            assert!(
                rsa_case(&sk, &key, &msg, &sig),
                "valid RSA signature rejected"
            );
            if let Some(p) = &padded {
                assert!(p.verify_rs256(&msg, &sig));
            }
            let mut variants: Vec<Vec<u8>> = Vec::new();
            // Bit flips anywhere in the signature.
            for _ in 0..3 {
                let mut f = sig.clone();
                let bit = rng.gen_range(0..k * 8);
                f[bit / 8] ^= 1 << (bit % 8);
                variants.push(f);
            }
            // Boundary values: 0, 1, n-1, n, n+1, all ones, wrong lengths.
            let nb = common::fixed_be(&n, k);
            let n_minus_1 = common::fixed_be(&(sk.n() - BigUint::from(1u8)).to_bytes_be(), k);
            let n_plus_1 = (sk.n() + BigUint::from(1u8)).to_bytes_be();
            variants.extend([
                vec![0; k],
                common::fixed_be(&[1], k),
                n_minus_1,
                nb,
                n_plus_1,
                vec![0xff; k],
            ]);
            variants.push(sig[1..].to_vec());
            variants.push([&[0u8][..], &sig].concat());
            // Structured near-misses: a correctly signed block with one byte of the encoding changed,
            // plus a couple of classic lenient-parser forgeries (short padding with trailing garbage).
            let em = emsa(k, &msg);
            for _ in 0..4 {
                let mut bad = em.clone();
                let i = rng.gen_range(0..k);
                bad[i] ^= 1u8 << rng.gen_range(0..8);
                if i == 0 {
                    bad[0] = 0; // keep the block < n so it can be signed
                    bad[1] ^= 0x80;
                }
                variants.push(raw_sign(&sk, &bad));
            }
            let mut garbage = em.clone();
            garbage.drain(2..10);
            garbage.extend_from_slice(&[0xab; 8]);
            variants.push(raw_sign(&sk, &garbage));
            variants.push(raw_sign(&sk, &em));
            for v in &variants {
                accepted += rsa_case(&sk, &key, &msg, v) as usize;
                cases += 1;
            }
            // Message mutation.
            let mut m2 = msg.clone();
            m2.push(1);
            assert!(!rsa_case(&sk, &key, &m2, &sig));
            cases += 2;
        }
    }
    println!("RS256 differential: {} keys x {iters} messages, {cases} cases, {accepted} accepted mutated-or-raw", specs.len());
}

/// The fast backend as jwt-compact `Algorithm`s: a token signed by jwt-compact's RustCrypto ES256
/// and RS256 validates through `FastEs256` / `FastRs256`, and the same token with one signature
/// bit flipped does not.
#[test]
fn jwt_compact_adapter_validates_tokens() {
    use jwt_compact::alg::{Es256, Rsa};
    use jwt_compact::{AlgorithmExt, Claims, Header, UntrustedToken};
    use jwtgate::{FastEs256, FastRs256};

    fn flipped(token: &str) -> String {
        let (head, sig) = token.rsplit_once('.').expect("three parts");
        let mut b = sig.as_bytes().to_vec();
        b[2] = if b[2] == b'A' { b'B' } else { b'A' };
        format!("{head}.{}", String::from_utf8(b).expect("ascii"))
    }

    let mut rng = StdRng::seed_from_u64(7);
    let claims = Claims::new(serde_json::json!({"sub": "alice"}));

    let sk = SigningKey::random(&mut rng);
    let point = VerifyingKey::from(&sk).to_encoded_point(false);
    let key = P256Key::from_affine(point.x().unwrap(), point.y().unwrap()).expect("valid key");
    let token = Es256.token(&Header::empty(), &claims, &sk).expect("signs");
    let ok = FastEs256.validator::<serde_json::Value>(&key);
    assert!(ok.validate(&UntrustedToken::new(&token).unwrap()).is_ok());
    assert!(ok
        .validate(&UntrustedToken::new(&flipped(&token)).unwrap())
        .is_err());

    let private = RsaPrivateKey::new(&mut rng, 2048).expect("rsa key");
    let public = private.to_public_key();
    let key = RsaKey::from_components(&public.n().to_bytes_be(), &public.e().to_bytes_be())
        .expect("valid key");
    let token = Rsa::rs256()
        .token(&Header::empty(), &claims, &private)
        .expect("signs");
    let ok = FastRs256.validator::<serde_json::Value>(&key);
    assert!(ok.validate(&UntrustedToken::new(&token).unwrap()).is_ok());
    assert!(ok
        .validate(&UntrustedToken::new(&flipped(&token)).unwrap())
        .is_err());
}
