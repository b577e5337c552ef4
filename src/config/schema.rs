//! The JSON Schema of the plugin configuration, generated from the raw model (`raw`).
//!
//! `schema/plugin-config.schema.json` is this output, committed; a test fails when they differ.

use super::raw::RawConfig;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::Value;

/// An HTTP header name (RFC 9110 token); case-insensitive, any spelling means the same header.
pub(super) const HEADER_NAME: &str = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";
/// A provider name: it names metrics.
pub(super) const NAME: &str = "^[A-Za-z0-9_-]+$";
/// A query parameter or cookie name.
pub(super) const PARAM_NAME: &str = r#"^[^\s=;&,#?%"]+$"#;
/// A tenant id (`tid`) of an issuer template.
pub(super) const TENANT: &str = "^[A-Za-z0-9-]+$";
/// A `claims_to_metadata` key (Envoy filter state `wasm.jwtgate.<key>`).
pub(super) const METADATA_KEY: &str = "^[A-Za-z0-9_-]{1,64}$";
/// An absolute http(s) URI with a host.
pub(super) const HTTP_URI: &str = "^https?://[^/?#@]+([/?].*)?$";
/// An http(s) origin: scheme and authority, nothing after (a lone `/` tolerated).
pub(super) const ORIGIN: &str = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+/?$";

/// The JSON Schema (draft 2020-12) of the plugin configuration, pretty-printed.
pub fn json_schema() -> String {
    let mut settings = SchemaSettings::draft2020_12();
    settings
        .transforms
        .push(Box::new(RecursiveTransform(no_null)));
    settings
        .transforms
        .push(Box::new(RecursiveTransform(names_as_enum)));
    let schema = settings
        .into_generator()
        .into_root_schema_for::<RawConfig>();
    // `Schema` serializes its keywords in a readable order ($schema, title, type, properties…);
    // a JSON value cannot fail to print.
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}

/// `null` is never a value (contract v1.1): drops the `null` schemars adds for `Option`, and
/// its `"default": null` (an omitted field's default is the one its text states). Doc comments'
/// line breaks are wrapping, not paragraphs.
fn no_null(schema: &mut Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj.get("default") == Some(&Value::Null) {
        obj.remove("default");
    }
    if let Some(Value::String(d)) = obj.get_mut("description") {
        *d = d.replace('\n', " ");
    }
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let t = types.remove(0);
            obj.insert("type".into(), t);
        }
    }
    if let Some(Value::Array(any)) = obj.get_mut("anyOf") {
        any.retain(|s| s.get("type").and_then(Value::as_str) != Some("null"));
        if any.len() == 1 {
            let Some(Value::Object(only)) = any.pop() else {
                return;
            };
            obj.remove("anyOf");
            for (k, v) in only {
                obj.entry(k).or_insert(v);
            }
        }
    }
}

/// A config enum (`mode`, `escaped_slashes`) is derived from the model's Rust enum, whose
/// variants' docs make schemars write a `oneOf` of `const`s: the schema states it as the plain
/// `enum` of names the reference lists (the docs stay on the Rust side).
fn names_as_enum(schema: &mut Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let Some(Value::Array(variants)) = obj.get("oneOf") else {
        return;
    };
    let names: Option<Vec<Value>> = variants
        .iter()
        .map(|v| v.get("const").filter(|c| c.is_string()).cloned())
        .collect();
    let Some(names) = names else {
        return;
    };
    obj.remove("oneOf");
    obj.insert("type".into(), Value::String("string".into()));
    obj.insert("enum".into(), Value::Array(names));
}

pub(super) fn algorithms(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "minItems": 1,
        "items": { "enum": ["ES256", "RS256"] },
        "default": ["ES256", "RS256"]
    })
}

/// `mtls.client_cert_header`: the one field where `null` is a value (the contract's default).
pub(super) fn client_cert_header(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "enum": [null, "x-forwarded-client-cert"]
    })
}

pub(super) fn inline_jwks(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            { "type": "string" },
            { "type": "object", "required": ["keys"], "properties": { "keys": { "type": "array" } } }
        ]
    })
}

pub(super) fn revocation_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 100000,
        "items": { "type": "string", "minLength": 1, "maxLength": 1024 }
    })
}

pub(super) fn claims(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {
            "type": "array",
            "minItems": 1,
            "items": { "type": ["string", "number", "boolean"] }
        }
    })
}
