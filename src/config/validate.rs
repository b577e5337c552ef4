//! Meaning checks: every rule of the contract that the shape check in `raw` cannot express.

use super::bounds;
use super::model::*;
use super::raw::*;
use super::ConfigError;
use crate::keys::KeySet;
use crate::revocation::RevocationList;
use crate::token::Alg;
use serde_json::Value;
use std::collections::HashSet;
use std::rc::Rc;

type R<T> = Result<T, ConfigError>;

fn err<T>(field: impl Into<String>, problem: impl Into<String>) -> R<T> {
    Err(ConfigError::new(field, problem))
}

pub(super) fn validate(raw: RawConfig) -> R<Config> {
    if raw.providers.is_empty() {
        return err("providers", "at least one provider is required");
    }
    let mut providers = Vec::with_capacity(raw.providers.len());
    let mut names = HashSet::new();
    for (i, p) in raw.providers.into_iter().enumerate() {
        let at = format!("providers[{i}]");
        let provider = provider(&at, p)?;
        if !names.insert(provider.name.clone()) {
            return err(
                format!("{at}.name"),
                format!("duplicate provider name {:?}", provider.name),
            );
        }
        providers.push(provider);
    }

    let escaped_slashes = raw.escaped_slashes.unwrap_or_default();
    let mut rules = Vec::new();
    for (i, r) in raw.rules.unwrap_or_default().into_iter().enumerate() {
        let at = format!("rules[{i}]");
        rules.push(Rule {
            ignore_case: r.matcher.ignore_case.unwrap_or(bounds::IGNORE_CASE),
            matcher: path_match(&format!("{at}.match"), r.matcher, escaped_slashes)?,
            requires: match r.requires {
                None => Requirement::None,
                Some(req) => requirement(&format!("{at}.requires"), req, &providers)?,
            },
        });
    }
    let default_requirement = if providers.len() == 1 {
        provider_req(0)
    } else {
        Requirement::Any((0..providers.len()).map(provider_req).collect())
    };

    let mode = raw.mode.unwrap_or_default();
    let max_token_size = bounds::MAX_TOKEN_SIZE.read("max_token_size", raw.max_token_size)?;
    let token_cache_size =
        bounds::TOKEN_CACHE_SIZE.read("token_cache_size", raw.token_cache_size)?;
    let identity_headers = identity_headers(&providers)?;
    Ok(Config {
        providers,
        rules,
        default_requirement,
        mode,
        bypass_cors_preflight: raw
            .bypass_cors_preflight
            .unwrap_or(bounds::BYPASS_CORS_PREFLIGHT),
        max_token_size: max_token_size as usize,
        token_cache_size: token_cache_size as usize,
        identity_headers,
        escaped_slashes,
    })
}

fn provider_req(provider: usize) -> Requirement {
    Requirement::Provider {
        provider,
        scopes: Vec::new(),
        claims: Vec::new(),
        clients: Vec::new(),
        step_up: None,
    }
}

