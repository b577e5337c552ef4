//! Integers modulo the P-256 group order n. Only a handful of operations run per verification (one
//! inversion, two products), so this favours simple code: plain (non-Montgomery) representation, a
//! generic CIOS Montgomery product used twice per modular multiplication, and a variable-time binary
//! extended-Euclid inversion (inputs are public).

use super::u256::{self, U256};

/// n, little-endian limbs.
pub(super) const N: U256 = [
    0xfc63_2551,
    0xf3b9_cac2,
    0xa717_9e84,
    0xbce6_faad,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0xffff_ffff,
];
/// 2^512 mod n.
const R2: U256 = [
    0xbe79_eea2,
    0x8324_4c95,
    0x49bd_6fa6,
    0x4699_799c,
    0x2b6b_ec59,
    0x2845_b239,
    0xf3d9_5620,
    0x66e1_2d94,
];
/// -n^-1 mod 2^32.
const N0: u32 = 0xee00_bc4f;

/// An integer in [0, n).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Scalar(pub(super) U256);

impl Scalar {
    /// Parses a big-endian value that must lie in [1, n-1] (the valid range for ECDSA r and s).
    pub(super) fn from_be_bytes_nonzero(b: &[u8; 32]) -> Option<Scalar> {
        let a = u256::from_be_bytes(b);
        if u256::is_zero(&a) || !u256::lt(&a, &N) {
            return None;
        }
        Some(Scalar(a))
    }

    /// Reduces a 256-bit big-endian hash modulo n; since 2^256 < 2n one subtraction suffices.
    pub(super) fn from_hash(b: &[u8; 32]) -> Scalar {
        let a = u256::from_be_bytes(b);
        if u256::lt(&a, &N) {
            Scalar(a)
        } else {
            Scalar(u256::sbb(&a, &N).0)
        }
    }

    /// self * other mod n: Montgomery product (a*b/R) then another with R^2 (…*R^2/R) cancels the R.
    pub(super) fn mul(&self, other: &Scalar) -> Scalar {
        Scalar(mont_mul(&mont_mul(&self.0, &other.0), &R2))
    }

    /// self^-1 mod n, or `None` for zero. Binary extended Euclid keeping x1*a = u and x2*a = v (mod n).
    /// It needs only shifts, additions, subtractions and comparisons, so it runs on 64-bit limbs
    /// (native in wasm32 too), halving the limb work compared with the 32-bit representation.
    pub(super) fn invert(&self) -> Option<Scalar> {
        if u256::is_zero(&self.0) {
            return None;
        }
        let n = to_u64(&N);
        let one: W256 = [1, 0, 0, 0];
        let mut u = to_u64(&self.0);
        let mut v = n;
        let mut x1 = one;
        let mut x2: W256 = [0; 4];
        // gcd(a, n) = 1 because n is prime and 0 < a < n, so u and v stay nonzero (the halving loops
        // end) and one of them reaches 1.
        while u != one && v != one {
            while u[0] & 1 == 0 {
                u = w_shr1(&u, 0);
                x1 = w_half_mod(&x1, &n);
            }
            while v[0] & 1 == 0 {
                v = w_shr1(&v, 0);
                x2 = w_half_mod(&x2, &n);
            }
            if w_lt(&u, &v) {
                v = w_sbb(&v, &u).0;
                x2 = w_sub_mod(&x2, &x1, &n);
            } else {
                u = w_sbb(&u, &v).0;
                x1 = w_sub_mod(&x1, &x2, &n);
            }
        }
        Some(Scalar(from_u64(if u == one { &x1 } else { &x2 })))
    }
}

/// 256-bit integer as 4 little-endian 64-bit limbs (inversion only).
type W256 = [u64; 4];

fn to_u64(a: &U256) -> W256 {
    let mut r = [0u64; 4];
    for (i, l) in r.iter_mut().enumerate() {
        *l = a[2 * i] as u64 | (a[2 * i + 1] as u64) << 32;
    }
    r
}

fn from_u64(a: &W256) -> U256 {
    let mut r = [0u32; 8];
    for (i, &l) in a.iter().enumerate() {
        r[2 * i] = l as u32;
        r[2 * i + 1] = (l >> 32) as u32;
    }
    r
}

fn w_adc(a: &W256, b: &W256) -> (W256, u64) {
    let mut r = [0u64; 4];
    let mut carry = false;
    for i in 0..4 {
        let (s1, c1) = a[i].overflowing_add(b[i]);
        let (s2, c2) = s1.overflowing_add(carry as u64);
        r[i] = s2;
        carry = c1 | c2;
    }
    (r, carry as u64)
}

