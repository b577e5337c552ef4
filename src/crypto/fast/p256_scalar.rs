//! Integers modulo the P-256 group order n. Only a handful of operations run per verification (one
//! inversion, two products), so the products stay simple: plain (non-Montgomery) representation and
//! a generic CIOS Montgomery product used twice per modular multiplication (~0.13 us each in V8).
//! The inversion, which a binary extended Euclid made the largest of these costs (~6 us on a random
//! s in V8), is Bernstein-Yang "safegcd" in its variable-time form (inputs are public): ~1.4 us.

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

    /// self^-1 mod n, or `None` for zero: [`inv_var`], Bernstein-Yang "safegcd" with variable-time
    /// batches of 30 divsteps on signed radix-2^30 limbs (i64 products, native in wasm).
    pub(super) fn invert(&self) -> Option<Scalar> {
        if u256::is_zero(&self.0) {
            return None;
        }
        Some(Scalar(inv_var(&self.0)))
    }
}

// Inversion: Bernstein and Yang, "Fast constant-time gcd computation and modular inversion" (2019),
// in the variable-time form with eta = -delta and several divsteps per loop turn. f and g are
// stored as 9 signed limbs of 30 bits (270 bits, so the intermediate values of up to 257 bits and
// their signs fit); a batch of 30 divsteps on the low 30 bits yields a 2x2 matrix T with entries of
// magnitude <= 2^30 such that T * [f, g] = 2^30 * [f', g']. The same matrix updates d and e, which
// keep d * a = f and e * a = g (mod n); a multiple of n is added to make their product divisible
// by 2^30, so they stay in (-2n, n) and no inverse of 2 is ever needed. The loop ends when g = 0;
// then f = +-1 and d = +-a^-1. All inputs are public, so the branches are harmless.

/// A signed integer as 9 limbs of 30 bits, least significant first: limbs 0..8 in [0, 2^30)
/// after each update and the top limb signed (its sign is the number's).
type S30 = [i32; 9];

/// A batch's transition matrix [[u, v], [q, r]].
struct Trans {
    u: i32,
    v: i32,
    q: i32,
    r: i32,
}

const M30: i32 = (1 << 30) - 1;

/// n in radix 2^30.
const N30: S30 = to_s30(&N);

/// n^-1 mod 2^30 (Newton's iteration x <- x (2 - n x) doubles the correct low bits; n x = 1 mod 8
/// holds for x = n).
const N_INV30: u32 = {
    let n0 = N[0];
    let mut x = n0;
    let mut i = 0;
    while i < 4 {
        x = x.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(x)));
        i += 1;
    }
    x & (M30 as u32)
};

/// INV256[i] = -(2i + 1)^-1 mod 256: lets one step cancel up to 8 low bits of g at once.
const INV256: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let f = 2 * i as u32 + 1;
        let mut x = f;
        let mut k = 0;
        while k < 3 {
            x = x.wrapping_mul(2u32.wrapping_sub(f.wrapping_mul(x)));
            k += 1;
        }
        t[i] = x.wrapping_neg() as u8;
        i += 1;
    }
    t
};

/// 32-bit limbs to radix 2^30 (a < 2^256, so the top limb gets the last 16 bits and is
/// non-negative).
const fn to_s30(a: &U256) -> S30 {
    let mut r = [0i32; 9];
    let mut k = 0;
    while k < 9 {
        let bit = 30 * k;
        let j = bit / 32;
        let lo = a[j] as u64;
        let hi = if j + 1 < 8 { a[j + 1] as u64 } else { 0 };
        r[k] = (((lo | (hi << 32)) >> (bit % 32)) as i32) & M30;
        k += 1;
    }
    r
}

/// Radix 2^30 with every limb in [0, 2^30) back to 32-bit limbs (bits from 256 up are dropped;
/// the caller's value is below n).
fn from_s30(a: &S30) -> U256 {
    let mut r = [0u32; 8];
    for (j, out) in r.iter_mut().enumerate() {
        let bit = 32 * j;
        let k = bit / 30;
        let lo = a.get(k).copied().unwrap_or(0) as u64;
        let hi = a.get(k + 1).copied().unwrap_or(0) as u64;
        *out = ((lo | (hi << 30)) >> (bit % 30)) as u32;
    }
    r
}

