//! What a request does next, host-free: decide with the keys there are, or make the callouts
//! that bring what is missing and wait, or fail closed when nothing could wake it.
//!
//! The glue (`host/http.rs`, `host/root.rs`) only reads the host, calls [`step`] or [`tick`]
//! and applies what they return; the host side of a step (clock, shared data, callouts,
//! counters) is a [`StepHost`]. Every branch is tested natively for a host like Envoy and a
//! host like nginx (`tests/step_policy.rs`).

use crate::cache::TokenCache;
use crate::config::Config;
use crate::crypto::{self, SignatureBackend};
use crate::gate::{self, Decision, Prepared};
use crate::jwks_cache::{Fetch, KeyCache, Plan, RequestView, SharedStore};
use crate::verifier::{Denial, Need};
use crate::Reason;
use std::rc::Rc;

/// What the host can do, one name per capability; the glue identifies the host once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCaps {
    /// It can answer or resume a paused request from the root context (Envoy). Without it a
    /// paused request is decided only in its own callbacks (its own callouts' answers): one
    /// callout at a time, at most [`MAX_ROUNDS`] of them, and at most
    /// `MAX_COLD_FETCHES` (`src/jwks_cache/mod.rs`) of a provider in flight per VM (beyond it a
    /// request is answered 503 with `Retry-After: 1` rather than fetching).
    pub resume_from_root: bool,
    /// It really removes a request header (Envoy). Elsewhere a header to remove is blanked,
    /// which nginx drops when it proxies.
    pub removes_headers: bool,
    /// It keeps filter state that later filters read (Envoy): `claims_to_metadata` applies.
    pub filter_state: bool,
    /// It reports the TLS client certificate's SHA-256 (`connection.
    /// sha256_peer_certificate_digest`, Envoy). Elsewhere the certificate itself is read
    /// (`ngx.ssl_client_raw_cert`, nginx) and hashed.
    pub peer_certificate_digest: bool,
    /// It sends a local reply's repeated header names as they are (Envoy). Elsewhere the last
    /// value of a name replaces the others, so values of one name are joined first.
    pub repeats_reply_headers: bool,
    /// It adds to a gauge (Envoy): the gauge of VMs with unsent counts is kept. ngx_wasm_module
    /// traps the VM on it ("metric not a counter").
    pub adds_to_gauges: bool,
}

impl HostCaps {
    /// Envoy, and what runs it (Istio, Envoy Gateway).
    pub const ENVOY: HostCaps = HostCaps {
        resume_from_root: true,
        removes_headers: true,
        filter_state: true,
        peer_certificate_digest: true,
        repeats_reply_headers: true,
        adds_to_gauges: true,
    };
    /// Any host not positively identified as Envoy (nginx with ngx_wasm_module, Kong):
    /// nothing beyond the ABI is assumed.
    pub const PORTABLE: HostCaps = HostCaps {
        resume_from_root: false,
        removes_headers: false,
        filter_state: false,
        peer_certificate_digest: false,
        repeats_reply_headers: false,
        adds_to_gauges: false,
    };
}

/// Own callouts one request may make on a host that cannot wake it (discovery, JWKS, list).
pub const MAX_ROUNDS: u8 = 3;

/// The flags of a request that refetched for no provider yet, for configurations of up to this
/// many providers (a larger one has its flags made with the request).
static NONE_REFETCHED: [bool; 16] = [false; 16];

/// Passes of one step: each decides, waits, or rules something out (a refetch refused, the
/// wait given up), so a few suffice.
const MAX_PASSES: usize = 4;

/// Which context's callback a step runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The request's own callback: callouts made here answer to the request.
    Own,
    /// The root context acting for a paused request (hosts that resume from the root).
    Root,
}

/// What one request keeps between its callbacks.
#[derive(Debug, Default)]
pub struct RequestState {
    /// Tokens and rule, from the request headers.
    pub prepared: Option<Prepared>,
    /// Arrival time: the cold-start wait counts from here (0: not yet known).
    pub started_ms: u64,
    /// Providers already refetched for (one refetch each at most); empty until the request
    /// first plans a fetch (none refetched yet: the usual request never allocates it).
    pub refetched: Vec<bool>,
    /// How many providers the configuration has (the length of `refetched` once made).
    pub providers: usize,
    /// Callouts this request made itself whose answers it still expects.
    pub own_fetches: Vec<u32>,
    /// Own callouts answered so far.
    pub rounds: u8,
    /// A decision was applied; nothing more to do.
    pub finished: bool,
    /// Missing keys are unavailable now, not awaited (after its own callouts, on hosts that
    /// cannot wake it).
    pub no_wait: bool,
}

