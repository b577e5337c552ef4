//! One request, start to finish, without the host: rule → tokens → verifier tree → decision.
//!
//! The proxy glue calls [`prepare`] once with the request headers, then [`decide`] (again after
//! each wait), and applies what comes back. The CLI and tests drive the same two calls.

use crate::cache::TokenCache;
use crate::config::{Config, EscapedSlashes, Mode};
use crate::extract::{self, Found, HeaderPair, Location, RequestParts};
use crate::matcher;
use crate::outcome::{self, Rejection};
use crate::path;
use crate::verifier::{Denial, Eval, Evaluator, KeyLookup, Need, Success};
use crate::Reason;

pub use crate::logsafe::log_safe;

/// Header edits for a request that goes upstream. Removals apply before sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mutations {
    /// Headers to remove.
    pub remove: Vec<String>,
    /// Headers to set (replacing any value), including `:path` and `cookie` rewrites.
    pub set: Vec<(String, String)>,
    /// Verified claims for the proxy's other filters, `(key, value)` (`claims_to_metadata`;
    /// Envoy: filter state `wasm.jwtgate.<key>`).
    pub metadata: Vec<(String, String)>,
}

/// What happened, for logs and metrics (no token or claim values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The rule needs no token.
    NotRequired,
    /// A CORS preflight passed untouched.
    Preflight,
    /// Passed; these providers' tokens verified.
    Allowed(Vec<usize>),
    /// Denied (or would have been, in report mode or under `allow_missing_or_failed`).
    Denied {
        /// Why.
        denial: Denial,
        /// True when the request went upstream anyway (report mode).
        reported: bool,
    },
}

/// The decision for a request.
#[derive(Debug)]
pub enum Decision {
    /// Go upstream with these edits.
    Forward(Mutations, Outcome),
    /// Answer locally.
    Reject(Rejection, Outcome),
    /// Pause until keys arrive, then call [`decide`] again.
    Wait(Vec<Need>),
}

/// What [`prepare`] learned from the request headers.
#[derive(Debug, Clone)]
pub struct Prepared {
    rule: Option<usize>,
    tokens: Vec<Vec<Found>>,
    /// `:path` as the request has it, then the authority the realm names (one allocation).
    path_and_authority: String,
    path_len: usize,
    /// `:path` normalized (query kept byte for byte), when that differs from `path`.
    normalized: Option<String>,
    cookie: Option<String>,
    cookie_names: Vec<String>,
    identity: Vec<String>,
    /// A gRPC request: rejections go as gRPC statuses.
    grpc: bool,
}

impl Prepared {
    /// `:path` as the request has it.
    fn path(&self) -> &str {
        self.path_and_authority
            .get(..self.path_len)
            .unwrap_or_default()
    }

    /// The providers a decision may ask for keys: those a token was found for.
    pub fn providers_with_tokens(&self) -> impl Iterator<Item = usize> + '_ {
        self.tokens
            .iter()
            .enumerate()
            .filter(|(_, found)| !found.is_empty())
            .map(|(p, _)| p)
    }

    /// The host the client asked for (the realm).
    fn authority(&self) -> &str {
        self.path_and_authority
            .get(self.path_len..)
            .unwrap_or_default()
    }
}

/// The first step: either a decision right away, or the state to decide on.
#[derive(Debug)]
// Moved once per request, into the request's state: no box (one allocation less per request).
#[allow(clippy::large_enum_variant)]
pub enum Start {
    /// Decided without any token work.
    Done(Decision),
    /// Tokens were extracted; call [`decide`].
    Check(Prepared),
}

/// The first value of header `name` (lowercase), whatever spelling the host hands over.
fn header<'a, H: HeaderPair>(headers: &'a [H], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value())
}

/// Every spelling of header `name` the request carries, each once: hosts that keep the
/// client's case (nginx) need each removed by name.
fn spellings<H: HeaderPair>(headers: &[H], name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in headers {
        let n = h.name();
        if n.eq_ignore_ascii_case(name) && !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    }
    out
}

