//! The RustCrypto backend (`p256`, `rsa`) reached through jwt-compact's `Algorithm` trait.

use jwt_compact::alg::{Es256, Rsa, RsaPublicKey, RsaSignature};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use std::borrow::Cow;

type P256VerifyingKey = <Es256 as Algorithm>::VerifyingKey;
type P256Signature = <Es256 as Algorithm>::Signature;

/// A validated P-256 public key (on the curve, not the identity).
#[derive(Clone, Debug)]
pub struct EcKey(P256VerifyingKey);

impl EcKey {
    /// Builds a key from 32-byte big-endian affine coordinates; `None` if not a valid point.
    pub fn from_affine(x: &[u8], y: &[u8]) -> Option<EcKey> {
        let jwk = JsonWebKey::EllipticCurve {
            curve: Cow::Borrowed("P-256"),
            x: Cow::Borrowed(x),
            y: Cow::Borrowed(y),
            secret: None,
        };
        P256VerifyingKey::try_from(&jwk).ok().map(EcKey)
    }

    /// Verifies an ES256 signature (exactly 64 bytes r‖s) over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        if sig.len() != 64 {
            return false;
        }
        match P256Signature::try_from_slice(sig) {
            Ok(s) => Es256.verify_signature(&s, &self.0, message),
            Err(_) => false,
        }
    }
}

/// A validated RSA public key.
#[derive(Clone, Debug)]
pub struct RsaKey {
    key: RsaPublicKey,
    bits: usize,
}

impl RsaKey {
    /// Builds a key from big-endian `n` and `e`; `None` if the backend refuses it
    /// (moduli over 4096 bits, exponents out of range). Size policy is the caller's.
    pub fn from_components(n: &[u8], e: &[u8]) -> Option<RsaKey> {
        let jwk = JsonWebKey::Rsa {
            modulus: Cow::Borrowed(n),
            public_exponent: Cow::Borrowed(e),
            private_parts: None,
        };
        let key = RsaPublicKey::try_from(&jwk).ok()?;
        Some(RsaKey {
            key,
            bits: super::bit_len(n),
        })
    }

    /// Modulus length in bits.
    pub fn modulus_bits(&self) -> usize {
        self.bits
    }

    /// Verifies an RS256 signature; its length must equal the modulus length in bytes.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        if sig.len() != self.bits.div_ceil(8) {
            return false;
        }
        let Ok(s) = RsaSignature::try_from_slice(sig) else {
            return false;
        };
        Rsa::rs256().verify_signature(&s, &self.key, message)
    }
}