impl RequestState {
    /// A request of a configuration with `providers` providers.
    pub fn new(providers: usize) -> Self {
        // Up to NONE_REFETCHED's length, the flags are made only when a fetch is planned.
        let refetched = if providers > NONE_REFETCHED.len() {
            vec![false; providers]
        } else {
            Vec::new()
        };
        RequestState {
            refetched,
            providers,
            ..RequestState::default()
        }
    }

    /// Which providers it refetched for, one flag each (all false before its first plan).
    fn refetched(&self) -> &[bool] {
        if self.refetched.is_empty() {
            if let Some(none) = NONE_REFETCHED.get(..self.providers) {
                return none;
            }
        }
        &self.refetched
    }

    /// The flags to plan with: made now, at the length of the providers list.
    fn refetched_mut(&mut self) -> &mut [bool] {
        if self.refetched.len() < self.providers {
            self.refetched.resize(self.providers, false);
        }
        &mut self.refetched
    }

    /// The answer to its own callout `token` arrived. True when the request still waits for
    /// a decision (then: step it).
    pub fn answered(&mut self, token: u32, caps: HostCaps) -> bool {
        self.own_fetches.retain(|t| *t != token);
        self.rounds = self.rounds.saturating_add(1);
        if !caps.resume_from_root && self.rounds >= MAX_ROUNDS {
            self.no_wait = true;
        }
        !self.finished
    }
}

/// What one VM holds for its requests. `T`: what the glue keeps of a paused request to decide
/// it again from the root (its state, shared with its context).
pub struct Vm<T> {
    /// The configuration.
    pub cfg: Rc<Config>,
    /// Keys, fetch policy and paused requests (the one registry of them).
    pub keys: KeyCache<T>,
    /// Verified tokens.
    pub cache: TokenCache,
}

impl<T> Vm<T> {
    /// A freshly configured VM; `owner`: its random lease-owner id.
    pub fn new(cfg: Rc<Config>, owner: u64) -> Self {
        Vm {
            keys: KeyCache::new(&cfg, owner),
            cache: TokenCache::new(cfg.providers.len(), cfg.token_cache_size),
            cfg,
        }
    }
}

/// Something a step did that the glue counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEvent {
    /// A request began to wait for keys.
    Paused,
    /// An unknown-`kid` refetch of this provider was made.
    Refetch(usize),
    /// A request was answered 503 without a fetch of its own: this provider had
    /// `MAX_COLD_FETCHES` (`src/jwks_cache/mod.rs`) callouts in flight in the VM.
    AtFetchBound(usize),
}

/// The host side of a step.
pub trait StepHost {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&mut self) -> u64;
    /// The host's shared data.
    fn store(&mut self) -> &mut dyn SharedStore;
    /// Makes the callout of `f` from the current context: its token, `None` when the host
    /// refused it (logging and counting the refusal is the host's part).
    fn dispatch(&mut self, f: &Fetch) -> Option<u32>;
    /// A uniform number in [0, 1) (refresh jitter).
    fn jitter(&mut self) -> f64;
    /// True when the request's connection already carried another request (nginx:
    /// `$connection_requests` above 1). Asked only of a request about to wait on a host that
    /// cannot wake it; a host that cannot tell answers false.
    fn connection_reused(&mut self) -> bool;
    /// Counts `event`.
    fn note(&mut self, event: StepEvent);
    /// The shared data, and where signatures are checked (the module's own code unless the
    /// host offers its own, [`crate::crypto::SignatureBackend`]): a decision needs both.
    fn store_and_signatures(&mut self) -> (&mut dyn SharedStore, &dyn SignatureBackend) {
        (self.store(), &crypto::OWN_CODE)
    }
}

/// What the glue does after a step.
#[derive(Debug)]
pub enum Next {
    /// Apply the decision: forward with its edits, or answer locally.
    Apply(Decision),
    /// Leave it paused: its own callout's answer, or the root, will step it again.
    Wait,
    /// The request's state was not there (a bug, not an input): the glue answers 500.
    Internal,
}

