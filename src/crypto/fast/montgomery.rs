//! Variable-width Montgomery arithmetic for odd moduli (RSA).
//!
//! Limbs are unsaturated: each `u32` holds `w` bits (28, or 26 for moduli past ~3,500 bits), so a
//! column of the product can add every one of its 64-bit partial products without propagating a
//! carry per product. That makes each column a plain dot product (product scanning with the
//! reduction folded in, "FIPS"), which is short independent multiply-adds on any CPU and which
//! LLVM turns into `i64x2.extmul_*_i32x4_u` when the build enables wasm's `simd128`; the scalar
//! build runs the same code. The saturated CIOS loop this replaces carried two serial carry
//! chains through every product.
//!
//! Values stay lazily reduced below 2n between operations (R > 4n), and are fully reduced only
//! when leaving Montgomery form.

/// Converts big-endian bytes to `len` little-endian limbs of `w` bits; `None` if the value needs
/// more limbs.
fn radix_from_be(bytes: &[u8], w: u32, len: usize) -> Option<Vec<u32>> {
    let mask = (1u64 << w) - 1;
    let mut out = vec![0u32; len];
    let mut limbs = out.iter_mut();
    let mut acc = 0u64;
    let mut have = 0u32;
    for &b in bytes.iter().rev() {
        acc |= u64::from(b) << have;
        have += 8;
        if have >= w {
            push(&mut limbs, (acc & mask) as u32)?;
            acc >>= w;
            have -= w;
        }
    }
    if have > 0 {
        push(&mut limbs, acc as u32)?;
    }
    Some(out)
}

/// Stores `v` in the next limb; a nonzero value past the last limb does not fit.
fn push<'a>(limbs: &mut impl Iterator<Item = &'a mut u32>, v: u32) -> Option<()> {
    match limbs.next() {
        Some(l) => *l = v,
        None if v == 0 => {}
        None => return None,
    }
    Some(())
}

/// The `len` low-order bytes, big-endian, of a value in normalized `w`-bit limbs.
fn radix_to_be(limbs: &[u32], w: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut bytes = out.iter_mut().rev();
    let mut acc = 0u64;
    let mut have = 0u32;
    for &l in limbs {
        acc |= u64::from(l) << have;
        have += w;
        while have >= 8 {
            if let Some(b) = bytes.next() {
                *b = acc as u8;
            }
            acc >>= 8;
            have -= 8;
        }
    }
    for b in bytes {
        *b = acc as u8;
        acc >>= 8;
    }
    out
}

/// a < b for equal-length normalized little-endian limbs.
fn lt(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a -= b for normalized limbs with a >= b.
fn sub_assign(a: &mut [u32], b: &[u32], w: u32) {
    let mut borrow = 0i64;
    for (x, &y) in a.iter_mut().zip(b.iter()) {
        let v = i64::from(*x) - i64::from(y) - borrow;
        borrow = i64::from(v < 0);
        *x = (v + (borrow << w)) as u32;
    }
}

/// Σ a[i]·b[i] over equal-length slices: the inner loop of every column. Limbs are below 2^28,
/// so a column of up to 255 products cannot overflow (the callers' bound).
#[inline(always)]
fn dot(a: &[u32], b: &[u32]) -> u64 {
    if cfg!(target_feature = "simd128") {
        dot_lanes(a, b)
    } else {
        dot_scalar(a, b)
    }
}

/// [`dot`] in eight independent lanes: with `simd128`, LLVM makes each group two v128 loads per
/// operand and `i64x2.extmul_{low,high}_i32x4_u` into four vector sums (twice the speed of the
/// scalar form in V8); without it, the lanes are slower than the plain loop.
#[inline(always)]
fn dot_lanes(a: &[u32], b: &[u32]) -> u64 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut s = [0u64; 8];
    for (x, y) in ca.zip(cb) {
        for ((acc, &x), &y) in s.iter_mut().zip(x).zip(y) {
            *acc += u64::from(x) * u64::from(y);
        }
    }
    s.iter().sum::<u64>() + dot_scalar(ra, rb)
}

#[inline(always)]
fn dot_scalar(a: &[u32], b: &[u32]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x) * u64::from(y))
        .sum()
}

/// Montgomery context for an odd modulus n (R = 2^(w·k), chosen so that 4n < R).
#[derive(Clone)]
pub(super) struct MontCtx {
    /// Bits per limb.
    w: u32,
    /// Modulus, little-endian limbs.
    n: Vec<u32>,
    /// The modulus limbs in reverse order: column sums read it ascending.
    n_rev: Vec<u32>,
    /// -n^-1 mod 2^w.
    n0: u32,
    /// R^2 mod n (lazily reduced), to move values into Montgomery form.
    r2: Vec<u32>,
}

/// Scratch space for one exponentiation, sized for one context.
pub(super) struct Scratch {
    rev: Vec<u32>,
    q: Vec<u32>,
}

