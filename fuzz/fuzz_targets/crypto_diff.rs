//! Differential: the fast backend (`crypto::fast`, what the filter runs) against the RustCrypto
//! reference (`crypto::reference`, jwt-compact over `p256`/`rsa`) and, for signed cases, the
//! `p256`/`rsa` crates called directly (as tests/fast_differential.rs does).
//!
//! Input: `mode, …`. Modes (mode % 4):
//! 0. ES256, key from a fuzzed scalar (or the fixed ec-a), a message, a real signature XOR a
//!    fuzzed mask (an empty mask keeps it valid; a `0xff` flag replaces s by n - s).
//! 1. ES256, key from fuzzed affine coordinates: both backends must agree on the key's validity,
//!    then on a fuzzed signature.
//! 2. RS256 with rsa-a: a real signature XOR a mask, or a fuzzed EMSA block (the correct one with
//!    bytes changed) raised to d, so near-miss encodings are signed for real.
//! 3. RS256 with a fuzzed modulus and exponent: inside the key rules of `keys.rs` (2048..=4096
//!    bits, n odd, e odd of 2..=32 bits) both backends must accept the key; then a fuzzed signature.
//! Every case: the same verdict from every implementation.
#![no_main]

use jwtgate::crypto::{bit_len, fast, reference};
use jwtgate_fuzz::{ec_a, rsa_a, sign_es256, sign_rs256, Bytes};
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const N_BE: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn sub_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
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

fn xor(sig: &mut [u8], mask: &[u8]) {
    for (s, m) in sig.iter_mut().zip(mask) {
        *s ^= m;
    }
}

fn fast_ec_a() -> &'static (fast::P256Key, reference::EcKey) {
    static K: OnceLock<(fast::P256Key, reference::EcKey)> = OnceLock::new();
    K.get_or_init(|| {
        let p = ec_a().verifying_key().to_encoded_point(false);
        let (x, y) = (p.x().unwrap(), p.y().unwrap());
        (
            fast::P256Key::from_affine(x, y).unwrap(),
            reference::EcKey::from_affine(x, y).unwrap(),
        )
    })
}

fn rsa_a_keys() -> &'static (fast::RsaKey, reference::RsaKey) {
    static K: OnceLock<(fast::RsaKey, reference::RsaKey)> = OnceLock::new();
    K.get_or_init(|| {
        let (n, e) = (rsa_a().n().to_bytes_be(), rsa_a().e().to_bytes_be());
        (
            fast::RsaKey::from_components(&n, &e).unwrap(),
            reference::RsaKey::from_components(&n, &e).unwrap(),
        )
    })
}

fn es256(d: &mut Bytes) {
    let which = d.byte();
    let scalar = d.take(32);
    let sk = if which & 1 == 0 {
        ec_a().clone()
    } else {
        match p256::ecdsa::SigningKey::from_slice(scalar) {
            Ok(k) => k,
            Err(_) => return,
        }
    };
    let msg_len = d.byte() as usize % 80;
    let msg = d.take(msg_len).to_vec();
    let mut sig = sign_es256(&sk, &msg);
    if which & 2 != 0 {
        let s: [u8; 32] = sig[32..].try_into().unwrap();
        sig[32..].copy_from_slice(&sub_be(&N_BE, &s));
    }
    let mask = d.take(64);
    xor(&mut sig, mask);
    if which & 4 != 0 {
        sig.truncate(d.byte() as usize % 66);
    }
    let vk = *sk.verifying_key();
    let direct =
        p256::ecdsa::Signature::from_slice(&sig).is_ok_and(|s| vk.verify(&msg, &s).is_ok());
    let (fast_key, ref_key);
    let (f, r) = if which & 1 == 0 {
        let (fk, rk) = fast_ec_a();
        (fk.verify_es256(&msg, &sig), rk.verify(&msg, &sig))
    } else {
        let p = vk.to_encoded_point(false);
        fast_key = fast::P256Key::from_affine(p.x().unwrap(), p.y().unwrap())
            .expect("fast refused a real key");
        ref_key = reference::EcKey::from_affine(p.x().unwrap(), p.y().unwrap())
            .expect("reference refused a real key");
        (
            fast_key.verify_es256(&msg, &sig),
            ref_key.verify(&msg, &sig),
        )
    };
    assert_eq!(
        f, r,
        "ES256 fast {f} vs reference {r}: sig {sig:02x?} msg {msg:02x?}"
    );
    assert_eq!(f, direct, "ES256 fast {f} vs p256 {direct}");
    if mask.iter().all(|&b| b == 0) && sig.len() == 64 {
        assert!(f, "a valid signature was refused");
    }
}

