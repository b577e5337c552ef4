//! `jwtgate config from-istio`: Istio `RequestAuthentication` (`jwtRules`) and
//! `AuthorizationPolicy` YAML → one plugin config.
//!
//! The plugin JSON goes to stdout, every note on what did not map (or mapped with a
//! difference) to stderr. Istio's semantics kept: a request without a token passes
//! `RequestAuthentication` alone, an invalid token always fails (hence `allow_missing`); an
//! `AuthorizationPolicy` ALLOW rule grants what its `from`/`to`/`when` say, rules OR'd.
//! What cannot be expressed is left out rather than widened: a rule with a condition jwtgate
//! cannot check (methods, hosts, ports, …) grants nothing here.

use crate::out;
use crate::UsageError;
use serde_json::{json, Map, Value};
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

/// Every YAML document of `text` as JSON (a `kind: List` gives its items).
fn documents(text: &str, name: &str) -> Result<Vec<Value>, UsageError> {
    let mut docs = Vec::new();
    for (i, d) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let y = <serde_yaml::Value as serde::Deserialize>::deserialize(d)
            .map_err(|e| UsageError(format!("{name}: document {}: {e}", i + 1)))?;
        if y.is_null() {
            continue;
        }
        let v = serde_json::to_value(&y)
            .map_err(|e| UsageError(format!("{name}: document {}: {e}", i + 1)))?;
        if v.get("kind").and_then(Value::as_str) == Some("List") {
            if let Some(items) = v.get("items").and_then(Value::as_array) {
                docs.extend(items.iter().cloned());
            }
            continue;
        }
        docs.push(v);
    }
    Ok(docs)
}

fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn doc_name(doc: &Value) -> String {
    let meta = doc.get("metadata");
    let name = meta.and_then(|m| str_field(m, "name")).unwrap_or("?");
    match meta.and_then(|m| str_field(m, "namespace")) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

/// `(scheme, host, port)` of an absolute http(s) URL.
fn url_host(url: &str) -> Option<(&str, String, Option<u16>)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || p.is_empty() => (h, p.parse().ok()),
        _ => (authority, None),
    };
    (!host.is_empty()).then(|| (scheme, host.to_ascii_lowercase(), port))
}

/// Istio's cluster name for a host reached through the mesh: `outbound|<port>||<host>`.
fn istio_cluster(url: &str) -> Option<String> {
    let (scheme, host, port) = url_host(url)?;
    let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("outbound|{port}||{host}"))
}

/// A provider name from the issuer: its host (or the domain of `user@domain`), made of
/// letters, digits and `-` only (names become metric names), unique among `taken`.
fn provider_name(issuer: &str, taken: &[String]) -> String {
    let host = match url_host(issuer) {
        Some((_, h, _)) => h,
        None => issuer.rsplit('@').next().unwrap_or(issuer).to_owned(),
    };
    let mut base: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    base = base.trim_matches('-').to_owned();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    if base.is_empty() {
        base = "provider".into();
    }
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// A protobuf Duration as Istio writes it (`5s`, `1.5s`, `500ms`, `1m`), in milliseconds.
fn duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        return None;
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0 && v * mult <= 3.6e9).then(|| (v * mult).round() as u64)
}

struct Provider {
    name: String,
    issuer: String,
    json: Value,
}

