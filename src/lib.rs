//! jwtgate: JWT validation for Envoy and other proxy-wasm hosts.
//!
//! Everything but the proxy glue (`host/`, built for wasm32 only) is plain Rust with no proxy
//! calls: it compiles natively, is unit-tested and fuzzed there, serves the `jwtgate` CLI, and
//! takes the time as an argument. The layering follows Envoy's `jwt_authn`: `extract` (where
//! tokens are), `path` (the request path as rules see it), `matcher` (which rule applies),
//! `verifier` (the requirement tree), `authenticator` (one token), `keys` (a provider's JWKS)
//! and `jwks_cache` (fetching and sharing them), with [`gate`] tying them together for one
//! request and [`flow`] deciding what a request does next on a host.
//!
//! The public surface: [`config`], [`gate`], [`flow`], [`token`] and [`json`], and at the root
//! the types their signatures use and the checks the CLI composes ([`authenticate`],
//! [`check_binding`], [`check_identity`], ...).

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

// The public surface, chosen (as jwt-compact chooses its own): five namespaces whose names say
// what they hold, and the types and checks their signatures and the `jwtgate` CLI need,
// re-exported at the root. Every other module is private: the filter's internals can change
// without breaking a user. The integration tests and fuzz targets reach the internals through
// the `test-support` feature, which neither the filter nor the CLI is built with.

pub mod config;
pub mod flow;
pub mod gate;
pub mod json;
pub mod token;

/// Declares internal modules: private in the filter and the CLI, visible (and hidden from the
/// docs) to the integration tests and fuzz targets under the `test-support` feature.
macro_rules! internal {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(feature = "test-support")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "test-support"))]
        // Part of the core serves only the host glue, which exists in the wasm build alone:
        // dead code is the wasm build's lint to find (`make check`), not the native one's.
        #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
        mod $name;
    )*};
}

internal! {
    authenticator;
    binding;
    cache;
    claims;
    crypto;
    dpop;
    dpop_challenge;
    edits;
    extract;
    htu;
    jwks_cache;
    keys;
    logsafe;
    matcher;
    mtls;
    outcome;
    path;
    reason;
    replay_memory;
    revocation;
    verifier;
}

#[cfg(target_arch = "wasm32")]
mod host;

pub use authenticator::{authenticate, check_signature, Auth, KeyState};
pub use binding::{check as check_binding, Evidence};
pub use cache::{TokenCache, MAX_CACHE_BYTES};
pub use claims::{check_identity, Verified};
pub use crypto::{EcKey, OwnCode, RsaKey, Scheme, SignatureBackend, MIN_RSA_BITS, OWN_CODE};
/// The filter's own signature code as jwt-compact `Algorithm`s (feature `rustcrypto`).
#[cfg(feature = "rustcrypto")]
pub use crypto::{FastEs256, FastRs256, NoSigningKey, RawSignature};
pub use extract::{HeaderPair, Location, RequestParts, MAX_DISTINCT_TOKENS};
pub use jwks_cache::{Answer, Fetch, KeyCache, RequestView, SharedStore, StoreError};
pub use keys::{
    Candidates, JwksError, KeySet, SkipReason, MAX_JWKS_BYTES, MAX_KEYS, MAX_LISTED_SKIPS,
};
pub use matcher::requirement;
pub use mtls::{digest_of_certificate, Digest32, XFCC};
pub use outcome::{is_grpc, Rejection};
pub use reason::Reason;
pub use verifier::{Denial, KeyLookup, Need};
