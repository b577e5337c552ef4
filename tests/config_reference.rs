//! The configuration reference (`docs/configuration.md`) against the code, so the two cannot
//! drift apart:
//!
//! - every field of the generated JSON Schema is a row of a field table, with the schema's
//!   default and numeric bounds, and every documented field exists in the schema unless the
//!   row is marked `(v1.2)` (documented ahead of the code);
//! - every `Reason` is a row of the reason-code table, with the status, body `error` and
//!   challenge `outcome::reject` produces; a documented code the code does not know must be
//!   marked `(v1.2)`.

use jwtgate::config::StepUp;
use jwtgate::outcome;
use jwtgate::Denial;
use jwtgate::Reason;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");

fn reference() -> String {
    std::fs::read_to_string(REFERENCE).expect("docs/configuration.md is readable")
}

/// One body row of a markdown table, with the table's header cells.
struct Row {
    header: Vec<String>,
    cells: Vec<String>,
}

impl Row {
    fn get(&self, column: &str) -> &str {
        let i = self
            .header
            .iter()
            .position(|h| h == column)
            .unwrap_or_else(|| panic!("no column {column:?} in {:?}", self.header));
        self.cells.get(i).map_or("", String::as_str)
    }

    fn first(&self) -> &str {
        self.cells.first().map_or("", String::as_str)
    }

    fn ahead_of_the_code(&self) -> bool {
        self.first().contains("(v1.2)")
    }
}

/// Splits a table line into cells (no cell of the reference holds an escaped `|`).
fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

/// The body rows of every table whose first header cell is `first`.
fn tables(text: &str, first: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.trim_start().starts_with('|') {
            header = None;
            continue;
        }
        let c = cells(line);
        if header.is_none() {
            let is_header = lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("| ---"));
            if is_header && c.first().map(String::as_str) == Some(first) {
                header = Some(c.iter().map(|h| h.replace('`', "")).collect());
                lines.next();
            }
            continue;
        }
        if let Some(h) = &header {
            rows.push(Row {
                header: h.clone(),
                cells: c,
            });
        }
    }
    rows
}

/// The text of every `code span` of a cell.
fn spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The field path a row documents: its first code span.
fn field_of(row: &Row) -> String {
    spans(row.first())
        .first()
        .unwrap_or_else(|| panic!("field row without a `field`: {:?}", row.cells))
        .to_string()
}

/// Integers written in a cell (digits, possibly inside code spans).
fn integers(cell: &str) -> BTreeSet<u64> {
    cell.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// What the schema says about one field.
#[derive(Debug)]
struct SchemaField {
    default: Option<Value>,
    minimum: Option<u64>,
    maximum: Option<u64>,
    values: Vec<String>,
}

fn resolve<'a>(node: &'a Value, defs: &'a Map<String, Value>) -> (&'a Value, Option<&'a str>) {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            (&defs[name], Some(name))
        }
        None => (node, None),
    }
}

/// Every property reachable from `node`, by path (`providers[].remote_jwks.uri`); a definition
/// already being walked (the recursive requirement) is not entered again.
fn walk(
    node: &Value,
    path: &str,
    defs: &Map<String, Value>,
    seen: &mut BTreeSet<String>,
    out: &mut BTreeMap<String, SchemaField>,
) {
    let (node, def) = resolve(node, defs);
    if let Some(def) = def {
        if !seen.insert(def.to_owned()) {
            return;
        }
    }
    if let Some(items) = node.get("items") {
        walk(items, &format!("{path}[]"), defs, seen, out);
    }
    let Some(props) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, prop) in props {
        let p = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let (target, _) = resolve(prop, defs);
        let items = target.get("items").map(|i| resolve(i, defs).0);
        let values = [Some(target), items]
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("enum").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        out.insert(
            p.clone(),
            SchemaField {
                default: prop.get("default").cloned(),
                minimum: prop.get("minimum").and_then(Value::as_u64),
                maximum: prop.get("maximum").and_then(Value::as_u64),
                values,
            },
        );
        // Object-valued fields (remote_jwks, rules[], match, requires, …) have fields of their own.
        walk(prop, &p, defs, seen, out);
    }
    if let Some(def) = def {
        seen.remove(def);
    }
}

