//! One request, start to finish, without the host: rule → tokens → verifier tree → decision.
//!
//! The proxy glue calls [`prepare`] once with the request headers, then [`decide`] (again after
//! each wait), and applies what comes back. The CLI and tests drive the same two calls.

use crate::binding::{self, Evidence};
use crate::cache::TokenCache;
use crate::config::{Config, EscapedSlashes, Mode, Requirement};
use crate::dpop::replay::{self, Seen};
use crate::extract::{self, Found, HeaderPair, Location, RequestParts};
use crate::jwks_cache::SharedStore;
use crate::matcher;
use crate::outcome::{self, Rejection};
use crate::path;
use crate::replay_memory;
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
    /// Proof-of-possession evidence, read only when a provider checks token bindings.
    evidence: Option<Box<Evidence>>,
    /// A gRPC request: rejections go as gRPC statuses.
    grpc: bool,
}

impl Prepared {
    /// Whether the host should report the TLS client certificate
    /// ([`Prepared::set_peer_certificate`]): some provider binds tokens to it.
    pub fn wants_peer_certificate(&self, cfg: &Config) -> bool {
        self.evidence.is_some() && binding::needs_peer_certificate(&cfg.providers)
    }

    /// The SHA-256 of the TLS client certificate's DER, as the host reports it (`None`: no
    /// certificate).
    pub fn set_peer_certificate(&mut self, digest: Option<crate::mtls::Digest32>) {
        if let Some(ev) = self.evidence.as_mut() {
            ev.set_peer_certificate(digest);
        }
    }

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
    refusal_with(denial, grpc, authority, |_, _| {})
}

/// [`refusal`], with `challenge` adding to the HTTP answer before a gRPC request's is made
/// from it (the DPoP challenges of a requirement).
fn refusal_with(
    denial: Denial,
    grpc: bool,
    authority: &str,
    challenge: impl FnOnce(&Denial, &mut Rejection),
) -> (Rejection, Outcome) {
    let mut rejection = outcome::reject(Some(&denial), authority);
    challenge(&denial, &mut rejection);
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
    let evidence =
        binding::needed(&cfg.providers).then(|| Box::new(Evidence::read(headers, authority, path)));
    Start::Check(Prepared {
        rule,
        tokens,
        path_and_authority,
        path_len: path.len(),
        normalized,
        cookie: joined_cookies(headers),
        cookie_names: spellings(headers, "cookie"),
        identity: present_identity(cfg, headers),
        evidence,
        grpc: is_grpc(headers),
    })
}

/// Evaluates the rule's requirement with the keys as they are now. DPoP proofs are
/// remembered for this call only: one request alone, as the CLI sees it, before which nothing
/// was seen. A proxy remembers them across requests and workers with [`decide_with`].
pub fn decide<K: KeyLookup>(
    cfg: &Config,
    prep: &Prepared,
    keys: &K,
    cache: &mut TokenCache,
    now: i64,
) -> Decision {
    decide_in(cfg, prep, keys, cache, now, None)
}

/// The replay check of the DPoP proofs a passing request carries (made once, when the
/// request is decided: a request that waits for keys has consumed nothing).
/// Without `seen` (one request alone) only a proof the request carries twice is a replay.
fn replay_check(
    mut seen: Option<&mut dyn SharedStore>,
    tickets: &[(usize, replay::Ticket)],
    ok: &[Success],
    now: i64,
) -> Option<Denial> {
    for (i, (provider, ticket)) in tickets.iter().enumerate() {
        let Some(s) = ok.iter().find(|s| s.provider == *provider) else {
            continue;
        };
        let verdict = match seen.as_deref_mut() {
            Some(store) => replay_memory::remember(store, ticket, now),
            None if tickets.iter().take(i).any(|(_, t)| t == ticket) => Seen::Replayed,
            None => Seen::Fresh,
        };
        let reason = match verdict {
            Seen::Fresh => continue,
            Seen::Replayed => Reason::DpopReplayed,
            Seen::Full | Seen::Unavailable => Reason::DpopReplayUnavailable,
        };
        return Some(Denial {
            reason,
            provider: Some(*provider),
            kid: s.verified.kid.clone(),
            scopes: Vec::new(),
            step_up: None,
        });
    }
    None
}