fn provider(at: &str, p: RawProvider) -> R<Provider> {
    if p.name.is_empty()
        || !p
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return err(
            format!("{at}.name"),
            "must be non-empty and use only letters, digits, '-' and '_' (it names metrics)",
        );
    }
    if p.issuer.is_empty() {
        return err(format!("{at}.issuer"), "must not be empty");
    }
    let issuer_template = issuer_template(at, &p.issuer, p.tenants)?;
    let jwks = jwks_source(
        at,
        &p.issuer,
        issuer_template.is_some(),
        p.discovery,
        p.remote_jwks,
        p.local_jwks,
    )?;
    let revocation = match p.revocation {
        None => None,
        Some(r) => Some(revocation(&format!("{at}.revocation"), r)?),
    };
    let audiences = match p.audiences {
        None => None,
        Some(a) => Some(non_empty_strings(&format!("{at}.audiences"), a)?),
    };
    let algorithms = algorithms(&format!("{at}.algorithms"), p.algorithms)?;
    let mut sources = sources(at, p.from_headers, p.from_params, p.from_cookies)?;
    let clock_skew_s = bounds::CLOCK_SKEW_S.read(format!("{at}.clock_skew_s"), p.clock_skew_s)?;
    if let Some(m) = p.max_lifetime_s {
        bounds::MAX_LIFETIME_S.check(format!("{at}.max_lifetime_s"), m)?;
    }
    let token_types = match p.token_types {
        None => None,
        Some(t) => Some(
            non_empty_strings(&format!("{at}.token_types"), t)?
                .iter()
                .map(|t| crate::token::normalize_typ(t))
                .collect(),
        ),
    };
    let claim_to_headers = claim_to_headers(at, p.claim_to_headers.unwrap_or_default())?;
    let forward_payload_header = match p.forward_payload_header {
        None => None,
        Some(h) => Some(header_name(&format!("{at}.forward_payload_header"), h)?),
    };
    let dpop = match p.dpop {
        None => None,
        Some(d) => Some(dpop(&format!("{at}.dpop"), d)?),
    };
    let mtls = match p.mtls {
        None => None,
        Some(m) => Some(mtls(&format!("{at}.mtls.client_cert_header"), m)?),
    };
    if dpop.is_some() {
        add_dpop_source(&mut sources);
    }
    let claims_to_metadata = claims_to_metadata(at, p.claims_to_metadata.unwrap_or_default())?;
    Ok(Provider {
        name: p.name,
        issuer: p.issuer,
        audiences,
        algorithms,
        jwks,
        sources,
        clock_skew_s,
        require_expiration: p.require_expiration.unwrap_or(bounds::REQUIRE_EXPIRATION),
        max_lifetime_s: p.max_lifetime_s,
        token_types,
        forward: p.forward.unwrap_or(bounds::FORWARD),
        claim_to_headers,
        forward_payload_header,
        revocation,
        issuer_template,
        claims_to_metadata,
        dpop,
        mtls,
    })
}

/// Where a provider's keys come from: `remote_jwks` (at its `uri`, or named by the issuer's
/// discovery document) or `local_jwks`, exactly one.
fn jwks_source(
    at: &str,
    issuer: &str,
    templated: bool,
    discovery: Option<bool>,
    remote_jwks: Option<RawRemoteJwks>,
    local_jwks: Option<RawLocalJwks>,
) -> R<JwksSource> {
    let discovery = discovery.unwrap_or(bounds::DISCOVERY);
    if templated && discovery {
        return err(
            format!("{at}.discovery"),
            "cannot be used with an issuer holding {tid} (there is no one discovery document)",
        );
    }
    let discovery = match discovery {
        true => Some(discovery_endpoint(&format!("{at}.discovery"), issuer)?),
        false => None,
    };
    if discovery.is_some() && remote_jwks.is_none() {
        return err(
            format!("{at}.remote_jwks"),
            "is required with discovery: true (its cluster carries the discovery callout)",
        );
    }
    match (remote_jwks, local_jwks) {
        (Some(r), None) => Ok(JwksSource::Remote(remote(
            &format!("{at}.remote_jwks"),
            r,
            discovery,
        )?)),
        (None, Some(l)) => Ok(JwksSource::Local(local(
            &format!("{at}.local_jwks.inline"),
            l,
        )?)),
        (Some(_), Some(_)) => err(
            at,
            "set exactly one of remote_jwks and local_jwks, not both",
        ),
        (None, None) => err(at, "one of remote_jwks or local_jwks is required"),
    }
}

/// `claim_to_headers` of a provider.
fn claim_to_headers(at: &str, list: Vec<RawClaimHeader>) -> R<Vec<ClaimHeader>> {
    let mut out = Vec::with_capacity(list.len());
    for (j, c) in list.into_iter().enumerate() {
        let cat = format!("{at}.claim_to_headers[{j}]");
        out.push(ClaimHeader {
            claim: claim_path(&format!("{cat}.claim"), &c.claim)?,
            header: header_name(&format!("{cat}.header"), c.header)?,
        });
    }
    Ok(out)
}

