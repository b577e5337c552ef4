//! ES256 (ECDSA over P-256 with SHA-256) verification with precomputed fixed-base tables.

use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use super::p256_field::Fe;
use super::p256_point::{mul_once, Affine, Jacobian, Table, G};
use super::p256_scalar::{Scalar, N};
use super::u256::{self, U256};

/// Window width for the shared generator table: 33 windows x 128 points x 72 bytes (two 9-limb
/// coordinates) = 297 KiB, built once per VM. Against width 7 (166.5 KiB) it saves 4 of a verify's
/// 74 additions; one table per VM, so the memory is paid once, not per key.
const G_WINDOW: usize = 8;
/// Window width for per-key tables: 37 windows x 64 points x 72 bytes = 166.5 KiB per key. A key
/// verifies many tokens, so its table is worth building when the JWKS lands: against width 5
/// (58.5 KiB) it saves 15 of 89 additions, ~15% of a distinct-token verify in V8
/// (`examples/misspath.rs`). Width 8 would save 4 more additions for 297 KiB per key, which a
/// deployment with many issuers' keys pays in every VM, so keys stay at 7.
const KEY_WINDOW: usize = 7;

/// p - n: an x coordinate in [n, p) reduces to x - n, so r also matches x = r + n when r < p - n.
const P_MINUS_N: U256 = [
    0x039c_daae,
    0x0c46_353d,
    0x58e8_617b,
    0x4319_0553,
    0,
    0,
    0,
    0,
];

/// The generator table, built on first use and shared by all keys.
fn g_table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table::new(&G, G_WINDOW))
}

/// A P-256 public key validated (on curve, not identity, coordinates < p) with precomputed tables.
#[derive(Clone)]
pub struct P256Key {
    point: Point,
}

/// How the key point is multiplied.
#[derive(Clone)]
enum Point {
    /// Multiples of the key point; shared on clone because it is 166.5 KiB and immutable.
    Table(Arc<Table>),
    /// The point alone, for a key that verifies one signature: a table would cost far more to
    /// build than it saves in that one verify.
    Once(Affine),
}

impl core::fmt::Debug for P256Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("P256Key").finish_non_exhaustive()
    }
}

impl P256Key {
    /// x, y: 32-byte big-endian affine coordinates (as in a JWK's decoded "x"/"y"). None if invalid.
    ///
    /// Both slices must be exactly 32 bytes (RFC 7518 fixes the length for P-256). Builds the per-key
    /// table (and, on first use, the shared generator table).
    pub fn from_affine(x: &[u8], y: &[u8]) -> Option<P256Key> {
        let point = Self::validated(x, y)?;
        // Warm the shared table here so the first verification does not pay for it.
        let _ = g_table();
        Some(P256Key {
            point: Point::Table(Arc::new(Table::new(&point, KEY_WINDOW))),
        })
    }

    /// [`P256Key::from_affine`] for a key that verifies one signature (a DPoP proof's `jwk`):
    /// no per-key table; its verify multiplies the point directly.
    pub fn from_affine_for_one_use(x: &[u8], y: &[u8]) -> Option<P256Key> {
        Some(P256Key {
            point: Point::Once(Self::validated(x, y)?),
        })
    }

    fn validated(x: &[u8], y: &[u8]) -> Option<Affine> {
        let x: &[u8; 32] = x.try_into().ok()?;
        let y: &[u8; 32] = y.try_into().ok()?;
        let point = Affine {
            x: Fe::from_be_bytes(x)?,
            y: Fe::from_be_bytes(y)?,
        };
        // The identity has no affine form, and P-256 has cofactor 1, so an on-curve affine point is a
        // valid element of the prime-order group.
        point.is_on_curve().then_some(point)
    }

    /// sig: raw r||s, must be exactly 64 bytes (else false); message: the bytes to hash with SHA-256.
    pub fn verify_es256(&self, message: &[u8], sig: &[u8]) -> bool {
        let Some((r_bytes, s_bytes)) = split_sig(sig) else {
            return false;
        };
        let (Some(r), Some(s)) = (
            Scalar::from_be_bytes_nonzero(r_bytes),
            Scalar::from_be_bytes_nonzero(s_bytes),
        ) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(message).into();
        let e = Scalar::from_hash(&digest);
        let Some(w) = s.invert() else {
            return false;
        };
        let u1 = e.mul(&w);
        let u2 = r.mul(&w);

        let mut acc = match &self.point {
            Point::Table(table) => {
                let mut acc = Jacobian::IDENTITY;
                table.accumulate(&mut acc, &u2.0);
                acc
            }
            Point::Once(point) => mul_once(point, &u2.0),
        };
        g_table().accumulate(&mut acc, &u1.0);
        if acc.is_identity() {
            return false;
        }
        // Compare x(R) = X/Z^2 with r (and r + n) without inverting Z: X == r * Z^2.
        let zz = acc.z.square();
        // r < n < p, so r is a valid field element.
        if Fe::from_canonical(&r.0).mul(&zz) == acc.x {
            return true;
        }
        if u256::lt(&r.0, &P_MINUS_N) {
            let r_plus_n = u256::adc(&r.0, &N).0;
            return Fe::from_canonical(&r_plus_n).mul(&zz) == acc.x;
        }
        false
    }
}

/// Splits a 64-byte r||s signature into its halves; `None` for any other length.
fn split_sig(sig: &[u8]) -> Option<(&[u8; 32], &[u8; 32])> {
    if sig.len() != 64 {
        return None;
    }
    let (r, s) = sig.split_at(32);
    Some((r.try_into().ok()?, s.try_into().ok()?))
}
