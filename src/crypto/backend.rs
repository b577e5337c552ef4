//! Where a signature is checked: the module's own arithmetic, or a host that offers its own.
//!
//! The core stays host-independent: a verifier is handed a [`SignatureBackend`] value. The
//! proxy glue hands it the host's `verify_signature` where the host has one that passed a
//! probe; everything else (the CLI, tests, nginx) uses [`OWN_CODE`], which declines every
//! call so the module's code verifies.

/// The signature schemes jwtgate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256; the signature is as long as the modulus.
    Rs256,
    /// ECDSA P-256 with SHA-256; the signature is DER `ECDSA-Sig-Value`.
    Es256,
}

/// A way to check a signature outside the module's own code.
pub trait SignatureBackend {
    /// Whether [`SignatureBackend::verify`] may answer for `scheme` at all (lets the caller
    /// skip preparing arguments for a backend that always declines).
    fn offers(&self, scheme: Scheme) -> bool;

    /// Checks `signature` over `text` with the key `spki` (DER `SubjectPublicKeyInfo`).
    /// `Some(valid)` when this backend decided; `None` when it could not (refused, failed,
    /// answered nonsense): the caller then verifies with its own code, never passes.
    fn verify(&self, scheme: Scheme, spki: &[u8], signature: &[u8], text: &[u8]) -> Option<bool>;
}

/// The module's own arithmetic only: declines every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnCode;

impl SignatureBackend for OwnCode {
    fn offers(&self, _: Scheme) -> bool {
        false
    }

    fn verify(&self, _: Scheme, _: &[u8], _: &[u8], _: &[u8]) -> Option<bool> {
        None
    }
}

/// The backend of every caller that has no host to ask.
pub static OWN_CODE: OwnCode = OwnCode;
