//! The plugin JSON exactly as written by users: its shape, derived.
//!
//! serde reads it (every field through `de`, which words the errors and refuses `null`), and
//! schemars generates `schema/plugin-config.schema.json` from the same types: the attributes
//! here carry the constraints the schema states. Meaning (ranges, names, references, keys) is
//! checked again in `validate`, which also covers what a schema cannot express.

use super::bounds::{self, *};
use super::de;
use super::model::{EscapedSlashes, Mode};
use super::schema::{
    algorithms, claims, client_cert_header, inline_jwks, revocation_list, HEADER_NAME, HTTP_URI,
    METADATA_KEY, NAME, ORIGIN, PARAM_NAME, TENANT,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// The JSON Envoy passes as the wasm `configuration` and Istio as
/// `WasmPlugin.spec.pluginConfig`. The filter checks more than this schema can (unique
/// provider names, rules naming known providers, usable inline keys); `jwtgate config
/// validate FILE` runs the filter's own checks.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "jwtgate plugin configuration (v1)",
    extend("$id" = "https://jwtgate.dev/schema/plugin-config.schema.json")
)]
pub(super) struct RawConfig {
    #[serde(deserialize_with = "de::objects")]
    #[schemars(length(min = 1))]
    pub providers: Vec<RawProvider>,
    /// First match wins; no rules, or no match: every request requires any provider.
    #[serde(default, deserialize_with = "de::opt_objects")]
    pub rules: Option<Vec<RawRule>>,
    #[serde(default, deserialize_with = "de::opt_named")]
    #[schemars(extend("default" = Mode::default()))]
    pub mode: Option<Mode>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schemars(extend("default" = bounds::BYPASS_CORS_PREFLIGHT))]
    pub bypass_cors_preflight: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(
        range(min = MAX_TOKEN_SIZE.min, max = MAX_TOKEN_SIZE.max),
        extend("default" = MAX_TOKEN_SIZE.default)
    )]
    pub max_token_size: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(
        range(min = TOKEN_CACHE_SIZE.min, max = TOKEN_CACHE_SIZE.max),
        extend("default" = TOKEN_CACHE_SIZE.default)
    )]
    pub token_cache_size: Option<u64>,
    /// A request path with %2F or %5C (any case): "reject" refuses it with 400
    /// path_ambiguous; "keep" passes it on unchanged, matched as ordinary segment characters.
    #[serde(default, deserialize_with = "de::opt_named")]
    #[schemars(extend("default" = EscapedSlashes::default()))]
    pub escaped_slashes: Option<EscapedSlashes>,
}

