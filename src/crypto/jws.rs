//! The fast backend plugged into jwt-compact through its `Algorithm` trait: verification only.

use super::fast::{P256Key, RsaKey as FastRsa};
use jwt_compact::{Algorithm, AlgorithmSignature};
use std::borrow::Cow;

/// Signing is not something a proxy does: no value of this type exists.
#[derive(Debug)]
pub enum NoSigningKey {}

/// Raw JWS signature bytes (ES256: r‖s; RS256: the modulus-sized block).
#[derive(Debug)]
pub struct RawSignature(Vec<u8>);

impl AlgorithmSignature for RawSignature {
    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Ok(RawSignature(slice.to_vec()))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
}

/// ES256 with the fast P-256 backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastEs256;

impl Algorithm for FastEs256 {
    type SigningKey = NoSigningKey;
    type VerifyingKey = P256Key;
    type Signature = RawSignature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES256")
    }

    fn sign(&self, key: &NoSigningKey, _message: &[u8]) -> RawSignature {
        match *key {}
    }

    fn verify_signature(&self, sig: &RawSignature, key: &P256Key, message: &[u8]) -> bool {
        key.verify_es256(message, &sig.0)
    }
}

/// RS256 with the fast Montgomery backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastRs256;

impl Algorithm for FastRs256 {
    type SigningKey = NoSigningKey;
    type VerifyingKey = FastRsa;
    type Signature = RawSignature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("RS256")
    }

    fn sign(&self, key: &NoSigningKey, _message: &[u8]) -> RawSignature {
        match *key {}
    }

    fn verify_signature(&self, sig: &RawSignature, key: &FastRsa, message: &[u8]) -> bool {
        key.verify_rs256(message, &sig.0)
    }
}

/// A validated P-256 public key with its precomputed tables.
#[derive(Clone, Debug)]
pub struct EcKey(P256Key);

impl EcKey {
    /// Builds a key from 32-byte big-endian affine coordinates; `None` if not a valid point.
    pub fn from_affine(x: &[u8], y: &[u8]) -> Option<EcKey> {
        P256Key::from_affine(x, y).map(EcKey)
    }

    /// Verifies an ES256 signature (exactly 64 bytes r‖s) over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        FastEs256.verify_signature(&RawSignature(sig.to_vec()), &self.0, message)
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
        FastRs256.verify_signature(&RawSignature(sig.to_vec()), &self.0, message)
    }
}
