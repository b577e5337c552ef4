//! Token mode: one token validated for one provider (the config's, or one made from the token's
//! own `iss` with `--jwks` alone), or its JWS layer alone with `--signature-only`.

use super::keys::{load_jwks, JwksFiles};
use super::output::report_token;
use super::target::{hex, Target};
use super::CheckArgs;
use crate::out;
use crate::UsageError;
use jwtgate::config::{
    Config, DpopPolicy, JwksSource, MtlsPolicy, Provider, Revocation, TokenSources, DPOP_SCHEME,
};
use jwtgate::token::{self, Alg};
use jwtgate::KeySet;
use jwtgate::Reason;
use jwtgate::TokenCache;
use jwtgate::{Auth, KeyState};
use serde_json::{Map, Value};
use std::process::ExitCode;
use std::rc::Rc;

/// Without a config: the token's own `iss` is taken as the issuer, so iss and aud are not checked.
fn implicit_provider(token: &str, keys: Rc<KeySet>) -> Provider {
    Provider {
        name: "cli".into(),
        issuer: token_issuer(token).unwrap_or_default(),
        audiences: None,
        algorithms: vec![Alg::Es256, Alg::Rs256],
        jwks: JwksSource::Local(keys),
        sources: TokenSources::default(),
        clock_skew_s: 60,
        require_expiration: true,
        max_lifetime_s: None,
        token_types: None,
        forward: false,
        claim_to_headers: Vec::new(),
        forward_payload_header: None,
        revocation: None,
        issuer_template: None,
        claims_to_metadata: Vec::new(),
        dpop: None,
        mtls: None,
    }
}

