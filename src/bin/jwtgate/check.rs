//! `jwtgate check` and `jwtgate config validate`: the filter's own code on one token or config.

use crate::{flag_value, UsageError};
use jwtgate::authenticator::{self, Auth, KeyState};
use jwtgate::cache::TokenCache;
use jwtgate::config::{self, JwksSource, Provider, TokenSources};
use jwtgate::keys::KeySet;
use jwtgate::token::{self, Alg};
use serde_json::{json, Map, Value};
use std::io::Read;
use std::process::ExitCode;
use std::rc::Rc;

struct Options {
    jwks: Option<String>,
    config: Option<String>,
    provider: Option<String>,
    signature_only: bool,
    now: Option<i64>,
    json: bool,
    token: String,
}

fn parse_args(args: &[String]) -> Result<Options, UsageError> {
    let mut o = Options {
        jwks: None,
        config: None,
        provider: None,
        signature_only: false,
        now: None,
        json: false,
        token: String::new(),
    };
    let mut token = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--jwks" => o.jwks = Some(flag_value(&mut it, a)?.clone()),
            "--config" => o.config = Some(flag_value(&mut it, a)?.clone()),
            "--provider" => o.provider = Some(flag_value(&mut it, a)?.clone()),
            "--signature-only" => o.signature_only = true,
            "--json" => o.json = true,
            "--now" => {
                let v = flag_value(&mut it, a)?;
                o.now = Some(
                    v.parse()
                        .map_err(|_| UsageError(format!("--now: {v:?} is not a UNIX time")))?,
                );
            }
            s if s.starts_with("--") => return Err(UsageError(format!("unknown option {s}"))),
            s => {
                if token.replace(s.to_owned()).is_some() {
                    return Err(UsageError("more than one token given".into()));
                }
            }
        }
    }
    let token =
        token.ok_or_else(|| UsageError("no token given (use - for standard input)".into()))?;
    o.token = if token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| UsageError(format!("reading standard input: {e}")))?;
        s.trim().to_owned()
    } else {
        token
    };
    Ok(o)
}

fn read(path: &str) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path).map_err(|e| UsageError(format!("{path}: {e}")))
}

fn load_jwks(path: &str) -> Result<KeySet, UsageError> {
    let (set, skipped) =
        KeySet::parse(&read(path)?).map_err(|e| UsageError(format!("{path}: {e}")))?;
    for s in skipped {
        eprintln!(
            "jwtgate: {path}: key kid={} skipped: {}",
            s.kid.as_deref().unwrap_or("-"),
            s.why.as_str()
        );
    }
    Ok(set)
}

/// Without a config: the token's own `iss` is taken as the issuer, so iss and aud are not checked.
fn implicit_provider(token: &str, keys: Rc<KeySet>) -> Provider {
    let issuer = token::parse(token)
        .ok()
        .and_then(|t| {
            t.claims
                .get("iss")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Provider {
        name: "cli".into(),
        issuer,
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
    }
}

fn report(
    o: &Options,
    result: Result<Map<String, Value>, (jwtgate::Reason, Option<String>)>,
) -> ExitCode {
    match result {
        Ok(claims) => {
            if o.json {
                println!("{}", json!({"valid": true, "claims": claims}));
            } else {
                println!("valid");
                println!(
                    "{}",
                    serde_json::to_string_pretty(&claims).unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Err((reason, kid)) => {
            if o.json {
                println!(
                    "{}",
                    json!({"valid": false, "reason": reason.as_str(), "kid": kid})
                );
            } else {
                println!("invalid: {reason}");
            }
            ExitCode::from(1)
        }
    }
}

/// `jwtgate check`.
pub fn run(args: &[String]) -> Result<ExitCode, UsageError> {
    let o = parse_args(args)?;
    let cfg = match &o.config {
        Some(path) => {
            Some(config::parse(&read(path)?).map_err(|e| UsageError(format!("{path}: {e}")))?)
        }
        None => None,
    };
    let jwks = match &o.jwks {
        Some(path) => Some(Rc::new(load_jwks(path)?)),
        None => None,
    };
    let now = o.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let (max_size, provider, index) = match &cfg {
        Some(cfg) => {
            let index = match &o.provider {
                Some(name) => cfg
                    .providers
                    .iter()
                    .position(|p| &p.name == name)
                    .ok_or_else(|| {
                        UsageError(format!("no provider named {name:?} in the config"))
                    })?,
                None if cfg.providers.len() == 1 => 0,
                None => {
                    return Err(UsageError(
                        "the config has several providers: choose one with --provider".into(),
                    ))
                }
            };
            let p = cfg
                .providers
                .get(index)
                .ok_or_else(|| UsageError("no provider".into()))?;
            (cfg.max_token_size, p, index)
        }
        None => (
            8192,
            &implicit_provider(&o.token, jwks.clone().unwrap_or_default()),
            0,
        ),
    };
    let keys = match (&jwks, &provider.jwks) {
        (Some(k), _) => k.clone(),
        (None, JwksSource::Local(k)) => k.clone(),
        (None, JwksSource::Remote(_)) => {
            return Err(UsageError(
                "--jwks FILE is required (the provider's keys are remote)".into(),
            ))
        }
    };
    if o.signature_only {
        let r = authenticator::check_signature(&provider.algorithms, &keys, &o.token, max_size)
            .map(|(_, claims)| claims)
            .map_err(|f| (f.reason, f.kid));
        return Ok(report(&o, r));
    }
    let state = KeyState::Ready {
        keys: &keys,
        version: 1,
        refetch_allowed: false,
        revoked: None,
    };
    let mut cache = TokenCache::new(index + 1, 0);
    let r = match authenticator::authenticate(
        provider, index, &o.token, state, max_size, now, &mut cache,
    ) {
        Auth::Valid(v) => Ok(v.claims.clone()),
        Auth::Invalid(f) => Err((f.reason, f.kid)),
        Auth::NeedKeys | Auth::NeedRefetch => Err((jwtgate::Reason::UnknownKid, None)),
    };
    Ok(report(&o, r))
}

/// `jwtgate config validate FILE`: exit 0 valid, 1 invalid (one line naming the field).
pub fn validate_config(args: &[String]) -> Result<ExitCode, UsageError> {
    let [path] = args else {
        return Err(UsageError("config validate takes exactly one FILE".into()));
    };
    match config::parse(&read(path)?) {
        Ok(cfg) => {
            println!(
                "ok: {} provider(s), {} rule(s), mode {:?}",
                cfg.providers.len(),
                cfg.rules.len(),
                cfg.mode
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{path}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
