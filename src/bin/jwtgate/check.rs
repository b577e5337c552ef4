//! `jwtgate check` and `jwtgate config validate`: the filter's own code on one request, one
//! token or one config.
//!
//! With `--config` and `--path`, `check` builds the request the filter would see and runs
//! `gate::prepare` and `gate::decide` on it, as the filter does: the verdict is the filter's
//! whole answer (rule, status, reason, challenge, body, header edits). Without `--path` it
//! validates one token for one provider; `--signature-only` checks the JWS layer alone.

use crate::out;
use crate::UsageError;
use clap::Args;
use jwtgate::authenticator::{self, Auth, KeyState};
use jwtgate::cache::TokenCache;
use jwtgate::config::{self, Config, JwksSource, PathMatch, Provider, Requirement, Revocation};
use jwtgate::config::{ClaimRequirement, TokenSources};
use jwtgate::gate::{self, Decision, Mutations, Outcome, Start};
use jwtgate::keys::{JwksError, KeySet, SkipReason, MAX_JWKS_BYTES};
use jwtgate::outcome::{self, Rejection};
use jwtgate::token::{self, Alg};
use jwtgate::verifier::{Denial, KeyLookup};
use jwtgate::Reason;
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

/// `jwtgate check` flags.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("request").args(["path", "url"])))]
#[command(after_help = "\
Modes:
  --config F --path P   the filter's whole verdict for that request (exit 0: it goes upstream)
  --config F --url U    the same, with the request's scheme and authority from U
  --dpop PROOF          the token under the DPoP scheme with this proof, for --method and --url
  --client-cert FILE    the client certificate, for certificate-bound tokens
  --config F            the token validated for --provider (or the config's only provider)
  --jwks F              the token validated with these keys; iss and aud are not checked
  --signature-only      the JWS layer only (RFC 7515): algorithm, key, signature; any payload

Exit status: 0 valid, 1 invalid, 2 usage or configuration error.")]
pub struct CheckArgs {
    /// The token, or `-` to read it from standard input.
    #[arg(value_name = "TOKEN|-")]
    token: Option<String>,
    /// JWKS file. Without --config: the keys. With --config: the keys of every remote
    /// provider, or NAME=FILE for provider NAME (repeatable). A single JWK counts as a set of one.
    #[arg(long, value_name = "FILE|NAME=FILE")]
    jwks: Vec<String>,
    /// Plugin config (JSON): its providers, and with --path its rules.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Without --path: the provider to validate the token for.
    #[arg(
        long,
        value_name = "NAME",
        requires = "config",
        conflicts_with = "request"
    )]
    provider: Option<String>,
    /// The request's :path, query included: gives the verdict for that request.
    #[arg(
        long,
        value_name = "PATH",
        requires = "config",
        conflicts_with = "signature_only"
    )]
    path: Option<String>,
    /// The request's :method [default: GET] (with --dpop, what the proof's htm must name).
    #[arg(long, value_name = "METHOD")]
    method: Option<String>,
    /// The request's URL, scheme://authority/path?query: with --config it gives the verdict for
    /// that request (like --path, with :scheme and :authority); with --dpop, the URI the
    /// proof's htu must name.
    #[arg(long, value_name = "URL", conflicts_with_all = ["path", "authority", "signature_only"])]
    url: Option<String>,
    /// A DPoP proof (RFC 9449): TOKEN is presented as `Authorization: DPoP TOKEN` with this
    /// `DPoP` header (needs --url or --path).
    #[arg(long, value_name = "PROOF", conflicts_with = "signature_only")]
    dpop: Option<String>,
    /// The TLS client certificate, PEM or DER, for certificate-bound tokens (cnf.x5t#S256):
    /// the connection's certificate, and the Hash= of x-forwarded-client-cert for a provider
    /// that reads that header (unless --header gives one).
    #[arg(long, value_name = "FILE", conflicts_with = "signature_only")]
    client_cert: Option<PathBuf>,
    /// The request's :authority (the realm of WWW-Authenticate) [default: the host header, else
    /// localhost].
    #[arg(long, value_name = "HOST", requires = "path")]
    authority: Option<String>,
    /// A request header, `NAME:VALUE` (repeatable). TOKEN goes in `authorization: Bearer TOKEN`
    /// unless a header (or --path) already carries it.
    #[arg(
        long = "header",
        short = 'H',
        value_name = "NAME:VALUE",
        requires = "request"
    )]
    headers: Vec<String>,
    /// The request carries no TOKEN (only what --header and --path give).
    #[arg(long, requires = "request", conflicts_with = "token")]
    no_token: bool,
    /// Where TOKEN goes: `bearer` (`authorization: Bearer TOKEN`, the default), `header:NAME`
    /// (the whole value), `param:NAME` (a query parameter), `cookie:NAME`.
    #[arg(
        long,
        value_name = "WHERE",
        requires = "request",
        conflicts_with = "no_token"
    )]
    token_in: Option<String>,
    /// Check the JWS layer only (RFC 7515): the payload may be anything, claims are not read.
    #[arg(long)]
    signature_only: bool,
    /// The current time, in seconds since the epoch [default: the clock].
    #[arg(long, value_name = "UNIX", allow_negative_numbers = true)]
    now: Option<i64>,
    /// Output one JSON object (field names are stable; see the README).
    #[arg(long)]
    json: bool,
}