/// One identity provider: whose tokens, checked how, found where.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "provider",
    extend(
        "oneOf" = [
            { "required": ["remote_jwks"], "not": { "required": ["local_jwks"] } },
            { "required": ["local_jwks"], "not": { "required": ["remote_jwks"] } }
        ],
        "if" = { "required": ["discovery"], "properties": { "discovery": { "const": true } } },
        "then" = { "required": ["remote_jwks"] },
        "else" = { "properties": { "remote_jwks": { "required": ["uri"] } } }
    )
)]
pub(super) struct RawProvider {
    #[serde(deserialize_with = "de::string")]
    #[schemars(pattern(NAME))]
    pub name: String,
    #[serde(deserialize_with = "de::string")]
    #[schemars(length(min = 1))]
    pub issuer: String,
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub audiences: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(schema_with = "algorithms")]
    pub algorithms: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_object")]
    pub remote_jwks: Option<RawRemoteJwks>,
    #[serde(default, deserialize_with = "de::opt_object")]
    pub local_jwks: Option<RawLocalJwks>,
    /// true: the JWKS location comes from <issuer>/.well-known/openid-configuration (fetched
    /// through remote_jwks.cluster); remote_jwks.uri may then be omitted.
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schemars(extend("default" = bounds::DISCOVERY))]
    pub discovery: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_object")]
    pub revocation: Option<RawRevocation>,
    #[serde(default, deserialize_with = "de::opt_objects")]
    #[schemars(extend("default" = [{ "name": "authorization", "value_prefix": "Bearer " }]))]
    pub from_headers: Option<Vec<RawHeaderSource>>,
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(inner(pattern(PARAM_NAME)))]
    pub from_params: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(inner(pattern(PARAM_NAME)))]
    pub from_cookies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = CLOCK_SKEW_S.min, max = CLOCK_SKEW_S.max), extend("default" = CLOCK_SKEW_S.default))]
    pub clock_skew_s: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schemars(extend("default" = bounds::REQUIRE_EXPIRATION))]
    pub require_expiration: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = MAX_LIFETIME_S.min, max = MAX_LIFETIME_S.max))]
    pub max_lifetime_s: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub token_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schemars(extend("default" = bounds::FORWARD))]
    pub forward: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_objects")]
    pub claim_to_headers: Option<Vec<RawClaimHeader>>,
    #[serde(default, deserialize_with = "de::opt_string")]
    #[schemars(pattern(HEADER_NAME))]
    pub forward_payload_header: Option<String>,
    /// With an issuer holding `{tid}`: the tenant ids (`tid`) accepted; omitted = any.
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(length(min = 1), inner(pattern(TENANT)))]
    pub tenants: Option<Vec<String>>,
    /// Verified claims written for the proxy's other filters and access logs (Envoy: filter
    /// state `wasm.jwtgate.<key>`; a no-op on hosts without filter state).
    #[serde(default, deserialize_with = "de::opt_objects")]
    pub claims_to_metadata: Option<Vec<RawClaimMetadata>>,
    /// DPoP (RFC 9449): tokens presented as `Authorization: DPoP <token>` with a `DPoP` proof.
    #[serde(default, deserialize_with = "de::opt_object")]
    pub dpop: Option<RawDpop>,
    /// Certificate-bound tokens (RFC 8705 §3): `cnf.x5t#S256` against the client certificate.
    #[serde(default, deserialize_with = "de::opt_object")]
    pub mtls: Option<RawMtls>,
}

/// DPoP proofs (RFC 9449) for a provider's tokens.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "dpop")]
pub(super) struct RawDpop {
    /// true: a token of this provider must come with the DPoP scheme; a Bearer one fails
    /// dpop_required.
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schemars(extend("default" = bounds::DPOP_REQUIRED))]
    pub required: Option<bool>,
    /// Proof algorithms accepted (asymmetric only).
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(schema_with = "algorithms")]
    pub algorithms: Option<Vec<String>>,
    /// A proof's iat may be at most this old (and at most clock_skew_s in the future).
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = DPOP_MAX_AGE_S.min, max = DPOP_MAX_AGE_S.max), extend("default" = DPOP_MAX_AGE_S.default))]
    pub max_age_s: Option<u64>,
    /// scheme://authority the clients use (behind a TLS terminator); default: the request's
    /// scheme and authority as the proxy sees them.
    #[serde(default, deserialize_with = "de::opt_string")]
    #[schemars(pattern(ORIGIN))]
    pub external_origin: Option<String>,
}

/// Certificate-bound tokens (RFC 8705 §3) for a provider's tokens.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "mtls")]
pub(super) struct RawMtls {
    /// null or omitted: the TLS connection's client certificate; "x-forwarded-client-cert":
    /// the Hash= of that header, set by a trusted TLS terminator in front.
    // The contract spells the default as an explicit `null`: the one field where null is a value.
    #[serde(default)]
    #[schemars(schema_with = "client_cert_header")]
    pub client_cert_header: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "claimMetadata")]
pub(super) struct RawClaimMetadata {
    /// A claim name, or a dotted path to a nested claim.
    #[serde(deserialize_with = "de::string")]
    #[schemars(pattern(r"^[^.]+(\.[^.]+)*$"))]
    pub claim: String,
    /// The key: filter state `wasm.jwtgate.<key>` on Envoy.
    #[serde(deserialize_with = "de::string")]
    #[schemars(pattern(METADATA_KEY))]
    pub key: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "remoteJwks")]
