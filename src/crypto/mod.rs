//! Signature verification for the two algorithms jwtgate accepts.
//!
//! The rest of the crate sees only [`EcKey`] and [`RsaKey`]: a public key validated and
//! prepared once, when a key set is loaded, and a `verify` that takes the signing input and
//! the raw signature bytes. Which backend sits behind them is decided here alone: the [`fast`]
//! one, written for wasm (32-bit limbs, precomputed tables per key), called directly, or a
//! host's own check ([`SignatureBackend`], with the key's [`der`] form and the
//! [`verify_signature`] messages) where the proxy glue offers one. With the
//! `rustcrypto` feature the same backend is also offered as jwt-compact `Algorithm`s
//! ([`FastEs256`], [`FastRs256`]), and RustCrypto's stays as [`reference`] for differential tests.

pub mod backend;
pub mod der;
// Fixed-size limb arrays indexed by loop counters bounded by the same constants; every length
// that comes from input is checked before (see the module's own notes).
#[allow(clippy::indexing_slicing)]
pub mod fast;
#[cfg(feature = "rustcrypto")]
mod jws;
mod key;
pub mod probe;
#[cfg(feature = "rustcrypto")]
pub mod reference;
pub mod roca;
pub mod verify_signature;

pub use backend::{OwnCode, Scheme, SignatureBackend, OWN_CODE};
#[cfg(feature = "rustcrypto")]
pub use jws::{FastEs256, FastRs256, NoSigningKey, RawSignature};
pub use key::{EcKey, RsaKey};

/// Smallest RSA modulus jwtgate accepts, in bits (contract: "Keys").
pub const MIN_RSA_BITS: usize = 2048;

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
pub fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        None => 0,
        Some(i) => {
            let top = be.get(i).copied().unwrap_or(0);
            (be.len() - i - 1) * 8 + (8 - top.leading_zeros() as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bit_len;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0, 0x80, 0]), 16);
        assert_eq!(bit_len(&[0xff; 256]), 2048);
    }
}
