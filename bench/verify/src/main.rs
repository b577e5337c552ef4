//! Times one signature verification through jwtgate's crypto API (`EcKey::verify`,
//! `RsaKey::verify`), whatever backend sits behind it, and prints ns/op as one JSON line.
//!
//! Built natively and for wasm32-wasip1 (run there as a WASI command) so the two can be
//! compared. Usage: `verify-bench [ES256_ITERS [RS256_ITERS [ROUNDS]]]`.

mod vectors;

use jwtgate::{EcKey, RsaKey};
use std::hint::black_box;
use std::time::Instant;

/// Decodes a hex string at compile time (vectors are constants).
pub const fn hex<const N: usize>(s: &str) -> [u8; N] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 2 * N, "hex length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nib(b[2 * i]) << 4) | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Median ns per call of `f` over `rounds` rounds of `iters` calls each.
fn time_ns(iters: u32, rounds: u32, mut f: impl FnMut() -> bool) -> f64 {
    // Warm-up: one round's worth at most 1/4 of the iterations (at least one call).
    for _ in 0..(iters / 4).max(1) {
        assert!(black_box(f()));
    }
    let mut per_op: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                assert!(black_box(f()));
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters.max(1))
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[per_op.len() / 2]
}

fn arg(n: usize, default: u32) -> u32 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

fn main() {
    let es_iters = arg(1, 200);
    let rs_iters = arg(2, 200);
    let rounds = arg(3, 5);

    let ec = EcKey::from_affine(&vectors::EC_X, &vectors::EC_Y).expect("EC test key");
    let rsa = RsaKey::from_components(&vectors::RSA_N, &vectors::RSA_E).expect("RSA test key");

    // Sanity: the good signatures verify, a flipped bit does not.
    let mut bad_ec = vectors::EC_SIG;
    bad_ec[63] ^= 1;
    let mut bad_rsa = vectors::RSA_SIG;
    bad_rsa[255] ^= 1;
    assert!(ec.verify(vectors::MESSAGE_ES256, &vectors::EC_SIG), "ES256 vector must verify");
    assert!(!ec.verify(vectors::MESSAGE_ES256, &bad_ec), "bad ES256 must fail");
    assert!(rsa.verify(vectors::MESSAGE_RS256, &vectors::RSA_SIG), "RS256 vector must verify");
    assert!(!rsa.verify(vectors::MESSAGE_RS256, &bad_rsa), "bad RS256 must fail");

    let es = time_ns(es_iters, rounds, || {
        ec.verify(black_box(vectors::MESSAGE_ES256), black_box(&vectors::EC_SIG))
    });
    let rs = time_ns(rs_iters, rounds, || {
        rsa.verify(black_box(vectors::MESSAGE_RS256), black_box(&vectors::RSA_SIG))
    });
    println!(
        "{{\"arch\":\"{}\",\"es256_ns\":{:.0},\"rs256_ns\":{:.0},\"es256_iters\":{},\"rs256_iters\":{},\"rounds\":{}}}",
        std::env::consts::ARCH,
        es,
        rs,
        es_iters,
        rs_iters,
        rounds
    );
}