/// Every `cookie` header as one value: HTTP/2 may split cookies over several headers, and a
/// token must be stripped from whichever carries it (RFC 9113 §8.2.3 joins them with "; ").
fn joined_cookies<H: HeaderPair>(headers: &[H]) -> Option<String> {
    let all: Vec<&str> = headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("cookie"))
        .map(|h| h.value())
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// True when an upstream may read header `name` as identity header `id`: the same name in any
/// case, or with `_` for `-` (CGI-style servers, WSGI, PHP and Rack among them, read a client's
/// `X_User_Id` as `X-User-Id`, and Envoy forwards underscores by default).
fn aliases(name: &str, id: &str) -> bool {
    let fold = |b: u8| {
        if b == b'_' {
            b'-'
        } else {
            b.to_ascii_lowercase()
        }
    };
    name.len() == id.len()
        && name
            .bytes()
            .zip(id.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

/// The identity headers this request carries, in every spelling it uses: only those need
/// removing (no allocation and no host call for the usual request that carries none).
fn present_identity<H: HeaderPair>(cfg: &Config, headers: &[H]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in &cfg.identity_headers {
        for h in headers {
            let n = h.name();
            if aliases(n, id) && !out.iter().any(|o| o == n) {
                out.push(n.to_owned());
            }
        }
    }
    out
}

/// Identity headers removed, and `:path` set to its normalized form if that differs.
fn scrub<H: HeaderPair>(cfg: &Config, headers: &[H], normalized: Option<String>) -> Mutations {
    Mutations {
        remove: present_identity(cfg, headers),
        set: normalized
            .map(|p| (":path".to_owned(), p))
            .into_iter()
            .collect(),
        metadata: Vec::new(),
    }
}

/// The refusal of a path that servers may read differently: before any rule, in every mode.
fn refuse_path(grpc: bool) -> Decision {
    let (rejection, outcome) = refusal(Denial::of(Reason::PathAmbiguous), grpc, "");
    Decision::Reject(rejection, outcome)
}

/// The one way a request is answered locally: the answer for `denial` (a gRPC status for a
/// gRPC request), `authority` naming the realm's host when known. Every refusal (a path, a
/// failed requirement, a request that cannot wait for keys, in the filter and in the CLI)
/// goes through here.
pub fn refusal(denial: Denial, grpc: bool, authority: &str) -> (Rejection, Outcome) {
    let mut rejection = outcome::reject(Some(&denial), authority);
    if grpc {
        rejection = outcome::for_grpc(rejection, denial.reason);
    }
    let outcome = Outcome::Denied {
        denial,
        reported: false,
    };
    (rejection, outcome)
}

/// True for a gRPC request (its rejections are gRPC statuses).
fn is_grpc<H: HeaderPair>(headers: &[H]) -> bool {
    header(headers, "content-type").is_some_and(outcome::is_grpc)
}

fn is_preflight<H: HeaderPair>(headers: &[H]) -> bool {
    header(headers, ":method") == Some("OPTIONS")
        && header(headers, "origin").is_some()
        && header(headers, "access-control-request-method").is_some()
}

/// Reads the request headers (names in any case, pseudo-headers included, repeats kept).
pub fn prepare<H: HeaderPair>(cfg: &Config, headers: &[H]) -> Start {
    prepare_for(cfg, headers, Escapes::Kept)
}

/// What the host does to an escaped slash (`%2F`, `%5C`) in the path it sends upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escapes {
    /// Sent as the client wrote it (Envoy with `KEEP_UNCHANGED`, its default).
    Kept,
    /// Decoded on the way: nginx sends `%2F` as `/` when it proxies. `escaped_slashes: "keep"`
    /// cannot hold there (a rule would match one segment and the upstream serve two), so such
    /// a path is refused as under `"reject"`.
    Decoded,
}

/// [`prepare`] on a host that treats escaped slashes as `escapes` says.
pub fn prepare_for<H: HeaderPair>(cfg: &Config, headers: &[H], escapes: Escapes) -> Start {
    prepare_routed(cfg, headers, escapes).1
}

/// Which rule gave a request its requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Decided before any rule was consulted: a path refused as ambiguous, or a CORS preflight.
    BeforeRules,
    /// The rule at this index: the first to match the normalized path.
    Rule(usize),
    /// No rule matched the normalized path: the default requirement applies.
    Default,
}

/// [`prepare_for`], and the route it took: what the CLI shows as the rule, so that it cannot
/// differ from the rule the verdict came from.
pub fn prepare_routed<H: HeaderPair>(
    cfg: &Config,
    headers: &[H],
    escapes: Escapes,
) -> (Route, Start) {
    let mut route = Route::BeforeRules;
    let start = start(cfg, headers, escapes, &mut route);
    (route, start)
}

// `route` is an out-parameter so that each early return below stays a plain `Start`.
fn start<H: HeaderPair>(cfg: &Config, headers: &[H], escapes: Escapes, route: &mut Route) -> Start {
    // The path first: a spelling servers disagree on is refused before any rule, preflight or
    // not, token or not (a request without `:path` has no origin-form path either).
    let path = header(headers, ":path").unwrap_or("");
    let (raw, query) = path::split(path);
    let keep = cfg.escaped_slashes == EscapedSlashes::Keep && escapes == Escapes::Kept;
    if path::ambiguous(raw, keep) {
        return Start::Done(refuse_path(is_grpc(headers)));
    }
    let normal = path::normalize(raw);
    // What goes upstream is what the rules saw: the normalized path, the query as it came.
    let normalized = (normal != raw).then(|| match query {
        Some(q) => format!("{normal}?{q}"),
        None => normal.to_string(),
    });
    if cfg.bypass_cors_preflight && is_preflight(headers) {
        return Start::Done(Decision::Forward(
            scrub(cfg, headers, normalized),
            Outcome::Preflight,
        ));
    }
    let rule = matcher::rule_for(cfg, &normal);
    *route = rule.map_or(Route::Default, Route::Rule);
    if matches!(
        matcher::requirement(cfg, rule),
        crate::config::Requirement::None
    ) {
        return Start::Done(Decision::Forward(
            scrub(cfg, headers, normalized),
            Outcome::NotRequired,
        ));
    }
    let parts = RequestParts { headers, query };
    let tokens = cfg
        .providers
        .iter()
        .map(|p| extract::extract(&p.sources, &parts))
        .collect();
    // The realm names the host the client asked for: nginx puts its own server name in
    // `:authority` and keeps the client's in `host`; Envoy folds `host` into `:authority`.
    let authority = header(headers, "host")
        .or_else(|| header(headers, ":authority"))
        .unwrap_or("");
    let mut path_and_authority = String::with_capacity(path.len() + authority.len());
    path_and_authority.push_str(path);
    path_and_authority.push_str(authority);
    Start::Check(Prepared {
        rule,
        tokens,
        path_and_authority,
        path_len: path.len(),
        normalized,
        cookie: joined_cookies(headers),
        cookie_names: spellings(headers, "cookie"),
        identity: present_identity(cfg, headers),
        grpc: is_grpc(headers),
    })
}

