//! What `config from-istio` reads: the fields of Istio's `RequestAuthentication` and
//! `AuthorizationPolicy` it maps, typed. Every field is optional (Istio's own defaults apply when
//! absent); fields jwtgate cannot check are kept by name so that a note can say which one.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The part of any Kubernetes object that says what it is.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Head {
    pub kind: Option<String>,
    pub metadata: Metadata,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Metadata {
    pub name: Option<String>,
    pub namespace: Option<String>,
}

impl Metadata {
    /// `namespace/name` as notes name an object.
    pub fn display(&self) -> String {
        let name = self.name.as_deref().unwrap_or("?");
        match &self.namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        }
    }
}

/// `RequestAuthentication.spec`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct RequestAuthentication {
    pub jwt_rules: Vec<JwtRule>,
}

/// One `jwtRules` entry.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct JwtRule {
    pub issuer: Option<String>,
    pub audiences: Vec<String>,
    pub timeout: Option<String>,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    /// The proto field name, which Istio's YAML also accepts (`jwksUri` wins when both are set).
    #[serde(rename = "jwks_uri")]
    pub jwks_uri_proto_name: Option<String>,
    /// Absent (Istio's default locations) differs from empty.
    pub from_headers: Option<Vec<JwtHeader>>,
    pub from_params: Vec<String>,
    pub from_cookies: Vec<String>,
    pub forward_original_token: Option<bool>,
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    pub output_payload_to_header: Option<String>,
    pub jwks_cache_duration: Option<Value>,
    pub tls_ca: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct JwtHeader {
    pub name: Option<String>,
    pub prefix: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ClaimToHeader {
    pub claim: Option<String>,
    pub header: Option<String>,
}

impl JwtRule {
    /// Where the keys are fetched from, if the rule says.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri
            .as_deref()
            .or(self.jwks_uri_proto_name.as_deref())
    }
}

/// `AuthorizationPolicy.spec`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuthorizationPolicy {
    pub action: Option<String>,
    /// Absent (deny everything under ALLOW) differs from empty.
    pub rules: Option<Vec<PolicyRule>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct PolicyRule {
    pub from: Option<Vec<From>>,
    pub to: Vec<To>,
    pub when: Option<Vec<Condition>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct From {
    pub source: Source,
}

/// `from[].source`: only request principals can be checked by jwtgate.
#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
pub struct Source {
    pub request_principals: Option<Vec<String>>,
    pub not_request_principals: Option<Vec<String>>,
    /// Every other field (namespaces, ipBlocks, …), by name.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl Source {
    /// The first field other than `requestPrincipals`, which jwtgate cannot check.
    pub fn unchecked_field(&self) -> Option<&str> {
        let mut names: Vec<&str> = self.other.keys().map(String::as_str).collect();
        if self.not_request_principals.is_some() {
            names.push("notRequestPrincipals");
        }
        names.sort_unstable();
        names.first().copied()
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct To {
    pub operation: Operation,
}

/// `to[].operation`: only paths can be checked by jwtgate.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct Operation {
    pub paths: Vec<String>,
    /// Every other field (hosts, methods, ports, notPaths, …), by name.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    pub key: Option<String>,
    pub values: Vec<String>,
    pub not_values: Option<Vec<String>>,
}
