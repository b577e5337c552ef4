//! Fixed-size 256-bit unsigned integers as 8 little-endian 32-bit limbs, shared by the P-256 field and
//! scalar code. 32-bit limbs with 64-bit intermediate products because wasm32 multiplies i64 natively
//! but has no 64x64->128 instruction.

/// 256-bit integer, limb 0 least significant.
pub(super) type U256 = [u32; 8];

/// Big-endian 32 bytes to limbs.
pub(super) fn from_be_bytes(b: &[u8; 32]) -> U256 {
    let mut r = [0u32; 8];
    for (limb, chunk) in r.iter_mut().zip(b.rchunks_exact(4)) {
        *limb = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    r
}

/// a + b, returning the sum mod 2^256 and the carry out (0 or 1).
#[inline(always)]
pub(super) fn adc(a: &U256, b: &U256) -> (U256, u32) {
    let mut r = [0u32; 8];
    let mut carry = 0u64;
    for i in 0..8 {
        let v = a[i] as u64 + b[i] as u64 + carry;
        r[i] = v as u32;
        carry = v >> 32;
    }
    (r, carry as u32)
}

/// a - b, returning the difference mod 2^256 and the borrow out (0 or 1).
#[inline(always)]
pub(super) fn sbb(a: &U256, b: &U256) -> (U256, u32) {
    let mut r = [0u32; 8];
    let mut borrow = 0u64;
    for i in 0..8 {
        let v = (a[i] as u64).wrapping_sub(b[i] as u64 + borrow);
        r[i] = v as u32;
        borrow = v >> 63;
    }
    (r, borrow as u32)
}

/// a < b.
#[inline(always)]
pub(super) fn lt(a: &U256, b: &U256) -> bool {
    for i in (0..8).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// a == 0.
#[inline(always)]
pub(super) fn is_zero(a: &U256) -> bool {
    a.iter().all(|&l| l == 0)
}

/// `w` bits of `a` starting at bit `pos` (bits at or past 256 read as zero); `w` <= 8.
#[inline(always)]
pub(super) fn bits(a: &U256, pos: usize, w: usize) -> u32 {
    let limb = pos / 32;
    let off = pos % 32;
    let lo = a.get(limb).copied().unwrap_or(0) as u64;
    let hi = a.get(limb + 1).copied().unwrap_or(0) as u64;
    (((lo | (hi << 32)) >> off) as u32) & ((1u32 << w) - 1)
}
