//! The fast backend plugged into jwt-compact through its `Algorithm` trait, for code that verifies
//! through jwt-compact (verification only). The filter itself calls the backend directly
//! ([`super::EcKey`], [`super::RsaKey`]): no signature copy per verify, and no jwt-compact in the
//! `.wasm`. Built with the `rustcrypto` feature, which brings jwt-compact.

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