pub(super) struct RawRemoteJwks {
    #[serde(deserialize_with = "de::string")]
    #[schemars(length(min = 1))]
    pub cluster: String,
    #[serde(default, deserialize_with = "de::opt_string")]
    #[schemars(pattern(HTTP_URI))]
    pub uri: Option<String>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = TIMEOUT_MS.min, max = TIMEOUT_MS.max), extend("default" = TIMEOUT_MS.default))]
    pub timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = CACHE_DURATION_S.min, max = CACHE_DURATION_S.max), extend("default" = CACHE_DURATION_S.default))]
    pub cache_duration_s: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = MIN_REFETCH_INTERVAL_S.min, max = MIN_REFETCH_INTERVAL_S.max), extend("default" = MIN_REFETCH_INTERVAL_S.default))]
    pub min_refetch_interval_s: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = MAX_STALE_S.min, max = MAX_STALE_S.max), extend("default" = MAX_STALE_S.default))]
    pub max_stale_s: Option<u64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "localJwks")]
pub(super) struct RawLocalJwks {
    /// A JWKS as a JSON object, or as a JSON string holding one.
    // Which of the two, and whether its keys are usable, is checked in `validate`.
    #[serde(deserialize_with = "de::value")]
    #[schemars(schema_with = "inline_jwks")]
    pub inline: Value,
}

/// Revoked jti values: inline, or fetched (a JSON array of strings, or {"revoked": [...]}; at
/// most 100000 entries, 1 MiB) and refreshed every cache_duration_s.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "revocation")]
#[schemars(extend("oneOf" = [
    {
        "required": ["inline"],
        "not": { "anyOf": [
            { "required": ["uri"] }, { "required": ["cluster"] },
            { "required": ["cache_duration_s"] }, { "required": ["timeout_ms"] }
        ] }
    },
    { "required": ["uri", "cluster"], "not": { "required": ["inline"] } }
]))]
pub(super) struct RawRevocation {
    #[serde(default, deserialize_with = "de::opt_value")]
    #[schemars(schema_with = "revocation_list")]
    pub inline: Option<Value>,
    #[serde(default, deserialize_with = "de::opt_string")]
    #[schemars(pattern(HTTP_URI))]
    pub uri: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    #[schemars(length(min = 1))]
    pub cluster: Option<String>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = CACHE_DURATION_S.min, max = CACHE_DURATION_S.max), extend("default" = CACHE_DURATION_S.default))]
    pub cache_duration_s: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = TIMEOUT_MS.min, max = TIMEOUT_MS.max), extend("default" = TIMEOUT_MS.default))]
    pub timeout_ms: Option<u64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "headerSource")]
pub(super) struct RawHeaderSource {
    #[serde(deserialize_with = "de::string")]
    #[schemars(pattern(HEADER_NAME))]
    pub name: String,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub value_prefix: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "claimHeader")]
pub(super) struct RawClaimHeader {
    /// A claim name, or a dotted path to a nested claim.
    #[serde(deserialize_with = "de::string")]
    #[schemars(pattern(r"^[^.]+(\.[^.]+)*$"))]
    pub claim: String,
    #[serde(deserialize_with = "de::string")]
    #[schemars(pattern(HEADER_NAME))]
    pub header: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "rule")]
pub(super) struct RawRule {
    #[serde(rename = "match", deserialize_with = "de::object")]
    pub matcher: RawMatch,
    #[serde(default, deserialize_with = "de::opt_object")]
    pub requires: Option<RawRequirement>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "match")]
#[schemars(extend("oneOf" = [{ "required": ["prefix"] }, { "required": ["path"] }]))]
pub(super) struct RawMatch {
    #[serde(default, deserialize_with = "de::opt_string")]
    #[schemars(pattern("^/"))]
    pub prefix: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    #[schemars(pattern("^/"))]
    pub path: Option<String>,
    /// Compare the normalized path ASCII case-insensitively (for upstreams that do).
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schemars(extend("default" = bounds::IGNORE_CASE))]
    pub ignore_case: Option<bool>,
}

