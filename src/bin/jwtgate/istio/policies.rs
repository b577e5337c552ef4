//! `AuthorizationPolicy` rules → what each grants → the plugin's rules.
//!
//! An ALLOW rule grants what its `from`/`to`/`when` say, rules OR'd; a rule with a condition
//! jwtgate cannot check (methods, hosts, ports, …) grants nothing here rather than more. A DENY
//! rule maps only in the "require a token" form (`from: notRequestPrincipals: ["*"]`).

use super::input::{AuthorizationPolicy, Condition, From, Metadata, PolicyRule, To};
use super::output::{Claims, PathMatch, Requirement, Rule};
use super::providers::Mapped;
use super::Notes;

/// A rule that does not map (a note says why).
struct Skip;

/// What one ALLOW rule grants.
struct Grant {
    /// `None`: on every path.
    paths: Option<Vec<PathMatch>>,
    /// `None`: no token needed.
    requires: Option<Requirement>,
}

/// OR of requirements; `None` in the list means "no token needed".
fn any_of(list: Vec<Option<Requirement>>) -> Option<Requirement> {
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
        _ => Some(Requirement::Any { any: out }),
    }
}

fn provider_req(name: &str, claims: &Claims) -> Requirement {
    Requirement::Provider {
        provider: name.to_owned(),
        claims: claims.clone(),
    }
}

