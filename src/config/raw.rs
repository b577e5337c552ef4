//! The plugin JSON exactly as written by users, read by hand from a strict [`Value`].
//!
//! Only shape is checked here; meaning (ranges, names, references) is checked in `validate`.
//! A hand-written reader instead of serde derive keeps the filter's .wasm small: derived
//! deserializers plus path tracking cost about 100 KB of code, this costs a few.

use super::ConfigError;
use serde_json::{Map, Value};

type R<T> = Result<T, ConfigError>;

pub(super) struct RawConfig {
    pub providers: Vec<RawProvider>,
    pub rules: Option<Vec<RawRule>>,
    pub mode: Option<String>,
    pub bypass_cors_preflight: Option<bool>,
    pub max_token_size: Option<u64>,
    pub token_cache_size: Option<u64>,
    pub escaped_slashes: Option<String>,
}

#[derive(Default)]
pub(super) struct RawProvider {
    pub name: String,
    pub issuer: String,
    pub audiences: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub remote_jwks: Option<RawRemoteJwks>,
    pub local_jwks: Option<RawLocalJwks>,
    pub discovery: Option<bool>,
    pub revocation: Option<RawRevocation>,
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

pub(super) struct RawRemoteJwks {
    pub cluster: String,
    pub uri: Option<String>,
    pub timeout_ms: Option<u64>,
    pub cache_duration_s: Option<u64>,
    pub min_refetch_interval_s: Option<u64>,
    pub max_stale_s: Option<u64>,
}

pub(super) struct RawLocalJwks {
    pub inline: Value,
}

pub(super) struct RawRevocation {
    pub inline: Option<Value>,
    pub uri: Option<String>,
    pub cluster: Option<String>,
    pub cache_duration_s: Option<u64>,
    pub timeout_ms: Option<u64>,
}

pub(super) struct RawHeaderSource {
    pub name: String,
    pub value_prefix: Option<String>,
}

pub(super) struct RawClaimHeader {
    pub claim: String,
    pub header: String,
}

pub(super) struct RawRule {
    pub matcher: RawMatch,
    pub requires: Option<RawRequirement>,
}

pub(super) struct RawMatch {
    pub prefix: Option<String>,
    pub path: Option<String>,
    pub ignore_case: Option<bool>,
}

#[derive(Default)]
pub(super) struct RawRequirement {
    pub provider: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// Claim name → accepted values, in the document's key order.
    pub claims: Option<Vec<(String, Vec<Value>)>>,
    pub any: Option<Vec<RawRequirement>>,
    pub all: Option<Vec<RawRequirement>>,
    pub allow_missing: Option<Box<RawRequirement>>,
    pub allow_missing_or_failed: Option<Box<RawRequirement>>,
}

impl RawConfig {
    /// Reads the whole document; the first shape problem found is the error.
    pub(super) fn read(v: &Value) -> R<Self> {
        let o = Obj::new(String::new(), v, CONFIG_FIELDS)?;
        let (at, providers) = o.required("providers")?;
        Ok(RawConfig {
            providers: array(at, providers, RawProvider::read)?,
            rules: o.list("rules", RawRule::read)?,
            mode: o.string("mode")?,
            bypass_cors_preflight: o.boolean("bypass_cors_preflight")?,
            max_token_size: o.uint("max_token_size")?,
            token_cache_size: o.uint("token_cache_size")?,
            escaped_slashes: o.string("escaped_slashes")?,
        })
    }
}

const CONFIG_FIELDS: &[&str] = &[
    "providers",
    "rules",
    "mode",
    "bypass_cors_preflight",
    "max_token_size",
    "token_cache_size",
    "escaped_slashes",
];

const PROVIDER_FIELDS: &[&str] = &[
    "name",
    "issuer",
    "audiences",
    "algorithms",
    "remote_jwks",
    "local_jwks",
    "discovery",
    "revocation",
    "from_headers",
    "from_params",
    "from_cookies",
    "clock_skew_s",
    "require_expiration",
    "max_lifetime_s",
    "token_types",
    "forward",
    "claim_to_headers",
    "forward_payload_header",
];

impl RawProvider {
    // Filling a default field by field is the point: see the comment inside.
    #[allow(clippy::field_reassign_with_default)]
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(at, v, PROVIDER_FIELDS)?;
        // Filled field by field so an error drops one value, not a different set per field:
        // a struct literal of `?`s compiles to a drop chain per field, about 4 KB in the .wasm.
        let mut p = RawProvider::default();
        p.name = o.required_string("name")?;
        p.issuer = o.required_string("issuer")?;
        p.audiences = o.strings("audiences")?;
        p.algorithms = o.strings("algorithms")?;
        p.remote_jwks = o.object("remote_jwks", RawRemoteJwks::read)?;
        p.local_jwks = o.object("local_jwks", RawLocalJwks::read)?;
        p.discovery = o.boolean("discovery")?;
        p.revocation = o.object("revocation", RawRevocation::read)?;
        p.from_headers = o.list("from_headers", RawHeaderSource::read)?;
        p.from_params = o.strings("from_params")?;
        p.from_cookies = o.strings("from_cookies")?;
        p.clock_skew_s = o.uint("clock_skew_s")?;
        p.require_expiration = o.boolean("require_expiration")?;
        p.max_lifetime_s = o.uint("max_lifetime_s")?;
        p.token_types = o.strings("token_types")?;
        p.forward = o.boolean("forward")?;
        p.claim_to_headers = o.list("claim_to_headers", RawClaimHeader::read)?;
        p.forward_payload_header = o.string("forward_payload_header")?;
        Ok(p)
    }
}

