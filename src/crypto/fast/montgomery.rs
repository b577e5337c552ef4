//! Variable-width Montgomery arithmetic for odd moduli (RSA), 32-bit limbs with 64-bit products so the
//! same code is fast on wasm32 (native i64 multiply, no 128-bit product).

/// Converts big-endian bytes to `len` little-endian 32-bit limbs; `None` if the value needs more limbs.
pub(super) fn limbs_from_be(bytes: &[u8], len: usize) -> Option<Vec<u32>> {
    let mut out = vec![0u32; len];
    let mut limbs = out.iter_mut();
    for chunk in bytes.rchunks(4) {
        let mut v = 0u32;
        for &b in chunk {
            v = (v << 8) | b as u32;
        }
        match limbs.next() {
            Some(l) => *l = v,
            None if v == 0 => {}
            None => return None,
        }
    }
    Some(out)
}

/// a < b for equal-length little-endian limb slices.
pub(super) fn lt(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a -= b (equal lengths), returning the borrow.
fn sub_assign(a: &mut [u32], b: &[u32]) -> u32 {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b.iter()) {
        let v = (*x as u64).wrapping_sub(y as u64 + borrow);
        *x = v as u32;
        borrow = v >> 63;
    }
    borrow as u32
}

/// Montgomery context for an odd modulus n of `k` limbs (R = 2^(32k)).
#[derive(Clone)]
pub(super) struct MontCtx {
    /// Modulus, little-endian limbs; top limb nonzero.
    n: Vec<u32>,
    /// -n^-1 mod 2^32.
    n0: u32,
    /// R^2 mod n, to move values into Montgomery form.
    r2: Vec<u32>,
}

impl MontCtx {
    /// Prepares constants for `n` (little-endian limbs, top limb nonzero). `None` if n is even or < 3.
    pub(super) fn new(n: Vec<u32>) -> Option<MontCtx> {
        let k = n.len();
        let top = *n.last()?;
        let low = *n.first()?;
        if top == 0 || low & 1 == 0 || (k == 1 && low < 3) {
            return None;
        }
        // Newton iteration for n^-1 mod 2^32: each step doubles the number of correct low bits (1 -> 32).
        let mut inv = 1u32;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(low.wrapping_mul(inv)));
        }
        let n0 = inv.wrapping_neg();
        let mut ctx = MontCtx {
            n,
            n0,
            r2: Vec::new(),
        };
        ctx.r2 = ctx.compute_r2();
        Some(ctx)
    }

    /// Number of limbs.
    pub(super) fn limbs(&self) -> usize {
        self.n.len()
    }

    /// The modulus limbs.
    pub(super) fn modulus(&self) -> &[u32] {
        &self.n
    }

    /// R^2 mod n. Doubling all the way to 2^(64k) would cost 64k shifts of k limbs, so instead write
    /// 32k = t * 2^j (t odd), reach R * 2^t mod n by a few doublings, then Montgomery-square j times:
    /// squaring R*2^s gives R*2^(2s), ending at R * 2^(32k) = R^2.
    fn compute_r2(&self) -> Vec<u32> {
        let k = self.n.len();
        let bits_r = 32 * k;
        let j = bits_r.trailing_zeros();
        let t = bits_r >> j;
        let nbits = bits_r - self.n.last().map_or(32, |l| l.leading_zeros() as usize);
        // Start from 2^(nbits-1) < n (n is odd so it is not a power of two).
        let mut x = vec![0u32; k];
        if let Some(l) = x.get_mut((nbits - 1) / 32) {
            *l = 1 << ((nbits - 1) % 32);
        }
        for _ in 0..(bits_r + t - (nbits - 1)) {
            // x = 2x mod n, with the shifted-out bit acting as a 2^(32k) carry.
            let mut carry = 0u32;
            for l in x.iter_mut() {
                let next = *l >> 31;
                *l = (*l << 1) | carry;
                carry = next;
            }
            if carry != 0 || !lt(&x, &self.n) {
                sub_assign(&mut x, &self.n);
            }
        }
        let mut tmp = vec![0u32; k + 2];
        for _ in 0..j {
            let mut out = vec![0u32; k];
            self.mul(&x, &x, &mut out, &mut tmp);
            x = out;
        }
        x
    }

    /// out = a * b / R mod n (CIOS with the multiply and reduce passes fused), for a, b < n.
    /// `tmp` must have k + 2 limbs; all slices are assumed to have the context's length.
    pub(super) fn mul(&self, a: &[u32], b: &[u32], out: &mut [u32], tmp: &mut [u32]) {
        let k = self.n.len();
        let t = &mut tmp[..k + 2];
        t.fill(0);
        let n = &self.n[..];
        let b = &b[..k];
        for &ai in a[..k].iter() {
            let ai = ai as u64;
            // First column: decides the reduction digit m so that the low limb cancels.
            let v = t[0] as u64 + ai * b[0] as u64;
            let m = (v as u32).wrapping_mul(self.n0) as u64;
            let w = (v & 0xffff_ffff) + m * n[0] as u64;
            let mut c1 = v >> 32;
            let mut c2 = w >> 32;
            for j in 1..k {
                let v = t[j] as u64 + ai * b[j] as u64 + c1;
                c1 = v >> 32;
                let w = (v & 0xffff_ffff) + m * n[j] as u64 + c2;
                c2 = w >> 32;
                t[j - 1] = w as u32;
            }
            let v = t[k] as u64 + c1 + c2;
            t[k - 1] = v as u32;
            t[k] = t[k + 1] + (v >> 32) as u32;
            t[k + 1] = 0;
        }
        out[..k].copy_from_slice(&t[..k]);
        if t[k] != 0 || !lt(&out[..k], n) {
            sub_assign(&mut out[..k], n);
        }
    }

    /// out = a * R mod n (into Montgomery form), for a < n.
    pub(super) fn enter_mont(&self, a: &[u32], out: &mut [u32], tmp: &mut [u32]) {
        self.mul(a, &self.r2, out, tmp);
    }

    /// out = a / R mod n (out of Montgomery form).
    pub(super) fn leave_mont(&self, a: &[u32], out: &mut [u32], tmp: &mut [u32]) {
        let mut one = vec![0u32; self.n.len()];
        if let Some(l) = one.first_mut() {
            *l = 1;
        }
        self.mul(a, &one, out, tmp);
    }
}