fn provider(rule: &Value, at: &str, taken: &[String], notes: &mut Notes) -> Option<Provider> {
    let Some(issuer) = str_field(rule, "issuer").filter(|s| !s.is_empty()) else {
        notes.add(format!("{at}: no issuer: not mapped"));
        return None;
    };
    let name = provider_name(issuer, taken);
    let mut p = Map::new();
    p.insert("name".into(), json!(name));
    p.insert("issuer".into(), json!(issuer));
    let audiences = strings(rule.get("audiences"));
    if !audiences.is_empty() {
        p.insert("audiences".into(), json!(audiences));
    }
    let timeout = str_field(rule, "timeout");
    let timeout_ms = timeout.and_then(duration_ms);
    if let (Some(t), None) = (timeout, timeout_ms) {
        notes.add(format!("{at}: timeout {t:?} is not a duration: not mapped"));
    }
    let jwks = str_field(rule, "jwks");
    let jwks_uri = str_field(rule, "jwksUri").or_else(|| str_field(rule, "jwks_uri"));
    let remote = |uri: Option<&str>, host_of: &str, notes: &mut Notes| -> Option<Value> {
        let Some(cluster) = istio_cluster(host_of) else {
            notes.add(format!(
                "{at}: {host_of:?} is not an http(s) URL: no cluster for it: provider not mapped"
            ));
            return None;
        };
        notes.add(format!(
            "provider {name}: remote_jwks.cluster is {cluster:?}, Istio's name for that host \
             (it needs a ServiceEntry, and a DestinationRule for TLS, in the mesh; on plain \
             Envoy name your own cluster)"
        ));
        let mut r = Map::new();
        r.insert("cluster".into(), json!(cluster));
        if let Some(u) = uri {
            r.insert("uri".into(), json!(u));
        }
        if let Some(ms) = timeout_ms {
            r.insert("timeout_ms".into(), json!(ms.max(1)));
        }
        Some(Value::Object(r))
    };
    match (jwks, jwks_uri) {
        (Some(inline), uri) => {
            if uri.is_some() {
                notes.add(format!(
                    "{at}: both jwks and jwksUri: jwks used, as Istio does"
                ));
            }
            if timeout.is_some() {
                notes.add(format!(
                    "{at}: timeout applies to fetched keys only: dropped"
                ));
            }
            p.insert("local_jwks".into(), json!({ "inline": inline }));
        }
        (None, Some(uri)) => {
            p.insert("remote_jwks".into(), remote(Some(uri), uri, notes)?);
        }
        (None, None) => {
            // Istio finds the JWKS by OpenID discovery on the issuer.
            if url_host(issuer).is_none() {
                notes.add(format!(
                    "{at}: issuer {issuer:?} is no URL and there is no jwksUri or jwks: \
                     its keys cannot be found: not mapped"
                ));
                return None;
            }
            p.insert("discovery".into(), json!(true));
            p.insert("remote_jwks".into(), remote(None, issuer, notes)?);
        }
    }
    let headers = rule.get("fromHeaders").and_then(Value::as_array);
    let params = strings(rule.get("fromParams"));
    let cookies = strings(rule.get("fromCookies"));
    if headers.is_none() && params.is_empty() && cookies.is_empty() {
        // Istio's default locations: Authorization: Bearer, then the access_token parameter.
        p.insert("from_params".into(), json!(["access_token"]));
    } else {
        let list: Vec<Value> = headers
            .into_iter()
            .flatten()
            .filter_map(|h| {
                let n = str_field(h, "name")?;
                Some(match str_field(h, "prefix") {
                    Some(prefix) => json!({"name": n, "value_prefix": prefix}),
                    None => json!({ "name": n }),
                })
            })
            .collect();
        p.insert("from_headers".into(), Value::Array(list));
        if !params.is_empty() {
            p.insert("from_params".into(), json!(params));
        }
        if !cookies.is_empty() {
            p.insert("from_cookies".into(), json!(cookies));
        }
    }
    if rule.get("forwardOriginalToken").and_then(Value::as_bool) == Some(true) {
        p.insert("forward".into(), json!(true));
    }
    let claims: Vec<Value> = rule
        .get("outputClaimToHeaders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(json!({"claim": str_field(c, "claim")?, "header": str_field(c, "header")?}))
        })
        .collect();
    if !claims.is_empty() {
        p.insert("claim_to_headers".into(), Value::Array(claims));
    }
    if let Some(h) = str_field(rule, "outputPayloadToHeader") {
        p.insert("forward_payload_header".into(), json!(h));
    }
    for (field, why) in [
        (
            "jwksCacheDuration",
            "not mapped (cache_duration_s defaults to 600)",
        ),
        ("tlsCa", "not mapped"),
    ] {
        if rule.get(field).is_some() {
            notes.add(format!("{at}: {field}: {why}"));
        }
    }
    Some(Provider {
        name,
        issuer: issuer.to_owned(),
        json: Value::Object(p),
    })
}

