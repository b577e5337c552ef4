//! What `check` prints: the token verdict, and the request verdict (human or `--json`).

use super::token_mode::Verdict;
use super::CheckArgs;
use crate::out;
use crate::UsageError;
use jwtgate::config::{ClaimRequirement, Config, PathMatch, Requirement, Rule};
use jwtgate::gate::{self, Mutations, Outcome, Route};
use jwtgate::token;
use jwtgate::Denial;
use jwtgate::Rejection;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

fn header_json(h: &token::Header) -> Value {
    json!({"alg": h.alg, "kid": h.kid, "typ": h.typ})
}

pub(super) fn report_token(
    a: &CheckArgs,
    provider: Option<&str>,
    verdict: Verdict,
) -> Result<ExitCode, UsageError> {
    let (text, code) = match verdict {
        Verdict::Valid { claims } => {
            let text = if a.json {
                let mut v = json!({"valid": true, "claims": claims});
                if let Some(p) = provider {
                    crate::out::set(&mut v, "provider", json!(p));
                }
                format!("{v}\n")
            } else {
                let pretty = serde_json::to_string_pretty(&claims).unwrap_or_default();
                format!("valid\n{pretty}\n")
            };
            (text, ExitCode::SUCCESS)
        }
        Verdict::Signed { header, payload } => {
            let claims = jwtgate::json::parse_object(&payload);
            let payload_text = claims
                .is_none()
                .then(|| String::from_utf8_lossy(&payload).into_owned());
            let text = if a.json {
                let v = json!({
                    "valid": true,
                    "header": header_json(&header),
                    "claims": claims,
                    "payload": payload_text,
                });
                format!("{v}\n")
            } else {
                let body = match (&claims, &payload_text) {
                    (Some(c), _) => serde_json::to_string_pretty(c).unwrap_or_default(),
                    (None, Some(t)) => t.clone(),
                    (None, None) => String::new(),
                };
                format!("valid\n{body}\n")
            };
            (text, ExitCode::SUCCESS)
        }
        Verdict::Invalid { reason, kid } => {
            let text = if a.json {
                let mut v = json!({"valid": false, "reason": reason.as_str(), "kid": kid});
                if let Some(p) = provider {
                    crate::out::set(&mut v, "provider", json!(p));
                }
                format!("{v}\n")
            } else {
                format!("invalid: {reason}\n")
            };
            (text, ExitCode::from(1))
        }
    };
    out::print(&text)?;
    Ok(code)
}

fn claim_path(c: &ClaimRequirement) -> String {
    c.path.join(".")
}

fn provider_name(cfg: &Config, i: usize) -> Value {
    cfg.providers.get(i).map_or(Value::Null, |p| json!(p.name))
}

/// A requirement written back the way the config spells it.
fn requirement_json(cfg: &Config, r: &Requirement) -> Value {
    match r {
        Requirement::None => Value::Null,
        Requirement::Provider {
            provider,
            scopes,
            claims,
            clients,
            step_up,
        } => {
            let mut v = json!({ "provider": provider_name(cfg, *provider) });
            if !scopes.is_empty() {
                crate::out::set(&mut v, "scopes", json!(scopes));
            }
            if !claims.is_empty() {
                let m: Map<String, Value> = claims
                    .iter()
                    .map(|c| (claim_path(c), Value::Array(c.values.clone())))
                    .collect();
                crate::out::set(&mut v, "claims", Value::Object(m));
            }
            if !clients.is_empty() {
                crate::out::set(&mut v, "clients", json!(clients));
            }
            if let Some(s) = step_up {
                if !s.acr_values.is_empty() {
                    crate::out::set(&mut v, "acr_values", json!(s.acr_values));
                }
                if let Some(m) = s.max_age_s {
                    crate::out::set(&mut v, "max_age_s", json!(m));
                }
            }
            v
        }
        Requirement::Any(list) => {
            json!({"any": list.iter().map(|r| requirement_json(cfg, r)).collect::<Vec<_>>()})
        }
        Requirement::All(list) => {
            json!({"all": list.iter().map(|r| requirement_json(cfg, r)).collect::<Vec<_>>()})
        }
        Requirement::AllowMissing(inner) => json!({"allow_missing": requirement_json(cfg, inner)}),
        Requirement::AllowMissingOrFailed(inner) => {
            json!({"allow_missing_or_failed": requirement_json(cfg, inner)})
        }
    }
}

fn match_json(m: &PathMatch) -> Value {
    match m {
        PathMatch::Prefix(p) => json!({ "prefix": p }),
        PathMatch::Exact(p) => json!({ "path": p }),
    }
}

fn pairs(list: &[(String, String)]) -> Value {
    Value::Array(list.iter().map(|(n, v)| json!([n, v])).collect())
}

pub(super) struct View<'a> {
    pub(super) cfg: &'a Config,
    pub(super) route: Route,
    pub(super) requirement: &'a Requirement,
    pub(super) mutations: Option<&'a Mutations>,
    pub(super) rejection: Option<&'a Rejection>,
    pub(super) outcome: &'a Outcome,
}