fn read(path: &Path) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))
}

fn load_config(path: &Path) -> Result<Config, UsageError> {
    config::parse(&read(path)?).map_err(|e| UsageError(format!("{}: {e}", path.display())))
}

/// A JWKS file as the filter would take the document: the usable keys, and every skipped
/// key reported on stderr. A file whose keys are all unusable is not an error here (the
/// verdict says what the filter would do without keys); a file that is no JWKS is.
struct LoadedKeys {
    set: Rc<KeySet>,
    usable: bool,
}

fn load_jwks(path: &Path) -> Result<LoadedKeys, UsageError> {
    let name = path.display();
    let bytes = read(path)?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(UsageError(format!("{name}: {}", JwksError::TooLarge)));
    }
    let mut doc = jwtgate::json::parse(&bytes)
        .map_err(|_| UsageError(format!("{name}: {}", JwksError::NotAJwks)))?;
    // One JWK (RFC 7517 §4) rather than a set (§5): a set of one.
    if doc.get("kty").is_some() && doc.get("keys").is_none() {
        doc = json!({ "keys": [doc] });
    }
    let (set, skipped, usable) = match KeySet::from_value(&doc) {
        Ok((set, skipped)) => (set, skipped, true),
        Err(JwksError::NoUsableKey(skipped)) => (KeySet::default(), skipped, false),
        Err(e) => return Err(UsageError(format!("{name}: {e}"))),
    };
    for s in &skipped {
        let hint = match s.why {
            SkipReason::PrivateMaterial => {
                " (the filter never trusts a JWKS that publishes private keys: give the public part)"
            }
            _ => "",
        };
        out::warn(&format!(
            "jwtgate: {name}: key kid={} skipped: {}{hint}",
            s.kid.as_deref().map_or("-".into(), gate::log_safe),
            s.why.as_str()
        ));
    }
    if !usable {
        out::warn(&format!("jwtgate: {name}: no usable key"));
    }
    Ok(LoadedKeys {
        set: Rc::new(set),
        usable,
    })
}

/// `--jwks` values: one file for every remote provider, or NAME=FILE.
#[derive(Default)]
struct JwksFiles {
    all: Option<PathBuf>,
    named: Vec<(String, PathBuf)>,
}

fn jwks_files(values: &[String], cfg: Option<&Config>) -> Result<JwksFiles, UsageError> {
    let mut files = JwksFiles::default();
    for v in values {
        let named = v.split_once('=').and_then(|(name, file)| {
            cfg.and_then(|c| c.providers.iter().find(|p| p.name == name))
                .map(|p| (p, file))
        });
        match named {
            Some((p, file)) => {
                if matches!(p.jwks, JwksSource::Local(_)) {
                    return Err(UsageError(format!(
                        "--jwks {v}: provider {:?} has local_jwks in the config",
                        p.name
                    )));
                }
                if files.named.iter().any(|(n, _)| n == &p.name) {
                    return Err(UsageError(format!(
                        "--jwks given twice for provider {:?}",
                        p.name
                    )));
                }
                files.named.push((p.name.clone(), PathBuf::from(file)));
            }
            None => {
                if files.all.replace(PathBuf::from(v)).is_some() {
                    return Err(UsageError(
                        "--jwks FILE given twice (use NAME=FILE for one provider)".into(),
                    ));
                }
            }
        }
    }
    Ok(files)
}

impl JwksFiles {
    /// The file for a remote provider, if any.
    fn for_provider(&self, name: &str) -> Option<&Path> {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.as_path())
            .or(self.all.as_deref())
    }
}