fn es256_raw_key(d: &mut Bytes) {
    let x = d.take(32).to_vec();
    let y = d.take(32).to_vec();
    let f = fast::P256Key::from_affine(&x, &y);
    let r = reference::EcKey::from_affine(&x, &y);
    assert_eq!(
        f.is_some(),
        r.is_some(),
        "key validity differs: x {x:02x?} y {y:02x?}"
    );
    if let (Some(f), Some(r)) = (f, r) {
        let sig = d.take(64).to_vec();
        let msg = d.rest();
        assert_eq!(f.verify_es256(msg, &sig), r.verify(msg, &sig));
    }
}

/// The correct EMSA-PKCS1-v1_5 block for SHA-256 in `k` bytes.
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

fn rs256_fixed(d: &mut Bytes) {
    let which = d.byte();
    let msg_len = d.byte() as usize % 100;
    let msg = d.take(msg_len).to_vec();
    let sk = rsa_a();
    let k = sk.size();
    let sig = if which & 1 == 0 {
        let mut sig = sign_rs256(sk, &msg);
        xor(&mut sig, d.take(k));
        sig
    } else {
        // Change up to 8 bytes of the correct block (position, new value), then sign it raw.
        let mut em = emsa(k, &msg);
        for _ in 0..(which >> 1) % 9 {
            let pos = u16::from_be_bytes([d.byte(), d.byte()]) as usize % k;
            em[pos] = d.byte();
        }
        let m = BigUint::from_bytes_be(&em);
        if &m >= sk.n() {
            return;
        }
        let s = rsa::hazmat::rsa_decrypt_and_check(sk, None::<&mut rand::rngs::OsRng>, &m).unwrap();
        let mut out = vec![0u8; k];
        let b = s.to_bytes_be();
        out[k - b.len()..].copy_from_slice(&b);
        out
    };
    let (fk, rk) = rsa_a_keys();
    let f = fk.verify_rs256(&msg, &sig);
    let r = rk.verify(&msg, &sig);
    let direct = RsaPublicKey::from(sk)
        .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&msg), &sig)
        .is_ok();
    assert_eq!(f, r, "RS256 fast {f} vs reference {r}: sig {sig:02x?}");
    assert_eq!(f, direct, "RS256 fast {f} vs rsa {direct}");
}

fn rs256_raw_key(d: &mut Bytes) {
    let n_len = 256 + (d.byte() as usize % 257);
    let e_len = 1 + d.byte() as usize % 5;
    let e = d.take(e_len).to_vec();
    let n = d.take(n_len).to_vec();
    let f = fast::RsaKey::from_components(&n, &e);
    let r = reference::RsaKey::from_components(&n, &e);
    let in_policy = (2048..=4096).contains(&bit_len(&n))
        && n.last().is_some_and(|b| b & 1 == 1)
        && e.last().is_some_and(|b| b & 1 == 1)
        && (2..=32).contains(&bit_len(&e));
    if in_policy {
        assert!(
            f.is_some(),
            "fast refused a key inside the policy: e {e:02x?}"
        );
        assert!(
            r.is_some(),
            "reference refused a key inside the policy: e {e:02x?}"
        );
    }
    if let (Some(f), Some(r)) = (f, r) {
        assert_eq!(f.modulus_bits(), r.modulus_bits());
        let sig = d.take(f.modulus_bits().div_ceil(8)).to_vec();
        let msg = d.rest();
        assert_eq!(f.verify_rs256(msg, &sig), r.verify(msg, &sig));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut d = Bytes(data);
    match d.byte() % 4 {
        0 => es256(&mut d),
        1 => es256_raw_key(&mut d),
        2 => rs256_fixed(&mut d),
        _ => rs256_raw_key(&mut d),
    }
});
