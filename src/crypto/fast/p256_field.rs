//! Arithmetic in GF(p), p = 2^256 - 2^224 + 2^192 + 2^96 - 1 (the P-256 base field).
//!
//! Elements are 9 limbs of 29 bits (radix 2^29, little-endian) in Montgomery form with R = 2^261,
//! kept in [0, 2p) rather than fully reduced: R is 2^5 times larger than p, so a Montgomery product
//! of two values < 2p is already < p + 2^253 < 2p and needs no final subtraction (the product is
//! most of a verify's time). Only comparisons reduce: `is_zero` and `==` look at the value mod p.
//!
//! Why 29-bit limbs: wasm32 has a native 64-bit multiply but no 64x64->128 product. With 29-bit limbs
//! a product is < 2^58, so a whole column of the schoolbook product (at most 9 products) can be summed
//! in one 64-bit register with a single add per product, instead of splitting every product into
//! 32-bit halves as 32-bit limbs require. Why Montgomery: -p^-1 = 1 mod 2^29 (p = -1 mod 2^96), so the
//! reduction digit is just the column's low 29 bits, and adding digit * p only adds shifted copies of
//! the digit to four later columns (no multiplications), see `mont_mul`.

use super::lanes::{add, mul_high, mul_low, quad, splat, split};
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
/// 2p in radix 2^29: the bound of every element (sums and differences are brought back under it).
const P2: Limbs = [
    0x1fff_fffe,
    0x1fff_ffff,
    0x1fff_ffff,
    0x0000_03ff,
    0,
    0,
    0x0008_0000,
    0x1fc0_0000,
    0x01ff_ffff,
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

/// A field element in Montgomery form, in [0, 2p) with normalised limbs (each < 2^29).
///
/// Two values may stand for one element (x and x + p), so equality is by value mod p.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fe(pub(super) Limbs);

impl PartialEq for Fe {
    fn eq(&self, other: &Fe) -> bool {
        canonical(&self.0) == canonical(&other.0)
    }
}

impl Eq for Fe {}

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

    /// Whether this is zero (zero is its own Montgomery form; below 2p it is 0 or p).
    #[inline(always)]
    pub(super) fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0) || self.0 == P
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
        // The sum is < 4p < 2^258, so it fits the 261-bit limb range and carry is 0 here.
        if lt(&r, &P2) {
            Fe(r)
        } else {
            Fe(sub_raw(&r, &P2).0)
        }
    }

    /// self - other mod p.
    #[inline(always)]
    pub(super) fn sub(&self, other: &Fe) -> Fe {
        let (r, borrow) = sub_raw(&self.0, &other.0);
        if borrow {
            // r = a - b + 2^261 with a - b in (-2p, 0); adding 2p and dropping 2^261 gives
            // a - b + 2p, which is in (0, 2p).
            let mut out = [0u32; 9];
            let mut carry = 0u32;
            for ((o, &x), &y) in out.iter_mut().zip(&r).zip(&P2) {
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

/// Montgomery product a * b * 2^-261 mod p for a, b < 2p, in [0, 2p): (a b + M p) / 2^261 with
/// M < 2^261 is below (2p)^2 / 2^261 + p < 2^253 + p.
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
    let [b0, b1, b2, b3, b4, b5, b6, b7, b8] = *b;
    let even = [
        quad(b0, b1, b2, b3),
        quad(b4, b5, b6, b7),
        quad(b8, 0, 0, 0),
    ];
    let odd = [
        quad(0, b0, b1, b2),
        quad(b3, b4, b5, b6),
        quad(b7, b8, 0, 0),
    ];
    let x = splat(a[0]);
    let mut p0 = mul_low(x, even[0]);
    let mut p1 = mul_high(x, even[0]);
    let mut p2 = mul_low(x, even[1]);
    let mut p3 = mul_high(x, even[1]);
    let mut p4 = mul_low(x, even[2]);
    let x = splat(a[1]);
    p0 = add(p0, mul_low(x, odd[0]));
    p1 = add(p1, mul_high(x, odd[0]));
    p2 = add(p2, mul_low(x, odd[1]));
    p3 = add(p3, mul_high(x, odd[1]));
    p4 = add(p4, mul_low(x, odd[2]));
    let x = splat(a[2]);
    p1 = add(p1, mul_low(x, even[0]));
    p2 = add(p2, mul_high(x, even[0]));
    p3 = add(p3, mul_low(x, even[1]));
    p4 = add(p4, mul_high(x, even[1]));
    let mut p5 = mul_low(x, even[2]);
    let x = splat(a[3]);
    p1 = add(p1, mul_low(x, odd[0]));
    p2 = add(p2, mul_high(x, odd[0]));
    p3 = add(p3, mul_low(x, odd[1]));
    p4 = add(p4, mul_high(x, odd[1]));
    p5 = add(p5, mul_low(x, odd[2]));
    let x = splat(a[4]);
    p2 = add(p2, mul_low(x, even[0]));
    p3 = add(p3, mul_high(x, even[0]));
    p4 = add(p4, mul_low(x, even[1]));
    p5 = add(p5, mul_high(x, even[1]));
    let mut p6 = mul_low(x, even[2]);
    let x = splat(a[5]);
    p2 = add(p2, mul_low(x, odd[0]));
    p3 = add(p3, mul_high(x, odd[0]));
    p4 = add(p4, mul_low(x, odd[1]));
    p5 = add(p5, mul_high(x, odd[1]));
    p6 = add(p6, mul_low(x, odd[2]));
    let x = splat(a[6]);
    p3 = add(p3, mul_low(x, even[0]));
    p4 = add(p4, mul_high(x, even[0]));
    p5 = add(p5, mul_low(x, even[1]));
    p6 = add(p6, mul_high(x, even[1]));
    let mut p7 = mul_low(x, even[2]);
    let x = splat(a[7]);
    p3 = add(p3, mul_low(x, odd[0]));
    p4 = add(p4, mul_high(x, odd[0]));
    p5 = add(p5, mul_low(x, odd[1]));
    p6 = add(p6, mul_high(x, odd[1]));
    p7 = add(p7, mul_low(x, odd[2]));
    let x = splat(a[8]);
    p4 = add(p4, mul_low(x, even[0]));
    p5 = add(p5, mul_high(x, even[0]));
    p6 = add(p6, mul_low(x, even[1]));
    p7 = add(p7, mul_high(x, even[1]));
    let p8 = mul_low(x, even[2]);
    // Each column is at most 9 products < 2^58: below 2^62, so the sums fit an i64.
    let (c0, c1) = split(p0);
    let (c2, c3) = split(p1);
    let (c4, c5) = split(p2);
    let (c6, c7) = split(p3);
    let (c8, c9) = split(p4);
    let (c10, c11) = split(p5);
    let (c12, c13) = split(p6);
    let (c14, c15) = split(p7);
    let (c16, c17) = split(p8);
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, _] = [
        c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17,
    ]
    .map(|c| c as i64);
    // column 0
    let s = c0;
    let m0 = s & MASK;
    let mut carry = s >> 29;
    // column 1
    let s = carry + c1;
    let m1 = s & MASK;
    carry = s >> 29;
    // column 2
    let s = carry + c2;
    let m2 = s & MASK;
    carry = s >> 29;
    // column 3
    let s = carry + c3 + (m0 << 9);
    let m3 = s & MASK;
    carry = s >> 29;
    // column 4
    let s = carry + c4 + (m1 << 9);
    let m4 = s & MASK;
    carry = s >> 29;
    // column 5
    let s = carry + c5 + (m2 << 9);
    let m5 = s & MASK;
    carry = s >> 29;
    // column 6
    let s = carry + c6 + (m3 << 9) + (m0 << 18);
    let m6 = s & MASK;
    carry = s >> 29;
    // column 7
    let s = carry + c7 + (m4 << 9) + (m1 << 18) - (m0 << 21);
    let m7 = s & MASK;
    carry = s >> 29;
    // column 8
    let s = carry + c8 + (m5 << 9) + (m2 << 18) - (m1 << 21) + (m0 << 24);
    let m8 = s & MASK;
    carry = s >> 29;
    // column 9
    let s = carry + c9 + (m6 << 9) + (m3 << 18) - (m2 << 21) + (m1 << 24);
    let r0 = (s & MASK) as u32;
    carry = s >> 29;
    // column 10
    let s = carry + c10 + (m7 << 9) + (m4 << 18) - (m3 << 21) + (m2 << 24);
    let r1 = (s & MASK) as u32;
    carry = s >> 29;
    // column 11
    let s = carry + c11 + (m8 << 9) + (m5 << 18) - (m4 << 21) + (m3 << 24);
    let r2 = (s & MASK) as u32;
    carry = s >> 29;
    // column 12
    let s = carry + c12 + (m6 << 18) - (m5 << 21) + (m4 << 24);
    let r3 = (s & MASK) as u32;
    carry = s >> 29;
    // column 13
    let s = carry + c13 + (m7 << 18) - (m6 << 21) + (m5 << 24);
    let r4 = (s & MASK) as u32;
    carry = s >> 29;
    // column 14
    let s = carry + c14 + (m8 << 18) - (m7 << 21) + (m6 << 24);
    let r5 = (s & MASK) as u32;
    carry = s >> 29;
    // column 15
    let s = carry + c15 - (m8 << 21) + (m7 << 24);
    let r6 = (s & MASK) as u32;
    carry = s >> 29;
    // column 16
    let s = carry + c16 + (m8 << 24);
    let r7 = (s & MASK) as u32;
    carry = s >> 29;
    // column 17 holds only the carry: the top limb of a result < p + 2^253 < 2^257.
    [r0, r1, r2, r3, r4, r5, r6, r7, carry as u32]
    // GENERATED END mont_mul
}

/// Montgomery square a^2 * 2^-261 mod p (a < 2p), in [0, 2p): as `mont_mul`, but each cross product a_i*a_j
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
    // column 17 holds only the carry: the top limb of a result < p + 2^253 < 2^257.
    [r0, r1, r2, r3, r4, r5, r6, r7, carry as u32]
    // GENERATED END mont_sqr
}

