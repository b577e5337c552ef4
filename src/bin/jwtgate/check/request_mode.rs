//! Request mode: the request the filter would see, built from the flags, through `gate::prepare`
//! and `gate::decide` as the filter runs them.

use super::keys::{cli_keys, JwksFiles};
use super::output::View;
use super::target::{hex, Target};
use super::CheckArgs;
use crate::out;
use crate::UsageError;
use jwtgate::config::{Config, MtlsPolicy, Requirement, DPOP_SCHEME};
use jwtgate::gate::{self, Decision, Escapes, Route, Start};
use jwtgate::Denial;
use jwtgate::Reason;
use jwtgate::TokenCache;
use std::process::ExitCode;

fn parse_header(arg: &str) -> Result<(String, String), UsageError> {
    // A pseudo-header (`:authority:host`) has its name's own colon first.
    let from = usize::from(arg.starts_with(':'));
    let split = arg
        .get(from..)
        .and_then(|rest| rest.find(':'))
        .map(|i| i + from);
    let Some(i) = split else {
        return Err(UsageError(format!("--header {arg:?}: expected NAME:VALUE")));
    };
    let (name, value) = (arg.get(..i).unwrap_or(""), arg.get(i + 1..).unwrap_or(""));
    let name = name.trim();
    if name.is_empty() || name == ":" || name.chars().any(|c| c.is_whitespace()) {
        return Err(UsageError(format!("--header {arg:?}: bad header name")));
    }
    if name.eq_ignore_ascii_case(":path") || name.eq_ignore_ascii_case(":method") {
        return Err(UsageError(format!(
            "--header {arg:?}: give {name} with --{}",
            name.trim_start_matches(':')
        )));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Where `--token-in` puts TOKEN.
enum Placement {
    Bearer,
    Header(String),
    Param(String),
    Cookie(String),
}

fn placement(arg: Option<&str>) -> Result<Placement, UsageError> {
    let bad = |a: &str| {
        UsageError(format!(
            "--token-in {a:?}: expected bearer, header:NAME, param:NAME or cookie:NAME"
        ))
    };
    let Some(a) = arg else {
        return Ok(Placement::Bearer);
    };
    if a == "bearer" {
        return Ok(Placement::Bearer);
    }
    let (kind, name) = a.split_once(':').ok_or_else(|| bad(a))?;
    let name = name.trim();
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(a));
    }
    match kind {
        "header" => Ok(Placement::Header(name.to_owned())),
        "param" => Ok(Placement::Param(name.to_owned())),
        "cookie" => Ok(Placement::Cookie(name.to_owned())),
        _ => Err(bad(a)),
    }
}