fn schema_fields() -> BTreeMap<String, SchemaField> {
    let schema: Value =
        serde_json::from_str(&jwtgate::config::json_schema()).expect("the schema is JSON");
    let defs = schema["$defs"].as_object().cloned().unwrap_or_default();
    let mut out = BTreeMap::new();
    walk(&schema, "", &defs, &mut BTreeSet::new(), &mut out);
    out
}

/// Differences between the field tables of `doc` and the schema's fields.
fn field_problems(doc: &str, schema: &BTreeMap<String, SchemaField>) -> Vec<String> {
    let mut problems = Vec::new();
    let rows = tables(doc, "field");
    let mut documented = BTreeSet::new();
    for row in &rows {
        let field = field_of(row);
        if !documented.insert(field.clone()) {
            problems.push(format!("`{field}` is documented twice"));
        }
        let Some(s) = schema.get(&field) else {
            if !row.ahead_of_the_code() {
                problems.push(format!(
                    "`{field}` is documented but the code has no such field (mark it (v1.2) if it is ahead of the code)"
                ));
            }
            continue;
        };
        let default_cell = row.get("default");
        if let Some(want) = &s.default {
            let found = spans(default_cell)
                .iter()
                .any(|d| serde_json::from_str::<Value>(d).ok().as_ref() == Some(want));
            if !found {
                problems.push(format!(
                    "`{field}`: the code's default is {want}, the reference says {default_cell:?}"
                ));
            }
        }
        let bounds = row.get("bounds");
        let numbers = integers(bounds);
        for (what, n) in [("minimum", s.minimum), ("maximum", s.maximum)] {
            if let Some(n) = n {
                if !numbers.contains(&n) {
                    problems.push(format!(
                        "`{field}`: the code's {what} is {n}, the reference's bounds say {bounds:?}"
                    ));
                }
            }
        }
        for v in &s.values {
            if !spans(bounds).contains(&v.as_str()) {
                problems.push(format!(
                    "`{field}`: the value `{v}` is missing from the reference's bounds {bounds:?}"
                ));
            }
        }
    }
    for field in schema.keys() {
        if !documented.contains(field) {
            problems.push(format!(
                "`{field}` is a field of the schema but has no row in docs/configuration.md"
            ));
        }
    }
    problems
}

const REALM: &str = "api.example.com";
const SCOPES: [&str; 2] = ["read", "write"];
/// The step-up a denial asks for in the table: both parameters set.
const ACR_VALUES: [&str; 2] = ["urn:mfa", "urn:hwk"];
const MAX_AGE_S: u64 = 300;

/// Differences between the reason-code table of `doc` and `outcome::reject`.
fn reason_problems(doc: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let rows = tables(doc, "reason");
    let mut documented = BTreeSet::new();
    for row in &rows {
        let code = field_of(row);
        documented.insert(code.clone());
        let Some(reason) = Reason::ALL.into_iter().find(|r| r.as_str() == code) else {
            if !row.ahead_of_the_code() {
                problems.push(format!(
                    "reason `{code}` is documented but src/reason.rs has no such code (mark it (v1.2) if it is ahead of the code)"
                ));
            }
            continue;
        };
        let denial = Denial {
            reason,
            provider: None,
            kid: None,
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            step_up: Some(StepUp {
                acr_values: ACR_VALUES.iter().map(|s| s.to_string()).collect(),
                max_age_s: Some(MAX_AGE_S),
            }),
        };
        let r = outcome::reject(Some(&denial), REALM);
        let status = row.get("status");
        if status != r.status.to_string() {
            problems.push(format!(
                "`{code}`: status {} in the code, {status:?} in the reference",
                r.status
            ));
        }
        if row.ahead_of_the_code() {
            // The challenge of a v1.2 code may depend on provider settings (`algs`).
            continue;
        }
        let body: Value = serde_json::from_str(&r.body).expect("the body is JSON");
        let error = spans(row.get("body error")).first().copied().unwrap_or("");
        if body["error"] != error || body["reason"] != code {
            problems.push(format!(
                "`{code}`: body {} in the code, error {error:?} in the reference",
                r.body
            ));
        }
        let challenge = r
            .headers
            .iter()
            .find(|(n, _)| n == "www-authenticate")
            .map(|(_, v)| v.clone());
        let cell = row.get("WWW-Authenticate");
        let documented_challenge = spans(cell).first().map(|t| {
            t.replace('…', REALM)
                .replace("<reason>", &code)
                .replace("<scopes>", &SCOPES.join(" "))
                .replace("<acr_values>", &ACR_VALUES.join(" "))
                .replace("<max_age_s>", &MAX_AGE_S.to_string())
        });
        if challenge != documented_challenge {
            problems.push(format!(
                "`{code}`: challenge {challenge:?} in the code, {cell:?} in the reference"
            ));
        }
    }
    for r in Reason::ALL {
        if !documented.contains(r.as_str()) {
            problems.push(format!(
                "reason `{r}` is missing from the reason-code table of docs/configuration.md"
            ));
        }
    }
    problems
}