/// A valid token of any provider, with `claims`.
pub fn any_provider(providers: &[Mapped], claims: &Claims) -> Requirement {
    let mut list: Vec<Requirement> = providers
        .iter()
        .map(|p| provider_req(p.name(), claims))
        .collect();
    match list.pop() {
        Some(only) if list.is_empty() => only,
        last => {
            list.extend(last);
            Requirement::Any { any: list }
        }
    }
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

fn istio_paths(list: &[String], at: &str, notes: &mut Notes) -> Result<Vec<PathMatch>, Skip> {
    let mut out = Vec::new();
    for p in list {
        if p == "*" {
            out.push(PathMatch::Prefix("/".into()));
        } else if let Some(prefix) = p.strip_suffix('*') {
            if prefix.contains('*') || !prefix.starts_with('/') {
                notes.add(format!(
                    "{at}: path {p:?} cannot be matched here: rule not mapped"
                ));
                return Err(Skip);
            }
            out.push(PathMatch::Prefix(prefix.to_owned()));
        } else if p.starts_with('/') && !p.contains('*') {
            out.push(PathMatch::Path(p.clone()));
        } else {
            notes.add(format!(
                "{at}: path {p:?} (suffix or wildcard match) cannot be matched here: rule not mapped"
            ));
            return Err(Skip);
        }
    }
    Ok(out)
}

/// The paths of `to` (operations OR'd: their paths add up); `None`: every path.
fn paths_of(to: &[To], at: &str, notes: &mut Notes) -> Result<Option<Vec<PathMatch>>, Skip> {
    let mut paths: Option<Vec<PathMatch>> = None;
    for (j, to) in to.iter().enumerate() {
        let op = &to.operation;
        if let Some(k) = op.other.keys().next() {
            notes.add(format!(
                "{at}.to[{j}]: operation.{k} cannot be checked by jwtgate: rule not mapped"
            ));
            return Err(Skip);
        }
        if op.paths.is_empty() {
            paths = Some(vec![PathMatch::Prefix("/".into())]);
            continue;
        }
        let list = istio_paths(&op.paths, &format!("{at}.to[{j}]"), notes)?;
        paths.get_or_insert_with(Vec::new).extend(list);
    }
    Ok(paths)
}

/// The claims of `when` (conditions AND'ed, values OR'd) and the `request.auth.principal`
/// values among them.
fn conditions(
    when: &[Condition],
    at: &str,
    notes: &mut Notes,
) -> Result<(Claims, Vec<String>), Skip> {
    let mut claims = Claims::new();
    let mut principals = Vec::new();
    for (j, w) in when.iter().enumerate() {
        let key = w.key.as_deref().unwrap_or("");
        if w.not_values.is_some() || w.values.is_empty() {
            notes.add(format!(
                "{at}.when[{j}]: {key}: notValues cannot be checked: rule not mapped"
            ));
            return Err(Skip);
        }
        let claim = match key {
            "request.auth.principal" => {
                principals.extend(w.values.iter().cloned());
                continue;
            }
            "request.auth.audiences" => Some("aud".to_owned()),
            // Istio's presenter is `azp` alone: a `claims` check on it, not jwtgate's
            // `clients` (which reads `client_id` first). Istio has no client allow-list,
            // step-up, tenant template or claims-to-metadata: nothing here produces them.
            "request.auth.presenter" => Some("azp".to_owned()),
            k => claim_key(k),
        };
        let Some(claim) = claim else {
            notes.add(format!(
                "{at}.when[{j}]: key {key:?} cannot be checked by jwtgate: rule not mapped"
            ));
            return Err(Skip);
        };
        if w.values.iter().any(|v| v.contains('*')) {
            notes.add(format!(
                "{at}.when[{j}]: wildcard values of {key} cannot be checked: rule not mapped"
            ));
            return Err(Skip);
        }
        claims.insert(claim, w.values.clone());
    }
    Ok((claims, principals))
}

/// The request principals of `from` (sources OR'd; each needs a valid token); `None`: no source.
fn principals_of(from: &[From], at: &str, notes: &mut Notes) -> Result<Option<Vec<String>>, Skip> {
    let mut principals: Option<Vec<String>> = None;
    for (j, f) in from.iter().enumerate() {
        if let Some(k) = f.source.unchecked_field() {
            notes.add(format!(
                "{at}.from[{j}]: source.{k} cannot be checked by jwtgate: rule not mapped"
            ));
            return Err(Skip);
        }
        principals
            .get_or_insert_with(Vec::new)
            .extend(f.source.request_principals.iter().flatten().cloned());
    }
    Ok(principals)
}

fn grant(
    rule: &PolicyRule,
    at: &str,
    providers: &[Mapped],
    notes: &mut Notes,
) -> Result<Grant, Skip> {
    let paths = paths_of(&rule.to, at, notes)?;
    let (claims, principal_keys) = conditions(rule.when.as_deref().unwrap_or_default(), at, notes)?;
    let mut principals = principals_of(rule.from.as_deref().unwrap_or_default(), at, notes)?;
    if !principal_keys.is_empty() {
        // `when request.auth.principal` narrows the sources: both must hold; kept simple
        // by mapping it like requestPrincipals when `from` gives none.
        if principals.is_some() {
            notes.add(format!(
                "{at}: request.auth.principal together with requestPrincipals: rule not mapped"
            ));
            return Err(Skip);
        }
        principals = Some(principal_keys);
    }
    let requires = match principals {
        None if claims.is_empty() => None,
        None => Some(requirement_for("*", &claims, providers, at, notes).ok_or(Skip)?),
        Some(list) => {
            let reqs: Vec<Option<Requirement>> = list
                .iter()
                .filter_map(|pr| requirement_for(pr, &claims, providers, at, notes))
                .map(Some)
                .collect();
            if reqs.is_empty() {
                notes.add(format!(
                    "{at}: no requestPrincipal maps to a provider: rule not mapped"
                ));
                return Err(Skip);
            }
            any_of(reqs)
        }
    };
    Ok(Grant { paths, requires })
}

/// The requirement for one request principal (`iss/sub`, `iss/*`, `*`) with `claims`.
fn requirement_for(
    principal: &str,
    claims: &Claims,
    providers: &[Mapped],
    at: &str,
    notes: &mut Notes,
) -> Option<Requirement> {
    if principal == "*" {
        return Some(any_provider(providers, claims));
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
            c.insert("sub".into(), vec![s.to_owned()]);
        }
    }
    if iss == "*" {
        return Some(any_provider(providers, &c));
    }
    if iss.contains('*') {
        notes.add(format!(
            "{at}: requestPrincipal {principal:?}: wildcard issuer: skipped"
        ));
        return None;
    }
    match providers.iter().find(|p| p.issuer == iss) {
        Some(p) => Some(provider_req(p.name(), &c)),
        None => {
            notes.add(format!(
                "{at}: requestPrincipal {principal:?}: no jwtRule has issuer {iss:?}: skipped"
            ));
            None
        }
    }
}

/// True for the "require a token" DENY rule: `from` one source `notRequestPrincipals: ["*"]`,
/// nothing else but `to`.
fn requires_a_token(rule: &PolicyRule) -> bool {
    let only_not_rp = match rule.from.as_deref() {
        Some([f]) => {
            f.source.request_principals.is_none()
                && f.source.other.is_empty()
                && f.source.not_request_principals.as_deref() == Some(&["*".to_owned()][..])
        }
        _ => false,
    };
    only_not_rp && rule.when.is_none()
}

/// Every policy's grants and denials, in document order.
#[derive(Default)]
struct Collected {
    allow: Vec<Grant>,
    deny_paths: Vec<PathMatch>,
    saw_allow_policy: bool,
}

