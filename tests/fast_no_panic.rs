//! Randomised inputs (lengths, values, near-valid structures) must never panic.

#[path = "crypto/mod.rs"]
mod common;

use common::{hex, XorShift};
use jwtgate::crypto::fast::{P256Key, RsaKey};

const GX: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
const GY: &str = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

#[test]
fn random_es256_inputs_do_not_panic() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let key = P256Key::from_affine(&hex(GX), &hex(GY)).unwrap();
    let mut accepted_keys = 0;
    for i in 0..3000 {
        let lx = [32, 32, 32, 0, 31, 33, 1, 64][rng.next_u64() as usize % 8];
        let ly = [32, 32, 32, 0, 31, 33, 1, 64][rng.next_u64() as usize % 8];
        let (x, y) = (rng.bytes(lx), rng.bytes(ly));
        if P256Key::from_affine(&x, &y).is_some() {
            accepted_keys += 1;
        }
        let sl = if i % 4 == 0 {
            rng.next_u64() as usize % 80
        } else {
            64
        };
        let mut sig = rng.bytes(sl);
        // Bias towards small and near-n values that reach the arithmetic.
        if sl == 64 && i % 3 == 0 {
            sig[..16].fill(0);
            sig[32..40].fill(0xff);
        }
        let ml = rng.next_u64() as usize % 50;
        let msg = rng.bytes(ml);
        assert!(!key.verify_es256(&msg, &sig));
    }
    assert_eq!(
        accepted_keys, 0,
        "random points are essentially never on the curve"
    );
}

#[test]
fn random_rs256_inputs_do_not_panic() {
    let mut rng = XorShift(0x0fed_cba9_8765_4321);
    for i in 0..300 {
        let nl = [256, 256, 384, 0, 1, 255, 257, 512, 1025][rng.next_u64() as usize % 9];
        let mut n = rng.bytes(nl);
        if i % 2 == 0 {
            if let Some(b) = n.first_mut() {
                *b |= 0x80;
            }
            if let Some(b) = n.last_mut() {
                *b |= 1;
            }
        }
        let el = [3, 1, 0, 4, 300][rng.next_u64() as usize % 5];
        let mut e = rng.bytes(el);
        if i % 3 != 0 {
            e = vec![1, 0, 1];
        }
        let Some(key) = RsaKey::from_components(&n, &e) else {
            continue;
        };
        for _ in 0..4 {
            let k = key.modulus_bits().div_ceil(8);
            let sl = if rng.next_u64().is_multiple_of(4) {
                rng.next_u64() as usize % (k + 2)
            } else {
                k
            };
            let mut sig = rng.bytes(sl);
            if let Some(b) = sig.first_mut() {
                *b &= 0x7f;
            }
            let ml = rng.next_u64() as usize % 40;
            let msg = rng.bytes(ml);
            assert!(!key.verify_rs256(&msg, &sig));
        }
    }
}