/// A DPoP-bound token comes as `Authorization: DPoP <token>` (RFC 9449 §7.1): that source is
/// added to a `dpop` provider's unless it is there.
fn add_dpop_source(sources: &mut TokenSources) {
    let present = sources.headers.iter().any(|h| {
        h.name == "authorization"
            && h.value_prefix
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case(DPOP_SCHEME))
    });
    if !present {
        sources.headers.push(HeaderSource {
            name: "authorization".to_owned(),
            value_prefix: Some(DPOP_SCHEME.to_owned()),
        });
    }
}

/// The placeholder a multi-tenant issuer holds.
const TID: &str = "{tid}";

/// `issuer` with one `{tid}` → its template; `tenants` only goes with one (contract v1.2).
fn issuer_template(
    at: &str,
    issuer: &str,
    tenants: Option<Vec<String>>,
) -> R<Option<IssuerTemplate>> {
    let placeholders = issuer.matches(TID).count();
    if placeholders > 1 {
        return err(
            format!("{at}.issuer"),
            "holds more than one placeholder (at most one {tid})",
        );
    }
    // Any other brace is a typo of the placeholder (`{tenant}`, `{TID}`) or one too many:
    // taken literally it would never match a token.
    if issuer.replacen(TID, "", 1).contains(['{', '}']) {
        return err(
            format!("{at}.issuer"),
            "holds a placeholder other than {tid} (the only one there is)",
        );
    }
    let tenants =
        match tenants {
            None => None,
            Some(_) if placeholders == 0 => return err(
                format!("{at}.tenants"),
                "needs an issuer holding {tid} (e.g. https://login.microsoftonline.com/{tid}/v2.0)",
            ),
            Some(list) if list.is_empty() => {
                return err(
                    format!("{at}.tenants"),
                    "must not be empty (omit it to accept every tenant)",
                )
            }
            Some(list) => {
                for (i, t) in list.iter().enumerate() {
                    if !IssuerTemplate::is_tenant_id(t) {
                        return err(
                            format!("{at}.tenants[{i}]"),
                            format!("{t:?} is not a tenant id (letters, digits and '-')"),
                        );
                    }
                }
                Some(list)
            }
        };
    Ok(issuer
        .split_once(TID)
        .map(|(prefix, suffix)| IssuerTemplate {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            tenants,
        }))
}

/// `claims_to_metadata`: each key a safe, unique name under `jwtgate.`.
fn claims_to_metadata(at: &str, list: Vec<RawClaimMetadata>) -> R<Vec<ClaimMetadata>> {
    let mut out: Vec<ClaimMetadata> = Vec::with_capacity(list.len());
    for (j, m) in list.into_iter().enumerate() {
        let mat = format!("{at}.claims_to_metadata[{j}]");
        // The key is part of a filter-state name other filters and access logs spell out.
        let safe = !m.key.is_empty()
            && m.key.len() <= 64
            && m.key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !safe {
            return err(
                format!("{mat}.key"),
                format!("{:?} must be 1 to 64 letters, digits, '_' or '-'", m.key),
            );
        }
        if out.iter().any(|o| o.key == m.key) {
            return err(format!("{mat}.key"), format!("duplicate key {:?}", m.key));
        }
        out.push(ClaimMetadata {
            claim: claim_path(&format!("{mat}.claim"), &m.claim)?,
            key: m.key,
        });
    }
    Ok(out)
}

fn dpop(at: &str, d: RawDpop) -> R<DpopPolicy> {
    let max_age_s = bounds::DPOP_MAX_AGE_S.read(format!("{at}.max_age_s"), d.max_age_s)?;
    let external_origin = match d.external_origin {
        None => None,
        Some(o) => Some(crate::htu::origin(&o).ok_or_else(|| {
            ConfigError::new(
                format!("{at}.external_origin"),
                "must be an http(s) origin, scheme://host[:port] with nothing after",
            )
        })?),
    };
    Ok(DpopPolicy {
        required: d.required.unwrap_or(bounds::DPOP_REQUIRED),
        // Only asymmetric algorithms exist in `Alg`: a shared-secret proof cannot be named.
        algorithms: algorithms(&format!("{at}.algorithms"), d.algorithms)?,
        max_age_s,
        external_origin,
    })
}