fn read_token(arg: Option<&str>) -> Result<Option<String>, UsageError> {
    match arg {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| UsageError(format!("reading standard input: {e}")))?;
            Ok(Some(s.trim().to_owned()))
        }
        Some(t) => Ok(Some(t.to_owned())),
        None => Ok(None),
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `jwtgate check`.
pub fn run(a: CheckArgs) -> Result<ExitCode, UsageError> {
    let now = a.now.unwrap_or_else(system_now);
    let cfg = a.config.as_deref().map(load_config).transpose()?;
    let files = jwks_files(&a.jwks, cfg.as_ref())?;
    let token = read_token(a.token.as_deref())?;
    let url = a.url.as_deref().map(split_url).transpose()?;
    let cert = a.client_cert.as_deref().map(load_cert).transpose()?;
    let target = Target { url, cert };
    let path = a
        .path
        .clone()
        .or_else(|| target.url.as_ref().map(|u| u.path.clone()));
    match (&cfg, path) {
        (Some(cfg), Some(path)) => request_verdict(&a, cfg, &files, &path, &target, token, now),
        _ => {
            let token = token
                .ok_or_else(|| UsageError("no token given (use - for standard input)".into()))?;
            if a.dpop.is_some() && target.url.is_none() {
                return Err(UsageError(
                    "--dpop needs --url (the URI the proof's htu names)".into(),
                ));
            }
            token_verdict(&a, cfg.as_ref(), &files, &token, &target, now)
        }
    }
}

/// `--url` in the parts a request has.
struct Url {
    scheme: String,
    authority: String,
    path: String,
}

/// What the request proves beside its token: `--url`, `--client-cert`.
struct Target {
    url: Option<Url>,
    cert: Option<jwtgate::mtls::Digest32>,
}

fn split_url(u: &str) -> Result<Url, UsageError> {
    let bad = || UsageError(format!("--url {u:?}: expected http(s)://host[:port]/path"));
    let (scheme, rest) = u.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(bad());
    }
    let path = path.split('#').next().unwrap_or(path);
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    Ok(Url {
        scheme,
        authority: authority.to_owned(),
        path,
    })
}