/// The value mod p of an element in [0, 2p): one conditional subtraction.
#[inline(always)]
fn canonical(a: &Limbs) -> Limbs {
    if lt(a, &P) {
        *a
    } else {
        sub_raw(a, &P).0
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

    /// Out of Montgomery form, fully reduced.
    fn plain(a: &Fe) -> Limbs {
        canonical(&mont_mul(&a.0, &[1, 0, 0, 0, 0, 0, 0, 0, 0]))
    }

    /// The other representative of a's element below 2p (a + p), when there is one.
    fn plus_p(a: &Fe) -> Option<Fe> {
        let mut r = [0u32; 9];
        let mut carry = 0u32;
        for ((ri, &x), &y) in r.iter_mut().zip(&a.0).zip(&P) {
            let v = x + y + carry;
            *ri = v & MASK as u32;
            carry = v >> 29;
        }
        lt(&r, &P2).then_some(Fe(r))
    }

    /// In range: below 2p, every limb below 2^29.
    fn in_range(a: &Fe) -> bool {
        lt(&a.0, &P2) && a.0.iter().all(|&l| l < 1 << 29)
    }

    #[test]
    fn two_p_is_twice_p() {
        let (sum, carry) = u256::adc(&P_U256, &P_U256);
        assert_eq!(carry, 1);
        // 2p = 2^256 + sum: in radix 2^29 the top limb holds bit 256 (bit 24 of limb 8).
        let mut expect = to_radix29(&sum);
        expect[8] += 1 << 24;
        assert_eq!(P2, expect);
    }

    /// Elements are kept below 2p, not below p: both representatives of an element must give the
    /// same results, and every result must stay in range, also from the top of the range.
    #[test]
    fn both_representatives_agree_and_stay_in_range() {
        let s = samples();
        let top: Vec<(Fe, Fe)> = s.iter().filter_map(|a| Some((*a, plus_p(a)?))).collect();
        assert!(
            top.len() > 20,
            "too few samples have a second representative"
        );
        // The largest value in range, 2p - 1, is the representative of p - 1.
        let two_p_minus_1 = Fe(sub_raw(&P2, &[1, 0, 0, 0, 0, 0, 0, 0, 0]).0);
        assert!(in_range(&two_p_minus_1));
        assert_eq!(
            two_p_minus_1,
            Fe(sub_raw(&P, &[1, 0, 0, 0, 0, 0, 0, 0, 0]).0)
        );
        assert!(Fe(P).is_zero());
        assert_eq!(Fe(P), Fe::ZERO);
        for (a, alt) in top.iter().chain(
            [(
                Fe(sub_raw(&P, &[1, 0, 0, 0, 0, 0, 0, 0, 0]).0),
                two_p_minus_1,
            )]
            .iter(),
        ) {
            assert_eq!(a, alt);
            assert_eq!(a.is_zero(), alt.is_zero());
            for (b, balt) in top.iter().take(8) {
                for (x, y) in [(a, b), (alt, balt), (alt, b), (a, balt)] {
                    let results = [
                        x.mul(y),
                        x.add(y),
                        x.sub(y),
                        x.square(),
                        x.neg(),
                        x.double(),
                    ];
                    assert!(results.iter().all(in_range), "{x:?} {y:?}");
                    assert_eq!(plain(&x.mul(y)), plain(&a.mul(b)));
                    assert_eq!(plain(&x.add(y)), plain(&a.add(b)));
                    assert_eq!(plain(&x.sub(y)), plain(&a.sub(b)));
                    assert_eq!(plain(&x.square()), plain(&a.square()));
                }
            }
        }
    }

    #[test]
    fn field_identities() {
        let s = samples();
        for a in &s {
            assert!(in_range(a));
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
        assert_eq!(plain(&Fe::from_canonical(&raw)), to_radix29(&raw));
        // (p-1)^2 = 1.
        let m1 = Fe::ONE.neg();
        assert_eq!(m1.square(), Fe::ONE);
    }
}