fn mtls(at: &str, m: RawMtls) -> R<MtlsPolicy> {
    match m.client_cert_header.as_deref() {
        None => Ok(MtlsPolicy::Connection),
        Some(h) if h.eq_ignore_ascii_case(crate::mtls::XFCC) => Ok(MtlsPolicy::ForwardedHeader),
        Some(other) => err(
            at,
            format!("unsupported header {other:?} (expected null or \"x-forwarded-client-cert\")"),
        ),
    }
}

/// `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4), reached
/// through the JWKS cluster.
fn discovery_endpoint(at: &str, issuer: &str) -> R<Endpoint> {
    let uri = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let (authority, path) = split_http_uri(&uri).ok_or_else(|| {
        ConfigError::new(
            at,
            format!("needs an issuer that is an absolute http(s) URL, not {issuer:?}"),
        )
    })?;
    Ok(Endpoint {
        uri,
        authority,
        path,
    })
}

fn revocation(at: &str, r: RawRevocation) -> R<Revocation> {
    match (r.inline, r.uri) {
        (Some(list), None) => {
            if r.cluster.is_some() || r.cache_duration_s.is_some() || r.timeout_ms.is_some() {
                return err(
                    at,
                    "cluster, cache_duration_s and timeout_ms belong to a fetched list (uri)",
                );
            }
            match RevocationList::from_value(&list) {
                Ok(l) => Ok(Revocation::Inline(Rc::new(l))),
                Err(e) => err(format!("{at}.inline"), e.to_string()),
            }
        }
        (None, Some(uri)) => {
            let Some(cluster) = r.cluster.filter(|c| !c.is_empty()) else {
                return err(format!("{at}.cluster"), "is required with uri");
            };
            Ok(Revocation::Remote(RemoteRevocation {
                cluster,
                endpoint: endpoint(at, uri)?,
                timeout_ms: timeout_ms(at, r.timeout_ms)?,
                cache_duration_s: cache_duration_s(at, r.cache_duration_s)?,
            }))
        }
        (Some(_), Some(_)) => err(at, "set exactly one of inline and uri, not both"),
        (None, None) => err(at, "one of inline or uri is required"),
    }
}

/// A fetched document's location: an absolute http(s) URI (`<at>.uri`).
fn endpoint(at: &str, uri: String) -> R<Endpoint> {
    let (authority, path) = split_http_uri(&uri).ok_or_else(|| {
        ConfigError::new(
            format!("{at}.uri"),
            format!("{uri:?} is not an absolute http(s) URI with a host"),
        )
    })?;
    Ok(Endpoint {
        uri,
        authority,
        path,
    })
}

/// `<at>.timeout_ms` of a fetched document.
fn timeout_ms(at: &str, v: Option<u64>) -> R<u64> {
    bounds::TIMEOUT_MS.read(format!("{at}.timeout_ms"), v)
}

/// `<at>.cache_duration_s` of a fetched document.
fn cache_duration_s(at: &str, v: Option<u64>) -> R<u64> {
    bounds::CACHE_DURATION_S.read(format!("{at}.cache_duration_s"), v)
}

fn non_empty_strings(at: &str, v: Vec<String>) -> R<Vec<String>> {
    if v.is_empty() {
        return err(at, "must not be an empty list (omit the field instead)");
    }
    if let Some(i) = v.iter().position(String::is_empty) {
        return err(format!("{at}[{i}]"), "must not be empty");
    }
    Ok(v)
}

