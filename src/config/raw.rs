//! The plugin JSON exactly as written by users: serde types that refuse unknown fields.
//!
//! Only shape is checked here; meaning (ranges, names, references) is checked in `validate`.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub providers: Vec<RawProvider>,
    pub rules: Option<Vec<RawRule>>,
    pub mode: Option<String>,
    pub bypass_cors_preflight: Option<bool>,
    pub max_token_size: Option<u64>,
    pub token_cache_size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    pub name: String,
    pub issuer: String,
    pub audiences: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub remote_jwks: Option<RawRemoteJwks>,
    pub local_jwks: Option<RawLocalJwks>,
    pub discovery: Option<bool>,
    pub revocation: Option<Value>,
    pub from_headers: Option<Vec<RawHeaderSource>>,
    pub from_params: Option<Vec<String>>,
    pub from_cookies: Option<Vec<String>>,
    pub clock_skew_s: Option<u64>,
    pub require_expiration: Option<bool>,
    pub max_lifetime_s: Option<u64>,
    pub token_types: Option<Vec<String>>,
    pub forward: Option<bool>,
    pub claim_to_headers: Option<Vec<RawClaimHeader>>,
    pub forward_payload_header: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRemoteJwks {
    pub cluster: String,
    pub uri: Option<String>,
    pub timeout_ms: Option<u64>,
    pub cache_duration_s: Option<u64>,
    pub min_refetch_interval_s: Option<u64>,
    pub max_stale_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocalJwks {
    pub inline: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaderSource {
    pub name: String,
    pub value_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClaimHeader {
    pub claim: String,
    pub header: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    #[serde(rename = "match")]
    pub matcher: RawMatch,
    pub requires: Option<RawRequirement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    pub prefix: Option<String>,
    pub path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequirement {
    pub provider: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub claims: Option<BTreeMap<String, Vec<Value>>>,
    pub any: Option<Vec<RawRequirement>>,
    pub all: Option<Vec<RawRequirement>>,
    pub allow_missing: Option<Box<RawRequirement>>,
    pub allow_missing_or_failed: Option<Box<RawRequirement>>,
}