#[test]
fn every_schema_field_is_documented_with_its_default_and_bounds() {
    let schema = schema_fields();
    // A walk that found nothing would pass vacuously.
    for f in [
        "providers[].remote_jwks.max_stale_s",
        "rules[].requires.allow_missing_or_failed",
        "rules[].match.ignore_case",
        "escaped_slashes",
    ] {
        assert!(schema.contains_key(f), "the schema walk missed {f}");
    }
    let problems = field_problems(&reference(), &schema);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_reason_code_is_documented_with_its_answer() {
    let problems = reason_problems(&reference());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(tables(&reference(), "reason").len() >= Reason::ALL.len());
}

/// The checks above must fail when the reference and the code disagree: each edit of the
/// reference below is one way of drifting.
#[test]
fn the_checks_see_a_reference_that_drifted() {
    let doc = reference();
    let schema = schema_fields();
    let edits: [(&str, &str, &str); 8] = [
        (
            "| `providers[].clock_skew_s` | integer, seconds | `60` |",
            "| `providers[].clock_skew_s` | integer, seconds | `30` |",
            "the code's default is 60",
        ),
        (
            "| `providers[].remote_jwks.timeout_ms` | integer, ms | `5000` | `1` to `60000` |",
            "| `providers[].remote_jwks.timeout_ms` | integer, ms | `5000` | `1` to `6000` |",
            "the code's maximum is 60000",
        ),
        (
            "| `mode` | string | `\"enforce\"` | `enforce` or `report` |",
            "| `mode` | string | `\"enforce\"` | `enforce` |",
            "the value `report` is missing",
        ),
        (
            "| `providers[].forward_payload_header` |",
            "| `providers[].forward_payload_headers` |",
            "`providers[].forward_payload_header` is a field of the schema but has no row",
        ),
        (
            "| `providers[].forward` |",
            "| `providers[].forwards` |",
            "`providers[].forwards` is documented but the code has no such field",
        ),
        (
            "| `wrong_type` | 401 |",
            "| `wrong_type` | 403 |",
            "`wrong_type`: status 401 in the code",
        ),
        (
            "| `claim_mismatch` | 403 | `insufficient_scope` | `Bearer realm=\"…\", error=\"insufficient_scope\"` |",
            "| `claim_mismatch` | 403 | `insufficient_scope` | `Bearer realm=\"…\", error=\"insufficient_scope\", scope=\"<scopes>\"` |",
            "`claim_mismatch`: challenge",
        ),
        (
            "| `token_revoked` | 401 |",
            "| `token_revocated` | 401 |",
            "reason `token_revoked` is missing",
        ),
    ];
    for (from, to, expected) in edits {
        assert!(
            doc.contains(from),
            "the reference no longer has {from:?}: update this test"
        );
        let drifted = doc.replacen(from, to, 1);
        let mut problems = field_problems(&drifted, &schema);
        problems.extend(reason_problems(&drifted));
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "edit {to:?} went unnoticed; problems: {problems:#?}"
        );
    }
}
