//! RS256 (RSASSA-PKCS1-v1_5 with SHA-256) verification on top of Montgomery exponentiation.

use sha2::{Digest, Sha256};

use super::montgomery::MontCtx;

/// DER encoding of DigestInfo { sha256, NULL } up to the 32-byte hash (RFC 8017 section 9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Smallest accepted modulus size in bits.
const MIN_BITS: usize = 2048;
/// Largest accepted modulus size in bits.
const MAX_BITS: usize = 8192;

/// Strips leading zero bytes.
fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or(&[])
}

/// An RSA public key prepared for PKCS#1 v1.5 verification (Montgomery constants precomputed).
#[derive(Clone)]
pub struct RsaKey {
    ctx: MontCtx,
    /// Modulus, big-endian without leading zeros (`bits.div_ceil(8)` bytes).
    n: Vec<u8>,
    /// Public exponent, big-endian without leading zeros (odd, >= 3, < n).
    e: Vec<u8>,
    /// Modulus size in bits.
    bits: usize,
}

impl core::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaKey")
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl RsaKey {
    /// n, e: big-endian unsigned bytes (leading zeros allowed). Accepts moduli of 2048..=8192 bits.
    /// `None` if n is even or outside that size range, or e is even, e < 3, or e >= n.
    pub fn from_components(n: &[u8], e: &[u8]) -> Option<RsaKey> {
        let n = trim(n);
        let e = trim(e);
        let first = *n.first()?;
        let bits = n.len() * 8 - first.leading_zeros() as usize;
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return None;
        }
        // e: odd and at least 3 (e = 1 would make every signature its own message).
        let e_last = *e.last()?;
        if e_last & 1 == 0 || (e.len() == 1 && e_last < 3) {
            return None;
        }
        // e < n: both trimmed, so a shorter e is smaller and an equal length compares bytewise.
        if e.len() > n.len() || (e.len() == n.len() && e >= n) {
            return None;
        }
        let ctx = MontCtx::new(n, bits)?;
        Some(RsaKey {
            ctx,
            n: n.to_vec(),
            e: e.to_vec(),
            bits,
        })
    }

    /// Size of the modulus in bits.
    pub fn modulus_bits(&self) -> usize {
        self.bits
    }

    /// sig must have exactly the modulus byte length and be < n; checks the full EMSA-PKCS1-v1_5 encoding with the
    /// SHA-256 DigestInfo (00 01 FF..FF 00 || DER prefix || hash), compared in full (no lenient parsing).
    pub fn verify_rs256(&self, message: &[u8], sig: &[u8]) -> bool {
        let k_bytes = self.bits.div_ceil(8);
        if sig.len() != k_bytes {
            return false;
        }
        // Same length as the trimmed modulus, so bytewise order is numeric order.
        if sig >= self.n.as_slice() {
            return false;
        }
        let Some(m) = self.pow_e(sig, k_bytes) else {
            return false;
        };
        // Encode m big-endian in k_bytes and compare with the expected block in one pass.
        let digest = Sha256::digest(message);
        let pad_len = k_bytes - 3 - SHA256_DIGEST_INFO.len() - digest.len();
        let expected = [0x00u8, 0x01]
            .iter()
            .chain(core::iter::repeat_n(&0xffu8, pad_len))
            .chain([0x00u8].iter())
            .chain(SHA256_DIGEST_INFO.iter())
            .chain(digest.iter());
        m.iter().eq(expected)
    }

    /// s^e mod n as `len` big-endian bytes, by left-to-right square-and-multiply (e = 65537:
    /// 16 squarings and one multiplication).
    fn pow_e(&self, sig: &[u8], len: usize) -> Option<Vec<u8>> {
        let s = self.ctx.limbs_of(sig)?;
        let k = s.len();
        let mut scratch = self.ctx.scratch();
        let mut base = vec![0u32; k];
        self.ctx.enter_mont(&s, &mut base, &mut scratch);
        let mut acc = base.clone();
        let mut next = vec![0u32; k];
        let (&first, rest) = self.e.split_first()?;
        // Skip the leading one bit of e (first != 0 as e is trimmed): acc already holds s^1.
        let top = 7usize.saturating_sub(first.leading_zeros() as usize);
        let bits = (0..top).rev().map(move |i| (first >> i) & 1).chain(
            rest.iter()
                .flat_map(|&b| (0..8).rev().map(move |i| (b >> i) & 1)),
        );
        for bit in bits {
            self.ctx.square(&acc, &mut next, &mut scratch);
            core::mem::swap(&mut acc, &mut next);
            if bit == 1 {
                self.ctx.mul(&acc, &base, &mut next, &mut scratch);
                core::mem::swap(&mut acc, &mut next);
            }
        }
        Some(self.ctx.leave_mont(&acc, len, &mut scratch))
    }
}