/// [`decide`], remembering DPoP proofs in `seen` (the host's shared data in the proxy).
pub fn decide_with<K: KeyLookup>(
    cfg: &Config,
    prep: &Prepared,
    keys: &K,
    cache: &mut TokenCache,
    now: i64,
    seen: &mut dyn SharedStore,
) -> Decision {
    decide_in(cfg, prep, keys, cache, now, Some(seen))
}

fn decide_in<K: KeyLookup>(
    cfg: &Config,
    prep: &Prepared,
    keys: &K,
    cache: &mut TokenCache,
    now: i64,
    seen: Option<&mut dyn SharedStore>,
) -> Decision {
    let req = matcher::requirement(cfg, prep.rule);
    let mut evaluator =
        Evaluator::new(cfg, &prep.tokens, keys, cache, now).with_evidence(prep.evidence.as_deref());
    let eval = evaluator.eval(req);
    let mut swallowed = std::mem::take(&mut evaluator.reported);
    let tickets = std::mem::take(&mut evaluator.tickets);
    let eval = match eval {
        Eval::Pass(ok) if !tickets.is_empty() => match replay_check(seen, &tickets, &ok, now) {
            None => Eval::Pass(ok),
            // A replay is a failed token: under `allow_missing_or_failed` it is reported and
            // the request passes unannotated.
            Some(d) if matches!(req, Requirement::AllowMissingOrFailed(_)) => {
                swallowed.push(d);
                Eval::Pass(Vec::new())
            }
            Some(d) => Eval::Fail(d),
        },
        other => other,
    };
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
    let (rejection, outcome) = refusal_with(denial, prep.grpc, prep.authority(), |d, r| {
        dpop_challenge(cfg, prep, req, d, r)
    });
    Decision::Reject(rejection, outcome)
}

impl Prepared {
    /// True for a gRPC request (`content-type: application/grpc…`).
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }
}

/// Providers a requirement names, in tree order.
fn named_providers(req: &Requirement, out: &mut Vec<usize>) {
    match req {
        Requirement::None => {}
        Requirement::Provider { provider, .. } => out.push(*provider),
        Requirement::Any(list) | Requirement::All(list) => {
            for r in list {
                named_providers(r, out);
            }
        }
        Requirement::AllowMissing(r) | Requirement::AllowMissingOrFailed(r) => {
            named_providers(r, out)
        }
    }
}

/// The DPoP challenges (contract v1.2 "DPoP"): a token presented under the DPoP scheme is
/// challenged in that scheme; a missing token, or a Bearer one where DPoP is required, gets a
/// `DPoP` challenge beside the Bearer one when a provider of the rule takes DPoP.
fn dpop_challenge(
    cfg: &Config,
    prep: &Prepared,
    req: &Requirement,
    denial: &Denial,
    r: &mut Rejection,
) {
    let Some(ev) = prep.evidence.as_deref() else {
        return;
    };
    let policy = |p: usize| cfg.providers.get(p).and_then(|p| p.dpop.as_ref());
    match denial.reason {
        Reason::TokenMissing | Reason::DpopRequired => {
            let mut named = Vec::new();
            match denial.provider {
                Some(p) => named.push(p),
                None => named_providers(req, &mut named),
            }
            let algs: Vec<_> = named
                .into_iter()
                .filter_map(policy)
                .flat_map(|d| d.algorithms.iter().copied())
                .collect();
            crate::dpop_challenge::offer(r, &algs);
        }
        reason if r.status == 401 => {
            let Some((p, d)) = denial.provider.and_then(|p| policy(p).map(|d| (p, d))) else {
                return;
            };
            let as_dpop = prep
                .tokens
                .get(p)
                .is_some_and(|f| f.iter().any(|f| ev.presented_as_dpop(&f.token)));
            if as_dpop {
                crate::dpop_challenge::replace(r, reason, &d.algorithms);
            }
        }
        _ => {}
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
        let found = prep.tokens.get(s.provider).and_then(|f| f.get(s.found));
        let locations = found.map(|f| f.locations.as_slice()).unwrap_or(&[]);
        // The proof goes with the token it proves (it names the token's hash and its key).
        if let (Some(ev), Some(f), Some(_)) = (prep.evidence.as_deref(), found, &p.dpop) {
            if ev.presented_as_dpop(&f.token) {
                for h in &ev.proof_headers {
                    if !m.remove.contains(h) {
                        m.remove.push(h.clone());
                    }
                }
            }
        }
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
