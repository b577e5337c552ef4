//! The validated, immutable configuration the filter and the CLI run on.

use crate::keys::KeySet;
use crate::revocation::RevocationList;
use crate::token::Alg;
use serde_json::Value;
use std::rc::Rc;

/// Whether failures reject requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reject per the contract's outcome table.
    Enforce,
    /// Never reject: log, count and annotate only.
    Report,
}

/// The whole plugin configuration.
#[derive(Debug)]
pub struct Config {
    /// Providers, in configuration order; requirements refer to them by index.
    pub providers: Vec<Provider>,
    /// Route rules, first match wins.
    pub rules: Vec<Rule>,
    /// What applies when no rule matches (or no rules are configured): any provider.
    pub default_requirement: Requirement,
    /// Enforce or report.
    pub mode: Mode,
    /// Let CORS preflights through untouched.
    pub bypass_cors_preflight: bool,
    /// Tokens longer than this fail with `token_too_large` before parsing.
    pub max_token_size: usize,
    /// Verified tokens kept per VM; 0 disables the cache.
    pub token_cache_size: usize,
    /// Every header some provider may set: removed from every request first.
    pub identity_headers: Vec<String>,
    /// Whether `%2F`/`%5C` in a request path are refused (`path_ambiguous`) or kept.
    pub escaped_slashes: EscapedSlashes,
}

/// What a request path with an encoded `/` or `\` (`%2F`, `%5C`) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapedSlashes {
    /// Refused with 400 `path_ambiguous` (the default).
    Reject,
    /// Passed on unchanged, matched as ordinary characters of their segment.
    Keep,
}

/// One token issuer and how to trust it.
#[derive(Debug)]
pub struct Provider {
    /// Unique name (metrics, logs, requirements).
    pub name: String,
    /// Exact `iss`.
    pub issuer: String,
    /// `aud` must contain one of these; `None` = not checked.
    pub audiences: Option<Vec<String>>,
    /// Allowed algorithms (non-empty).
    pub algorithms: Vec<Alg>,
    /// Where keys come from.
    pub jwks: JwksSource,
    /// Where tokens are found.
    pub sources: TokenSources,
    /// Tolerance for `exp`, `nbf`, `iat`, in seconds.
    pub clock_skew_s: u64,
    /// A token without `exp` fails with `exp_missing`.
    pub require_expiration: bool,
    /// Upper bound on `exp - iat` (or `exp - now`).
    pub max_lifetime_s: Option<u64>,
    /// Allowed `typ` values, lowercased and without `application/`.
    pub token_types: Option<Vec<String>>,
    /// Keep the token in the request sent upstream.
    pub forward: bool,
    /// Claims copied into request headers.
    pub claim_to_headers: Vec<ClaimHeader>,
    /// Header for the base64url payload.
    pub forward_payload_header: Option<String>,
    /// Revoked `jti`s, inline or fetched.
    pub revocation: Option<Revocation>,
    /// DPoP proofs (RFC 9449), when the provider accepts DPoP-bound tokens.
    pub dpop: Option<DpopPolicy>,
    /// Certificate-bound tokens (RFC 8705 §3), when the provider accepts them.
    pub mtls: Option<MtlsPolicy>,
}

/// The `Authorization` scheme of a DPoP-bound token (compared case-insensitively), with the
/// space that separates it from the token.
pub const DPOP_SCHEME: &str = "DPoP ";

/// How a provider checks DPoP proofs (contract v1.2, "DPoP").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// A Bearer token of this provider fails `dpop_required`.
    pub required: bool,
    /// Proof algorithms accepted (non-empty).
    pub algorithms: Vec<Alg>,
    /// Oldest proof `iat` accepted, in seconds before now (clock skew added).
    pub max_age_s: u64,
    /// `scheme://authority` the clients use, lowercased, default port removed; `None`: the
    /// request's own scheme and authority.
    pub external_origin: Option<String>,
}

/// Where a provider finds the client certificate of a certificate-bound token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtlsPolicy {
    /// The downstream TLS connection's certificate, from the host.
    Connection,
    /// The `Hash=` of a trusted `x-forwarded-client-cert` header.
    ForwardedHeader,
}