fn algorithms(at: &str, v: Option<Vec<String>>) -> R<Vec<Alg>> {
    let Some(v) = v else {
        return Ok(vec![Alg::Es256, Alg::Rs256]);
    };
    if v.is_empty() {
        return err(
            at,
            "must not be an empty list (omit it to allow ES256 and RS256)",
        );
    }
    let mut out = Vec::new();
    for (i, name) in v.iter().enumerate() {
        let Some(alg) = Alg::from_name(name) else {
            return err(
                format!("{at}[{i}]"),
                format!("unsupported algorithm {name:?} (only \"ES256\" and \"RS256\")"),
            );
        };
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    Ok(out)
}

fn remote(at: &str, r: RawRemoteJwks, discovery: Option<Endpoint>) -> R<RemoteJwks> {
    if r.cluster.is_empty() {
        return err(format!("{at}.cluster"), "must not be empty");
    }
    // With discovery the JWKS location comes from the issuer's document; a configured uri
    // is not consulted (the document is the authority on where the keys are).
    let location = match (r.uri, discovery) {
        (_, Some(d)) => JwksLocation::Discovery(d),
        (None, None) => return err(format!("{at}.uri"), "is required (or set discovery: true)"),
        (Some(uri), None) => JwksLocation::Uri(endpoint(at, uri)?),
    };
    Ok(RemoteJwks {
        cluster: r.cluster,
        location,
        timeout_ms: timeout_ms(at, r.timeout_ms)?,
        cache_duration_s: cache_duration_s(at, r.cache_duration_s)?,
        min_refetch_interval_s: bounds::MIN_REFETCH_INTERVAL_S.read(
            format!("{at}.min_refetch_interval_s"),
            r.min_refetch_interval_s,
        )?,
        max_stale_s: bounds::MAX_STALE_S.read(format!("{at}.max_stale_s"), r.max_stale_s)?,
    })
}

/// `http(s)://authority/path?query` → (authority, path-and-query).
pub(crate) fn split_http_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    let valid_authority = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c));
    let valid_path = path.chars().all(|c| c.is_ascii_graphic() && c != '#');
    (valid_authority && valid_path).then(|| (authority.to_owned(), path))
}

fn local(at: &str, l: RawLocalJwks) -> R<Rc<KeySet>> {
    let parsed = match &l.inline {
        Value::String(s) => KeySet::parse(s.as_bytes()),
        Value::Object(_) => KeySet::from_value(&l.inline),
        _ => return err(at, "must be a JWKS as a JSON object or a JSON string"),
    };
    match parsed {
        Ok((set, _skipped)) => Ok(Rc::new(set)),
        Err(e) => err(at, e.to_string()),
    }
}

fn sources(
    at: &str,
    headers: Option<Vec<RawHeaderSource>>,
    params: Option<Vec<String>>,
    cookies: Option<Vec<String>>,
) -> R<TokenSources> {
    let headers = match headers {
        None => vec![HeaderSource {
            name: "authorization".into(),
            value_prefix: Some("Bearer ".into()),
        }],
        Some(list) => {
            let mut out = Vec::new();
            for (i, h) in list.into_iter().enumerate() {
                let hat = format!("{at}.from_headers[{i}]");
                let value_prefix = match h.value_prefix {
                    Some(p) if p.is_empty() => None,
                    Some(p) if p.chars().any(|c| c.is_ascii_control()) => {
                        return err(
                            format!("{hat}.value_prefix"),
                            "must not contain control characters",
                        )
                    }
                    other => other,
                };
                out.push(HeaderSource {
                    name: header_name(&format!("{hat}.name"), h.name)?,
                    value_prefix,
                });
            }
            out
        }
    };
    let names = |field: &str, v: Option<Vec<String>>| -> R<Vec<String>> {
        let v = v.unwrap_or_default();
        for (i, n) in v.iter().enumerate() {
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !"=;&,#?%\"".contains(c))
            {
                return err(
                    format!("{at}.{field}[{i}]"),
                    "must be a non-empty name without spaces or any of = ; & , # ? % \"",
                );
            }
        }
        Ok(v)
    };
    let sources = TokenSources {
        headers,
        params: names("from_params", params)?,
        cookies: names("from_cookies", cookies)?,
    };
    if sources.headers.is_empty() && sources.params.is_empty() && sources.cookies.is_empty() {
        return err(
            at,
            "no token source: from_headers, from_params and from_cookies are all empty",
        );
    }
    Ok(sources)
}

/// Header names the filter must never overwrite or remove on behalf of a claim.
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "cookie",
    "keep-alive",
];

