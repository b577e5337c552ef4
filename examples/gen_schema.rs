//! Prints the plugin configuration's JSON Schema, generated from the config model:
//! `cargo run --example gen_schema > schema/plugin-config.schema.json`.

fn main() {
    print!("{}", jwtgate::config::json_schema());
}
