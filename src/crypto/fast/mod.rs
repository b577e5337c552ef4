//! Fast verification-only backends for ES256 (ECDSA P-256 + SHA-256) and RS256 (RSASSA-PKCS1-v1_5 +
//! SHA-256).
//!
//! Everything here handles public data only (keys, signatures, messages), so the arithmetic is
//! deliberately variable-time. Limbs are 32 bits with 64-bit products, which is what wasm32 executes
//! natively. The module only refers to its own items (`self::`/`super::`) so it can be copied verbatim
//! under any path, e.g. `crate::crypto::fast`. The only external dependency is `sha2`.
//!
//! * [`P256Key`]: ES256. Keys are validated and get a 166.5 KiB table of multiples of the key point;
//!   a shared 297 KiB table of multiples of the generator is built once per process on first use.
//!   Verification is then about 70 mixed point additions and no doublings.
//! * [`RsaKey`]: RS256 for 2048..=8192-bit moduli, Montgomery exponentiation (e = 65537 costs 16
//!   squarings and one multiplication) and a byte-exact comparison with the expected EMSA-PKCS1-v1_5
//!   block.
//!
//! No input can make these functions panic: lengths are checked before any fixed-size conversion, and
//! all other indexing is on fixed-size arrays with constant bounds or on buffers whose lengths are
//! fixed when the key is built.

// Inputs are attacker-controlled; the crate root denies unwrap/expect/panic outside tests.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod es256;
mod lanes;
mod montgomery;
mod p256_field;
mod p256_point;
mod p256_scalar;
mod rs256;
mod u256;

pub use self::es256::P256Key;
pub use self::rs256::RsaKey;
