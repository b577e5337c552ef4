//! The committed JSON Schema is the one generated from the config model (`src/config/raw.rs`).

#[test]
fn committed_schema_is_the_generated_one() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/plugin-config.schema.json"
    );
    let committed = std::fs::read_to_string(path).expect("the schema is readable");
    let generated = jwtgate::config::json_schema();
    assert!(
        committed == generated,
        "schema/plugin-config.schema.json differs from the schema generated from src/config/raw.rs; \
         regenerate it: cargo run --bin jwtgate -- config schema > schema/plugin-config.schema.json (or cargo run --example gen_schema)"
    );
}

#[test]
fn generated_schema_is_draft_2020_12() {
    let schema: serde_json::Value = serde_json::from_str(&jwtgate::config::json_schema()).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["providers"]));
}
