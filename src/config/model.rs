//! The validated, immutable configuration the filter and the CLI run on.

use crate::keys::KeySet;
use crate::revocation::RevocationList;
use crate::token::Alg;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::rc::Rc;

/// Whether failures reject requests (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Mode {
    /// Reject per the contract's outcome table.
    #[default]
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

/// What a request path with an encoded `/` or `\` (`%2F`, `%5C`) gets (`escaped_slashes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum EscapedSlashes {
    /// Refused with 400 `path_ambiguous` (the default).
    #[default]
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
    /// `issuer` holds a `{tid}` placeholder: the token's own `tid` completes it (v1.2).
    pub issuer_template: Option<IssuerTemplate>,
    /// Claims written where the proxy's other filters and access logs read them (v1.2).
    pub claims_to_metadata: Vec<ClaimMetadata>,
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

impl Default for DpopPolicy {
    /// The contract's defaults: not required, ES256 and RS256, `max_age_s` 300, the request's
    /// own origin.
    fn default() -> Self {
        DpopPolicy {
            required: super::bounds::DPOP_REQUIRED,
            algorithms: vec![Alg::Es256, Alg::Rs256],
            max_age_s: super::bounds::DPOP_MAX_AGE_S.default.unwrap_or(300),
            external_origin: None,
        }
    }
}

/// Where a provider finds the client certificate of a certificate-bound token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtlsPolicy {
    /// The downstream TLS connection's certificate, from the host.
    Connection,
    /// The `Hash=` of a trusted `x-forwarded-client-cert` header.
    ForwardedHeader,
}

/// An issuer with one `{tid}` placeholder (multi-tenant IdPs such as Entra ID): a token's
/// `iss` must equal `prefix + tid + suffix` for the token's own `tid` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerTemplate {
    /// The issuer before `{tid}`.
    pub prefix: String,
    /// The issuer after `{tid}`.
    pub suffix: String,
    /// `tenants`: the `tid`s accepted; `None` = any tenant of this IdP.
    pub tenants: Option<Vec<String>>,
}

impl IssuerTemplate {
    /// True for a tenant id a `{tid}` issuer may hold: non-empty letters, digits and `-` (what
    /// keeps the completed issuer from meaning another path or host).
    pub fn is_tenant_id(tid: &str) -> bool {
        !tid.is_empty() && tid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }
}

/// A verified claim exposed to the rest of the proxy (Envoy: filter state
/// `wasm.jwtgate.<key>`).
#[derive(Debug, Clone)]
pub struct ClaimMetadata {
    /// Path segments of the dotted claim name.
    pub claim: Vec<String>,
    /// The key under `jwtgate.`: letters, digits, `_` and `-`.
    pub key: String,
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
    /// Where the key set is.
    pub location: JwksLocation,
    /// Callout timeout and cold-start wait, in milliseconds.
    pub timeout_ms: u64,
    /// Refresh period in seconds (jittered).
    pub cache_duration_s: u64,
    /// Minimum seconds between unknown-`kid` refetches.
    pub min_refetch_interval_s: u64,
    /// Seconds past expiry the last good keys are still served while fetches fail.
    pub max_stale_s: u64,
}

/// Where a remote key set is: one configured endpoint, or the one the issuer's discovery
/// document names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksLocation {
    /// `remote_jwks.uri`.
    Uri(Endpoint),
    /// OIDC discovery: the `openid-configuration` document whose `jwks_uri` names the JWKS.
    Discovery(Endpoint),
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
        /// The token's `client_id` (else `azp`) must be one of these; empty = not checked.
        clients: Vec<String>,
        /// Step-up (RFC 9470): `acr_values` and `max_age_s`; `None` = not checked.
        step_up: Option<StepUp>,
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

/// A step-up requirement (RFC 9470): how the user must have authenticated, and how recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepUp {
    /// The token's `acr` must be one of these; empty = not checked.
    pub acr_values: Vec<String>,
    /// The token's `auth_time` must be at most this many seconds old; `None` = not checked.
    pub max_age_s: Option<u64>,
}

/// A claim value requirement.
#[derive(Debug, Clone)]
pub struct ClaimRequirement {
    /// Path segments of the dotted claim name.
    pub path: Vec<String>,
    /// Accepted values.
    pub values: Vec<Value>,
}