/// Exactly one of provider (with its scopes, claims, clients, acr_values and max_age_s), any,
/// all, allow_missing, allow_missing_or_failed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "requirement",
    extend("oneOf" = [
        { "required": ["provider"] },
        { "required": ["any"], "not": { "anyOf": [{ "required": ["scopes"] }, { "required": ["claims"] }, { "required": ["clients"] }, { "required": ["acr_values"] }, { "required": ["max_age_s"] }] } },
        { "required": ["all"], "not": { "anyOf": [{ "required": ["scopes"] }, { "required": ["claims"] }, { "required": ["clients"] }, { "required": ["acr_values"] }, { "required": ["max_age_s"] }] } },
        { "required": ["allow_missing"], "not": { "anyOf": [{ "required": ["scopes"] }, { "required": ["claims"] }, { "required": ["clients"] }, { "required": ["acr_values"] }, { "required": ["max_age_s"] }] } },
        { "required": ["allow_missing_or_failed"], "not": { "anyOf": [{ "required": ["scopes"] }, { "required": ["claims"] }, { "required": ["clients"] }, { "required": ["acr_values"] }, { "required": ["max_age_s"] }] } }
    ])
)]
pub(super) struct RawRequirement {
    #[serde(default, deserialize_with = "de::opt_string")]
    pub provider: Option<String>,
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(inner(pattern(r#"^[^\s"\\]+$"#)))]
    pub scopes: Option<Vec<String>>,
    /// Claim name or dotted path → accepted values (strings, numbers or booleans).
    // Kept in the document's key order.
    #[serde(default, deserialize_with = "de::opt_groups")]
    #[schemars(schema_with = "claims")]
    pub claims: Option<de::ClaimValues>,
    /// The token's client_id (RFC 9068), else its azp, must be one of these.
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub clients: Option<Vec<String>>,
    /// Step-up (RFC 9470): the token's acr must be one of these.
    #[serde(default, deserialize_with = "de::opt_strings")]
    #[schemars(length(min = 1), inner(pattern(r#"^[^\s"\\]+$"#)))]
    pub acr_values: Option<Vec<String>>,
    /// Step-up (RFC 9470): the token's auth_time must be present and at most this many
    /// seconds old (the provider's clock_skew_s applies).
    #[serde(default, deserialize_with = "de::opt_uint")]
    #[schemars(range(min = MAX_AGE_S.min, max = MAX_AGE_S.max))]
    pub max_age_s: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_objects")]
    #[schemars(length(min = 1))]
    pub any: Option<Vec<RawRequirement>>,
    #[serde(default, deserialize_with = "de::opt_objects")]
    #[schemars(length(min = 1))]
    pub all: Option<Vec<RawRequirement>>,
    #[serde(default, deserialize_with = "de::opt_boxed")]
    pub allow_missing: Option<Box<RawRequirement>>,
    #[serde(default, deserialize_with = "de::opt_boxed")]
    pub allow_missing_or_failed: Option<Box<RawRequirement>>,
}

/// `parent.key`; keys are user text, quoted if need be so the error stays on one line.
pub(super) fn child(at: &str, key: &str) -> String {
    let key = if key.contains(char::is_control) {
        format!("{key:?}")
    } else {
        key.to_owned()
    };
    if at.is_empty() {
        key
    } else {
        format!("{at}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, ConfigError};

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn refused(json: String) -> ConfigError {
        match parse(json.as_bytes()) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e,
        }
    }

    /// A one-provider config with `extra` spliced into the provider object.
    fn with_provider_field(extra: &str) -> String {
        format!(
            r#"{{"providers":[{{"name":"p","issuer":"i","local_jwks":{{"inline":{JWKS}}}{extra}}}]}}"#
        )
    }

    #[test]
    fn base_config_parses() {
        assert!(parse(with_provider_field("").as_bytes()).is_ok());
        // Contract v1.1: `null` is not "omitted".
        let e = refused(with_provider_field(r#","audiences":null"#));
        assert_eq!(e.field, "providers[0].audiences", "{e}");
    }

    #[test]
    fn integers_out_of_range_name_the_field() {
        for (v, problem) in [
            ("-5", "must not be negative"),
            ("1.5", "must be a whole number"),
            ("5e3", "must be a whole number"),
            ("18446744073709551616", "is too large"),
            ("\"60\"", "expected an integer, found a string"),
        ] {
            let e = refused(with_provider_field(&format!(r#","clock_skew_s":{v}"#)));
            assert_eq!(e.field, "providers[0].clock_skew_s", "{e}");
            assert!(e.problem.contains(problem), "{v}: {e}");
        }
    }

    #[test]
    fn wrong_types_and_missing_fields_name_the_field() {
        let e = refused(with_provider_field(r#","algorithms":["ES256",1]"#));
        assert_eq!(e.field, "providers[0].algorithms[1]", "{e}");
        let e = refused(with_provider_field(r#","forward":"yes""#));
        assert_eq!(e.field, "providers[0].forward", "{e}");
        let e = refused(r#"{"providers":[{"name":"p","local_jwks":{"inline":"x"}}]}"#.into());
        assert_eq!(e.field, "providers[0].issuer", "{e}");
        let e = refused("[]".into());
        assert_eq!(
            e.to_string(),
            "invalid configuration: expected an object, found an array"
        );
        let e = refused("{}".into());
        assert_eq!(e.field, "providers", "{e}");
    }

    #[test]
    fn unknown_field_message_is_one_line_naming_the_field() {
        let e = refused(with_provider_field(r#","audience":["a"]"#));
        assert_eq!(e.field, "providers[0].audience");
        assert!(e.problem.starts_with("unknown field \"audience\""), "{e}");
        let e = refused(with_provider_field(r#","a\nb":1"#));
        assert!(!e.to_string().contains('\n'), "{e}");
    }

    #[test]
    fn revocation_shapes() {
        for v in ["null", "false", "[\"j\"]"] {
            let e = refused(with_provider_field(&format!(r#","revocation":{v}"#)));
            assert_eq!(e.field, "providers[0].revocation", "{e}");
        }
        let e = refused(with_provider_field(r#","revocation":{"inline":[1]}"#));
        assert_eq!(e.field, "providers[0].revocation.inline", "{e}");
        let e = refused(with_provider_field(r#","revocation":{}"#));
        assert_eq!(e.field, "providers[0].revocation", "{e}");
        let e = refused(with_provider_field(
            r#","revocation":{"inline":["a"],"uri":"http://r/x","cluster":"r"}"#,
        ));
        assert_eq!(e.field, "providers[0].revocation", "{e}");
        let e = refused(with_provider_field(r#","revocation":{"uri":"http://r/x"}"#));
        assert_eq!(e.field, "providers[0].revocation.cluster", "{e}");
        assert!(parse(with_provider_field(r#","revocation":{"inline":["a"]}"#).as_bytes()).is_ok());
        assert!(parse(
            with_provider_field(r#","revocation":{"uri":"http://r/x","cluster":"r"}"#).as_bytes()
        )
        .is_ok());
    }

    #[test]
    fn claims_are_objects_of_arrays() {
        let rules = |claims: &str| {
            let mut v = with_provider_field("");
            // Drops the closing `}` to append rules at the top level.
            v.pop();
            v + &format!(
                r#","rules":[{{"match":{{"prefix":"/"}},"requires":{{"provider":"p","claims":{claims}}}}}]}}"#
            )
        };
        let e = refused(rules(r#"{"role":"admin"}"#));
        assert_eq!(e.field, "rules[0].requires.claims.role", "{e}");
        let e = refused(rules(r#"{"role":[{}]}"#));
        assert_eq!(e.field, "rules[0].requires.claims.role", "{e}");
        assert!(parse(rules(r#"{"role":["admin",1,true]}"#).as_bytes()).is_ok());
    }

    /// A derived struct would also read an array of its fields: objects and arrays are taken
    /// only as such, and the message says what was found.
    #[test]
    fn objects_and_arrays_only_as_such() {
        let e = refused(r#"{"providers":{}}"#.into());
        assert_eq!(
            e.to_string(),
            "invalid configuration: providers: expected an array, found an object"
        );
        let e = refused(r#"{"providers":[["p","i"]]}"#.into());
        assert_eq!(
            e.to_string(),
            "invalid configuration: providers[0]: expected an object, found an array"
        );
        let e = refused(with_provider_field(r#","remote_jwks":["c","http://i/j"]"#));
        assert_eq!(e.field, "providers[0].remote_jwks", "{e}");
        let e = refused(with_provider_field(r#","from_headers":{"name":"x"}"#));
        assert_eq!(e.problem, "expected an array, found an object", "{e}");
        let e = refused(with_provider_field(r#","from_headers":["authorization"]"#));
        assert_eq!(e.field, "providers[0].from_headers[0]", "{e}");
        assert_eq!(e.problem, "expected an object, found a string", "{e}");
    }

    /// Every field of every object, given as `null`, is refused naming it (contract v1.1).
    #[test]
    fn null_is_refused_for_every_field() {
        use serde_json::{json, Value};
        let req = json!({"provider": "p", "scopes": ["s"], "claims": {"role": ["a"]},
            "clients": ["c"], "acr_values": ["a"], "max_age_s": 1});
        let full = json!({
            "providers": [{
                "name": "p", "issuer": "https://i/", "audiences": ["a"], "algorithms": ["ES256"],
                "remote_jwks": {"cluster": "c", "uri": "http://i/j", "timeout_ms": 1,
                    "cache_duration_s": 1, "min_refetch_interval_s": 1, "max_stale_s": 1},
                "local_jwks": {"inline": "{}"}, "discovery": false,
                "revocation": {"inline": ["j"], "uri": "http://r/x", "cluster": "r",
                    "cache_duration_s": 1, "timeout_ms": 1},
                "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                "from_params": ["t"], "from_cookies": ["t"], "clock_skew_s": 1,
                "require_expiration": true, "max_lifetime_s": 1, "token_types": ["jwt"],
                "forward": false, "claim_to_headers": [{"claim": "sub", "header": "x-sub"}],
                "forward_payload_header": "x-payload", "tenants": ["t"],
                "claims_to_metadata": [{"claim": "sub", "key": "sub"}]
            }],
            "rules": [
                {"match": {"prefix": "/", "path": "/a", "ignore_case": true}, "requires": req},
                {"match": {"prefix": "/"}, "requires": {"any": [req], "all": [req],
                    "allow_missing": req, "allow_missing_or_failed": req}}
            ],
            "mode": "enforce", "bypass_cors_preflight": true, "max_token_size": 8192,
            "token_cache_size": 1, "escaped_slashes": "reject"
        });
        fn paths(at: &str, v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        let p = super::child(at, k);
                        if k != "inline" {
                            paths(&p, x, out);
                        }
                        out.push(p);
                    }
                }
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        paths(&format!("{at}[{i}]"), x, out);
                    }
                }
                _ => {}
            }
        }
        let mut all = Vec::new();
        paths("", &full, &mut all);
        assert!(all.len() > 70, "{}", all.len());
        for path in all {
            let mut v = full.clone();
            let pointer = format!("/{}", path.replace(['.', '['], "/").replace(']', ""));
            *v.pointer_mut(&pointer).unwrap() = Value::Null;
            let e = refused(v.to_string());
            assert_eq!(e.field, path, "{e}");
            assert_eq!(e.problem, super::de::NULL, "{e}");
        }
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = refused(with_provider_field(r#","forward":true,"forward":false"#));
        assert_eq!(
            e.to_string(),
            "invalid configuration: invalid JSON: duplicate key"
        );
        let e = refused(r#"{"providers":[]} x"#.into());
        assert!(e.problem.starts_with("invalid JSON"), "{e}");
    }
}
