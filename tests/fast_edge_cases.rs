//! Edge cases of key parsing and signature checks.

#[path = "crypto/mod.rs"]
mod common;

use common::{fixed_be, hex, load};
use jwtgate::crypto::fast::{P256Key, RsaKey};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

const P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const GX: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
const GY: &str = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

fn key_from_secret(secret: &[u8; 32]) -> (SigningKey, P256Key) {
    let sk = SigningKey::from_bytes(secret.into()).unwrap();
    let pt = sk.verifying_key().to_encoded_point(false);
    let key = P256Key::from_affine(pt.x().unwrap(), pt.y().unwrap()).unwrap();
    (sk, key)
}

#[test]
fn p256_key_validation() {
    let (gx, gy) = (hex(GX), hex(GY));
    assert!(
        P256Key::from_affine(&gx, &gy).is_some(),
        "generator is a valid key"
    );
    // Not on the curve.
    let mut bad_y = gy.clone();
    bad_y[31] ^= 1;
    assert!(P256Key::from_affine(&gx, &bad_y).is_none());
    // (0, 0) is how some encoders write the identity; it is not on the curve.
    assert!(P256Key::from_affine(&[0; 32], &[0; 32]).is_none());
    // Coordinates >= p, including x + p style aliases, are rejected.
    assert!(P256Key::from_affine(&hex(P), &gy).is_none());
    assert!(P256Key::from_affine(&gx, &hex(P)).is_none());
    assert!(P256Key::from_affine(&[0xff; 32], &gy).is_none());
    // y' = p - y is the negation, valid; y + p does not fit in 32 bytes; y = p + small is >= p.
    let neg_y = sub(&hex(P), &gy);
    assert!(P256Key::from_affine(&gx, &neg_y).is_some());
    // Wrong lengths.
    for len in [0usize, 31, 33, 64] {
        let v = vec![1u8; len];
        assert!(P256Key::from_affine(&v, &gy).is_none());
        assert!(P256Key::from_affine(&gx, &v).is_none());
    }
    assert!(P256Key::from_affine(&[&[0u8][..], &gx].concat(), &gy).is_none());
}

/// Big-endian a - b for equal-length inputs, a >= b.
fn sub(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut v = a[i] as i16 - b[i] as i16 - borrow;
        borrow = (v < 0) as i16;
        if v < 0 {
            v += 256;
        }
        out[i] = v as u8;
    }
    out
}

#[test]
fn es256_signature_ranges() {
    let mut secret = [0u8; 32];
    secret[31] = 7;
    let (sk, key) = key_from_secret(&secret);
    let msg = b"edge cases";
    let sig: Signature = sk.sign(msg);
    let sig = sig.to_bytes().to_vec();
    assert!(key.verify_es256(msg, &sig));
    let (r, s) = sig.split_at(32);
    let n = hex(N);
    let cases: Vec<Vec<u8>> = vec![
        [&[0u8; 32][..], s].concat(),
        [r, &[0u8; 32][..]].concat(),
        [&n[..], s].concat(),
        [r, &n[..]].concat(),
        [&[0xffu8; 32][..], s].concat(),
        [r, &[0xffu8; 32][..]].concat(),
        sig[..63].to_vec(),
        [&sig[..], &[0u8][..]].concat(),
        [&[0u8][..], &sig[..]].concat(),
        Vec::new(),
    ];
    for c in &cases {
        assert!(!key.verify_es256(msg, c));
    }
    // s -> n - s is the other valid signature for plain ECDSA.
    let high_s = [r, &sub(&n, s)[..]].concat();
    assert!(key.verify_es256(msg, &high_s));
}

#[test]
fn es256_small_and_special_keys() {
    // Q = G and Q = -G make u1*G + u2*Q hit the doubling / cancellation branches more easily.
    let mut one = [0u8; 32];
    one[31] = 1;
    let n_minus_1: [u8; 32] = sub(&hex(N), &one).try_into().unwrap();
    let mut two = [0u8; 32];
    two[31] = 2;
    for secret in [one, n_minus_1, two] {
        let (sk, key) = key_from_secret(&secret);
        for i in 0..20u8 {
            let msg = [i; 5];
            let sig: Signature = sk.sign(&msg);
            assert!(key.verify_es256(&msg, &sig.to_bytes()));
            let mut bad = sig.to_bytes().to_vec();
            bad[40] ^= 4;
            assert!(!key.verify_es256(&msg, &bad));
        }
    }
}