fn w_sbb(a: &W256, b: &W256) -> (W256, bool) {
    let mut r = [0u64; 4];
    let mut borrow = false;
    for i in 0..4 {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(borrow as u64);
        r[i] = d2;
        borrow = b1 | b2;
    }
    (r, borrow)
}

fn w_lt(a: &W256, b: &W256) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// Right shift by one; `top` becomes bit 255.
fn w_shr1(a: &W256, top: u64) -> W256 {
    [
        (a[0] >> 1) | (a[1] << 63),
        (a[1] >> 1) | (a[2] << 63),
        (a[2] >> 1) | (a[3] << 63),
        (a[3] >> 1) | (top << 63),
    ]
}

/// x / 2 mod n for x < n: add n first when x is odd (n is odd), keeping the sum's 257th bit.
fn w_half_mod(x: &W256, n: &W256) -> W256 {
    if x[0] & 1 == 0 {
        w_shr1(x, 0)
    } else {
        let (s, carry) = w_adc(x, n);
        w_shr1(&s, carry)
    }
}

/// a - b mod n for a, b < n.
fn w_sub_mod(a: &W256, b: &W256, n: &W256) -> W256 {
    let (r, borrow) = w_sbb(a, b);
    if borrow {
        w_adc(&r, n).0
    } else {
        r
    }
}

/// a * b * 2^-256 mod n (CIOS), for a, b < n.
fn mont_mul(a: &U256, b: &U256) -> U256 {
    let mut t = [0u32; 10];
    for &ai in a.iter() {
        let mut carry = 0u64;
        for j in 0..8 {
            let v = t[j] as u64 + ai as u64 * b[j] as u64 + carry;
            t[j] = v as u32;
            carry = v >> 32;
        }
        let v = t[8] as u64 + carry;
        t[8] = v as u32;
        t[9] = (v >> 32) as u32;

        let m = t[0].wrapping_mul(N0) as u64;
        let v = t[0] as u64 + m * N[0] as u64;
        let mut carry = v >> 32;
        for j in 1..8 {
            let v = t[j] as u64 + m * N[j] as u64 + carry;
            t[j - 1] = v as u32;
            carry = v >> 32;
        }
        let v = t[8] as u64 + carry;
        t[7] = v as u32;
        t[8] = t[9] + (v >> 32) as u32;
    }
    let mut out = [0u32; 8];
    out.copy_from_slice(&t[..8]);
    if t[8] != 0 || !u256::lt(&out, &N) {
        out = u256::sbb(&out, &N).0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_be(a: &U256) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (limb, chunk) in a.iter().zip(out.rchunks_exact_mut(4)) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    #[test]
    fn inverse_round_trips() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut cases = vec![
            [1, 0, 0, 0, 0, 0, 0, 0],
            [2, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0x8000_0000],
            [0, 0, 0, 0, 1, 0, 0, 0],
            u256::sbb(&N, &[1, 0, 0, 0, 0, 0, 0, 0]).0,
        ];
        for _ in 0..300 {
            let mut a = [0u32; 8];
            for l in a.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *l = x as u32;
            }
            // Long runs of low zero bits exercise the multi-bit halving.
            a[0] &= !((1u32 << (x % 32)) - 1);
            if x % 5 == 1 {
                a[1] = 0;
            }
            cases.push(Scalar::from_hash(&to_be(&a)).0);
        }
        for a in cases {
            if u256::is_zero(&a) {
                continue;
            }
            let s = Scalar(a);
            let inv = s.invert().unwrap();
            assert_eq!(s.mul(&inv), Scalar([1, 0, 0, 0, 0, 0, 0, 0]), "{a:x?}");
        }
        assert!(Scalar([0; 8]).invert().is_none());
    }

    /// r and s outside [1, n-1] are refused before any arithmetic: a verifier that reduced
    /// them mod n would accept r + n (or s + n) for a valid (r, s).
    #[test]
    fn r_and_s_must_lie_in_one_to_n_minus_one() {
        let one = [1, 0, 0, 0, 0, 0, 0, 0];
        let n_minus_1 = u256::sbb(&N, &one).0;
        let n_plus_1 = u256::adc(&N, &one).0;
        assert!(Scalar::from_be_bytes_nonzero(&to_be(&n_minus_1)).is_some());
        assert!(Scalar::from_be_bytes_nonzero(&to_be(&one)).is_some());
        for bad in [[0u32; 8], N, n_plus_1, [u32::MAX; 8]] {
            assert!(
                Scalar::from_be_bytes_nonzero(&to_be(&bad)).is_none(),
                "{bad:x?}"
            );
        }
        // r + n for a small r: still below 2^256, and refused.
        let small_plus_n = u256::adc(&N, &[5, 0, 0, 0, 0, 0, 0, 0]).0;
        assert!(Scalar::from_be_bytes_nonzero(&to_be(&small_plus_n)).is_none());
    }
}
