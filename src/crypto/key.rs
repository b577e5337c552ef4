//! The public keys the rest of the crate verifies with, each calling the fast backend directly.

use super::fast::{P256Key, RsaKey as FastRsa};

/// A validated P-256 public key with its precomputed tables.
#[derive(Clone, Debug)]
pub struct EcKey(P256Key);

impl EcKey {
    /// Builds a key from 32-byte big-endian affine coordinates; `None` if not a valid point.
    pub fn from_affine(x: &[u8], y: &[u8]) -> Option<EcKey> {
        P256Key::from_affine(x, y).map(EcKey)
    }

    /// [`EcKey::from_affine`] for a key that verifies one signature (a DPoP proof's `jwk`, new
    /// with every proof): no per-key table, which would cost far more to build than it saves.
    pub fn from_affine_for_one_use(x: &[u8], y: &[u8]) -> Option<EcKey> {
        P256Key::from_affine_for_one_use(x, y).map(EcKey)
    }

    /// Verifies an ES256 signature (exactly 64 bytes r‖s) over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.0.verify_es256(message, sig)
    }
}

/// A validated RSA public key prepared for Montgomery exponentiation.
#[derive(Clone, Debug)]
pub struct RsaKey(FastRsa);

impl RsaKey {
    /// Builds a key from big-endian `n` and `e`; `None` if unusable (even, < 2048 or > 8192 bits,
    /// exponent even, < 3 or ≥ n). Size policy beyond that is the caller's.
    pub fn from_components(n: &[u8], e: &[u8]) -> Option<RsaKey> {
        FastRsa::from_components(n, e).map(RsaKey)
    }

    /// Modulus length in bits.
    pub fn modulus_bits(&self) -> usize {
        self.0.modulus_bits()
    }

    /// Verifies an RS256 signature; its length must equal the modulus length in bytes.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.0.verify_rs256(message, sig)
    }
}
