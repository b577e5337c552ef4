//! `RequestAuthentication.jwtRules` → providers.

use super::input::JwtRule;
use super::output::{self, ClaimToHeader, FromHeader, LocalJwks, RemoteJwks};
use super::Notes;

/// A provider made from a jwtRule, with the issuer its requirements are found by.
pub struct Mapped {
    pub issuer: String,
    pub out: output::Provider,
}

impl Mapped {
    pub fn name(&self) -> &str {
        &self.out.name
    }
}

/// `(scheme, host, port)` of an absolute http(s) URL.
pub fn url_host(url: &str) -> Option<(&str, String, Option<u16>)> {
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
fn provider_name(issuer: &str, taken: &[Mapped]) -> String {
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
    while taken.iter().any(|p| p.name() == name) {
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

/// The provider for `rule` (`at` names it in notes), or `None` with a note saying why not.
pub fn provider(rule: &JwtRule, at: &str, taken: &[Mapped], notes: &mut Notes) -> Option<Mapped> {
    let Some(issuer) = rule.issuer.as_deref().filter(|s| !s.is_empty()) else {
        notes.add(format!("{at}: no issuer: not mapped"));
        return None;
    };
    let name = provider_name(issuer, taken);
    let mut p = output::Provider {
        name,
        issuer: issuer.to_owned(),
        audiences: rule.audiences.clone(),
        discovery: false,
        remote_jwks: None,
        local_jwks: None,
        from_headers: None,
        from_params: Vec::new(),
        from_cookies: Vec::new(),
        forward: rule.forward_original_token == Some(true),
        claim_to_headers: rule
            .output_claim_to_headers
            .iter()
            .filter_map(|c| {
                Some(ClaimToHeader {
                    claim: c.claim.clone()?,
                    header: c.header.clone()?,
                })
            })
            .collect(),
        forward_payload_header: rule.output_payload_to_header.clone(),
    };
    keys(rule, issuer, &mut p, at, notes)?;
    token_sources(rule, &mut p);
    for (present, field, why) in [
        (
            rule.jwks_cache_duration.is_some(),
            "jwksCacheDuration",
            "not mapped (cache_duration_s defaults to 600)",
        ),
        (rule.tls_ca.is_some(), "tlsCa", "not mapped"),
    ] {
        if present {
            notes.add(format!("{at}: {field}: {why}"));
        }
    }
    Some(Mapped {
        issuer: issuer.to_owned(),
        out: p,
    })
}

/// Where the keys come from: inline `jwks`, else `jwksUri`, else OpenID discovery on the issuer
/// (as Istio does), each fetched through Istio's cluster for its host.
fn keys(
    rule: &JwtRule,
    issuer: &str,
    p: &mut output::Provider,
    at: &str,
    notes: &mut Notes,
) -> Option<()> {
    let timeout_ms = rule.timeout.as_deref().and_then(duration_ms);
    if let (Some(t), None) = (&rule.timeout, timeout_ms) {
        notes.add(format!("{at}: timeout {t:?} is not a duration: not mapped"));
    }
    let name = p.name.clone();
    let remote = |uri: Option<&str>, host_of: &str, notes: &mut Notes| -> Option<RemoteJwks> {
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
        Some(RemoteJwks {
            cluster,
            uri: uri.map(str::to_owned),
            timeout_ms: timeout_ms.map(|ms| ms.max(1)),
        })
    };
    match (&rule.jwks, rule.jwks_uri()) {
        (Some(inline), uri) => {
            if uri.is_some() {
                notes.add(format!(
                    "{at}: both jwks and jwksUri: jwks used, as Istio does"
                ));
            }
            if rule.timeout.is_some() {
                notes.add(format!(
                    "{at}: timeout applies to fetched keys only: dropped"
                ));
            }
            p.local_jwks = Some(LocalJwks {
                inline: inline.clone(),
            });
        }
        (None, Some(uri)) => p.remote_jwks = Some(remote(Some(uri), uri, notes)?),
        (None, None) => {
            if url_host(issuer).is_none() {
                notes.add(format!(
                    "{at}: issuer {issuer:?} is no URL and there is no jwksUri or jwks: \
                     its keys cannot be found: not mapped"
                ));
                return None;
            }
            p.discovery = true;
            p.remote_jwks = Some(remote(None, issuer, notes)?);
        }
    }
    Some(())
}

/// Where the token is looked for: the rule's locations, or Istio's defaults (the bearer
/// `Authorization` header, then the `access_token` parameter).
fn token_sources(rule: &JwtRule, p: &mut output::Provider) {
    if rule.from_headers.is_none() && rule.from_params.is_empty() && rule.from_cookies.is_empty() {
        p.from_params = vec!["access_token".to_owned()];
        return;
    }
    p.from_headers = Some(
        rule.from_headers
            .iter()
            .flatten()
            .filter_map(|h| {
                Some(FromHeader {
                    name: h.name.clone()?,
                    value_prefix: h.prefix.clone(),
                })
            })
            .collect(),
    );
    p.from_params = rule.from_params.clone();
    p.from_cookies = rule.from_cookies.clone();
}
