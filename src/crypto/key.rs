//! The public keys the rest of the crate verifies with: the fast backend's prepared key, and
//! the key's DER `SubjectPublicKeyInfo` for a host that verifies ([`SignatureBackend`]), both
//! made once when a key set loads, never per request.

use super::backend::{Scheme, SignatureBackend};
use super::der;
use super::fast::{P256Key, RsaKey as FastRsa};
use std::rc::Rc;

/// A validated P-256 public key with its precomputed tables.
#[derive(Clone, Debug)]
pub struct EcKey {
    fast: P256Key,
    /// `None` for a one-use key: it is never handed to a host.
    spki: Option<Rc<[u8]>>,
}

impl EcKey {
    /// Builds a key from 32-byte big-endian affine coordinates; `None` if not a valid point.
    pub fn from_affine(x: &[u8], y: &[u8]) -> Option<EcKey> {
        let fast = P256Key::from_affine(x, y)?;
        let spki = der::p256_spki(x.try_into().ok()?, y.try_into().ok()?).into();
        Some(EcKey {
            fast,
            spki: Some(spki),
        })
    }

    /// [`EcKey::from_affine`] for a key that verifies one signature (a DPoP proof's `jwk`, new
    /// with every proof): no per-key table, which would cost far more to build than it saves.
    pub fn from_affine_for_one_use(x: &[u8], y: &[u8]) -> Option<EcKey> {
        // No DER form either: a key made per proof is checked by the module's code.
        let fast = P256Key::from_affine_for_one_use(x, y)?;
        Some(EcKey { fast, spki: None })
    }

    /// Verifies an ES256 signature (exactly 64 bytes r‖s) over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.fast.verify_es256(message, sig)
    }

    /// [`EcKey::verify`], through `backend` when it offers ES256 (it wants the DER form).
    pub fn verify_using(&self, backend: &dyn SignatureBackend, message: &[u8], sig: &[u8]) -> bool {
        let Some(spki) = self
            .spki
            .as_deref()
            .filter(|_| backend.offers(Scheme::Es256))
        else {
            return self.verify(message, sig);
        };
        let Some(der) = der::ecdsa_signature(sig) else {
            return false;
        };
        backend
            .verify(Scheme::Es256, spki, &der, message)
            .unwrap_or_else(|| self.verify(message, sig))
    }

    /// The key's DER `SubjectPublicKeyInfo` (empty for a one-use key).
    pub fn spki(&self) -> &[u8] {
        self.spki.as_deref().unwrap_or_default()
    }
}

/// A validated RSA public key prepared for Montgomery exponentiation.
#[derive(Clone, Debug)]
pub struct RsaKey {
    fast: FastRsa,
    spki: Rc<[u8]>,
}

impl RsaKey {
    /// Builds a key from big-endian `n` and `e`; `None` if unusable (even, < 2048 or > 8192 bits,
    /// exponent even, < 3 or ≥ n). Size policy beyond that is the caller's.
    pub fn from_components(n: &[u8], e: &[u8]) -> Option<RsaKey> {
        let fast = FastRsa::from_components(n, e)?;
        Some(RsaKey {
            fast,
            spki: der::rsa_spki(n, e).into(),
        })
    }

    /// Modulus length in bits.
    pub fn modulus_bits(&self) -> usize {
        self.fast.modulus_bits()
    }

    /// Verifies an RS256 signature; its length must equal the modulus length in bytes.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.fast.verify_rs256(message, sig)
    }

    /// [`RsaKey::verify`], through `backend` when it offers RS256. The length rule is ours
    /// and checked first, so every backend sees the same signatures.
    pub fn verify_using(&self, backend: &dyn SignatureBackend, message: &[u8], sig: &[u8]) -> bool {
        if sig.len() != self.modulus_bits().div_ceil(8) {
            return false;
        }
        if !backend.offers(Scheme::Rs256) {
            return self.verify(message, sig);
        }
        backend
            .verify(Scheme::Rs256, &self.spki, sig, message)
            .unwrap_or_else(|| self.verify(message, sig))
    }

    /// The key's DER `SubjectPublicKeyInfo`.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }
}