/// Decides request `id` with the keys as they are now; or makes the callouts it needs and
/// pauses it; or, when what it would wait for cannot come, decides it without them.
/// `handle`: what the root needs to decide it again (kept while it waits).
pub fn step<T: Clone>(
    vm: &mut Vm<T>,
    id: u32,
    req: &mut RequestState,
    handle: &T,
    origin: Origin,
    caps: HostCaps,
    host: &mut impl StepHost,
) -> Next {
    let mut synced = false;
    for pass in 0..MAX_PASSES {
        let now_ms = host.now_ms();
        if req.started_ms == 0 {
            req.started_ms = now_ms;
        }
        let Some(prep) = req.prepared.as_ref() else {
            return Next::Internal;
        };
        if pass == 0 {
            // Another VM may have replaced these keys since this VM's last tick (a removed key
            // must stop verifying on every worker at once): one read of the version hint each.
            vm.keys
                .catch_up(host.store(), prep.providers_with_tokens(), now_ms);
        }
        let decision = decide(vm, req, prep, host, now_ms);
        let needs = match decision {
            Decision::Wait(needs) => needs,
            // Another VM may have fetched the kid since this VM's last tick (its refetch spent
            // the window, so this VM would not refetch): look at shared data before saying no.
            ref d
                if !synced
                    && gate::denied_for(d, Reason::UnknownKid)
                    && vm.keys.sync(host.store()) =>
            {
                synced = true;
                continue;
            }
            other => return finish(vm, id, req, other),
        };
        if !caps.resume_from_root && !req.own_fetches.is_empty() {
            // Its own answers are still to come; it is decided when they do.
            return Next::Wait;
        }
        if origin == Origin::Root {
            // The root's tick fetches for paused requests: pause again.
            return pause(vm, id, req, handle, &needs, now_ms);
        }
        let plan = vm.keys.plan(
            host.store(),
            &needs,
            req.refetched_mut(),
            caps.resume_from_root,
            now_ms,
        );
        if !caps.resume_from_root {
            if let Some(decision) = cannot_wait(vm, req, &plan, host, now_ms) {
                return finish(vm, id, req, decision);
            }
        }
        let dispatched = dispatch(vm, id, req, &plan, &needs, caps, host, now_ms);
        if caps.resume_from_root {
            if plan.decide_now && !dispatched {
                continue;
            }
            let first = !vm.keys.waiters.contains(id);
            let next = pause(vm, id, req, handle, &needs, now_ms);
            if first && matches!(next, Next::Wait) {
                host.note(StepEvent::Paused);
            }
            return next;
        }
        if dispatched {
            host.note(StepEvent::Paused);
            return Next::Wait;
        }
        // Nothing will wake it on this host: decide with what is there.
        req.no_wait = true;
    }
    Next::Internal
}

/// The gate's decision for the request with the keys as they are now.
fn decide<T>(
    vm: &mut Vm<T>,
    req: &RequestState,
    prep: &Prepared,
    host: &mut impl StepHost,
    now_ms: u64,
) -> Decision {
    let view = RequestView {
        started_ms: req.started_ms,
        refetched: req.refetched(),
        no_wait: req.no_wait,
        now_ms,
    };
    let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
    // DPoP proofs are remembered in the host's shared data, seen by every worker.
    let (store, signatures) = host.store_and_signatures();
    gate::decide_with(
        &vm.cfg,
        prep,
        &vm.keys.view(view).with_signatures(signatures),
        &mut vm.cache,
        now_s,
        store,
    )
}

/// On a host that cannot wake a request, the decision for one that must not wait for `plan`:
/// 503 with `Retry-After`, the client to retry.
fn cannot_wait<T>(
    vm: &mut Vm<T>,
    req: &mut RequestState,
    plan: &Plan,
    host: &mut impl StepHost,
    now_ms: u64,
) -> Option<Decision> {
    if !plan.fetches.is_empty() && host.connection_reused() {
        // ngx_wasm_module 0.6 resumes a paused request on any write event of its connection
        // and then skips the filter, so it goes upstream before its verdict; a connection
        // that already sent a response delivers such an event as soon as the next request
        // pauses (measured on nginx 1.27.4: the request was forwarded unauthenticated and
        // the worker crashed when the callout answered; issue 24). Such a request must not
        // wait: the root fetches in its place and the client retries on a new connection,
        // where waiting is safe.
        for f in &plan.fetches {
            vm.keys.defer_to_root(host.store(), f, now_ms);
        }
        return Some(retry_later(req, true));
    }
    if plan.fetches.is_empty() && !plan.at_bound.is_empty() {
        // Enough fetches of its keys are in flight in this VM already (MAX_COLD_FETCHES):
        // it makes none, and its retry a second later finds what they publish.
        for p in &plan.at_bound {
            host.note(StepEvent::AtFetchBound(*p));
        }
        let close = host.connection_reused();
        return Some(retry_later(req, close));
    }
    None
}

