//! Arithmetic in GF(p), p = 2^256 - 2^224 + 2^192 + 2^96 - 1 (the P-256 base field).
//!
//! Elements are 9 limbs of 29 bits (radix 2^29, little-endian) in Montgomery form with R = 2^261,
//! always fully reduced (< p) so equality of field elements is plain limb equality.
//!
//! Why 29-bit limbs: wasm32 has a native 64-bit multiply but no 64x64->128 product. With 29-bit limbs
//! a product is < 2^58, so a whole column of the schoolbook product (at most 9 products) can be summed
//! in one 64-bit register with a single add per product, instead of splitting every product into
//! 32-bit halves as 32-bit limbs require. Why Montgomery: -p^-1 = 1 mod 2^29 (p = -1 mod 2^96), so the
//! reduction digit is just the column's low 29 bits, and adding digit * p only adds shifted copies of
//! the digit to four later columns (no multiplications), see `mont_mul`.

use super::u256::{self, U256};

/// Radix-2^29 limbs.
type Limbs = [u32; 9];

/// Low 29 bits.
const MASK: i64 = (1 << 29) - 1;

/// p in radix 2^29.
const P: Limbs = [
    0x1fff_ffff,
    0x1fff_ffff,
    0x1fff_ffff,
    0x0000_01ff,
    0,
    0,
    0x0004_0000,
    0x1fe0_0000,
    0x00ff_ffff,
];
/// p as 8 x 32-bit limbs, to range-check parsed coordinates.
const P_U256: U256 = [
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0,
    0,
    1,
    0xffff_ffff,
];
/// R^2 mod p = 2^522 mod p, converts into Montgomery form.
const R2: Limbs = [
    0x0000_0c00,
    0,
    0x1fff_0000,
    0x1fdf_ffff,
    0x1fbf_ffff,
    0x1fff_ffff,
    0x1fff_ffff,
    0x1fff_fffe,
    0x0000_0013,
];
/// p - 2, the Fermat inversion exponent.
const P_MINUS_2: U256 = [
    0xffff_fffd,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0,
    0,
    1,
    0xffff_ffff,
];

/// A field element in Montgomery form, fully reduced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Fe(pub(super) Limbs);

impl Fe {
    /// Zero.
    pub(super) const ZERO: Fe = Fe([0; 9]);
    /// One, in Montgomery form (2^261 mod p).
    pub(super) const ONE: Fe = Fe([
        0x0000_0020,
        0,
        0,
        0x1fff_c000,
        0x1fff_ffff,
        0x1fff_ffff,
        0x1f7f_ffff,
        0x03ff_ffff,
        0,
    ]);

    /// Parses a canonical big-endian encoding; `None` if the value is >= p.
    pub(super) fn from_be_bytes(b: &[u8; 32]) -> Option<Fe> {
        let a = u256::from_be_bytes(b);
        if !u256::lt(&a, &P_U256) {
            return None;
        }
        Some(Fe::from_canonical(&a))
    }

    /// Converts an integer already known to be < p into Montgomery form.
    pub(super) fn from_canonical(a: &U256) -> Fe {
        Fe(mont_mul(&to_radix29(a), &R2))
    }