/// Where a provider's revoked `jti`s come from.
#[derive(Debug)]
pub enum Revocation {
    /// Given in the config.
    Inline(Rc<RevocationList>),
    /// Fetched and refreshed like a JWKS.
    Remote(RemoteRevocation),
}

/// A fetched revocation list.
#[derive(Debug, Clone)]
pub struct RemoteRevocation {
    /// Upstream for `proxy_http_call`.
    pub cluster: String,
    /// The document's location.
    pub endpoint: Endpoint,
    /// Callout timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Refresh period in seconds (jittered).
    pub cache_duration_s: u64,
}

/// An HTTP document reached through a callout: its URI and the callout's `:authority`/`:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The full URI (for logs).
    pub uri: String,
    /// `:authority` of the callout.
    pub authority: String,
    /// `:path` of the callout.
    pub path: String,
}

/// Where a provider's keys come from.
#[derive(Debug)]
pub enum JwksSource {
    /// Fetched over HTTP through the host.
    Remote(RemoteJwks),
    /// Given inline, parsed at configuration time.
    Local(Rc<KeySet>),
}

/// A JWKS endpoint and its caching policy.
#[derive(Debug, Clone)]
pub struct RemoteJwks {
    /// Upstream for `proxy_http_call`.
    pub cluster: String,
    /// The full URI as configured (for logs).
    pub uri: String,
    /// `:authority` of the callout.
    pub authority: String,
    /// `:path` of the callout.
    pub path: String,
    /// Callout timeout and cold-start wait, in milliseconds.
    pub timeout_ms: u64,
    /// Refresh period in seconds (jittered).
    pub cache_duration_s: u64,
    /// Minimum seconds between unknown-`kid` refetches.
    pub min_refetch_interval_s: u64,
    /// Seconds past expiry the last good keys are still served while fetches fail.
    pub max_stale_s: u64,
    /// OIDC discovery: the `openid-configuration` document whose `jwks_uri` names the JWKS
    /// (then `uri`, `authority` and `path` are empty until discovered).
    pub discovery: Option<Endpoint>,
}

/// Token locations of a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSources {
    /// Headers, with an optional value prefix (matched case-insensitively).
    pub headers: Vec<HeaderSource>,
    /// Query parameters.
    pub params: Vec<String>,
    /// Cookies.
    pub cookies: Vec<String>,
}

/// A header that may carry a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSource {
    /// Lowercase header name.
    pub name: String,
    /// Prefix before the token, e.g. `Bearer `; `None` = the whole value.
    pub value_prefix: Option<String>,
}

/// A claim copied to a header.
#[derive(Debug, Clone)]
pub struct ClaimHeader {
    /// Path segments of the dotted claim name.
    pub claim: Vec<String>,
    /// Lowercase header name.
    pub header: String,
}

/// A route rule.
#[derive(Debug)]
pub struct Rule {
    /// Which requests it applies to.
    pub matcher: PathMatch,
    /// Compare the path ASCII case-insensitively (`"ignore_case": true`).
    pub ignore_case: bool,
    /// What they need; `Requirement::None` = no token needed.
    pub requires: Requirement,
}

/// How a rule matches the request path (query string excluded), compared with the path's
/// normalized match form (`crate::path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// Path starts with this (a string prefix).
    Prefix(String),
    /// Path equals this, or this with one trailing `/`.
    Exact(String),
}

/// The verifier tree.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// Nothing is required.
    None,
    /// A valid token of this provider, with scopes and claim values.
    Provider {
        /// Index into `Config::providers`.
        provider: usize,
        /// Every one of these must be granted.
        scopes: Vec<String>,
        /// Each claim must have (or contain) one of the listed values.
        claims: Vec<ClaimRequirement>,
    },
    /// At least one must pass.
    Any(Vec<Requirement>),
    /// Every one must pass.
    All(Vec<Requirement>),
    /// No token passes; a bad token fails.
    AllowMissing(Box<Requirement>),
    /// Never rejects; annotates only when valid.
    AllowMissingOrFailed(Box<Requirement>),
}

/// A claim value requirement.
#[derive(Debug, Clone)]
pub struct ClaimRequirement {
    /// Path segments of the dotted claim name.
    pub path: Vec<String>,
    /// Accepted values.
    pub values: Vec<Value>,
}