/// Evaluates the rule's requirement with the keys as they are now.
pub fn decide<K: KeyLookup>(
    cfg: &Config,
    prep: &Prepared,
    keys: &K,
    cache: &mut TokenCache,
    now: i64,
) -> Decision {
    let req = matcher::requirement(cfg, prep.rule);
    let mut evaluator = Evaluator::new(cfg, &prep.tokens, keys, cache, now);
    let eval = evaluator.eval(req);
    let swallowed = std::mem::take(&mut evaluator.reported);
    let denial = match eval {
        Eval::Wait(needs) => return Decision::Wait(needs),
        Eval::Pass(ok) => {
            let providers: Vec<usize> = ok.iter().map(|s| s.provider).collect();
            // A pass that only `allow_missing_or_failed` made is a failure reported, not an allow.
            let outcome = match swallowed.into_iter().next() {
                Some(denial) if providers.is_empty() => Outcome::Denied {
                    denial,
                    reported: true,
                },
                _ => Outcome::Allowed(providers),
            };
            return Decision::Forward(annotate(cfg, prep, &ok), outcome);
        }
        Eval::Missing => Denial::of(Reason::TokenMissing),
        Eval::Fail(d) => d,
    };
    if cfg.mode == Mode::Report {
        return Decision::Forward(
            Mutations {
                remove: prep.identity.clone(),
                set: prep
                    .normalized
                    .iter()
                    .map(|p| (":path".to_owned(), p.clone()))
                    .collect(),
                metadata: Vec::new(),
            },
            Outcome::Denied {
                denial,
                reported: true,
            },
        );
    }
    let (rejection, outcome) = refusal(denial, prep.grpc, prep.authority());
    Decision::Reject(rejection, outcome)
}

impl Prepared {
    /// True for a gRPC request (`content-type: application/grpc…`).
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }
}

/// True when `d` denies (or reports) the request for `reason`.
pub fn denied_for(d: &Decision, reason: Reason) -> bool {
    matches!(
        d,
        Decision::Reject(_, Outcome::Denied { denial, .. })
            | Decision::Forward(_, Outcome::Denied { denial, .. })
            if denial.reason == reason
    )
}

fn annotate(cfg: &Config, prep: &Prepared, ok: &[Success]) -> Mutations {
    let mut m = Mutations {
        remove: prep.identity.clone(),
        set: Vec::new(),
        metadata: Vec::new(),
    };
    // A validated `?access_token=` is stripped from the normalized path, which goes upstream.
    // `stripped` is that path once a parameter was taken out (no copy for the usual request).
    let mut stripped: Option<String> = None;
    let mut cookie = prep.cookie.clone();
    for s in ok {
        let Some(p) = cfg.providers.get(s.provider) else {
            continue;
        };
        m.set.extend(outcome::claim_headers(p, &s.verified));
        m.metadata.extend(outcome::claim_metadata(p, &s.verified));
        if p.forward {
            continue;
        }
        let locations = prep
            .tokens
            .get(s.provider)
            .and_then(|f| f.get(s.found))
            .map(|f| f.locations.as_slice())
            .unwrap_or(&[]);
        for loc in locations {
            match loc {
                // The name as the request spelled it (extraction records that).
                Location::Header(h) => {
                    if !m.remove.contains(h) {
                        m.remove.push(h.clone());
                    }
                }
                Location::Param(name) => {
                    let current = stripped
                        .as_deref()
                        .or(prep.normalized.as_deref())
                        .unwrap_or(prep.path());
                    stripped = Some(extract::strip_param(current, name));
                }
                Location::Cookie(name) => {
                    cookie = cookie.and_then(|c| extract::strip_cookie(&c, name));
                }
            }
        }
    }
    if let Some(path) = stripped.or_else(|| prep.normalized.clone()) {
        if path != prep.path() {
            m.set.push((":path".to_owned(), path));
        }
    }
    if cookie != prep.cookie {
        // Remove every cookie header first, in each spelling: they were joined into one value above.
        for n in &prep.cookie_names {
            if !m.remove.contains(n) {
                m.remove.push(n.clone());
            }
        }
        if let Some(c) = cookie {
            m.set.push(("cookie".to_owned(), c));
        }
    }
    m
}
