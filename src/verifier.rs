//! The verifier tree: evaluates a [`Requirement`] over the tokens of a request.

use crate::authenticator::{self, Auth, Failure, KeyState, Verified};
use crate::binding::{self, Evidence};
use crate::cache::TokenCache;
use crate::claims;
use crate::config::{ClaimRequirement, Config, Requirement, Revocation, StepUp};
use crate::crypto::{self, SignatureBackend};
use crate::dpop::replay::Ticket;
use crate::extract::Found;
use crate::Reason;
use std::rc::Rc;

/// Access to each provider's keys, as the host currently has them, and the host's way of
/// checking signatures with them.
pub trait KeyLookup {
    /// The state of provider number `provider`'s keys for this request.
    fn key_state(&self, provider: usize) -> KeyState<'_>;

    /// Where signatures are checked: the module's own code unless the host offers better.
    fn signatures(&self) -> &dyn SignatureBackend {
        &crypto::OWN_CODE
    }
}

/// What a request must wait for before it can be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The provider's first keys.
    Keys(usize),
    /// A refetch of the provider's keys for an unknown `kid`.
    Refetch(usize),
}

/// A provider whose token passed.
#[derive(Debug, Clone)]
pub struct Success {
    /// Provider index.
    pub provider: usize,
    /// Index into that provider's found tokens.
    pub found: usize,
    /// The verified token.
    pub verified: Rc<Verified>,
}

/// A denial with its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Reason code.
    pub reason: Reason,
    /// Provider concerned, when one is.
    pub provider: Option<usize>,
    /// The token's `kid`, when known.
    pub kid: Option<String>,
    /// Required scopes (for `insufficient_scope`).
    pub scopes: Vec<String>,
    /// The step-up asked for (for `acr_insufficient` and `auth_time_too_old`).
    pub step_up: Option<StepUp>,
}

impl Denial {
    /// A denial that concerns no provider and no token (a refused path, a request that cannot
    /// wait for keys, no token at all).
    pub fn of(reason: Reason) -> Denial {
        Denial {
            reason,
            provider: None,
            kid: None,
            scopes: Vec::new(),
            step_up: None,
        }
    }
}

/// The value of a (sub)requirement.
#[derive(Debug, Clone)]
pub enum Eval {
    /// Passed; the providers whose tokens verified (possibly none, e.g. `allow_missing`).
    Pass(Vec<Success>),
    /// No token for it.
    Missing,
    /// Failed.
    Fail(Denial),
    /// Undecided until keys arrive.
    Wait(Vec<Need>),
}

/// Everything an evaluation reads and the cache it fills.
pub struct Evaluator<'a, K: KeyLookup> {
    /// Configuration.
    pub cfg: &'a Config,
    /// Tokens found per provider (same indexing as `cfg.providers`).
    pub tokens: &'a [Vec<Found>],
    /// Key access.
    pub keys: &'a K,
    /// Verified-token cache.
    pub cache: &'a mut TokenCache,
    /// Seconds since the epoch.
    pub now: i64,
    /// Failures that `allow_missing_or_failed` let pass: logged and counted as report-only.
    pub reported: Vec<Denial>,
    /// DPoP proofs accepted, by provider: the replay check is made once the request passes.
    pub tickets: Vec<(usize, Ticket)>,
    memo: Vec<Option<Auth>>,
    evidence: Option<&'a Evidence>,
    bound: Vec<Option<Result<(), Reason>>>,
}

impl<'a, K: KeyLookup> Evaluator<'a, K> {
    /// An evaluator for one pass over one request.
    pub fn new(
        cfg: &'a Config,
        tokens: &'a [Vec<Found>],
        keys: &'a K,
        cache: &'a mut TokenCache,
        now: i64,
    ) -> Self {
        Evaluator {
            memo: vec![None; cfg.providers.len()],
            cfg,
            tokens,
            keys,
            cache,
            now,
            reported: Vec::new(),
            tickets: Vec::new(),
            evidence: None,
            bound: vec![None; cfg.providers.len()],
        }
    }

    /// What the request offers as proof of possession (token bindings, [`binding`]).
    pub fn with_evidence(mut self, evidence: Option<&'a Evidence>) -> Self {
        self.evidence = evidence;
        self
    }

    /// The binding of provider `provider`'s verified token, checked once per request.
    fn binding(&mut self, provider: usize, token: &str, v: &Verified) -> Result<(), Reason> {
        if let Some(Some(done)) = self.bound.get(provider) {
            return *done;
        }
        let Some(p) = self.cfg.providers.get(provider) else {
            return Err(Reason::TokenBound);
        };
        let result = binding::check(p, &v.claims, token, self.evidence, self.now).map(|t| {
            if let Some(t) = t {
                self.tickets.push((provider, t));
            }
        });
        if let Some(slot) = self.bound.get_mut(provider) {
            *slot = Some(result);
        }
        result
    }

    /// Evaluates `req`.
    pub fn eval(&mut self, req: &Requirement) -> Eval {
        match req {
            Requirement::None => Eval::Pass(Vec::new()),
            Requirement::Provider {
                provider,
                scopes,
                claims,
                clients,
                step_up,
            } => self.provider(
                *provider,
                Conditions {
                    scopes,
                    claims,
                    clients,
                    step_up: step_up.as_ref(),
                },
            ),
            Requirement::Any(list) => self.any(list),
            Requirement::All(list) => self.all(list),
            Requirement::AllowMissing(inner) => match self.eval(inner) {
                Eval::Missing => Eval::Pass(Vec::new()),
                other => other,
            },
            Requirement::AllowMissingOrFailed(inner) => match self.eval(inner) {
                Eval::Missing => Eval::Pass(Vec::new()),
                Eval::Fail(d) => {
                    self.reported.push(d);
                    Eval::Pass(Vec::new())
                }
                other => other,
            },
        }
    }