#[test]
fn es256_wycheproof_key_is_send_sync_clone_debug() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<P256Key>();
    assert_traits::<RsaKey>();
    let (_, key) = key_from_secret(&[3u8; 32]);
    let copy = key.clone();
    assert!(!format!("{copy:?}").is_empty());
}

fn wycheproof_rsa_2048() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let data = load("rsa_signature_2048_sha256_test.json");
    let g = &data["testGroups"][0];
    let t = &g["tests"][0];
    assert_eq!(t["result"], "valid");
    (
        hex(g["publicKey"]["modulus"].as_str().unwrap()),
        hex(g["publicKey"]["publicExponent"].as_str().unwrap()),
        hex(t["msg"].as_str().unwrap()),
        hex(t["sig"].as_str().unwrap()),
    )
}

#[test]
fn rsa_key_validation() {
    let (n, e, msg, sig) = wycheproof_rsa_2048();
    let key = RsaKey::from_components(&n, &e).unwrap();
    assert_eq!(key.modulus_bits(), 2048);
    assert!(key.verify_rs256(&msg, &sig));
    // Leading zeros on n and e are fine.
    let key2 = RsaKey::from_components(&[&[0u8; 5][..], &n].concat(), &[0, 0, 1, 0, 1]).unwrap();
    assert!(key2.verify_rs256(&msg, &sig));
    // Even n.
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert!(RsaKey::from_components(&even, &e).is_none());
    // Too small: 2047 bits (drop the top bit by shifting right).
    let mut small = fixed_be(&n, 256);
    small[0] = 0x7f;
    assert!(RsaKey::from_components(&small, &e).is_none());
    assert!(RsaKey::from_components(&n[..n.len() - 1], &e).is_none() || n.len() - 1 > 256);
    // Too large: 8193 bits; 8192 bits accepted.
    let mut huge = vec![0xffu8; 1024];
    assert!(RsaKey::from_components(&huge, &e).is_some());
    huge.insert(0, 1);
    assert!(RsaKey::from_components(&huge, &e).is_none());
    // Bad exponents: even, 0, 1, empty, >= n.
    for bad_e in [&[0x01u8, 0x00, 0x00][..], &[0], &[1], &[], &[2], &[0, 0, 1]] {
        assert!(RsaKey::from_components(&n, bad_e).is_none(), "{bad_e:?}");
    }
    assert!(RsaKey::from_components(&n, &n).is_none());
    let mut e_big = fixed_be(&n, 256);
    e_big[0] = 0xff;
    *e_big.last_mut().unwrap() |= 1;
    assert!(RsaKey::from_components(&n, &e_big).is_none());
    // e = 3 is accepted (Wycheproof also has e = 3 groups).
    assert!(RsaKey::from_components(&n, &[3]).is_some());
    // Empty modulus.
    assert!(RsaKey::from_components(&[], &e).is_none());
    assert!(RsaKey::from_components(&[0, 0], &e).is_none());
}

#[test]
fn rsa_signature_ranges() {
    let (n, e, msg, sig) = wycheproof_rsa_2048();
    let key = RsaKey::from_components(&n, &e).unwrap();
    let n256 = fixed_be(&n, 256);
    assert!(!key.verify_rs256(&msg, &n256), "sig == n");
    assert!(!key.verify_rs256(&msg, &[0xff; 256]), "sig > n");
    assert!(!key.verify_rs256(&msg, &[0; 256]));
    assert!(!key.verify_rs256(&msg, &sig[1..]));
    assert!(
        !key.verify_rs256(&msg, &[&[0u8][..], &sig].concat()),
        "leading zero, wrong length"
    );
    assert!(!key.verify_rs256(&msg, &[&sig[..], &[0u8][..]].concat()));
    assert!(!key.verify_rs256(&msg, &[]));
    let mut n_minus_1 = n256.clone();
    *n_minus_1.last_mut().unwrap() -= 1;
    assert!(!key.verify_rs256(&msg, &n_minus_1));
    assert!(!key.verify_rs256(b"other message", &sig));
}