impl View<'_> {
    fn outcome_name(&self) -> &'static str {
        match self.outcome {
            Outcome::NotRequired => "not_required",
            Outcome::Preflight => "preflight",
            Outcome::Allowed(_) => "allowed",
            Outcome::Denied { reported: true, .. } => "reported",
            Outcome::Denied { .. } => "denied",
        }
    }

    fn denial(&self) -> Option<&Denial> {
        match self.outcome {
            Outcome::Denied { denial, .. } => Some(denial),
            _ => None,
        }
    }

    fn allowed(&self) -> Vec<Value> {
        match self.outcome {
            Outcome::Allowed(list) => list.iter().map(|&i| provider_name(self.cfg, i)).collect(),
            _ => Vec::new(),
        }
    }

    fn response_header(&self, name: &str) -> Option<&str> {
        self.rejection.and_then(|r| {
            r.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        })
    }

    /// The rule the gate matched, with its index.
    fn rule(&self) -> Option<(usize, &Rule)> {
        match self.route {
            Route::Rule(i) => self.cfg.rules.get(i).map(|r| (i, r)),
            Route::BeforeRules | Route::Default => None,
        }
    }

    fn rule_json(&self) -> Value {
        match self.rule() {
            Some((i, r)) => json!({"index": i, "match": match_json(&r.matcher)}),
            None => Value::Null,
        }
    }

    pub(super) fn json(&self) -> Value {
        let denial = self.denial();
        json!({
            "verdict": if self.rejection.is_some() { "reject" } else { "forward" },
            "valid": self.rejection.is_none(),
            "outcome": self.outcome_name(),
            "rule": self.rule_json(),
            "requires": requirement_json(self.cfg, self.requirement),
            "status": self.rejection.map(|r| r.status),
            "reason": denial.map(|d| d.reason.as_str()),
            "provider": denial.and_then(|d| d.provider).map(|i| provider_name(self.cfg, i)),
            "kid": denial.and_then(|d| d.kid.clone()),
            "providers": self.allowed(),
            "www_authenticate": self.response_header("www-authenticate"),
            "body": self.rejection.map(|r| r.body.clone()),
            "response_headers": self.rejection.map_or(Value::Array(Vec::new()), |r| pairs(&r.headers)),
            "remove_headers": self.mutations.map_or(Vec::new(), |m| m.remove.clone()),
            "set_headers": self.mutations.map_or(Value::Array(Vec::new()), |m| pairs(&m.set)),
            "metadata": self.mutations.map_or(Value::Array(Vec::new()), |m| pairs(&m.metadata)),
        })
    }

    pub(super) fn human(&self) -> String {
        let mut s = String::new();
        let denial = self.denial();
        let reason = denial.map_or("-", |d| d.reason.as_str());
        match (self.rejection, self.outcome) {
            (Some(r), _) => s.push_str(&format!("reject: {} {reason}\n", r.status)),
            (None, Outcome::Allowed(_)) => {
                let names: Vec<String> = self
                    .allowed()
                    .iter()
                    .map(|v| v.as_str().unwrap_or("-").to_owned())
                    .collect();
                let by = if names.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", names.join(", "))
                };
                s.push_str(&format!("forward: allowed{by}\n"));
            }
            (None, Outcome::Denied { .. }) => {
                s.push_str(&format!("forward: reported {reason} (not rejected)\n"));
            }
            (None, Outcome::NotRequired) => s.push_str("forward: no token required\n"),
            (None, Outcome::Preflight) => s.push_str("forward: CORS preflight\n"),
        }
        let preflight = matches!(self.outcome, Outcome::Preflight);
        match (self.rule(), self.route) {
            (Some((i, r)), _) => s.push_str(&format!("rule: #{i} {}\n", match_json(&r.matcher))),
            (None, Route::BeforeRules) if preflight => {}
            (None, Route::BeforeRules) => s.push_str("rule: none (refused before any rule)\n"),
            (None, _) => s.push_str("rule: none matched (any provider required)\n"),
        }
        match self.requirement {
            _ if self.route == Route::BeforeRules && !preflight => {}
            Requirement::None => s.push_str("requires: nothing (no token needed)\n"),
            r => s.push_str(&format!("requires: {}\n", requirement_json(self.cfg, r))),
        }
        if let Some(d) = denial {
            if let Some(p) = d.provider.and_then(|i| self.cfg.providers.get(i)) {
                let kid = d.kid.as_deref().map_or("-".into(), gate::log_safe);
                s.push_str(&format!("provider: {} (kid {kid})\n", p.name));
            }
        }
        if let Some(r) = self.rejection {
            if let Some(ch) = self.response_header("www-authenticate") {
                s.push_str(&format!("www-authenticate: {ch}\n"));
            }
            s.push_str(&format!("body: {}\n", r.body));
        }
        if let Some(m) = self.mutations {
            for h in &m.remove {
                s.push_str(&format!("remove: {h}\n"));
            }
            for (n, v) in &m.set {
                s.push_str(&format!("set: {n}: {v}\n"));
            }
            // Envoy's filter state; nothing on hosts without one.
            for (k, v) in &m.metadata {
                s.push_str(&format!("metadata: wasm.jwtgate.{k} = {v}\n"));
            }
        }
        s
    }
}