    fn authenticate(&mut self, provider: usize, token: &str) -> Auth {
        if let Some(Some(done)) = self.memo.get(provider) {
            return done.clone();
        }
        let Some(p) = self.cfg.providers.get(provider) else {
            return Auth::Invalid(Failure {
                reason: Reason::JwksUnavailable,
                kid: None,
            });
        };
        let mut state = self.keys.key_state(provider);
        if let (KeyState::Ready { revoked, .. }, Some(Revocation::Inline(list))) =
            (&mut state, &p.revocation)
        {
            *revoked = Some(list);
        }
        let auth = authenticator::authenticate_using(
            p,
            provider,
            token,
            state,
            self.cfg.max_token_size,
            self.now,
            self.cache,
            self.keys.signatures(),
        );
        if let Some(slot) = self.memo.get_mut(provider) {
            *slot = Some(auth.clone());
        }
        auth
    }

    fn provider(&mut self, provider: usize, c: Conditions<'_>) -> Eval {
        // Borrowed for 'a, not from `self`: the token is not copied per evaluation.
        let tokens: &'a [Vec<Found>] = self.tokens;
        let found = tokens.get(provider).map(Vec::as_slice).unwrap_or(&[]);
        let deny = |reason, kid| {
            Eval::Fail(Denial {
                reason,
                provider: Some(provider),
                kid,
                scopes: Vec::new(),
                step_up: None,
            })
        };
        let token = match found {
            [] => return Eval::Missing,
            [one] => one.token.as_str(),
            _ => return deny(Reason::TokenMalformed, None),
        };
        match self.authenticate(provider, token) {
            Auth::Valid(v) => {
                // Proof of possession is authentication: before any authorization check.
                if let Err(r) = self.binding(provider, token, &v) {
                    return deny(r, v.kid.clone());
                }
                // Order: which client (nothing the user does fixes a wrong one), then what the
                // token grants (scopes, claims), and only then step-up: asking the user to
                // authenticate again is useful only when that alone stands in the way.
                if !claims::client_allowed(&v.claims, c.clients) {
                    return deny(Reason::ClientNotAllowed, v.kid.clone());
                }
                if !claims::has_scopes(&v.claims, c.scopes) {
                    return Eval::Fail(Denial {
                        reason: Reason::InsufficientScope,
                        provider: Some(provider),
                        kid: v.kid.clone(),
                        scopes: c.scopes.to_vec(),
                        step_up: None,
                    });
                }
                if !claims::has_claims(&v.claims, c.claims) {
                    return deny(Reason::ClaimMismatch, v.kid.clone());
                }
                if let (Some(step_up), Some(p)) = (c.step_up, self.cfg.providers.get(provider)) {
                    // Checked on every request, cached token or not: `auth_time` ages.
                    if let Err(reason) = claims::check_step_up(p, step_up, &v.claims, self.now) {
                        return Eval::Fail(Denial {
                            reason,
                            provider: Some(provider),
                            kid: v.kid.clone(),
                            scopes: Vec::new(),
                            step_up: Some(step_up.clone()),
                        });
                    }
                }
                Eval::Pass(vec![Success {
                    provider,
                    found: 0,
                    verified: v,
                }])
            }
            Auth::Invalid(f) => deny(f.reason, f.kid),
            Auth::NeedKeys => Eval::Wait(vec![Need::Keys(provider)]),
            Auth::NeedRefetch => Eval::Wait(vec![Need::Refetch(provider)]),
        }
    }

    fn any(&mut self, list: &[Requirement]) -> Eval {
        let mut waits = Vec::new();
        let mut best: Option<Denial> = None;
        for r in list {
            match self.eval(r) {
                Eval::Pass(s) => return Eval::Pass(s),
                Eval::Missing => {}
                Eval::Wait(n) => waits.extend(n),
                Eval::Fail(d) => {
                    if best
                        .as_ref()
                        .is_none_or(|b| rank(d.reason) < rank(b.reason))
                    {
                        best = Some(d);
                    }
                }
            }
        }
        if !waits.is_empty() {
            return Eval::Wait(waits);
        }
        best.map_or(Eval::Missing, Eval::Fail)
    }

    fn all(&mut self, list: &[Requirement]) -> Eval {
        let mut waits = Vec::new();
        let mut missing = false;
        let mut passed = Vec::new();
        for r in list {
            match self.eval(r) {
                Eval::Pass(s) => passed.extend(s),
                Eval::Missing => missing = true,
                Eval::Wait(n) => waits.extend(n),
                Eval::Fail(d) => return Eval::Fail(d),
            }
        }
        if !waits.is_empty() {
            Eval::Wait(waits)
        } else if missing {
            Eval::Missing
        } else {
            Eval::Pass(passed)
        }
    }
}

/// What a provider requirement asks of a valid token beyond its provider's checks.
struct Conditions<'a> {
    scopes: &'a [String],
    claims: &'a [ClaimRequirement],
    clients: &'a [String],
    step_up: Option<&'a StepUp>,
}

/// Which failure of an `any` to report: a valid token lacking scopes (or a stronger login)
/// says most, a token that was not for that provider at all says least.
fn rank(r: Reason) -> u8 {
    match r {
        Reason::InsufficientScope
        | Reason::ClaimMismatch
        | Reason::ClientNotAllowed
        | Reason::AcrInsufficient
        | Reason::AuthTimeTooOld => 0,
        Reason::JwksUnavailable => 2,
        Reason::WrongIssuer => 3,
        Reason::TokenMissing => 4,
        _ => 1,
    }
}