fn token_issuer(token: &str) -> Option<String> {
    let t = token::parse(token).ok()?;
    t.claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub(super) enum Verdict {
    Valid {
        claims: Map<String, Value>,
    },
    /// `--signature-only`: the header and the payload, whatever it is.
    Signed {
        header: token::Header,
        payload: Vec<u8>,
    },
    Invalid {
        reason: Reason,
        kid: Option<String>,
    },
}

pub(super) fn token_verdict(
    a: &CheckArgs,
    cfg: Option<&Config>,
    files: &JwksFiles,
    token: &str,
    target: &Target,
    now: i64,
) -> Result<ExitCode, UsageError> {
    let implicit;
    let (provider, index, max_size, keys) = match cfg {
        Some(cfg) => {
            let index = provider_index(a, cfg)?;
            let p = cfg
                .providers
                .get(index)
                .ok_or_else(|| UsageError("no provider".into()))?;
            (p, index, cfg.max_token_size, provider_keys(p, files)?)
        }
        None => {
            let f = files
                .all
                .as_deref()
                .ok_or_else(|| UsageError("--jwks FILE or --config FILE is required".into()))?;
            let keys = load_jwks(f)?.set;
            let mut p = implicit_provider(token, keys.clone());
            // Without a config, what is given is what is checked, with the contract's defaults.
            if a.dpop.is_some() {
                p.dpop = Some(DpopPolicy::default());
            }
            if target.cert.is_some() {
                p.mtls = Some(MtlsPolicy::Connection);
            }
            implicit = p;
            (&implicit, 0, 8192, keys)
        }
    };
    let verdict = if a.signature_only {
        match jwtgate::check_signature(&provider.algorithms, &keys, token, max_size) {
            Ok((header, payload)) => Verdict::Signed { header, payload },
            Err(f) => Verdict::Invalid {
                reason: f.reason,
                kid: f.kid,
            },
        }
    } else {
        match full_check(provider, index, &keys, token, max_size, now, cfg.is_none()) {
            Verdict::Valid { claims } => {
                let ev = token_evidence(a, token, target);
                match jwtgate::check_binding(provider, &claims, token, Some(&ev), now) {
                    Ok(_) => Verdict::Valid { claims },
                    Err(reason) => Verdict::Invalid {
                        reason,
                        kid: token::parse(token).ok().and_then(|t| t.header.kid),
                    },
                }
            }
            other => other,
        }
    };
    report_token(a, cfg.map(|_| provider.name.as_str()), verdict)
}

/// The provider a lone token is checked against: `--provider`, or the config's only one.
fn provider_index(a: &CheckArgs, cfg: &Config) -> Result<usize, UsageError> {
    match &a.provider {
        Some(name) => cfg
            .providers
            .iter()
            .position(|p| &p.name == name)
            .ok_or_else(|| UsageError(format!("no provider named {name:?} in the config"))),
        None if cfg.providers.len() == 1 => Ok(0),
        None => Err(UsageError(
            "the config has several providers: choose one with --provider, \
             or give the request with --path"
                .into(),
        )),
    }
}

/// A configured provider's keys: its `local_jwks`, or the `--jwks` file given for it.
fn provider_keys(p: &Provider, files: &JwksFiles) -> Result<Rc<KeySet>, UsageError> {
    match &p.jwks {
        JwksSource::Local(k) => {
            if files.all.is_some() {
                out::warn(&format!(
                    "jwtgate: provider {:?} has local_jwks: --jwks is not used for it",
                    p.name
                ));
            }
            Ok(k.clone())
        }
        JwksSource::Remote(_) => match files.for_provider(&p.name) {
            Some(f) => Ok(load_jwks(f)?.set),
            None => Err(UsageError(format!(
                "--jwks FILE is required (provider {:?} has remote keys)",
                p.name
            ))),
        },
    }
}

/// The request a lone token is checked in: `--dpop`, `--method`, `--url`, `--client-cert`.
fn token_evidence(a: &CheckArgs, token: &str, target: &Target) -> jwtgate::Evidence {
    let mut headers: Vec<(String, String)> = vec![(
        ":method".into(),
        a.method.clone().unwrap_or_else(|| "GET".into()),
    )];
    let (authority, path) = match &target.url {
        Some(u) => {
            headers.push((":scheme".into(), u.scheme.clone()));
            (u.authority.as_str(), u.path.as_str())
        }
        None => ("", "/"),
    };
    if let Some(proof) = &a.dpop {
        headers.push(("authorization".into(), format!("{DPOP_SCHEME}{token}")));
        headers.push(("dpop".into(), proof.clone()));
    }
    if let Some(d) = &target.cert {
        headers.push((jwtgate::XFCC.into(), format!("Hash={}", hex(d))));
    }
    let mut ev = jwtgate::Evidence::read(&headers, authority, path);
    ev.set_peer_certificate(target.cert);
    ev
}

fn full_check(
    provider: &Provider,
    index: usize,
    keys: &KeySet,
    token: &str,
    max_size: usize,
    now: i64,
    implicit: bool,
) -> Verdict {
    let state = KeyState::Ready {
        keys,
        version: 1,
        refetch_allowed: false,
        revoked: match &provider.revocation {
            Some(Revocation::Inline(list)) => Some(list),
            _ => None,
        },
    };
    let mut cache = TokenCache::new(index + 1, 0);
    match jwtgate::authenticate(provider, index, token, state, max_size, now, &mut cache) {
        Auth::Valid(v) => Verdict::Valid {
            claims: v.claims.clone(),
        },
        // Without a config `iss` is not checked, and a token without a string `iss` fails
        // only that check: the signature and dates passed (they come first); the other
        // identity checks run on the claims with the issuer filled in.
        Auth::Invalid(f) if implicit && f.reason == Reason::WrongIssuer => {
            match token::parse(token) {
                Ok(t) => {
                    let mut patched = t.claims.clone();
                    patched.insert("iss".into(), Value::String(provider.issuer.clone()));
                    match jwtgate::check_identity(provider, &patched, t.header.typ.as_deref()) {
                        Ok(()) => Verdict::Valid { claims: t.claims },
                        Err(reason) => Verdict::Invalid { reason, kid: f.kid },
                    }
                }
                Err(reason) => Verdict::Invalid { reason, kid: f.kid },
            }
        }
        Auth::Invalid(f) => Verdict::Invalid {
            reason: f.reason,
            kid: f.kid,
        },
        Auth::NeedKeys | Auth::NeedRefetch => Verdict::Invalid {
            reason: Reason::UnknownKid,
            kid: None,
        },
    }
}