    /// Whether this is zero (zero is its own Montgomery form).
    #[inline(always)]
    pub(super) fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }

    /// self + other mod p.
    #[inline(always)]
    pub(super) fn add(&self, other: &Fe) -> Fe {
        let mut r = [0u32; 9];
        let mut carry = 0u32;
        for ((ri, &x), &y) in r.iter_mut().zip(&self.0).zip(&other.0) {
            let v = x + y + carry;
            *ri = v & MASK as u32;
            carry = v >> 29;
        }
        // The sum is < 2p < 2^257, so it fits the 261-bit limb range and carry is 0 here.
        if lt(&r, &P) {
            Fe(r)
        } else {
            Fe(sub_raw(&r, &P).0)
        }
    }

    /// self - other mod p.
    #[inline(always)]
    pub(super) fn sub(&self, other: &Fe) -> Fe {
        let (r, borrow) = sub_raw(&self.0, &other.0);
        if borrow {
            // r = a - b + 2^261; adding p and dropping 2^261 gives a - b + p, which is in [0, p).
            let mut out = [0u32; 9];
            let mut carry = 0u32;
            for ((o, &x), &y) in out.iter_mut().zip(&r).zip(&P) {
                let v = x + y + carry;
                *o = v & MASK as u32;
                carry = v >> 29;
            }
            Fe(out)
        } else {
            Fe(r)
        }
    }

    /// 2 * self mod p.
    #[inline(always)]
    pub(super) fn double(&self) -> Fe {
        self.add(self)
    }

    /// -self mod p.
    #[inline(always)]
    pub(super) fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    /// self * other mod p (Montgomery product).
    #[inline(always)]
    pub(super) fn mul(&self, other: &Fe) -> Fe {
        Fe(mont_mul(&self.0, &other.0))
    }

    /// self^2 mod p.
    #[inline(always)]
    pub(super) fn square(&self) -> Fe {
        Fe(mont_sqr(&self.0))
    }

    /// self^-1 mod p via Fermat (self^(p-2)); zero maps to zero. Only used when precomputing tables,
    /// where a single inversion is amortised over a whole batch, so simplicity beats speed here.
    pub(super) fn invert(&self) -> Fe {
        let mut acc = Fe::ONE;
        for i in (0..256).rev() {
            acc = acc.square();
            if u256::bits(&P_MINUS_2, i, 1) == 1 {
                acc = acc.mul(self);
            }
        }
        acc
    }
}

/// 8 x 32-bit limbs to 9 x 29-bit limbs.
fn to_radix29(a: &U256) -> Limbs {
    let mut r = [0u32; 9];
    for (i, limb) in r.iter_mut().enumerate() {
        let pos = 29 * i;
        let lo = a.get(pos / 32).copied().unwrap_or(0) as u64;
        let hi = a.get(pos / 32 + 1).copied().unwrap_or(0) as u64;
        *limb = (((lo | (hi << 32)) >> (pos % 32)) & MASK as u64) as u32;
    }
    r
}

