//! What `config from-istio` writes: the plugin config fields it fills, typed. The filter's own
//! parser checks the result before it is printed.

use serde::Serialize;
use std::collections::BTreeMap;

/// A plugin config.
#[derive(Serialize)]
pub struct PluginConfig {
    pub providers: Vec<Provider>,
    pub rules: Vec<Rule>,
}

/// One provider, from one `jwtRules` entry.
#[derive(Serialize)]
pub struct Provider {
    pub name: String,
    pub issuer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub discovery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_jwks: Option<RemoteJwks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_jwks: Option<LocalJwks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_headers: Option<Vec<FromHeader>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_cookies: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forward: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claim_to_headers: Vec<ClaimToHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_payload_header: Option<String>,
}

#[derive(Serialize)]
pub struct RemoteJwks {
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[derive(Serialize)]
pub struct LocalJwks {
    pub inline: String,
}

#[derive(Serialize)]
pub struct FromHeader {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_prefix: Option<String>,
}

#[derive(Serialize)]
pub struct ClaimToHeader {
    pub claim: String,
    pub header: String,
}

/// A rule: first match wins.
#[derive(Serialize)]
pub struct Rule {
    #[serde(rename = "match")]
    pub matcher: PathMatch,
    pub requires: Requirement,
}

/// `{"path": …}` (exact) or `{"prefix": …}`.
#[derive(Serialize, Clone, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    Path(String),
    Prefix(String),
}

impl PathMatch {
    /// Most specific first: exact paths, then longer prefixes.
    pub fn specificity(&self) -> (bool, std::cmp::Reverse<usize>) {
        match self {
            PathMatch::Path(p) => (false, std::cmp::Reverse(p.len())),
            PathMatch::Prefix(p) => (true, std::cmp::Reverse(p.len())),
        }
    }
}

/// Claim name (dotted path) → accepted values.
pub type Claims = BTreeMap<String, Vec<String>>;

/// The requirements the conversion writes.
#[derive(Serialize, Clone, PartialEq, Eq, Debug)]
#[serde(untagged)]
pub enum Requirement {
    /// A valid token of this provider with these claims.
    Provider {
        provider: String,
        #[serde(skip_serializing_if = "Claims::is_empty")]
        claims: Claims,
    },
    /// Any of these.
    Any { any: Vec<Requirement> },
    /// No token passes; an invalid one fails.
    AllowMissing { allow_missing: Box<Requirement> },
}