impl RawRemoteJwks {
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(
            at,
            v,
            &[
                "cluster",
                "uri",
                "timeout_ms",
                "cache_duration_s",
                "min_refetch_interval_s",
                "max_stale_s",
            ],
        )?;
        Ok(RawRemoteJwks {
            cluster: o.required_string("cluster")?,
            uri: o.string("uri")?,
            timeout_ms: o.uint("timeout_ms")?,
            cache_duration_s: o.uint("cache_duration_s")?,
            min_refetch_interval_s: o.uint("min_refetch_interval_s")?,
            max_stale_s: o.uint("max_stale_s")?,
        })
    }
}

impl RawLocalJwks {
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(at, v, &["inline"])?;
        // String or object is decided in `validate`, which knows how to parse either.
        let (_, inline) = o.required("inline")?;
        Ok(RawLocalJwks {
            inline: inline.clone(),
        })
    }
}

impl RawRevocation {
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(
            at,
            v,
            &["inline", "uri", "cluster", "cache_duration_s", "timeout_ms"],
        )?;
        Ok(RawRevocation {
            inline: o.get("inline")?.map(|(_, v)| v.clone()),
            uri: o.string("uri")?,
            cluster: o.string("cluster")?,
            cache_duration_s: o.uint("cache_duration_s")?,
            timeout_ms: o.uint("timeout_ms")?,
        })
    }
}

impl RawHeaderSource {
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(at, v, &["name", "value_prefix"])?;
        Ok(RawHeaderSource {
            name: o.required_string("name")?,
            value_prefix: o.string("value_prefix")?,
        })
    }
}

impl RawClaimHeader {
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(at, v, &["claim", "header"])?;
        Ok(RawClaimHeader {
            claim: o.required_string("claim")?,
            header: o.required_string("header")?,
        })
    }
}

impl RawRule {
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(at, v, &["match", "requires"])?;
        let (mat, m) = o.required("match")?;
        Ok(RawRule {
            matcher: RawMatch::read(mat, m)?,
            requires: o.object("requires", RawRequirement::read)?,
        })
    }
}

impl RawMatch {
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(at, v, &["prefix", "path", "ignore_case"])?;
        Ok(RawMatch {
            prefix: o.string("prefix")?,
            path: o.string("path")?,
            ignore_case: o.boolean("ignore_case")?,
        })
    }
}

impl RawRequirement {
    // Filled field by field for the same reason as `RawProvider::read`.
    #[allow(clippy::field_reassign_with_default)]
    fn read(at: String, v: &Value) -> R<Self> {
        let o = Obj::new(
            at,
            v,
            &[
                "provider",
                "scopes",
                "claims",
                "any",
                "all",
                "allow_missing",
                "allow_missing_or_failed",
            ],
        )?;
        let boxed = |key| -> R<Option<Box<RawRequirement>>> {
            Ok(o.object(key, RawRequirement::read)?.map(Box::new))
        };
        let mut r = RawRequirement::default();
        r.provider = o.string("provider")?;
        r.scopes = o.strings("scopes")?;
        r.claims = o.object("claims", claims)?;
        r.any = o.list("any", RawRequirement::read)?;
        r.all = o.list("all", RawRequirement::read)?;
        r.allow_missing = boxed("allow_missing")?;
        r.allow_missing_or_failed = boxed("allow_missing_or_failed")?;
        Ok(r)
    }
}