fn collect(
    policies: &[(Metadata, AuthorizationPolicy)],
    providers: &[Mapped],
    notes: &mut Notes,
) -> Collected {
    let mut c = Collected::default();
    for (meta, spec) in policies {
        let name = meta.display();
        let rules = spec.rules.as_deref().unwrap_or_default();
        match spec.action.as_deref().unwrap_or("ALLOW") {
            "ALLOW" => {
                c.saw_allow_policy = true;
                if spec.rules.is_none() {
                    notes.add(format!(
                        "AuthorizationPolicy {name}: ALLOW without rules denies everything: \
                         jwtgate cannot deny a valid token outright: not mapped"
                    ));
                }
                for (i, r) in rules.iter().enumerate() {
                    let at = format!("AuthorizationPolicy {name}: rules[{i}]");
                    if let Ok(g) = grant(r, &at, providers, notes) {
                        c.allow.push(g);
                    }
                }
            }
            "DENY" => {
                for (i, r) in rules.iter().enumerate() {
                    let at = format!("AuthorizationPolicy {name}: rules[{i}] (DENY)");
                    if !requires_a_token(r) {
                        notes.add(format!(
                            "{at}: only `from: notRequestPrincipals: [\"*\"]` maps: not mapped"
                        ));
                        continue;
                    }
                    if let Ok(paths) = paths_of(&r.to, &at, notes) {
                        c.deny_paths
                            .extend(paths.unwrap_or_else(|| vec![PathMatch::Prefix("/".into())]));
                    }
                }
            }
            other => notes.add(format!(
                "AuthorizationPolicy {name}: action {other} is not a token check: not mapped"
            )),
        }
    }
    c
}

/// The plugin's rules for `policies`, given the providers the jwtRules made.
pub fn rules(
    policies: &[(Metadata, AuthorizationPolicy)],
    providers: &[Mapped],
    notes: &mut Notes,
) -> Vec<Rule> {
    let all = any_provider(providers, &Claims::new());
    // Istio: without a token a request has no identity but passes authentication; an invalid
    // token always fails. That is allow_missing over every provider.
    let open = Requirement::AllowMissing {
        allow_missing: Box::new(all.clone()),
    };
    let c = collect(policies, providers, notes);
    let mut rules: Vec<Rule> = Vec::new();
    let mut push = |m: &PathMatch, req: Option<Requirement>| {
        if rules.iter().any(|r| &r.matcher == m) {
            return; // first match wins: a later rule on the same match is never reached
        }
        rules.push(Rule {
            matcher: m.clone(),
            requires: req.unwrap_or_else(|| open.clone()),
        });
    };
    for m in &c.deny_paths {
        push(m, Some(all.clone()));
    }
    if !c.deny_paths.is_empty() && c.saw_allow_policy {
        notes.add(
            "DENY rules come first here; ALLOW conditions on the same paths are not combined with them",
        );
    }
    let everywhere = PathMatch::Prefix("/".into());
    if !c.saw_allow_policy {
        push(&everywhere, None);
        notes.add(
            "no AuthorizationPolicy ALLOW rules: as in Istio, a request without a token passes \
             and an invalid token fails (allow_missing)",
        );
        return rules;
    }
    let catch_all: Vec<Option<Requirement>> = c
        .allow
        .iter()
        .filter(|g| g.paths.is_none())
        .map(|g| g.requires.clone())
        .collect();
    // Specific paths first (exact before prefix, longer prefixes first): each grants its own
    // requirement or any of the catch-all ones.
    let mut specific: Vec<(PathMatch, Option<Requirement>)> = Vec::new();
    for g in c.allow.iter().filter(|g| g.paths.is_some()) {
        for m in g.paths.iter().flatten() {
            let mut list = vec![g.requires.clone()];
            list.extend(catch_all.iter().cloned());
            match specific.iter_mut().find(|(sm, _)| sm == m) {
                Some((_, req)) => *req = any_of(vec![req.clone(), any_of(list)]),
                None => specific.push((m.clone(), any_of(list))),
            }
        }
    }
    specific.sort_by_key(|(m, _)| m.specificity());
    for (m, req) in specific {
        push(&m, req);
    }
    if catch_all.is_empty() {
        notes.add(
            "requests that match no ALLOW rule are denied by Istio (403); jwtgate cannot \
             deny a valid token outright: there they need any valid token (the default)",
        );
    } else {
        push(&everywhere, any_of(catch_all));
    }
    rules
}