fn load_cert(path: &Path) -> Result<jwtgate::mtls::Digest32, UsageError> {
    let bytes = read(path)?;
    jwtgate::mtls::digest_of_certificate(&bytes).ok_or_else(|| {
        UsageError(format!(
            "{}: not a certificate (PEM \"BEGIN CERTIFICATE\" or DER)",
            path.display()
        ))
    })
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// One token for one provider.

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

enum Verdict {
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

fn token_verdict(
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
            let index = match &a.provider {
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
                        "the config has several providers: choose one with --provider, \
                         or give the request with --path"
                            .into(),
                    ))
                }
            };
            let p = cfg
                .providers
                .get(index)
                .ok_or_else(|| UsageError("no provider".into()))?;
            let keys = match &p.jwks {
                JwksSource::Local(k) => {
                    if files.all.is_some() {
                        out::warn(&format!(
                            "jwtgate: provider {:?} has local_jwks: --jwks is not used for it",
                            p.name
                        ));
                    }
                    k.clone()
                }
                JwksSource::Remote(_) => match files.for_provider(&p.name) {
                    Some(f) => load_jwks(f)?.set,
                    None => {
                        return Err(UsageError(format!(
                            "--jwks FILE is required (provider {:?} has remote keys)",
                            p.name
                        )))
                    }
                },
            };
            (p, index, cfg.max_token_size, keys)
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
                p.dpop = Some(jwtgate::config::DpopPolicy {
                    required: false,
                    algorithms: vec![Alg::Es256, Alg::Rs256],
                    max_age_s: 300,
                    external_origin: None,
                });
            }
            if target.cert.is_some() {
                p.mtls = Some(jwtgate::config::MtlsPolicy::Connection);
            }
            implicit = p;
            (&implicit, 0, 8192, keys)
        }
    };
    let verdict = if a.signature_only {
        match authenticator::check_signature(&provider.algorithms, &keys, token, max_size) {
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
                match jwtgate::binding::check(provider, &claims, token, Some(&ev), now) {
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

/// The request a lone token is checked in: `--dpop`, `--method`, `--url`, `--client-cert`.
fn token_evidence(a: &CheckArgs, token: &str, target: &Target) -> jwtgate::binding::Evidence {
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
        headers.push(("authorization".into(), format!("DPoP {token}")));
        headers.push(("dpop".into(), proof.clone()));
    }
    if let Some(d) = &target.cert {
        headers.push((jwtgate::mtls::XFCC.into(), format!("Hash={}", hex(d))));
    }
    let mut ev = jwtgate::binding::Evidence::read(&headers, authority, path);
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
    match authenticator::authenticate(provider, index, token, state, max_size, now, &mut cache) {
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
                    match jwtgate::claims::check_identity(
                        provider,
                        &patched,
                        t.header.typ.as_deref(),
                    ) {
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

fn header_json(h: &token::Header) -> Value {
    json!({"alg": h.alg, "kid": h.kid, "typ": h.typ})
}

fn report_token(
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

// ---------------------------------------------------------------------------------------------
// A whole request through gate::prepare and gate::decide.

/// Keys per provider as the filter would hold them: local ones as configured, remote ones
/// from `--jwks` (none, or none usable: the filter would have no keys either).
struct CliKeys {
    slots: Vec<Option<Rc<KeySet>>>,
}

impl KeyLookup for CliKeys {
    fn key_state(&self, provider: usize) -> KeyState<'_> {
        match self.slots.get(provider) {
            Some(Some(keys)) => KeyState::Ready {
                keys,
                version: 1,
                refetch_allowed: false,
                revoked: None,
            },
            _ => KeyState::Unavailable,
        }
    }
}

fn cli_keys(cfg: &Config, files: &JwksFiles) -> Result<CliKeys, UsageError> {
    let any_remote = cfg
        .providers
        .iter()
        .any(|p| matches!(p.jwks, JwksSource::Remote(_)));
    if files.all.is_some() && !any_remote {
        out::warn("jwtgate: every provider has local_jwks: --jwks is not used");
    }
    let mut slots = Vec::new();
    for p in &cfg.providers {
        if let Some(Revocation::Remote(r)) = &p.revocation {
            out::warn(&format!(
                "jwtgate: provider {:?}: the revocation list at {} is not fetched here: not checked",
                p.name, r.endpoint.uri
            ));
        }
        let slot = match &p.jwks {
            JwksSource::Local(k) => Some(k.clone()),
            JwksSource::Remote(_) => match files.for_provider(&p.name) {
                Some(f) => {
                    let loaded = load_jwks(f)?;
                    if !loaded.usable {
                        out::warn(&format!(
                            "jwtgate: provider {:?}: no usable key: the filter would keep no keys \
                             (jwks_unavailable)",
                            p.name
                        ));
                    }
                    loaded.usable.then_some(loaded.set)
                }
                None => {
                    out::warn(&format!(
                        "jwtgate: provider {:?} has remote keys and no --jwks: its keys are \
                         unavailable",
                        p.name
                    ));
                    None
                }
            },
        };
        slots.push(slot);
    }
    Ok(CliKeys { slots })
}

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
/// unless the request already carries it.
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
                        extra = Some(("authorization".to_owned(), format!("DPoP {t}")))
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
        .any(|p| p.mtls == Some(jwtgate::config::MtlsPolicy::ForwardedHeader));
    if let (Some(d), true) = (&target.cert, forwarded_cert) {
        if !user
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(jwtgate::mtls::XFCC))
        {
            user.push((jwtgate::mtls::XFCC.to_owned(), format!("Hash={}", hex(d))));
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

fn request_verdict(
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
    let decision = match gate::prepare(cfg, &headers) {
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
            let denial = Denial {
                reason: Reason::JwksUnavailable,
                provider: None,
                kid: None,
                scopes: Vec::new(),
            };
            let r = outcome::reject(Some(&denial), authority);
            (
                None,
                Some(r),
                Outcome::Denied {
                    denial,
                    reported: false,
                },
            )
        }
    };
    let sent_path = headers
        .iter()
        .find(|(n, _)| n == ":path")
        .map_or(path, |(_, v)| v.as_str());
    let rule = match outcome {
        Outcome::Preflight => None,
        _ => jwtgate::matcher::rule_for(cfg, sent_path),
    };
    let requirement = match outcome {
        Outcome::Preflight => &Requirement::None,
        _ => jwtgate::matcher::requirement(cfg, rule),
    };
    let view = View {
        cfg,
        rule,
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

struct View<'a> {
    cfg: &'a Config,
    rule: Option<usize>,
    requirement: &'a Requirement,
    mutations: Option<&'a Mutations>,
    rejection: Option<&'a Rejection>,
    outcome: &'a Outcome,
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

    fn rule_json(&self) -> Value {
        match self
            .rule
            .and_then(|i| self.cfg.rules.get(i).map(|r| (i, r)))
        {
            Some((i, r)) => json!({"index": i, "match": match_json(&r.matcher)}),
            None => Value::Null,
        }
    }

    fn json(&self) -> Value {
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
        })
    }

    fn human(&self) -> String {
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
        match self
            .rule
            .and_then(|i| self.cfg.rules.get(i).map(|r| (i, r)))
        {
            Some((i, r)) => s.push_str(&format!("rule: #{i} {}\n", match_json(&r.matcher))),
            None if matches!(self.outcome, Outcome::Preflight) => {}
            None => s.push_str("rule: none matched (any provider required)\n"),
        }
        match self.requirement {
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
        }
        s
    }
}

/// `jwtgate config validate FILE`: exit 0 valid, 1 invalid (one line naming the field).
pub fn validate_config(path: &Path) -> Result<ExitCode, UsageError> {
    match config::parse(&read(path)?) {
        Ok(cfg) => {
            out::print(&format!(
                "ok: {} provider(s), {} rule(s), mode {:?}\n",
                cfg.providers.len(),
                cfg.rules.len(),
                cfg.mode
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            out::print(&format!("{}: {e}\n", path.display()))?;
            Ok(ExitCode::from(1))
        }
    }
}
