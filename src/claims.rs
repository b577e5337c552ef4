//! Claim checks that follow a verified signature: dates, issuer, audience, type, scopes,
//! claim values; and the rendering of claims as header values.

use crate::config::{ClaimRequirement, IssuerTemplate, Provider, StepUp};
use crate::Reason;
use serde_json::{Map, Value};
use std::ops::Range;

/// A token whose signature and claims passed every check of its provider.
#[derive(Debug)]
pub struct Verified {
    /// The payload.
    pub claims: Map<String, Value>,
    /// Its dates, already range-checked.
    pub dates: Dates,
    /// The token as received: the token cache's key, held once (here) per cached token.
    token: Box<str>,
    /// Where the payload segment sits in `token`.
    payload: Range<usize>,
    /// The header's `kid`.
    pub kid: Option<String>,
}

impl Verified {
    /// A verified `token` whose payload segment is `token[payload]`.
    pub fn new(
        token: &str,
        payload: Range<usize>,
        claims: Map<String, Value>,
        dates: Dates,
        kid: Option<String>,
    ) -> Verified {
        Verified {
            claims,
            dates,
            token: token.into(),
            payload,
            kid,
        }
    }

    /// The token as received.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The payload segment as received, still base64url (for `forward_payload_header`).
    pub fn payload_b64(&self) -> &str {
        self.token.get(self.payload.clone()).unwrap_or_default()
    }
}

/// Largest NumericDate accepted (year 2286); anything larger is junk, not "never expires".
const MAX_DATE: f64 = 1e10;

/// The registered date claims, range-checked once when the token is first verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dates {
    /// `exp`.
    pub exp: Option<i64>,
    /// `nbf`.
    pub nbf: Option<i64>,
    /// `iat`.
    pub iat: Option<i64>,
}

fn date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Reason> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_f64().ok_or(Reason::TokenMalformed)?;
            // Range first: date arithmetic on extreme values is where parsers overflow.
            if !(0.0..=MAX_DATE).contains(&v) {
                return Err(Reason::TokenMalformed);
            }
            Ok(Some(v.floor() as i64))
        }
        Some(_) => Err(Reason::TokenMalformed),
    }
}

impl Dates {
    /// Reads `exp`, `nbf`, `iat`; a non-number or out-of-range value is `token_malformed`.
    pub fn read(claims: &Map<String, Value>) -> Result<Dates, Reason> {
        Ok(Dates {
            exp: date(claims, "exp")?,
            nbf: date(claims, "nbf")?,
            iat: date(claims, "iat")?,
        })
    }

    /// The checks that depend on `now` (seconds since the epoch), in the contract's order.
    pub fn check(&self, p: &Provider, now: i64) -> Result<(), Reason> {
        let skew = p.clock_skew_s as i64;
        match self.exp {
            None if p.require_expiration => return Err(Reason::ExpMissing),
            Some(exp) if now >= exp.saturating_add(skew) => return Err(Reason::TokenExpired),
            _ => {}
        }
        if self.nbf.is_some_and(|nbf| now.saturating_add(skew) < nbf) {
            return Err(Reason::TokenNotYetValid);
        }
        if self.iat.is_some_and(|iat| now.saturating_add(skew) < iat) {
            return Err(Reason::TokenNotYetValid);
        }
        if let Some(max) = p.max_lifetime_s {
            let lifetime = match (self.exp, self.iat) {
                (Some(exp), Some(iat)) => exp.saturating_sub(iat),
                (Some(exp), None) => exp.saturating_sub(now),
                (None, _) => i64::MAX,
            };
            if lifetime > max as i64 {
                return Err(Reason::LifetimeTooLong);
            }
        }
        Ok(())
    }
}