impl MontCtx {
    /// Prepares constants for the big-endian modulus `n` (leading zeros allowed) of `bits` bits.
    /// `None` if n is even or < 3.
    pub(super) fn new(n_be: &[u8], bits: usize) -> Option<MontCtx> {
        // Columns hold up to 2k + 1 products of two limbs: 28-bit limbs allow k ≤ 127.
        let w: u32 = if (bits + 2).div_ceil(28) <= 127 {
            28
        } else {
            26
        };
        let k = (bits + 2).div_ceil(w as usize);
        let n = radix_from_be(n_be, w, k)?;
        let low = *n.first()?;
        if low & 1 == 0 || (bits < 2 && low < 3) {
            return None;
        }
        // Newton iteration for n^-1 mod 2^32: each step doubles the correct low bits (1 -> 32).
        let mut inv = 1u32;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(low.wrapping_mul(inv)));
        }
        let n0 = inv.wrapping_neg() & ((1u32 << w) - 1);
        let n_rev = n.iter().rev().copied().collect();
        let mut ctx = MontCtx {
            w,
            n,
            n_rev,
            n0,
            r2: Vec::new(),
        };
        ctx.r2 = ctx.compute_r2(bits);
        Some(ctx)
    }

    /// Scratch buffers for [`MontCtx::mul`] and [`MontCtx::square`].
    pub(super) fn scratch(&self) -> Scratch {
        Scratch {
            rev: vec![0; self.n.len()],
            q: vec![0; self.n.len()],
        }
    }

    /// `be` (big-endian, at most the modulus' byte length) as limbs; `None` if it does not fit.
    pub(super) fn limbs_of(&self, be: &[u8]) -> Option<Vec<u32>> {
        radix_from_be(be, self.w, self.n.len())
    }

    /// R^2 mod n: 2^(bits-1) < n doubled up to R·2^t mod n, then Montgomery-squared j times
    /// (w·k = t·2^j, t odd): squaring R·2^s gives R·2^(2s), ending at R·2^(w·k) = R^2.
    fn compute_r2(&self, bits: usize) -> Vec<u32> {
        let k = self.n.len();
        let w = self.w as usize;
        let bits_r = w * k;
        let j = bits_r.trailing_zeros();
        let t = bits_r >> j;
        let mut x = vec![0u32; k];
        let top = bits.saturating_sub(1);
        if let Some(l) = x.get_mut(top / w) {
            *l = 1 << (top % w);
        }
        let mask = (1u32 << self.w) - 1;
        for _ in 0..(bits_r + t - top) {
            // x = 2x mod n; x < n < 2^(w·k - 2), so 2x still fits in k limbs.
            let mut carry = 0u32;
            for l in x.iter_mut() {
                let v = (*l << 1) | carry;
                carry = v >> self.w;
                *l = v & mask;
            }
            if !lt(&x, &self.n) {
                sub_assign(&mut x, &self.n, self.w);
            }
        }
        let mut s = self.scratch();
        for _ in 0..j {
            let mut out = vec![0u32; k];
            self.square(&x, &mut out, &mut s);
            x = out;
        }
        x
    }

    /// out = a·b / R mod n (< 2n), for a, b < 2n in normalized limbs.
    pub(super) fn mul(&self, a: &[u32], b: &[u32], out: &mut [u32], s: &mut Scratch) {
        for (r, &x) in s.rev.iter_mut().zip(b.iter().rev()) {
            *r = x;
        }
        let k = self.n.len();
        self.reduce_columns(out, &mut s.q, |c| {
            // Σ a[i]·b[c-i] over the limbs that exist; b[c-i] = rev[k-1-c+i].
            let lo = c.saturating_sub(k - 1);
            let hi = c.min(k - 1);
            let off = k - 1 + lo - c;
            match (a.get(lo..=hi), s.rev.get(off..=off + hi - lo)) {
                (Some(x), Some(y)) => dot(x, y),
                _ => 0,
            }
        });
    }

    /// out = a² / R mod n (< 2n), for a < 2n: each cross product is summed once and doubled.
    pub(super) fn square(&self, a: &[u32], out: &mut [u32], s: &mut Scratch) {
        for (r, &x) in s.rev.iter_mut().zip(a.iter().rev()) {
            *r = x;
        }
        let k = self.n.len();
        self.reduce_columns(out, &mut s.q, |c| {
            let lo = c.saturating_sub(k - 1);
            let diag = if c % 2 == 0 {
                a.get(c / 2).map_or(0, |&x| u64::from(x) * u64::from(x))
            } else {
                0
            };
            // Pairs i < c - i: i runs from lo to (c - 1) / 2.
            if c == 0 || (c - 1) / 2 < lo {
                return diag;
            }
            let hi = (c - 1) / 2;
            let off = k - 1 + lo - c;
            let cross = match (a.get(lo..=hi), s.rev.get(off..=off + hi - lo)) {
                (Some(x), Some(y)) => dot(x, y),
                _ => 0,
            };
            2 * cross + diag
        });
    }

    /// Product scanning with the Montgomery reduction interleaved: `product(c)` is column c of
    /// the plain product; the reduction digits q are chosen so the low k columns vanish, and the
    /// high k columns are the result.
    fn reduce_columns(&self, out: &mut [u32], q: &mut [u32], product: impl Fn(usize) -> u64) {
        let k = self.n.len();
        let w = self.w;
        let mask = (1u64 << w) - 1;
        let n_low = u64::from(self.n.first().copied().unwrap_or(1));
        let mut carry = 0u64;
        for c in 0..2 * k - 1 {
            let mut acc = carry + product(c);
            // Σ q[i]·n[c-i] for the digits already chosen (i < c, i < k, c - i < k).
            let lo = c.saturating_sub(k - 1);
            let hi = c.min(k);
            if hi > lo {
                let off = k - 1 + lo - c;
                if let (Some(x), Some(y)) = (q.get(lo..hi), self.n_rev.get(off..off + hi - lo)) {
                    acc += dot(x, y);
                }
            }
            if c < k {
                let digit = (acc as u32).wrapping_mul(self.n0) & mask as u32;
                if let Some(d) = q.get_mut(c) {
                    *d = digit;
                }
                acc += u64::from(digit) * n_low;
            } else if let Some(o) = out.get_mut(c - k) {
                *o = (acc & mask) as u32;
            }
            carry = acc >> w;
        }
        if let Some(o) = out.get_mut(k - 1) {
            *o = carry as u32;
        }
    }

    /// out = a·R mod n (into Montgomery form), for a < 2n.
    pub(super) fn enter_mont(&self, a: &[u32], out: &mut [u32], s: &mut Scratch) {
        self.mul(a, &self.r2, out, s);
    }

    /// a / R mod n, fully reduced, as `len` big-endian bytes.
    pub(super) fn leave_mont(&self, a: &[u32], len: usize, s: &mut Scratch) -> Vec<u8> {
        let mut one = vec![0u32; self.n.len()];
        if let Some(l) = one.first_mut() {
            *l = 1;
        }
        let mut out = vec![0u32; self.n.len()];
        self.mul(a, &one, &mut out, s);
        if !lt(&out, &self.n) {
            sub_assign(&mut out, &self.n, self.w);
        }
        radix_to_be(&out, self.w, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dot_products_agree() {
        // The wasm build sums in lanes, the native one in a plain loop: every length and tail.
        let mut x = 0x1234_5678u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x & ((1 << 28) - 1)
        };
        for len in 0..80 {
            let a: Vec<u32> = (0..len).map(|_| next()).collect();
            let b: Vec<u32> = (0..len).map(|_| next()).collect();
            let want: u128 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| u128::from(x) * u128::from(y))
                .sum();
            assert_eq!(u128::from(dot_lanes(&a, &b)), want, "len {len}");
            assert_eq!(u128::from(dot_scalar(&a, &b)), want, "len {len}");
        }
    }

    #[test]
    fn radix_round_trips() {
        let be: Vec<u8> = (1..=64u8).collect();
        for w in [26, 28] {
            let limbs = radix_from_be(&be, w, 512usize.div_ceil(w as usize)).unwrap();
            assert!(limbs.iter().all(|&l| l < 1 << w));
            assert_eq!(radix_to_be(&limbs, w, 64), be);
        }
        assert!(radix_from_be(&[1, 0, 0, 0, 0], 28, 1).is_none());
    }

    #[test]
    fn small_modulus_matches_plain_arithmetic() {
        // n = 1_000_003 (odd prime): check a·b·R^-1 by leaving Montgomery form.
        let n: u64 = 1_000_003;
        let ctx = MontCtx::new(&n.to_be_bytes(), 20).unwrap();
        let mut s = ctx.scratch();
        let k = ctx.n.len();
        for (a, b) in [
            (2u64, 3u64),
            (999_999, 999_998),
            (1, n - 1),
            (123_456, 654_321),
        ] {
            let (mut am, mut bm, mut p) = (vec![0; k], vec![0; k], vec![0; k]);
            ctx.enter_mont(&ctx.limbs_of(&a.to_be_bytes()).unwrap(), &mut am, &mut s);
            ctx.enter_mont(&ctx.limbs_of(&b.to_be_bytes()).unwrap(), &mut bm, &mut s);
            ctx.mul(&am, &bm, &mut p, &mut s);
            let got = ctx.leave_mont(&p, 8, &mut s);
            assert_eq!(u64::from_be_bytes(got.try_into().unwrap()), a * b % n);
            ctx.square(&am, &mut p, &mut s);
            let got = ctx.leave_mont(&p, 8, &mut s);
            assert_eq!(u64::from_be_bytes(got.try_into().unwrap()), a * a % n);
        }
    }
}