/// A configured header name, lowercased: names are case-insensitive (RFC 9110 §5.1), so
/// `X-User-Id` and `x-user-id` mean the same header and compare equal everywhere after this.
fn header_name(at: &str, name: String) -> R<String> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(tchar) {
        return err(
            at,
            format!(
                "{name:?} is not an HTTP header name (token characters, no ':' pseudo-headers)"
            ),
        );
    }
    Ok(name.to_ascii_lowercase())
}

fn claim_path(at: &str, claim: &str) -> R<Vec<String>> {
    if claim.is_empty() || claim.split('.').any(str::is_empty) {
        return err(at, format!("{claim:?} is not a claim name or dotted path"));
    }
    Ok(claim.split('.').map(str::to_owned).collect())
}

fn identity_headers(providers: &[Provider]) -> R<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for (i, p) in providers.iter().enumerate() {
        let named = p
            .claim_to_headers
            .iter()
            .enumerate()
            .map(|(j, c)| {
                (
                    format!("providers[{i}].claim_to_headers[{j}].header"),
                    &c.header,
                )
            })
            .chain(
                p.forward_payload_header
                    .iter()
                    .map(|h| (format!("providers[{i}].forward_payload_header"), h)),
            );
        for (at, h) in named {
            if RESERVED_HEADERS.contains(&h.as_str()) {
                return err(at, format!("{h:?} is reserved and cannot carry claims"));
            }
            // A claim header that is also a token source would be stripped from every request.
            if providers
                .iter()
                .any(|q| q.sources.headers.iter().any(|s| &s.name == h))
            {
                return err(at, format!("{h:?} is also a token source header"));
            }
            if !out.contains(h) {
                out.push(h.clone());
            }
        }
    }
    Ok(out)
}

fn path_match(at: &str, m: RawMatch, escaped: EscapedSlashes) -> R<PathMatch> {
    let check = |field: &str, p: String| -> R<String> {
        if !p.starts_with('/') {
            return err(
                format!("{at}.{field}"),
                format!("{p:?} must start with '/'"),
            );
        }
        // Requests are matched in normalized form: a rule in any other spelling never matches.
        if crate::path::ambiguous(&p, escaped == EscapedSlashes::Keep) {
            return err(
                format!("{at}.{field}"),
                format!(
                    "{p:?} can never match: request paths like it are refused (path_ambiguous)"
                ),
            );
        }
        let canonical = crate::path::canonical_rule(&p);
        if canonical != p {
            return err(
                format!("{at}.{field}"),
                format!(
                    "{p:?} can never match: requests are matched normalized, write {canonical:?}"
                ),
            );
        }
        Ok(p)
    };
    match (m.prefix, m.path) {
        (Some(p), None) => Ok(PathMatch::Prefix(check("prefix", p)?)),
        (None, Some(p)) => Ok(PathMatch::Exact(check("path", p)?)),
        _ => err(at, "set exactly one of \"prefix\" and \"path\""),
    }
}

fn requirement(at: &str, mut r: RawRequirement, providers: &[Provider]) -> R<Requirement> {
    let forms = [
        r.provider.is_some(),
        r.any.is_some(),
        r.all.is_some(),
        r.allow_missing.is_some(),
        r.allow_missing_or_failed.is_some(),
    ];
    if forms.iter().filter(|&&f| f).count() != 1 {
        return err(
            at,
            "set exactly one of provider, any, all, allow_missing, allow_missing_or_failed",
        );
    }
    if r.provider.is_none()
        && (r.scopes.is_some()
            || r.claims.is_some()
            || r.clients.is_some()
            || r.acr_values.is_some()
            || r.max_age_s.is_some())
    {
        return err(
            at,
            "scopes, claims, clients, acr_values and max_age_s go with \"provider\"",
        );
    }
    let list = |field: &str, v: Vec<RawRequirement>| -> R<Vec<Requirement>> {
        if v.is_empty() {
            return err(format!("{at}.{field}"), "must not be empty");
        }
        v.into_iter()
            .enumerate()
            .map(|(i, x)| requirement(&format!("{at}.{field}[{i}]"), x, providers))
            .collect()
    };
    if let Some(name) = r.provider.take() {
        return provider_requirement(at, &name, r, providers);
    }
    if let Some(v) = r.any {
        return Ok(Requirement::Any(list("any", v)?));
    }
    if let Some(v) = r.all {
        return Ok(Requirement::All(list("all", v)?));
    }
    if let Some(inner) = r.allow_missing {
        return Ok(Requirement::AllowMissing(Box::new(requirement(
            &format!("{at}.allow_missing"),
            *inner,
            providers,
        )?)));
    }
    match r.allow_missing_or_failed {
        Some(inner) => Ok(Requirement::AllowMissingOrFailed(Box::new(requirement(
            &format!("{at}.allow_missing_or_failed"),
            *inner,
            providers,
        )?))),
        None => err(at, "empty requirement"),
    }
}