/// Makes the callouts of `plan` for request `id`; true when at least one was made.
#[allow(clippy::too_many_arguments)]
fn dispatch<T>(
    vm: &mut Vm<T>,
    id: u32,
    req: &mut RequestState,
    plan: &Plan,
    needs: &[Need],
    caps: HostCaps,
    host: &mut impl StepHost,
    now_ms: u64,
) -> bool {
    // A request on a host that cannot wake it makes one callout at a time: it must never be
    // let go while one of its callouts is outstanding.
    let limit = if caps.resume_from_root {
        plan.fetches.len()
    } else {
        1
    };
    let mut dispatched = false;
    for f in plan.fetches.iter().take(limit) {
        let token = host.dispatch(f);
        let jitter = host.jitter();
        vm.keys
            .dispatched(host.store(), f, token, Some(id), now_ms, jitter);
        if let Some(token) = token {
            req.own_fetches.push(token);
            dispatched = true;
            if needs.contains(&Need::Refetch(f.provider)) {
                host.note(StepEvent::Refetch(f.provider));
            }
        }
    }
    dispatched
}

/// The periodic step of a VM: learn of other VMs' fetches, make the due callouts (first
/// fetches, refreshes, retries after backoff), and hand back the paused requests to decide
/// again (only a host that resumes from the root has any: elsewhere [`step`] never pauses a
/// request in the registry).
pub fn tick<T>(vm: &mut Vm<T>, host: &mut impl StepHost) -> Vec<(u32, T)> {
    let now_ms = host.now_ms();
    let t = vm.keys.tick(host.store(), now_ms);
    for f in &t.fetches {
        let token = host.dispatch(f);
        let jitter = host.jitter();
        vm.keys
            .dispatched(host.store(), f, token, None, now_ms, jitter);
    }
    t.wake
}

/// The request is decided: it waits no longer.
fn finish<T>(vm: &mut Vm<T>, id: u32, req: &mut RequestState, decision: Decision) -> Next {
    req.finished = true;
    vm.keys.waiters.forget(id);
    Next::Apply(decision)
}

/// Pauses the request until keys arrive or its deadline; 503 `jwks_unavailable` when the VM
/// already holds as many paused requests as it may.
fn pause<T: Clone>(
    vm: &mut Vm<T>,
    id: u32,
    req: &mut RequestState,
    handle: &T,
    needs: &[Need],
    now_ms: u64,
) -> Next {
    if vm
        .keys
        .pause(id, handle.clone(), needs, req.started_ms, now_ms)
    {
        return Next::Wait;
    }
    let grpc = req.prepared.as_ref().is_some_and(Prepared::is_grpc);
    let (rejection, outcome) = gate::refusal(Denial::of(Reason::JwksUnavailable), grpc, "");
    finish(vm, id, req, Decision::Reject(rejection, outcome))
}

/// 503 `jwks_unavailable` with `Retry-After: 1` for a request that may not wait for its keys
/// now (hosts that cannot wake it): a fetch is in flight or the root makes one, and the retry
/// finds the keys. `close` (a request that may not wait on its connection) adds `Connection:
/// close`, so that the client retries on a new connection, where waiting is safe; a gRPC
/// request gets its gRPC status and no `connection` header (HTTP/2 forbids it).
fn retry_later(req: &RequestState, close: bool) -> Decision {
    let grpc = req.prepared.as_ref().is_some_and(Prepared::is_grpc);
    let (mut rejection, outcome) = gate::refusal(Denial::of(Reason::JwksUnavailable), grpc, "");
    rejection
        .headers
        .push(("retry-after".to_owned(), "1".to_owned()));
    if close && !grpc {
        rejection
            .headers
            .push(("connection".to_owned(), "close".to_owned()));
    }
    Decision::Reject(rejection, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_refetched_for_no_provider_until_it_plans_and_allocates_nothing_before() {
        for providers in [0, 1, 3, NONE_REFETCHED.len()] {
            let mut r = RequestState::new(providers);
            assert_eq!(r.refetched(), vec![false; providers].as_slice());
            assert_eq!(r.refetched.capacity(), 0, "{providers} providers");
            if let Some(last) = r.refetched_mut().last_mut() {
                *last = true;
            }
            assert_eq!(r.refetched().len(), providers);
            assert_eq!(r.refetched().last(), (providers > 0).then_some(&true));
        }
        // More providers than the shared flags cover: the request has its own from the start.
        let r = RequestState::new(NONE_REFETCHED.len() + 3);
        assert_eq!(
            r.refetched(),
            vec![false; NONE_REFETCHED.len() + 3].as_slice()
        );
    }
}