/// a < b for normalised limbs.
#[inline(always)]
fn lt(a: &Limbs, b: &Limbs) -> bool {
    for i in (0..9).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// a - b over normalised limbs, modulo 2^261, with the borrow out.
#[inline(always)]
fn sub_raw(a: &Limbs, b: &Limbs) -> (Limbs, bool) {
    let mut r = [0u32; 9];
    let mut borrow = 0u32;
    for ((ri, &x), &y) in r.iter_mut().zip(a).zip(b) {
        let v = x.wrapping_sub(y).wrapping_sub(borrow);
        *ri = v & MASK as u32;
        // Bit 31 is set exactly when the limb difference went negative (|v| < 2^30).
        borrow = v >> 31;
    }
    (r, borrow != 0)
}

/// Montgomery product a * b * 2^-261 mod p (a, b < p), fully reduced.
///
/// Product scanning: column k sums a_i * b_(k-i) (each < 2^58, at most 9 of them) in a signed 64-bit
/// register, plus the reduction terms. The digit m_k is the low 29 bits of column k (as -p^-1 = 1 mod
/// 2^29); adding m_k * p * 2^(29k) clears them and, because
/// m*p = m*2^256 - m*2^224 + m*2^192 + m*2^96 - m and 256 = 29*8 + 24, 224 = 29*7 + 21,
/// 192 = 29*6 + 18, 96 = 29*3 + 9, adds m_k << 24 to column k+8, -(m_k << 21) to k+7, m_k << 18 to
/// k+6 and m_k << 9 to k+3. The body is straight-line code generated by tools/gen_p256_mul.py so no
/// loop bookkeeping or bounds checks remain: this function dominates verification time. It is kept
/// out of line on purpose: inlining it into every caller made the wasm code slower under V8.
#[inline(never)]
fn mont_mul(a: &Limbs, b: &Limbs) -> Limbs {
    // GENERATED BEGIN mont_mul
    let [a0, a1, a2, a3, a4, a5, a6, a7, a8] = a.map(i64::from);
    let [b0, b1, b2, b3, b4, b5, b6, b7, b8] = b.map(i64::from);
    // column 0
    let s = a0 * b0;
    let m0 = s & MASK;
    let mut carry = s >> 29;
    // column 1
    let s = carry + a0 * b1 + a1 * b0;
    let m1 = s & MASK;
    carry = s >> 29;
    // column 2
    let s = carry + a0 * b2 + a1 * b1 + a2 * b0;
    let m2 = s & MASK;
    carry = s >> 29;
    // column 3
    let s = carry + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0 + (m0 << 9);
    let m3 = s & MASK;
    carry = s >> 29;
    // column 4
    let s = carry + a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0 + (m1 << 9);
    let m4 = s & MASK;
    carry = s >> 29;
    // column 5
    let s = carry + a0 * b5 + a1 * b4 + a2 * b3 + a3 * b2 + a4 * b1 + a5 * b0 + (m2 << 9);
    let m5 = s & MASK;
    carry = s >> 29;
    // column 6
    let s = carry
        + a0 * b6
        + a1 * b5
        + a2 * b4
        + a3 * b3
        + a4 * b2
        + a5 * b1
        + a6 * b0
        + (m3 << 9)
        + (m0 << 18);
    let m6 = s & MASK;
    carry = s >> 29;
    // column 7
    let s = carry
        + a0 * b7
        + a1 * b6
        + a2 * b5
        + a3 * b4
        + a4 * b3
        + a5 * b2
        + a6 * b1
        + a7 * b0
        + (m4 << 9)
        + (m1 << 18)
        - (m0 << 21);
    let m7 = s & MASK;
    carry = s >> 29;
    // column 8
    let s = carry
        + a0 * b8
        + a1 * b7
        + a2 * b6
        + a3 * b5
        + a4 * b4
        + a5 * b3
        + a6 * b2
        + a7 * b1
        + a8 * b0
        + (m5 << 9)
        + (m2 << 18)
        - (m1 << 21)
        + (m0 << 24);
    let m8 = s & MASK;
    carry = s >> 29;
    // column 9
    let s = carry
        + a1 * b8
        + a2 * b7
        + a3 * b6
        + a4 * b5
        + a5 * b4
        + a6 * b3
        + a7 * b2
        + a8 * b1
        + (m6 << 9)
        + (m3 << 18)
        - (m2 << 21)
        + (m1 << 24);
    let r0 = (s & MASK) as u32;
    carry = s >> 29;
    // column 10
    let s = carry
        + a2 * b8
        + a3 * b7
        + a4 * b6
        + a5 * b5
        + a6 * b4
        + a7 * b3
        + a8 * b2
        + (m7 << 9)
        + (m4 << 18)
        - (m3 << 21)
        + (m2 << 24);
    let r1 = (s & MASK) as u32;
    carry = s >> 29;
    // column 11
    let s =
        carry + a3 * b8 + a4 * b7 + a5 * b6 + a6 * b5 + a7 * b4 + a8 * b3 + (m8 << 9) + (m5 << 18)
            - (m4 << 21)
            + (m3 << 24);
    let r2 = (s & MASK) as u32;
    carry = s >> 29;
    // column 12
    let s = carry + a4 * b8 + a5 * b7 + a6 * b6 + a7 * b5 + a8 * b4 + (m6 << 18) - (m5 << 21)
        + (m4 << 24);
    let r3 = (s & MASK) as u32;
    carry = s >> 29;
    // column 13
    let s = carry + a5 * b8 + a6 * b7 + a7 * b6 + a8 * b5 + (m7 << 18) - (m6 << 21) + (m5 << 24);
    let r4 = (s & MASK) as u32;
    carry = s >> 29;
    // column 14
    let s = carry + a6 * b8 + a7 * b7 + a8 * b6 + (m8 << 18) - (m7 << 21) + (m6 << 24);
    let r5 = (s & MASK) as u32;
    carry = s >> 29;
    // column 15
    let s = carry + a7 * b8 + a8 * b7 - (m8 << 21) + (m7 << 24);
    let r6 = (s & MASK) as u32;
    carry = s >> 29;
    // column 16
    let s = carry + a8 * b8 + (m8 << 24);
    let r7 = (s & MASK) as u32;
    carry = s >> 29;
    // column 17 holds only the carry: the top limb of a result < 2p < 2^257.
    final_subtract([r0, r1, r2, r3, r4, r5, r6, r7, carry as u32])
    // GENERATED END mont_mul
}

/// Montgomery square a^2 * 2^-261 mod p (a < p): as `mont_mul`, but each cross product a_i*a_j
/// (i < j) is computed once, as (2 a_i) * a_j (45 multiplications instead of 81).
#[inline(never)]
fn mont_sqr(a: &Limbs) -> Limbs {
    // GENERATED BEGIN mont_sqr
    let [a0, a1, a2, a3, a4, a5, a6, a7, a8] = a.map(i64::from);
    // Doubled limbs (< 2^30) so each cross product is computed once.
    let [d0, d1, d2, d3, d4, d5, d6, d7, _] = a.map(|x| 2 * i64::from(x));
    // column 0
    let s = a0 * a0;
    let m0 = s & MASK;
    let mut carry = s >> 29;
    // column 1
    let s = carry + d0 * a1;
    let m1 = s & MASK;
    carry = s >> 29;
    // column 2
    let s = carry + d0 * a2 + a1 * a1;
    let m2 = s & MASK;
    carry = s >> 29;
    // column 3
    let s = carry + d0 * a3 + d1 * a2 + (m0 << 9);
    let m3 = s & MASK;
    carry = s >> 29;
    // column 4
    let s = carry + d0 * a4 + d1 * a3 + a2 * a2 + (m1 << 9);
    let m4 = s & MASK;
    carry = s >> 29;
    // column 5
    let s = carry + d0 * a5 + d1 * a4 + d2 * a3 + (m2 << 9);
    let m5 = s & MASK;
    carry = s >> 29;
    // column 6
    let s = carry + d0 * a6 + d1 * a5 + d2 * a4 + a3 * a3 + (m3 << 9) + (m0 << 18);
    let m6 = s & MASK;
    carry = s >> 29;
    // column 7
    let s = carry + d0 * a7 + d1 * a6 + d2 * a5 + d3 * a4 + (m4 << 9) + (m1 << 18) - (m0 << 21);
    let m7 = s & MASK;
    carry = s >> 29;
    // column 8
    let s = carry + d0 * a8 + d1 * a7 + d2 * a6 + d3 * a5 + a4 * a4 + (m5 << 9) + (m2 << 18)
        - (m1 << 21)
        + (m0 << 24);
    let m8 = s & MASK;
    carry = s >> 29;
    // column 9
    let s = carry + d1 * a8 + d2 * a7 + d3 * a6 + d4 * a5 + (m6 << 9) + (m3 << 18) - (m2 << 21)
        + (m1 << 24);
    let r0 = (s & MASK) as u32;
    carry = s >> 29;
    // column 10
    let s = carry + d2 * a8 + d3 * a7 + d4 * a6 + a5 * a5 + (m7 << 9) + (m4 << 18) - (m3 << 21)
        + (m2 << 24);
    let r1 = (s & MASK) as u32;
    carry = s >> 29;
    // column 11
    let s = carry + d3 * a8 + d4 * a7 + d5 * a6 + (m8 << 9) + (m5 << 18) - (m4 << 21) + (m3 << 24);
    let r2 = (s & MASK) as u32;
    carry = s >> 29;
    // column 12
    let s = carry + d4 * a8 + d5 * a7 + a6 * a6 + (m6 << 18) - (m5 << 21) + (m4 << 24);
    let r3 = (s & MASK) as u32;
    carry = s >> 29;
    // column 13
    let s = carry + d5 * a8 + d6 * a7 + (m7 << 18) - (m6 << 21) + (m5 << 24);
    let r4 = (s & MASK) as u32;
    carry = s >> 29;
    // column 14
    let s = carry + d6 * a8 + a7 * a7 + (m8 << 18) - (m7 << 21) + (m6 << 24);
    let r5 = (s & MASK) as u32;
    carry = s >> 29;
    // column 15
    let s = carry + d7 * a8 - (m8 << 21) + (m7 << 24);
    let r6 = (s & MASK) as u32;
    carry = s >> 29;
    // column 16
    let s = carry + a8 * a8 + (m8 << 24);
    let r7 = (s & MASK) as u32;
    carry = s >> 29;
    // column 17 holds only the carry: the top limb of a result < 2p < 2^257.
    final_subtract([r0, r1, r2, r3, r4, r5, r6, r7, carry as u32])
    // GENERATED END mont_sqr
}

/// The Montgomery output is (T + M p) / 2^261 < 2p (nonnegative, normalised limbs); one conditional
/// subtraction makes it canonical.
#[inline(always)]
fn final_subtract(out: Limbs) -> Limbs {
    if lt(&out, &P) {
        out
    } else {
        sub_raw(&out, &P).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that stress carries and the final subtraction: 0, 1, 2, p-1, p-2, 2^255, 2^224, limbs of
    /// all ones below p, plus pseudo-random ones.
    fn samples() -> Vec<Fe> {
        let p = P_U256;
        let mut v: Vec<U256> = vec![
            [0; 8],
            [1, 0, 0, 0, 0, 0, 0, 0],
            [2, 0, 0, 0, 0, 0, 0, 0],
            u256::sbb(&p, &[1, 0, 0, 0, 0, 0, 0, 0]).0,
            u256::sbb(&p, &[2, 0, 0, 0, 0, 0, 0, 0]).0,
            [0, 0, 0, 0, 0, 0, 0, 0x8000_0000],
            [0, 0, 0, 0, 0, 0, 0, 1],
            [
                0xffff_ffff,
                0xffff_ffff,
                0xffff_ffff,
                0,
                0,
                0,
                0,
                0xffff_ffff,
            ],
            [0xffff_ffff; 7]
                .iter()
                .copied()
                .chain([0xffff_fffe])
                .collect::<Vec<_>>()
                .try_into()
                .unwrap(),
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..40 {
            let mut a = [0u32; 8];
            for l in a.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *l = x as u32;
            }
            if u256::lt(&a, &p) {
                v.push(a);
            }
        }
        v.iter().map(Fe::from_canonical).collect()
    }

    fn canonical(a: &Fe) -> Limbs {
        mont_mul(&a.0, &[1, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    #[test]
    fn field_identities() {
        let s = samples();
        for a in &s {
            assert!(lt(&a.0, &P));
            assert!(a.0.iter().all(|&l| l < 1 << 29));
            assert_eq!(a.square(), a.mul(a));
            assert_eq!(a.mul(&Fe::ONE), *a);
            assert_eq!(a.add(&a.neg()), Fe::ZERO);
            if !a.is_zero() {
                assert_eq!(a.mul(&a.invert()), Fe::ONE);
            }
            for b in &s {
                assert_eq!(a.mul(b), b.mul(a));
                assert_eq!(a.sub(b).add(b), *a);
                for c in s.iter().take(12) {
                    assert_eq!(a.mul(b).mul(c), a.mul(&b.mul(c)));
                    assert_eq!(a.mul(&b.add(c)), a.mul(b).add(&a.mul(c)));
                }
            }
        }
        // Montgomery round trip.
        let raw = [5u32, 6, 7, 8, 9, 10, 11, 12];
        assert_eq!(canonical(&Fe::from_canonical(&raw)), to_radix29(&raw));
        // (p-1)^2 = 1.
        let m1 = Fe::ONE.neg();
        assert_eq!(m1.square(), Fe::ONE);
    }
}