/// Issuer, audience and type: the time-independent claim checks, in the contract's order.
pub fn check_identity(
    p: &Provider,
    claims: &Map<String, Value>,
    typ: Option<&str>,
) -> Result<(), Reason> {
    if !issuer_matches(p, claims) {
        return Err(Reason::WrongIssuer);
    }
    if let Some(audiences) = &p.audiences {
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => audiences.contains(a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| audiences.iter().any(|x| x == a)),
            _ => false,
        };
        if !ok {
            return Err(Reason::WrongAudience);
        }
    }
    if let Some(types) = &p.token_types {
        let ok = typ.is_some_and(|t| types.contains(&crate::token::normalize_typ(t)));
        if !ok {
            return Err(Reason::WrongType);
        }
    }
    // A `cnf` claim binds the token to a key its sender must prove (DPoP, RFC 9449; mTLS,
    // RFC 8705): that is checked on every request, cached token or not (src/binding.rs).
    Ok(())
}

/// Whether `iss` is this provider's: the exact issuer, or for an issuer holding `{tid}` that
/// template completed with the token's own `tid` claim (listed in `tenants`, when given).
pub fn issuer_matches(p: &Provider, claims: &Map<String, Value>) -> bool {
    let Some(iss) = claims.get("iss").and_then(Value::as_str) else {
        return false;
    };
    let Some(t) = &p.issuer_template else {
        return iss == p.issuer;
    };
    let Some(tid) = claims.get("tid").and_then(Value::as_str) else {
        return false;
    };
    if !IssuerTemplate::is_tenant_id(tid)
        || t.tenants
            .as_ref()
            .is_some_and(|list| !list.iter().any(|x| x == tid))
    {
        return false;
    }
    // prefix + tid + suffix, compared without building it.
    iss.strip_prefix(t.prefix.as_str())
        .and_then(|rest| rest.strip_prefix(tid))
        .is_some_and(|rest| rest == t.suffix)
}

/// True when the token's client is one of `clients` (empty: not checked): its `client_id`
/// (RFC 9068 §2.2), or, without one, its `azp` (OpenID Connect). A `client_id` that is not a
/// string is not replaced by `azp`: it fails.
pub fn client_allowed(claims: &Map<String, Value>, clients: &[String]) -> bool {
    if clients.is_empty() {
        return true;
    }
    claims
        .get("client_id")
        .or_else(|| claims.get("azp"))
        .and_then(Value::as_str)
        .is_some_and(|c| clients.iter().any(|x| x == c))
}

/// Step-up (RFC 9470): `acr` one of `acr_values`, then `auth_time` present and at most
/// `max_age_s` old at `now`, give or take the provider's clock skew. An `auth_time` that is not
/// a NumericDate in range counts as missing.
pub fn check_step_up(
    p: &Provider,
    step_up: &StepUp,
    claims: &Map<String, Value>,
    now: i64,
) -> Result<(), Reason> {
    if !step_up.acr_values.is_empty() {
        let acr = claims.get("acr").and_then(Value::as_str);
        if !acr.is_some_and(|a| step_up.acr_values.iter().any(|x| x == a)) {
            return Err(Reason::AcrInsufficient);
        }
    }
    if let Some(max_age) = step_up.max_age_s {
        let Ok(Some(auth_time)) = date(claims, "auth_time") else {
            return Err(Reason::AuthTimeTooOld);
        };
        // Both bounded (ten years, year 2286): no overflow.
        let limit = auth_time
            .saturating_add(max_age as i64)
            .saturating_add(p.clock_skew_s as i64);
        if now > limit {
            return Err(Reason::AuthTimeTooOld);
        }
    }
    Ok(())
}

/// Looks up a claim by path: the whole dotted name as one key first (URL-like claim names),
/// then segment by segment through nested objects.
pub fn lookup<'a>(claims: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    if path.len() > 1 {
        if let Some(v) = claims.get(&path.join(".")) {
            return Some(v);
        }
    }
    let (first, rest) = path.split_first()?;
    let mut v = claims.get(first)?;
    for seg in rest {
        v = v.as_object()?.get(seg)?;
    }
    Some(v)
}

