//! DPoP (RFC 9449): the proof a client sends beside a key-bound token, checked host-free.
//!
//! [`proof`] checks one proof against the request and the token; [`replay`] says what the
//! memory of seen proofs keeps of one. Outside this module, so that imports flow one way:
//! src/htu.rs (the request URI and a proof's `htu` in one comparable form, which the config
//! also uses for `external_origin`), src/replay_memory.rs (that memory over the host's shared
//! data, which the gate writes), src/dpop_challenge.rs (the `DPoP` challenges of an answer)
//! and `DPOP_SCHEME` in src/config/model.rs (the `Authorization` scheme, which the config adds
//! as a token source).

pub mod proof;
pub mod replay;

/// The request header carrying the proof.
pub const PROOF_HEADER: &str = "dpop";