/// OR of requirements; `None` in the list means "no token needed".
fn any_of(list: Vec<Option<Value>>) -> Option<Value> {
    let mut out = Vec::new();
    for r in list {
        match r {
            None => return None,
            Some(v) if !out.contains(&v) => out.push(v),
            Some(_) => {}
        }
    }
    match out.len() {
        0 => None,
        1 => out.pop(),
        _ => Some(json!({ "any": out })),
    }
}

fn provider_req(name: &str, claims: &Map<String, Value>) -> Value {
    let mut v = json!({ "provider": name });
    if !claims.is_empty() {
        crate::out::set(&mut v, "claims", Value::Object(claims.clone()));
    }
    v
}

/// `request.auth.claims[a][b]` → `a.b`.
fn claim_key(key: &str) -> Option<String> {
    let rest = key.strip_prefix("request.auth.claims")?;
    let mut parts = Vec::new();
    let mut s = rest;
    while !s.is_empty() {
        let inner = s.strip_prefix('[')?;
        let (name, after) = inner.split_once(']')?;
        if name.is_empty() {
            return None;
        }
        parts.push(name.to_owned());
        s = after;
    }
    (!parts.is_empty()).then(|| parts.join("."))
}

/// What one Istio rule grants, or why it grants nothing here.
struct Grant {
    paths: Option<Vec<Value>>,
    /// `None`: no token needed.
    requires: Option<Value>,
}

fn istio_paths(list: &[String], at: &str, notes: &mut Notes) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for p in list {
        if p == "*" {
            out.push(json!({"prefix": "/"}));
        } else if let Some(prefix) = p.strip_suffix('*') {
            if prefix.contains('*') || !prefix.starts_with('/') {
                notes.add(format!(
                    "{at}: path {p:?} cannot be matched here: rule not mapped"
                ));
                return None;
            }
            out.push(json!({ "prefix": prefix }));
        } else if p.starts_with('/') && !p.contains('*') {
            out.push(json!({ "path": p }));
        } else {
            notes.add(format!(
                "{at}: path {p:?} (suffix or wildcard match) cannot be matched here: rule not mapped"
            ));
            return None;
        }
    }
    Some(out)
}