/// The scopes granted by `scope` (space-delimited) and `scp` (array, or space-delimited string).
pub fn granted_scopes(claims: &Map<String, Value>) -> Vec<&str> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_ascii_whitespace()),
            Some(Value::Array(a)) => out.extend(a.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    out
}

/// True when every required scope is granted.
pub fn has_scopes(claims: &Map<String, Value>, required: &[String]) -> bool {
    if required.is_empty() {
        return true;
    }
    let granted = granted_scopes(claims);
    required.iter().all(|r| granted.contains(&r.as_str()))
}

fn scalar_matches(v: &Value, accepted: &[Value]) -> bool {
    accepted.iter().any(|a| match (v, a) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => v == a,
    })
}

/// True when each claim requirement is met: the claim equals, or (as an array) contains, an accepted value.
pub fn has_claims(claims: &Map<String, Value>, required: &[ClaimRequirement]) -> bool {
    required.iter().all(|req| match lookup(claims, &req.path) {
        Some(Value::Array(items)) => items.iter().any(|i| scalar_matches(i, &req.values)),
        Some(v) => scalar_matches(v, &req.values),
        None => false,
    })
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        Value::Array(_) | Value::Object(_) => serde_json::to_string(v).ok(),
    }
}

/// A claim rendered as a header value: scalars as text, arrays joined with ",", objects as JSON.
/// `None` when absent, null, or not safe in a header (control characters), and for an array
/// with an element holding `,`: the joined value could not be split back unambiguously.
pub fn header_value(v: &Value) -> Option<String> {
    let text = match v {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(scalar_text).collect();
            if parts.iter().any(|p| p.contains(',')) {
                return None;
            }
            parts.join(",")
        }
        other => scalar_text(other)?,
    };
    if text.chars().any(|c| c.is_control()) {
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn dates_are_range_checked() {
        assert_eq!(
            Dates::read(&obj(json!({"exp": "1"}))),
            Err(Reason::TokenMalformed)
        );
        assert_eq!(
            Dates::read(&obj(json!({"exp": 1e300}))),
            Err(Reason::TokenMalformed)
        );
        assert_eq!(
            Dates::read(&obj(json!({"nbf": -8334601228800i64}))),
            Err(Reason::TokenMalformed)
        );
        assert_eq!(
            Dates::read(&obj(json!({"exp": 10.5}))).map(|d| d.exp),
            Ok(Some(10))
        );
    }

    #[test]
    fn nested_and_literal_paths() {
        let c = obj(json!({"a": {"b": 1}, "x.y": 2}));
        let p = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(lookup(&c, &p("a.b")), Some(&json!(1)));
        assert_eq!(lookup(&c, &p("x.y")), Some(&json!(2)));
        assert_eq!(lookup(&c, &p("a.c")), None);
    }

    #[test]
    fn header_values() {
        assert_eq!(
            header_value(&json!(["a", "b", 3])).as_deref(),
            Some("a,b,3")
        );
        assert_eq!(header_value(&json!(42)).as_deref(), Some("42"));
        assert_eq!(header_value(&json!("x\r\ny")), None);
        assert_eq!(header_value(&json!(["a,b", "c"])), None, "ambiguous join");
        assert_eq!(
            header_value(&json!([["a", "b"]])),
            None,
            "nested array joins with ','"
        );
        assert_eq!(
            header_value(&json!("a,b")).as_deref(),
            Some("a,b"),
            "a string is as is"
        );
        assert_eq!(header_value(&json!(null)), None);
    }

    #[test]
    fn scopes_from_both_claims() {
        let c = obj(json!({"scope": "a b", "scp": ["c"]}));
        assert!(has_scopes(&c, &["a".into(), "c".into()]));
        assert!(!has_scopes(&c, &["d".into()]));
    }
}