/// a^-1 mod n for 0 < a < n.
fn inv_var(a: &U256) -> U256 {
    let mut d: S30 = [0; 9];
    let mut e: S30 = [1, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut f = N30;
    let mut g = to_s30(a);
    // Limbs of f and g in use: both shrink by about 2 bits a divstep on average, and the top limb
    // is dropped once it is only the sign of the one below.
    let mut len = 9;
    // eta = -delta; delta starts at 1/2 in the paper's constant-time form, the variable-time form
    // starts at 1, i.e. eta = -1.
    let mut eta = -1i32;
    loop {
        let t;
        (eta, t) = divsteps_30_var(eta, f[0] as u32, g[0] as u32);
        update_de(&mut d, &mut e, &t);
        update_fg_var(len, &mut f, &mut g, &t);
        if g.iter().take(len).all(|&l| l == 0) {
            break;
        }
        let fn_ = f.get(len - 1).copied().unwrap_or(0);
        let gn = g.get(len - 1).copied().unwrap_or(0);
        // Both tops are 0 or -1: fold them into the limb below as its sign.
        if len > 1 && (fn_ ^ (fn_ >> 31)) == 0 && (gn ^ (gn >> 31)) == 0 {
            if let (Some(fl), Some(gl)) = (f.get_mut(len - 2), g.get_mut(len - 2)) {
                *fl |= fn_ << 30;
                *gl |= gn << 30;
            }
            len -= 1;
        }
    }
    // g = 0, so f = +-gcd(n, a) = +-1 and d * a = f.
    let sign = f.get(len - 1).copied().unwrap_or(0);
    from_s30(&normalize(d, sign))
}

/// Up to 30 divsteps on the low bits of f (odd) and g, in runs: all trailing zeros of g at once,
/// then (after the swap when eta < 0) one addition of a multiple of f that clears up to 8 more low
/// bits of g. Returns the new eta and the matrix.
fn divsteps_30_var(mut eta: i32, f0: u32, g0: u32) -> (i32, Trans) {
    let (mut u, mut v, mut q, mut r) = (1u32, 0u32, 0u32, 1u32);
    let (mut f, mut g) = (f0, g0);
    // -f^-1 mod 256, looked up again only when f changes (off the loop's dependency chain).
    let mut finv = u32::from(INV256[((f >> 1) & 127) as usize]);
    // Divsteps left in this batch, 1..=30 inside the loop.
    let mut i = 30u32;
    loop {
        // Bit i of the mask bounds the count at i <= 30.
        let zeros = (g | u32::MAX.wrapping_shl(i)).trailing_zeros();
        g = g.wrapping_shr(zeros);
        u = u.wrapping_shl(zeros);
        v = v.wrapping_shl(zeros);
        eta = eta.wrapping_sub(zeros as i32);
        i -= zeros;
        if i == 0 {
            break;
        }
        // g is odd now.
        if eta < 0 {
            eta = eta.wrapping_neg();
            (f, g) = (g, f.wrapping_neg());
            finv = u32::from(INV256[((f >> 1) & 127) as usize]);
            (u, q) = (q, u.wrapping_neg());
            (v, r) = (r, v.wrapping_neg());
        }
        // eta >= 0: the next min(eta + 1, i, 8) steps, with g odd each time, add f to g and halve;
        // adding w * f with w = -g / f mod 2^limit does them at once (the halvings follow at the
        // top of the loop).
        let limit = (eta as u32).wrapping_add(1).min(i);
        let m = u32::MAX.wrapping_shr(32 - limit) & 255;
        let w = g.wrapping_mul(finv) & m;
        g = g.wrapping_add(f.wrapping_mul(w));
        q = q.wrapping_add(u.wrapping_mul(w));
        r = r.wrapping_add(v.wrapping_mul(w));
    }
    (
        eta,
        Trans {
            u: u as i32,
            v: v as i32,
            q: q as i32,
            r: r as i32,
        },
    )
}

/// [d, e] <- (T [d, e] + n [md, me]) / 2^30 with md, me chosen to make the division exact and to
/// keep both in (-2n, n).
fn update_de(d: &mut S30, e: &mut S30, t: &Trans) {
    let (u, v, q, r) = (t.u as i64, t.v as i64, t.q as i64, t.r as i64);
    // Start with [u, q] if d < 0 and [v, r] if e < 0 (this keeps the result above -2n).
    let sd = d[8] >> 31;
    let se = e[8] >> 31;
    let mut md = (t.u & sd).wrapping_add(t.v & se);
    let mut me = (t.q & sd).wrapping_add(t.r & se);
    let (d0, e0) = (d[0] as i64, e[0] as i64);
    let mut cd = u * d0 + v * e0;
    let mut ce = q * d0 + r * e0;
    // Adjust md, me so that the low 30 bits of cd + n0 md and ce + n0 me are zero.
    md = md.wrapping_sub(
        (N_INV30.wrapping_mul(cd as u32).wrapping_add(md as u32) & M30 as u32) as i32,
    );
    me = me.wrapping_sub(
        (N_INV30.wrapping_mul(ce as u32).wrapping_add(me as u32) & M30 as u32) as i32,
    );
    let (md, me) = (md as i64, me as i64);
    cd += N30[0] as i64 * md;
    ce += N30[0] as i64 * me;
    cd >>= 30;
    ce >>= 30;
    for i in 1..9 {
        let (di, ei, ni) = (d[i] as i64, e[i] as i64, N30[i] as i64);
        cd += u * di + v * ei + ni * md;
        ce += q * di + r * ei + ni * me;
        d[i - 1] = cd as i32 & M30;
        e[i - 1] = ce as i32 & M30;
        cd >>= 30;
        ce >>= 30;
    }
    d[8] = cd as i32;
    e[8] = ce as i32;
}

/// [f, g] <- T [f, g] / 2^30 (exact by construction of T) on the low `len` limbs (1..=9).
fn update_fg_var(len: usize, f: &mut S30, g: &mut S30, t: &Trans) {
    let len = len.clamp(1, 9);
    let (u, v, q, r) = (t.u as i64, t.v as i64, t.q as i64, t.r as i64);
    let (f0, g0) = (f[0] as i64, g[0] as i64);
    let mut cf = (u * f0 + v * g0) >> 30;
    let mut cg = (q * f0 + r * g0) >> 30;
    for i in 1..len {
        let (fi, gi) = (f[i] as i64, g[i] as i64);
        cf += u * fi + v * gi;
        cg += q * fi + r * gi;
        f[i - 1] = cf as i32 & M30;
        g[i - 1] = cg as i32 & M30;
        cf >>= 30;
        cg >>= 30;
    }
    // `get_mut`: the compiler does not carry len >= 1 this far, and a dead bounds check would
    // be a panic path.
    if let (Some(ft), Some(gt)) = (
        f.get_mut(len.wrapping_sub(1)),
        g.get_mut(len.wrapping_sub(1)),
    ) {
        *ft = cf as i32;
        *gt = cg as i32;
    }
}

/// d in (-2n, n) times the sign of `sign`, reduced to [0, n) with every limb in [0, 2^30).
fn normalize(mut d: S30, sign: i32) -> S30 {
    if d[8] < 0 {
        add_n(&mut d);
    }
    if sign < 0 {
        for l in d.iter_mut() {
            *l = l.wrapping_neg();
        }
    }
    carry(&mut d);
    if d[8] < 0 {
        add_n(&mut d);
        carry(&mut d);
    }
    d
}

fn add_n(d: &mut S30) {
    for (l, &n) in d.iter_mut().zip(N30.iter()) {
        *l = l.wrapping_add(n);
    }
}

/// Brings limbs 0..8 to [0, 2^30), moving the excess (signed) up to the top limb.
fn carry(d: &mut S30) {
    for i in 0..8 {
        let c = d[i] >> 30;
        d[i] &= M30;
        d[i + 1] = d[i + 1].wrapping_add(c);
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

    /// The binary extended Euclid this module used before safegcd, kept as a reference: slow
    /// and plain, on the crate's 32-bit-limb helpers (u256).
    fn invert_binary(a: &U256) -> U256 {
        fn shr1(a: &U256, top: u32) -> U256 {
            core::array::from_fn(|i| (a[i] >> 1) | (a.get(i + 1).copied().unwrap_or(top) << 31))
        }
        // x / 2 mod n: x, or x + n when x is odd, halved (with the carry as the top bit).
        fn half(x: &U256) -> U256 {
            if x[0] & 1 == 0 {
                shr1(x, 0)
            } else {
                let (s, c) = u256::adc(x, &N);
                shr1(&s, c)
            }
        }
        fn sub_mod(a: &U256, b: &U256) -> U256 {
            let (r, borrow) = u256::sbb(a, b);
            if borrow == 1 {
                u256::adc(&r, &N).0
            } else {
                r
            }
        }
        let one: U256 = [1, 0, 0, 0, 0, 0, 0, 0];
        let (mut u, mut v, mut x1, mut x2) = (*a, N, one, [0u32; 8]);
        while u != one && v != one {
            while u[0] & 1 == 0 {
                u = shr1(&u, 0);
                x1 = half(&x1);
            }
            while v[0] & 1 == 0 {
                v = shr1(&v, 0);
                x2 = half(&x2);
            }
            if u256::lt(&u, &v) {
                v = u256::sbb(&v, &u).0;
                x2 = sub_mod(&x2, &x1);
            } else {
                u = u256::sbb(&u, &v).0;
                x1 = sub_mod(&x1, &x2);
            }
        }
        if u == one {
            x1
        } else {
            x2
        }
    }

    /// a^(n-2) mod n (Fermat), by square-and-multiply with `Scalar::mul`.
    fn invert_fermat(a: &Scalar) -> Scalar {
        let e = u256::sbb(&N, &[2, 0, 0, 0, 0, 0, 0, 0]).0;
        let mut acc = Scalar([1, 0, 0, 0, 0, 0, 0, 0]);
        for i in (0..256).rev() {
            acc = acc.mul(&acc);
            if u256::bits(&e, i, 1) == 1 {
                acc = acc.mul(a);
            }
        }
        acc
    }

    /// Edge inputs: 1, 2, n-1, n-2, powers of two, long runs of zero or one bits, values next to
    /// the 30-bit limb boundaries, and values with few high bits (short f/g early on).
    fn edge_inputs() -> Vec<U256> {
        let one = [1, 0, 0, 0, 0, 0, 0, 0];
        let mut v = vec![
            one,
            [2, 0, 0, 0, 0, 0, 0, 0],
            [3, 0, 0, 0, 0, 0, 0, 0],
            u256::sbb(&N, &one).0,
            u256::sbb(&N, &[2, 0, 0, 0, 0, 0, 0, 0]).0,
            // (n - 1) / 2 and (n + 1) / 2.
            from_s30(&{
                let mut h = N30;
                for i in 0..8 {
                    h[i] = (h[i] >> 1) | ((h[i + 1] & 1) << 29);
                }
                h[8] >>= 1;
                h
            }),
            [u32::MAX, u32::MAX, u32::MAX, u32::MAX, 0, 0, 0, 0],
            [0, 0, 0, 0, u32::MAX, u32::MAX, u32::MAX, 0],
            [
                u32::MAX,
                u32::MAX,
                u32::MAX,
                u32::MAX,
                u32::MAX,
                u32::MAX,
                u32::MAX,
                0,
            ],
            [
                0xffff_ffff,
                0,
                0xffff_ffff,
                0,
                0xffff_ffff,
                0,
                0xffff_ffff,
                0,
            ],
            [0x5555_5555; 8],
            [
                0xaaaa_aaaa,
                0xaaaa_aaaa,
                0xaaaa_aaaa,
                0xaaaa_aaaa,
                0,
                0,
                0,
                0x7fff_ffff,
            ],
        ];
        for bit in 0..256 {
            let mut p = [0u32; 8];
            p[bit / 32] = 1 << (bit % 32);
            v.push(p);
            // 2^bit - 1 (a run of ones) and 2^bit + 1 (a run of zeros between two ones).
            let ones = u256::sbb(&p, &one).0;
            v.push(ones);
            v.push(u256::adc(&p, &one).0);
            // n - 2^bit.
            v.push(u256::sbb(&N, &p).0);
        }
        // 2^(30k) +- 1 near the radix-2^30 limb boundaries.
        for k in 1..9 {
            let s = to_s30(&[0; 8]);
            let mut p = s;
            p[k] = 1;
            let p = from_s30(&p);
            v.push(u256::sbb(&p, &one).0);
            v.push(u256::adc(&p, &one).0);
        }
        v.into_iter()
            .map(|a| {
                if u256::lt(&a, &N) {
                    a
                } else {
                    u256::sbb(&a, &N).0
                }
            })
            .filter(|a| !u256::is_zero(a))
            .collect()
    }

    fn random_inputs(count: usize, mut x: u64) -> Vec<U256> {
        (0..count)
            .map(|i| {
                let mut a = [0u32; 8];
                for l in a.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *l = x as u32;
                }
                // Vary the length: some inputs are much shorter than n.
                let top = (x >> 40) as usize % 8;
                if i % 3 == 0 {
                    for l in a.iter_mut().skip(top + 1) {
                        *l = 0;
                    }
                }
                a
            })
            .map(|a| Scalar::from_hash(&to_be(&a)).0)
            .filter(|a| !u256::is_zero(a))
            .collect()
    }

    /// safegcd against the former binary extended Euclid, on edge and many random inputs.
    #[test]
    fn inverse_matches_binary_euclid() {
        let mut inputs = edge_inputs();
        inputs.extend(random_inputs(3000, 0x9e37_79b9_7f4a_7c15));
        for a in inputs {
            assert_eq!(inv_var(&a), invert_binary(&a), "{a:x?}");
        }
    }

    /// safegcd against Fermat's a^(n-2), independent of any gcd code.
    #[test]
    fn inverse_matches_fermat() {
        let mut inputs = edge_inputs();
        inputs.extend(random_inputs(200, 0x0123_4567_89ab_cdef));
        for a in inputs {
            let s = Scalar(a);
            assert_eq!(s.invert(), Some(invert_fermat(&s)), "{a:x?}");
        }
    }

    #[test]
    fn radix_2_30_round_trips() {
        for a in edge_inputs().into_iter().chain(random_inputs(100, 7)) {
            assert_eq!(from_s30(&to_s30(&a)), a);
        }
        assert_eq!(N_INV30.wrapping_mul(N[0]) & M30 as u32, 1);
        for (i, &inv) in INV256.iter().enumerate() {
            assert_eq!((2 * i as u32 + 1).wrapping_mul(u32::from(inv)) & 255, 255);
        }
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
