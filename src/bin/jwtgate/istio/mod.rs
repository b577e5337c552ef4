//! `jwtgate config from-istio`: Istio `RequestAuthentication` (`jwtRules`) and
//! `AuthorizationPolicy` YAML → one plugin config.
//!
//! The plugin JSON goes to stdout, every note on what did not map (or mapped with a
//! difference) to stderr. Istio's semantics kept: a request without a token passes
//! `RequestAuthentication` alone, an invalid token always fails (hence `allow_missing`); an
//! `AuthorizationPolicy` ALLOW rule grants what its `from`/`to`/`when` say, rules OR'd.
//! What cannot be expressed is left out rather than widened: a rule with a condition jwtgate
//! cannot check (methods, hosts, ports, …) grants nothing here.
//!
//! Typed both ways: [`input`] is what is read, [`output`] what is written; [`providers`] maps
//! jwtRules, [`policies`] maps authorization rules.

mod input;
mod output;
mod policies;
mod providers;

use crate::out;
use crate::UsageError;
use input::{AuthorizationPolicy, Head, Metadata, RequestAuthentication};
use output::PluginConfig;
use providers::Mapped;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Collected notes, printed to stderr at the end.
#[derive(Default)]
struct Notes(Vec<String>);

impl Notes {
    fn add(&mut self, s: impl Into<String>) {
        let s = s.into();
        if !self.0.contains(&s) {
            self.0.push(s);
        }
    }
}

fn read_input(path: &Path) -> Result<String, UsageError> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| UsageError(format!("reading standard input: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))
}

/// Every YAML document of `text` as JSON (a `kind: List` gives its items), with where it is.
fn documents(text: &str, name: &str) -> Result<Vec<(String, Value)>, UsageError> {
    let mut docs = Vec::new();
    for (i, d) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let at = format!("{name}: document {}", i + 1);
        let y = <serde_yaml::Value as serde::Deserialize>::deserialize(d)
            .map_err(|e| UsageError(format!("{at}: {e}")))?;
        if y.is_null() {
            continue;
        }
        let v = serde_json::to_value(&y).map_err(|e| UsageError(format!("{at}: {e}")))?;
        if v.get("kind").and_then(Value::as_str) == Some("List") {
            if let Some(items) = v.get("items").and_then(Value::as_array) {
                for (j, item) in items.iter().enumerate() {
                    docs.push((format!("{at}: items[{j}]"), item.clone()));
                }
            }
            continue;
        }
        docs.push((at, v));
    }
    Ok(docs)
}

/// The Istio objects among the documents, typed (other kinds are ignored).
#[derive(Default)]
struct Objects {
    authentications: Vec<(Metadata, RequestAuthentication)>,
    policies: Vec<(Metadata, AuthorizationPolicy)>,
}

fn spec<T: DeserializeOwned + Default>(doc: &Value, at: &str, kind: &str) -> Result<T, UsageError> {
    match doc.get("spec") {
        None => Ok(T::default()),
        Some(s) => serde_json::from_value(s.clone())
            .map_err(|e| UsageError(format!("{at}: {kind}.spec: {e}"))),
    }
}

fn objects(docs: &[(String, Value)]) -> Result<Objects, UsageError> {
    let mut o = Objects::default();
    for (at, doc) in docs {
        if !doc.is_object() {
            continue;
        }
        let head: Head =
            serde_json::from_value(doc.clone()).map_err(|e| UsageError(format!("{at}: {e}")))?;
        match head.kind.as_deref() {
            Some(k @ "RequestAuthentication") => {
                o.authentications.push((head.metadata, spec(doc, at, k)?));
            }
            Some(k @ "AuthorizationPolicy") => {
                o.policies.push((head.metadata, spec(doc, at, k)?));
            }
            _ => {}
        }
    }
    Ok(o)
}

/// One provider per jwtRule that maps.
fn providers(
    authentications: &[(Metadata, RequestAuthentication)],
    notes: &mut Notes,
) -> Vec<Mapped> {
    let mut out: Vec<Mapped> = Vec::new();
    for (meta, ra) in authentications {
        let name = meta.display();
        for (i, rule) in ra.jwt_rules.iter().enumerate() {
            let at = format!("RequestAuthentication {name}: jwtRules[{i}]");
            if let Some(p) = providers::provider(rule, &at, &out, notes) {
                if out.iter().any(|q| q.issuer == p.issuer) {
                    notes.add(format!(
                        "{at}: issuer {:?} appears twice: a second provider is kept for it",
                        p.issuer
                    ));
                }
                out.push(p);
            }
        }
    }
    out
}

/// Converts the objects into a plugin config.
fn convert(o: &Objects, notes: &mut Notes) -> Result<PluginConfig, UsageError> {
    let providers = providers(&o.authentications, notes);
    if providers.is_empty() {
        return Err(UsageError(
            "no RequestAuthentication jwtRule could be mapped to a provider".into(),
        ));
    }
    let rules = policies::rules(&o.policies, &providers, notes);
    notes.add(
        "tokens are accepted only with ES256 or RS256 (Istio accepts more algorithms), and a \
         token without exp fails (set require_expiration: false to accept it as Istio does)",
    );
    notes.add(
        "selectors, targetRefs and namespaces are ignored: every policy is merged into one config",
    );
    if !providers.is_empty() {
        // Istio has no proof-of-possession settings: nothing to map, and a bound token keeps
        // failing token_bound until the provider is given `dpop` or `mtls`.
        notes.add(
            "dpop and mtls are left out (Istio has neither): a DPoP- or certificate-bound token \
             (cnf claim) fails token_bound until its provider has a dpop or mtls field",
        );
    }
    Ok(PluginConfig {
        providers: providers.into_iter().map(|p| p.out).collect(),
        rules,
    })
}

/// `jwtgate config from-istio FILE...`.
pub fn run(files: &[PathBuf]) -> Result<ExitCode, UsageError> {
    let mut docs = Vec::new();
    for f in files {
        let text = read_input(f)?;
        docs.extend(documents(&text, &f.display().to_string())?);
    }
    let mut notes = Notes::default();
    let cfg = convert(&objects(&docs)?, &mut notes)?;
    let text = serde_json::to_string_pretty(&cfg)
        .map_err(|e| UsageError(format!("writing the config: {e}")))?;
    // The output must be a config the filter takes: check it with the filter's own parser.
    if let Err(e) = jwtgate::config::parse(text.as_bytes()) {
        out::warn(&format!(
            "jwtgate: the converted config does not validate: {e}"
        ));
        for n in &notes.0 {
            out::warn(&format!("jwtgate: note: {n}"));
        }
        return Ok(ExitCode::from(2));
    }
    out::print(&format!("{text}\n"))?;
    for n in &notes.0 {
        out::warn(&format!("jwtgate: note: {n}"));
    }
    Ok(ExitCode::SUCCESS)
}