fn grant(
    rule: &Value,
    at: &str,
    providers: &[Provider],
    all: &Value,
    notes: &mut Notes,
) -> Option<Grant> {
    // Paths from `to` (several operations are OR'd: their paths add up).
    let mut paths: Option<Vec<Value>> = None;
    for (j, to) in rule
        .get("to")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let op = to.get("operation").cloned().unwrap_or(Value::Null);
        let keys: Vec<&String> = op
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        if let Some(k) = keys.iter().find(|k| k.as_str() != "paths") {
            notes.add(format!(
                "{at}.to[{j}]: operation.{k} cannot be checked by jwtgate: rule not mapped"
            ));
            return None;
        }
        let list = strings(op.get("paths"));
        if list.is_empty() {
            paths = Some(vec![json!({"prefix": "/"})]);
            continue;
        }
        paths.get_or_insert_with(Vec::new).extend(istio_paths(
            &list,
            &format!("{at}.to[{j}]"),
            notes,
        )?);
    }
    // Claims from `when`, AND'ed; values OR'd.
    let mut claims = Map::new();
    let mut principal_keys: Vec<String> = Vec::new();
    for (j, w) in rule
        .get("when")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let key = str_field(w, "key").unwrap_or("");
        let values = strings(w.get("values"));
        if w.get("notValues").is_some() || values.is_empty() {
            notes.add(format!(
                "{at}.when[{j}]: {key}: notValues cannot be checked: rule not mapped"
            ));
            return None;
        }
        let claim = match key {
            "request.auth.principal" => {
                principal_keys.extend(values);
                continue;
            }
            "request.auth.audiences" => Some("aud".to_owned()),
            "request.auth.presenter" => Some("azp".to_owned()),
            k => claim_key(k),
        };
        let Some(claim) = claim else {
            notes.add(format!(
                "{at}.when[{j}]: key {key:?} cannot be checked by jwtgate: rule not mapped"
            ));
            return None;
        };
        if values.iter().any(|v| v.contains('*')) {
            notes.add(format!(
                "{at}.when[{j}]: wildcard values of {key} cannot be checked: rule not mapped"
            ));
            return None;
        }
        claims.insert(claim, json!(values));
    }
    // Principals from `from` (sources OR'd; each needs a valid token).
    let mut principals: Option<Vec<String>> = None;
    for (j, from) in rule
        .get("from")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let src = from.get("source").cloned().unwrap_or(Value::Null);
        let keys: Vec<&String> = src
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        if let Some(k) = keys.iter().find(|k| k.as_str() != "requestPrincipals") {
            notes.add(format!(
                "{at}.from[{j}]: source.{k} cannot be checked by jwtgate: rule not mapped"
            ));
            return None;
        }
        principals
            .get_or_insert_with(Vec::new)
            .extend(strings(src.get("requestPrincipals")));
    }
    if !principal_keys.is_empty() {
        // `when request.auth.principal` narrows the sources: both must hold; kept simple
        // by mapping it like requestPrincipals when `from` gives none.
        match &mut principals {
            None => principals = Some(principal_keys),
            Some(_) => {
                notes.add(format!(
                    "{at}: request.auth.principal together with requestPrincipals: rule not mapped"
                ));
                return None;
            }
        }
    }
    let requires = match principals {
        None if claims.is_empty() => None,
        None => Some(requirement_for("*", &claims, providers, all, at, notes)?),
        Some(list) => {
            let mut reqs = Vec::new();
            for pr in &list {
                if let Some(r) = requirement_for(pr, &claims, providers, all, at, notes) {
                    reqs.push(Some(r));
                }
            }
            if reqs.is_empty() {
                notes.add(format!(
                    "{at}: no requestPrincipal maps to a provider: rule not mapped"
                ));
                return None;
            }
            any_of(reqs)
        }
    };
    Some(Grant { paths, requires })
}

/// The requirement for one request principal (`iss/sub`, `iss/*`, `*`) with `claims`.
fn requirement_for(
    principal: &str,
    claims: &Map<String, Value>,
    providers: &[Provider],
    all: &Value,
    at: &str,
    notes: &mut Notes,
) -> Option<Value> {
    let with_claims = |extra: &Map<String, Value>| -> Value {
        let mut c = claims.clone();
        c.extend(extra.clone());
        let list: Vec<Value> = providers
            .iter()
            .map(|p| provider_req(&p.name, &c))
            .collect();
        match list.len() {
            1 => list.into_iter().next().unwrap_or(Value::Null),
            _ => json!({ "any": list }),
        }
    };
    if principal == "*" {
        return Some(if claims.is_empty() {
            all.clone()
        } else {
            with_claims(&Map::new())
        });
    }
    // Istio's principal is "<iss>/<sub>"; the issuer may itself hold '/', so split at the last.
    let Some((iss, sub)) = principal.rsplit_once('/') else {
        notes.add(format!(
            "{at}: requestPrincipal {principal:?} is not iss/sub: skipped"
        ));
        return None;
    };
    let mut c = claims.clone();
    match sub {
        "*" => {}
        s if s.contains('*') => {
            notes.add(format!(
                "{at}: requestPrincipal {principal:?}: wildcard subject: skipped"
            ));
            return None;
        }
        s => {
            c.insert("sub".into(), json!([s]));
        }
    }
    if iss == "*" {
        return Some(with_claims(&c));
    }
    if iss.contains('*') {
        notes.add(format!(
            "{at}: requestPrincipal {principal:?}: wildcard issuer: skipped"
        ));
        return None;
    }
    match providers.iter().find(|p| p.issuer == iss) {
        Some(p) => Some(provider_req(&p.name, &c)),
        None => {
            notes.add(format!(
                "{at}: requestPrincipal {principal:?}: no jwtRule has issuer {iss:?}: skipped"
            ));
            None
        }
    }
}

