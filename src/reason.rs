//! Reason codes: the one vocabulary shared by logs, metrics and response bodies.

use std::fmt;

/// Why a request was not authenticated (or not authorized).
///
/// Every failure in the core maps to exactly one of these; the strings are
/// part of the contract (`docs/configuration.md`) and must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// A token was required and none was found.
    TokenMissing,
    /// Not a strict compact JWS, or conflicting tokens in one request.
    TokenMalformed,
    /// Larger than `max_token_size`; rejected before any parsing.
    TokenTooLarge,
    /// The header's `alg` is not in the provider's allow-list.
    AlgNotAllowed,
    /// No usable key for this token (`kid` unknown or key unfit for `alg`).
    UnknownKid,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is in the past (beyond the clock skew).
    TokenExpired,
    /// `nbf` (or `iat`) is in the future (beyond the clock skew).
    TokenNotYetValid,
    /// `exp` is required but absent.
    ExpMissing,
    /// `exp - iat` (or `exp - now`) exceeds `max_lifetime_s`.
    LifetimeTooLong,
    /// `iss` differs from the provider's issuer.
    WrongIssuer,
    /// `aud` contains none of the configured audiences.
    WrongAudience,
    /// `typ` is absent or not in `token_types`.
    WrongType,
    /// A required scope is missing.
    InsufficientScope,
    /// A required claim value is missing.
    ClaimMismatch,
    /// The provider has no usable keys (never fetched, or stale past `max_stale_s`).
    JwksUnavailable,
    /// The token's `jti` is revoked.
    TokenRevoked,
    /// The token is sender-constrained (`cnf`: DPoP or mTLS-bound) but was presented as a
    /// plain Bearer token, whose proof of possession nothing here checks.
    TokenBound,
    /// The request path has a spelling servers disagree on (refused with 400 before any rule).
    PathAmbiguous,
    /// The provider requires DPoP and the token came as a Bearer token.
    DpopRequired,
    /// A token came under the DPoP scheme without a `DPoP` proof header.
    DpopProofMissing,
    /// The DPoP proof is repeated, malformed or fails a check (typ, alg, jwk, signature, jti,
    /// htm, htu, iat, ath).
    DpopProofInvalid,
    /// The DPoP proof's `jti` was seen before within its window.
    DpopReplayed,
    /// The token's `cnf.jkt` is not the thumbprint of the proof's key.
    DpopKeyMismatch,
    /// The token's `cnf.x5t#S256` does not name the client certificate (or there is none).
    CertMismatch,
    /// The memory of seen DPoP proofs could not take this one (full, or the host refused):
    /// 503 rather than letting a possible replay through.
    DpopReplayUnavailable,
    /// Step-up (RFC 9470): the token's `acr` is not one of the requirement's `acr_values`.
    AcrInsufficient,
    /// Step-up (RFC 9470): `auth_time` is missing or older than the requirement's `max_age_s`.
    AuthTimeTooOld,
    /// The token's `client_id` (else `azp`) is not in the requirement's `clients`.
    ClientNotAllowed,
}

impl Reason {
    /// Every reason, in declaration order (for metrics and tests).
    pub const ALL: [Reason; 29] = [
        Reason::TokenMissing,
        Reason::TokenMalformed,
        Reason::TokenTooLarge,
        Reason::AlgNotAllowed,
        Reason::UnknownKid,
        Reason::BadSignature,
        Reason::TokenExpired,
        Reason::TokenNotYetValid,
        Reason::ExpMissing,
        Reason::LifetimeTooLong,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::WrongType,
        Reason::InsufficientScope,
        Reason::ClaimMismatch,
        Reason::JwksUnavailable,
        Reason::TokenRevoked,
        Reason::TokenBound,
        Reason::PathAmbiguous,
        Reason::DpopRequired,
        Reason::DpopProofMissing,
        Reason::DpopProofInvalid,
        Reason::DpopReplayed,
        Reason::DpopKeyMismatch,
        Reason::CertMismatch,
        Reason::DpopReplayUnavailable,
        Reason::AcrInsufficient,
        Reason::AuthTimeTooOld,
        Reason::ClientNotAllowed,
    ];

    /// The contract's snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TokenMissing => "token_missing",
            Reason::TokenMalformed => "token_malformed",
            Reason::TokenTooLarge => "token_too_large",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnknownKid => "unknown_kid",
            Reason::BadSignature => "bad_signature",
            Reason::TokenExpired => "token_expired",
            Reason::TokenNotYetValid => "token_not_yet_valid",
            Reason::ExpMissing => "exp_missing",
            Reason::LifetimeTooLong => "lifetime_too_long",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::WrongType => "wrong_type",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::ClaimMismatch => "claim_mismatch",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::TokenRevoked => "token_revoked",
            Reason::TokenBound => "token_bound",
            Reason::PathAmbiguous => "path_ambiguous",
            Reason::DpopRequired => "dpop_required",
            Reason::DpopProofMissing => "dpop_proof_missing",
            Reason::DpopProofInvalid => "dpop_proof_invalid",
            Reason::DpopReplayed => "dpop_replayed",
            Reason::DpopKeyMismatch => "dpop_key_mismatch",
            Reason::CertMismatch => "cert_mismatch",
            Reason::DpopReplayUnavailable => "dpop_replay_unavailable",
            Reason::AcrInsufficient => "acr_insufficient",
            Reason::AuthTimeTooOld => "auth_time_too_old",
            Reason::ClientNotAllowed => "client_not_allowed",
        }
    }

    /// True for a failure of the DPoP proof itself (challenged with `invalid_dpop_proof`).
    pub fn is_dpop_proof(self) -> bool {
        matches!(
            self,
            Reason::DpopProofMissing
                | Reason::DpopProofInvalid
                | Reason::DpopReplayed
                | Reason::DpopKeyMismatch
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request's failure: the error of the request layer (token, keys, requirements).
impl std::error::Error for Reason {}
