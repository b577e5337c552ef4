//! `jwtgate check` and `jwtgate config validate`: the filter's own code on one request, one
//! token or one config.
//!
//! With `--config` and `--path`, `check` builds the request the filter would see and runs
//! `gate::prepare` and `gate::decide` on it, as the filter does: the verdict is the filter's
//! whole answer (rule, status, reason, challenge, body, header edits). Without `--path` it
//! validates one token for one provider; `--signature-only` checks the JWS layer alone.

mod keys;
mod output;
mod request_mode;
mod target;
mod token_mode;
mod validate;

pub use validate::validate_config;

use crate::UsageError;
use clap::Args;
use jwtgate::config::{self, Config};
use keys::jwks_files;
use request_mode::request_verdict;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use target::{load_cert, split_url, Target};
use token_mode::token_verdict;

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
    /// Output one JSON object (field names are stable; see docs/cli.md).
    #[arg(long)]
    json: bool,
}

fn read(path: &Path) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))
}

fn load_config(path: &Path) -> Result<Config, UsageError> {
    config::parse(&read(path)?).map_err(|e| UsageError(format!("{}: {e}", path.display())))
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