/// `{"claim": [values...]}`: any claim name; which values are acceptable is `validate`'s call.
fn claims(at: String, v: &Value) -> R<Vec<(String, Vec<Value>)>> {
    let map = object(&at, v)?;
    map.iter()
        .map(|(name, values)| {
            let values = array(child(&at, name), values, |_, x| Ok(x.clone()))?;
            Ok((name.clone(), values))
        })
        .collect()
}

/// One JSON object being read, with its path for error messages.
struct Obj<'a> {
    at: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Refuses anything but an object whose keys are all in `known`.
    fn new(at: String, v: &'a Value, known: &[&str]) -> R<Self> {
        let map = object(&at, v)?;
        if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ConfigError::new(
                child(&at, k),
                format!(
                    "unknown field {k:?} (expected one of: {})",
                    known.join(", ")
                ),
            ));
        }
        Ok(Obj { at, map })
    }

    /// The field's path and value. `null` is not "omitted" (contract v1.1): a field given as
    /// `null` is an error, so a templating slip cannot silently turn a check off.
    fn get(&self, key: &str) -> R<Option<(String, &'a Value)>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Null) => Err(ConfigError::new(
                child(&self.at, key),
                "must not be null (omit the field to use its default)",
            )),
            Some(v) => Ok(Some((child(&self.at, key), v))),
        }
    }

    fn required(&self, key: &str) -> R<(String, &'a Value)> {
        self.get(key)?
            .ok_or_else(|| ConfigError::new(child(&self.at, key), "is required"))
    }

    fn object<T>(&self, key: &str, read: impl FnOnce(String, &'a Value) -> R<T>) -> R<Option<T>> {
        self.get(key)?.map(|(at, v)| read(at, v)).transpose()
    }

    fn list<T>(&self, key: &str, read: impl FnMut(String, &'a Value) -> R<T>) -> R<Option<Vec<T>>> {
        self.get(key)?.map(|(at, v)| array(at, v, read)).transpose()
    }

    fn strings(&self, key: &str) -> R<Option<Vec<String>>> {
        self.list(key, string)
    }

    fn string(&self, key: &str) -> R<Option<String>> {
        self.object(key, string)
    }

    fn required_string(&self, key: &str) -> R<String> {
        let (at, v) = self.required(key)?;
        string(at, v)
    }

    fn boolean(&self, key: &str) -> R<Option<bool>> {
        self.object(key, |at, v| match v {
            Value::Bool(b) => Ok(*b),
            _ => Err(wrong(at, "a boolean", v)),
        })
    }

    fn uint(&self, key: &str) -> R<Option<u64>> {
        self.object(key, |at, v| {
            let Value::Number(n) = v else {
                return Err(wrong(at, "an integer", v));
            };
            if let Some(u) = n.as_u64() {
                return Ok(u);
            }
            // Integers beyond u64 arrive as floats, so the float's value tells which case it is.
            let f = n.as_f64().unwrap_or(0.0);
            let problem = if f < 0.0 {
                "must not be negative"
            } else if f >= 18_446_744_073_709_551_616.0 {
                "is too large"
            } else {
                "must be a whole number (no fraction or exponent)"
            };
            Err(ConfigError::new(at, problem))
        })
    }
}

fn object<'a>(at: &str, v: &'a Value) -> R<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(wrong(at.to_owned(), "an object", v)),
    }
}

fn array<'a, T>(
    at: String,
    v: &'a Value,
    mut read: impl FnMut(String, &'a Value) -> R<T>,
) -> R<Vec<T>> {
    let Value::Array(items) = v else {
        return Err(wrong(at, "an array", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| read(format!("{at}[{i}]"), x))
        .collect()
}

fn string(at: String, v: &Value) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(wrong(at, "a string", v)),
    }
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

fn wrong(at: String, expected: &str, found: &Value) -> ConfigError {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ConfigError::new(at, format!("expected {expected}, found {found}"))
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
