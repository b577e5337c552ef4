//! DPoP (RFC 9449): the proof a client sends beside a key-bound token, checked host-free.
//!
//! [`proof`] checks one proof against the request and the token, [`htu`] gives the request URI
//! and the proof's `htu` one comparable form, and [`replay`] remembers seen proofs across the
//! workers of a host through its shared data.

pub mod challenge;
pub mod htu;
pub mod proof;
pub mod replay;

/// The `Authorization` scheme of a DPoP-bound token (compared case-insensitively), with the
/// space that separates it from the token.
pub const SCHEME: &str = "DPoP ";

/// The request header carrying the proof.
pub const PROOF_HEADER: &str = "dpop";