/// The request headers as a host hands them over: pseudo-headers first, then `--header`s in
/// order, then the token where `--token-in` says (`authorization: Bearer TOKEN` by default),
/// unless the request already carries it (under the DPoP scheme with `--dpop`, whose proof goes
/// in a `dpop` header; `--client-cert` as an `x-forwarded-client-cert` `Hash=` for a provider
/// that reads that header).
fn request_headers(
    a: &CheckArgs,
    cfg: &Config,
    path: &str,
    target: &Target,
    token: Option<&str>,
) -> Result<Vec<(String, String)>, UsageError> {
    let mut user: Vec<(String, String)> = a
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<_, _>>()?;
    let place = placement(a.token_in.as_deref())?;
    let mut path = path.to_owned();
    let mut extra: Option<(String, String)> = None;
    match token {
        Some(t) if !a.no_token => {
            let carried = path.contains(t) || user.iter().any(|(_, v)| v.contains(t));
            if !carried {
                match place {
                    Placement::Bearer if a.dpop.is_some() => {
                        extra = Some(("authorization".to_owned(), format!("{DPOP_SCHEME}{t}")))
                    }
                    Placement::Bearer => {
                        extra = Some(("authorization".to_owned(), format!("Bearer {t}")))
                    }
                    Placement::Header(name) => extra = Some((name, t.to_owned())),
                    Placement::Param(name) => {
                        let sep = if path.contains('?') { '&' } else { '?' };
                        path = format!("{path}{sep}{name}={t}");
                    }
                    Placement::Cookie(name) => {
                        // Into the request's cookie header when it has one, as a browser sends it.
                        match user
                            .iter_mut()
                            .find(|(n, _)| n.eq_ignore_ascii_case("cookie"))
                        {
                            Some((_, v)) => *v = format!("{v}; {name}={t}"),
                            None => extra = Some(("cookie".to_owned(), format!("{name}={t}"))),
                        }
                    }
                }
            }
        }
        Some(_) => {}
        None if a.no_token || !a.headers.is_empty() => {}
        None => {
            return Err(UsageError(
                "no token given: give TOKEN (or -), --no-token, or --header".into(),
            ))
        }
    }
    let method = a.method.clone().unwrap_or_else(|| "GET".into());
    let mut headers = vec![(":method".to_owned(), method), (":path".to_owned(), path)];
    if let Some(u) = &target.url {
        headers.push((":scheme".to_owned(), u.scheme.clone()));
        headers.push((":authority".to_owned(), u.authority.clone()));
    }
    if let Some(proof) = &a.dpop {
        user.push(("dpop".to_owned(), proof.clone()));
    }
    let forwarded_cert = cfg
        .providers
        .iter()
        .any(|p| p.mtls == Some(MtlsPolicy::ForwardedHeader));
    if let (Some(d), true) = (&target.cert, forwarded_cert) {
        if !user
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(jwtgate::XFCC))
        {
            user.push((jwtgate::XFCC.to_owned(), format!("Hash={}", hex(d))));
        }
    }
    if !headers
        .iter()
        .chain(user.iter())
        .any(|(n, _)| n.eq_ignore_ascii_case(":authority"))
    {
        let host = user
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone());
        let authority = a
            .authority
            .clone()
            .or(host)
            .unwrap_or_else(|| "localhost".into());
        headers.push((":authority".to_owned(), authority));
    }
    headers.extend(user);
    headers.extend(extra);
    Ok(headers)
}

pub(super) fn request_verdict(
    a: &CheckArgs,
    cfg: &Config,
    files: &JwksFiles,
    path: &str,
    target: &Target,
    token: Option<String>,
    now: i64,
) -> Result<ExitCode, UsageError> {
    let keys = cli_keys(cfg, files)?;
    let headers = request_headers(a, cfg, path, target, token.as_deref())?;
    let mut cache = TokenCache::new(cfg.providers.len(), cfg.token_cache_size);
    // The route is the gate's own: the rule shown is the one the verdict came from (matched on
    // the normalized path, without the query), never one worked out again here.
    let (route, start) = gate::prepare_routed(cfg, &headers, Escapes::Kept);
    let decision = match start {
        Start::Done(d) => d,
        Start::Check(mut prep) => {
            prep.set_peer_certificate(target.cert);
            gate::decide(cfg, &prep, &keys, &mut cache, now)
        }
    };
    let authority = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .or_else(|| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(":authority"))
        })
        .map_or("", |(_, v)| v.as_str());
    // Keys are never pending here, so the filter would not wait; were it to, it would end in
    // jwks_unavailable for lack of keys.
    let (mutations, rejection, outcome) = match decision {
        Decision::Forward(m, o) => (Some(m), None, o),
        Decision::Reject(r, o) => (None, Some(r), o),
        Decision::Wait(_) => {
            let grpc = headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && jwtgate::is_grpc(v));
            let (r, o) = gate::refusal(Denial::of(Reason::JwksUnavailable), grpc, authority);
            (None, Some(r), o)
        }
    };
    let requirement = match route {
        Route::BeforeRules => &Requirement::None,
        Route::Rule(i) => jwtgate::requirement(cfg, Some(i)),
        Route::Default => jwtgate::requirement(cfg, None),
    };
    let view = View {
        cfg,
        route,
        requirement,
        mutations: mutations.as_ref(),
        rejection: rejection.as_ref(),
        outcome: &outcome,
    };
    let text = if a.json {
        format!("{}\n", view.json())
    } else {
        view.human()
    };
    out::print(&text)?;
    Ok(if rejection.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