/// Converts the documents into a plugin config.
fn convert(docs: &[Value], notes: &mut Notes) -> Result<Value, UsageError> {
    let mut providers: Vec<Provider> = Vec::new();
    for doc in docs {
        if str_field(doc, "kind") != Some("RequestAuthentication") {
            continue;
        }
        let name = doc_name(doc);
        let rules = doc
            .get("spec")
            .and_then(|s| s.get("jwtRules"))
            .and_then(Value::as_array);
        for (i, rule) in rules.into_iter().flatten().enumerate() {
            let at = format!("RequestAuthentication {name}: jwtRules[{i}]");
            let taken: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
            if let Some(p) = provider(rule, &at, &taken, notes) {
                if providers.iter().any(|q| q.issuer == p.issuer) {
                    notes.add(format!(
                        "{at}: issuer {:?} appears twice: a second provider is kept for it",
                        p.issuer
                    ));
                }
                providers.push(p);
            }
        }
    }
    if providers.is_empty() {
        return Err(UsageError(
            "no RequestAuthentication jwtRule could be mapped to a provider".into(),
        ));
    }
    let names: Vec<Value> = providers
        .iter()
        .map(|p| json!({"provider": p.name}))
        .collect();
    let all = match names.len() {
        1 => names.into_iter().next().unwrap_or(Value::Null),
        _ => json!({ "any": names }),
    };
    // Istio: without a token a request has no identity but passes authentication; an invalid
    // token always fails. That is allow_missing over every provider.
    let open = json!({ "allow_missing": all });

    let mut allow: Vec<Grant> = Vec::new();
    let mut deny_paths: Vec<Value> = Vec::new();
    let mut saw_allow_policy = false;
    for doc in docs {
        if str_field(doc, "kind") != Some("AuthorizationPolicy") {
            continue;
        }
        let name = doc_name(doc);
        let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
        let action = str_field(&spec, "action").unwrap_or("ALLOW");
        let rules: Vec<Value> = spec
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match action {
            "ALLOW" => {
                saw_allow_policy = true;
                if spec.get("rules").is_none() {
                    notes.add(format!(
                        "AuthorizationPolicy {name}: ALLOW without rules denies everything: \
                         jwtgate cannot deny a valid token outright: not mapped"
                    ));
                }
                for (i, r) in rules.iter().enumerate() {
                    let at = format!("AuthorizationPolicy {name}: rules[{i}]");
                    if let Some(g) = grant(r, &at, &providers, &all, notes) {
                        allow.push(g);
                    }
                }
            }
            "DENY" => {
                // The "require a token" pattern: DENY from notRequestPrincipals ["*"].
                for (i, r) in rules.iter().enumerate() {
                    let at = format!("AuthorizationPolicy {name}: rules[{i}] (DENY)");
                    let from = r.get("from").and_then(Value::as_array);
                    let only_not_rp = from.is_some_and(|f| {
                        f.len() == 1
                            && f.first().and_then(|s| s.get("source")).is_some_and(|s| {
                                s.as_object().is_some_and(|o| o.len() == 1)
                                    && strings(s.get("notRequestPrincipals")) == ["*"]
                            })
                    });
                    if !only_not_rp || r.get("when").is_some() {
                        notes.add(format!(
                            "{at}: only `from: notRequestPrincipals: [\"*\"]` maps: not mapped"
                        ));
                        continue;
                    }
                    let fake = json!({"to": r.get("to").cloned().unwrap_or(json!([]))});
                    match grant(&fake, &at, &providers, &all, notes) {
                        Some(Grant { paths: Some(p), .. }) => deny_paths.extend(p),
                        Some(Grant { paths: None, .. }) => deny_paths.push(json!({"prefix": "/"})),
                        None => {}
                    }
                }
            }
            other => notes.add(format!(
                "AuthorizationPolicy {name}: action {other} is not a token check: not mapped"
            )),
        }
    }

    let mut rules: Vec<Value> = Vec::new();
    let push = |m: &Value, req: Option<Value>, rules: &mut Vec<Value>| {
        if rules.iter().any(|r| r.get("match") == Some(m)) {
            return; // first match wins: a later rule on the same match is never reached
        }
        rules.push(json!({"match": m, "requires": req.unwrap_or_else(|| open.clone())}));
    };
    for m in &deny_paths {
        push(m, Some(all.clone()), &mut rules);
    }
    if !deny_paths.is_empty() && saw_allow_policy {
        notes.add(
            "DENY rules come first here; ALLOW conditions on the same paths are not combined with them",
        );
    }
    if saw_allow_policy {
        let catch_all: Vec<Option<Value>> = allow
            .iter()
            .filter(|g| g.paths.is_none())
            .map(|g| g.requires.clone())
            .collect();
        // Specific paths first (exact before prefix, longer prefixes first): each grants its
        // own requirement or any of the catch-all ones.
        let mut specific: Vec<(Value, Option<Value>)> = Vec::new();
        for g in allow.iter().filter(|g| g.paths.is_some()) {
            for m in g.paths.iter().flatten() {
                let mut list = vec![g.requires.clone()];
                list.extend(catch_all.iter().cloned());
                match specific.iter_mut().find(|(sm, _)| sm == m) {
                    Some((_, req)) => *req = any_of(vec![req.clone(), any_of(list)]),
                    None => specific.push((m.clone(), any_of(list))),
                }
            }
        }
        specific.sort_by_key(|(m, _)| {
            let exact = m.get("path").is_some();
            let len = m
                .get("path")
                .or_else(|| m.get("prefix"))
                .and_then(Value::as_str)
                .map_or(0, str::len);
            (!exact, std::cmp::Reverse(len))
        });
        for (m, req) in specific {
            push(&m, req, &mut rules);
        }
        if catch_all.is_empty() {
            notes.add(
                "requests that match no ALLOW rule are denied by Istio (403); jwtgate cannot \
                 deny a valid token outright: there they need any valid token (the default)",
            );
        } else {
            push(&json!({"prefix": "/"}), any_of(catch_all), &mut rules);
        }
    } else {
        push(&json!({"prefix": "/"}), None, &mut rules);
        notes.add(
            "no AuthorizationPolicy ALLOW rules: as in Istio, a request without a token passes \
             and an invalid token fails (allow_missing)",
        );
    }
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
    Ok(json!({
        "providers": providers.into_iter().map(|p| p.json).collect::<Vec<_>>(),
        "rules": rules,
    }))
}

/// `jwtgate config from-istio FILE...`.
pub fn run(files: &[PathBuf]) -> Result<ExitCode, UsageError> {
    let mut docs = Vec::new();
    for f in files {
        let text = read_input(f)?;
        docs.extend(documents(&text, &f.display().to_string())?);
    }
    let mut notes = Notes::default();
    let cfg = convert(&docs, &mut notes)?;
    // The output must be a config the filter takes: check it with the filter's own parser.
    if let Err(e) = jwtgate::config::parse(cfg.to_string().as_bytes()) {
        out::warn(&format!(
            "jwtgate: the converted config does not validate: {e}"
        ));
        for n in &notes.0 {
            out::warn(&format!("jwtgate: note: {n}"));
        }
        return Ok(ExitCode::from(2));
    }
    let text = serde_json::to_string_pretty(&cfg).unwrap_or_default();
    out::print(&format!("{text}\n"))?;
    for n in &notes.0 {
        out::warn(&format!("jwtgate: note: {n}"));
    }
    Ok(ExitCode::SUCCESS)
}
