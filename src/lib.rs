//! jwtgate: JWT validation for Envoy and other proxy-wasm hosts.
//!
//! Everything outside [`host`] is plain Rust with no proxy calls: it compiles natively, is
//! unit-tested and fuzzed there, serves the `jwtgate` CLI, and takes the time as an argument.
//! The layering follows Envoy's `jwt_authn`: [`extract`] (where tokens are), [`path`] (the
//! request path as rules see it), [`matcher`] (which rule applies), [`verifier`] (the
//! requirement tree), [`authenticator`] (one token), [`keys`] (a provider's JWKS), with [`gate`] tying them together for one request.

// `unsafe` lives only in the ABI layer (`host/abi.rs`, which allows it with its reasons).
#![deny(unsafe_code)]
// A panic traps the wasm VM and fails every later request on it: nothing reachable from a token,
// a JWKS, the config or a header may panic, and the compiler is asked to hold us to it.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing
    )
)]

pub mod authenticator;
pub mod binding;
pub mod cache;
pub mod claims;
pub mod config;
pub mod crypto;
pub mod dpop;
pub mod dpop_challenge;
pub mod edits;
pub mod extract;
pub mod flow;
pub mod gate;
pub mod htu;
pub mod json;
pub mod jwks_cache;
pub mod keys;
pub mod logsafe;
pub mod matcher;
pub mod mtls;
pub mod outcome;
pub mod path;
mod reason;
pub mod replay_memory;
pub mod revocation;
pub mod token;
pub mod verifier;

#[cfg(target_arch = "wasm32")]
mod host;

pub use reason::Reason;