/// A requirement of one provider (`name`) with its scopes, claims, clients and step-up.
fn provider_requirement(
    at: &str,
    name: &str,
    r: RawRequirement,
    providers: &[Provider],
) -> R<Requirement> {
    let Some(provider) = providers.iter().position(|p| p.name == name) else {
        return err(
            format!("{at}.provider"),
            format!("unknown provider {name:?}"),
        );
    };
    // Checked in the order of the reference, so a config with two faults names the first.
    let scopes = scopes(at, r.scopes.unwrap_or_default())?;
    let claims = claim_requirements(at, r.claims.unwrap_or_default())?;
    let clients = match r.clients {
        None => Vec::new(),
        Some(c) => non_empty_strings(&format!("{at}.clients"), c)?,
    };
    Ok(Requirement::Provider {
        provider,
        scopes,
        claims,
        clients,
        step_up: step_up(at, r.acr_values, r.max_age_s)?,
    })
}

/// Required scopes: each a non-empty token that can sit in a `scope="…"` challenge.
fn scopes(at: &str, scopes: Vec<String>) -> R<Vec<String>> {
    for (i, s) in scopes.iter().enumerate() {
        if s.is_empty()
            || s.chars()
                .any(|c| c.is_ascii_whitespace() || c == '"' || c == '\\')
        {
            return err(
                format!("{at}.scopes[{i}]"),
                "must be a non-empty scope token",
            );
        }
    }
    Ok(scopes)
}

/// Required claims: a path each, with at least one accepted scalar value.
fn claim_requirements(
    at: &str,
    claims: impl IntoIterator<Item = (String, Vec<Value>)>,
) -> R<Vec<ClaimRequirement>> {
    let mut out = Vec::new();
    for (name, values) in claims {
        let cat = child(&format!("{at}.claims"), &name);
        if values.is_empty() {
            return err(cat, "must list at least one accepted value");
        }
        if values
            .iter()
            .any(|v| v.is_object() || v.is_array() || v.is_null())
        {
            return err(cat, "accepted values must be strings, numbers or booleans");
        }
        out.push(ClaimRequirement {
            path: claim_path(&cat, &name)?,
            values,
        });
    }
    Ok(out)
}

/// `acr_values` and `max_age_s` of a requirement (RFC 9470); either alone is a step-up.
fn step_up(at: &str, acr_values: Option<Vec<String>>, max_age_s: Option<u64>) -> R<Option<StepUp>> {
    let acr_values = match acr_values {
        None => Vec::new(),
        Some(v) if v.is_empty() => {
            return err(format!("{at}.acr_values"), "must list at least one value")
        }
        Some(v) => v,
    };
    for (i, a) in acr_values.iter().enumerate() {
        // Space-joined into one quoted challenge parameter (RFC 9470 §3).
        if a.is_empty()
            || a.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
        {
            return err(
                format!("{at}.acr_values[{i}]"),
                "must be a non-empty value without spaces, quotes or backslashes",
            );
        }
    }
    if let Some(m) = max_age_s {
        bounds::MAX_AGE_S.check(format!("{at}.max_age_s"), m)?;
    }
    if acr_values.is_empty() && max_age_s.is_none() {
        return Ok(None);
    }
    Ok(Some(StepUp {
        acr_values,
        max_age_s,
    }))
}
