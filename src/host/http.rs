//! The HTTP context: hands the request headers to the core and applies its decision.

use super::abi::{self, Level, Map};
use super::fetch;
use super::metrics::{Event, ProviderEvent};
use super::state::{RequestState, VmState};
use super::store::HostStore;
use crate::edits::{self, Edit, Removal};
use crate::gate::{self, Decision, Mutations, Outcome, Start};
use crate::jwks_cache::RequestView;
use crate::verifier::Denial;
use crate::Reason;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

/// Which context's callback a step runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The request's own callback: callouts made here answer to this HTTP context.
    Own,
    /// The root context, with the request made effective (Envoy only).
    Root,
}

/// What became of the request after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Headers edited; let it go upstream.
    Continue,
    /// A local reply was sent.
    Responded,
    /// Paused, waiting for keys.
    Waiting,
}

/// Own fetches one request may make on a host that cannot wake it (discovery, JWKS, list).
const MAX_ROUNDS: u8 = 3;

/// One HTTP request.
pub struct Http {
    id: u32,
    vm: Option<Rc<RefCell<VmState>>>,
    req: Rc<RefCell<RequestState>>,
}

impl Http {
    /// A context for request `id` in the VM `vm` (`None`: the plugin is not configured).
    pub fn new(id: u32, vm: Option<Rc<RefCell<VmState>>>) -> Http {
        let providers = vm
            .as_ref()
            .and_then(|v| v.try_borrow().ok().map(|v| v.cfg.providers.len()))
            .unwrap_or(0);
        Http {
            id,
            vm,
            req: Rc::new(RefCell::new(RequestState::new(providers, 0))),
        }
    }
}

fn internal_error() {
    let _ = abi::send_response(
        500,
        &[("content-type", "application/json")],
        br#"{"error":"internal_error","reason":"filter_unavailable"}"#,
    );
}

fn apply_mutations(vm: &Rc<RefCell<VmState>>, m: &Mutations) {
    // Only Envoy is known to really remove a header; elsewhere an empty value is dropped.
    let removal = match vm.try_borrow() {
        Ok(v) if v.resumable => Removal::Remove,
        _ => Removal::Blank,
    };
    for e in edits::edits(m, removal) {
        let _ = match e {
            Edit::Remove(name) => abi::remove_header(&name),
            // nginx sends what nginx.conf routes through the header's variable, where it has
            // one; a header without one is edited in place.
            Edit::Set(name, value) if removal == Removal::Blank => {
                match edits::nginx_variable(&name) {
                    Some(var) if abi::set_property(&["ngx", &var], value.as_bytes()).is_ok() => {
                        Ok(())
                    }
                    _ => abi::set_header(&name, &value),
                }
            }
            Edit::Set(name, value) => abi::set_header(&name, &value),
        };
    }
    if removal == Removal::Remove {
        set_metadata(&m.metadata);
    }
}

/// `claims_to_metadata` on Envoy: property `jwtgate.<key>` (one path segment) becomes the
/// filter state `wasm.jwtgate.<key>` that RBAC, CEL and access logs read. Envoy prefixes the
/// path as given with `wasm.`; the two segments `["jwtgate", key]` would name
/// `wasm.jwtgate\0<key>`, which no RBAC rule matches (measured: tests/e2e/test_claims_proxy.py
/// fails with them). Only on Envoy
/// (`resumable`): elsewhere there is no such state (nginx refuses the property), and the
/// contract makes it a no-op there. A refused write is not the request's failure, nor worth a
/// log line per request.
fn set_metadata(metadata: &[(String, String)]) {
    for (key, value) in metadata {
        let _ = abi::set_property(&[&format!("jwtgate.{key}")], value.as_bytes());
    }
}

fn record(vm: &Rc<RefCell<VmState>>, outcome: &Outcome, status: Option<u32>) {
    let Ok(mut vm) = vm.try_borrow_mut() else {
        return;
    };
    count(&mut vm, outcome, status);
    let (hits, misses) = vm.cache.take_stats();
    vm.metrics.add(Event::CacheHit, hits);
    vm.metrics.add(Event::CacheMiss, misses);
    vm.metrics.flush();
}

fn count(vm: &mut VmState, outcome: &Outcome, status: Option<u32>) {
    match outcome {
        Outcome::NotRequired => vm.metrics.add(Event::NotRequired, 1),
        Outcome::Preflight => vm.metrics.add(Event::Preflight, 1),
        Outcome::Allowed(providers) => {
            vm.metrics.add(Event::Allowed, 1);
            for &p in providers {
                vm.metrics.provider(p, ProviderEvent::Allowed);
            }
        }
        Outcome::Denied { denial, reported } => {
            vm.metrics.add(Event::Denied(denial.reason), 1);
            if let Some(p) = denial.provider {
                vm.metrics.provider_denied(p, denial.reason);
                if *reported {
                    vm.metrics.provider(p, ProviderEvent::Reported);
                }
            }
            if *reported {
                vm.metrics.add(Event::Reported, 1);
            }
            let provider = denial
                .provider
                .and_then(|p| vm.cfg.providers.get(p))
                .map_or("-", |p| p.name.as_str());
            let kid = crate::logsafe::log_safe(denial.kid.as_deref().unwrap_or("-"));
            let action = match (reported, status) {
                (true, _) => "report-only".to_owned(),
                (false, Some(s)) => format!("denied status={s}"),
                (false, None) => "denied".to_owned(),
            };
            super::log(
                Level::Info,
                &format!(
                    "{action} reason={} provider={provider} kid={kid}",
                    denial.reason
                ),
            );
        }
    }
}

/// Applies a decision in the current effective context.
fn apply(vm: &Rc<RefCell<VmState>>, decision: Decision) -> Step {
    match decision {
        Decision::Forward(m, outcome) => {
            apply_mutations(vm, &m);
            record(vm, &outcome, None);
            Step::Continue
        }
        Decision::Reject(r, outcome) => {
            let headers: Vec<(&str, &str)> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if abi::send_response(r.status, &headers, r.body.as_bytes()).is_err() {
                internal_error();
            }
            record(vm, &outcome, Some(r.status));
            Step::Responded
        }
        Decision::Wait(_) => Step::Waiting,
    }
}

/// 503 `jwks_unavailable` for a request that cannot be kept waiting (too many paused).
fn unavailable(vm: &Rc<RefCell<VmState>>, req: &Rc<RefCell<RequestState>>) -> Step {
    unavailable_with(vm, req, &[])
}

/// True when the request's connection already carried another request (nginx's
/// `$connection_requests`). Asked only of a request about to wait on a portable host.
fn connection_reused() -> bool {
    match abi::property(&["ngx", "connection_requests"]) {
        Ok(Some(n)) => std::str::from_utf8(&n)
            .ok()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_none_or(|n| n > 1),
        // Not nginx, or it does not say: nothing known against pausing.
        _ => false,
    }
}

/// 503 `jwks_unavailable` (a gRPC status for a gRPC request) with `extra` response headers.
/// A gRPC answer goes over HTTP/2, where a `connection` header is malformed: it is left out.
fn unavailable_with(
    vm: &Rc<RefCell<VmState>>,
    req: &Rc<RefCell<RequestState>>,
    extra: &[(&str, &str)],
) -> Step {
    let mut grpc = false;
    if let Ok(mut r) = req.try_borrow_mut() {
        r.finished = true;
        grpc = r.prepared.as_ref().is_some_and(|p| p.is_grpc());
    }
    let (mut rejection, outcome) = gate::refusal(Denial::of(Reason::JwksUnavailable), grpc, "");
    rejection.headers.extend(
        extra
            .iter()
            .filter(|(k, _)| !(grpc && k.eq_ignore_ascii_case("connection")))
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    apply(vm, Decision::Reject(rejection, outcome))
}

/// Decides request `id` with the keys as they are now; starts the fetches it needs and
/// pauses it, or decides again when what it would wait for cannot come.
pub fn step(
    vm: &Rc<RefCell<VmState>>,
    id: u32,
    req: &Rc<RefCell<RequestState>>,
    origin: Origin,
) -> Step {
    // Each pass either decides, pauses, or rules something out (a refetch refused, waiting
    // given up): bounded.
    let mut synced = false;
    for pass in 0..4 {
        let now_ms = abi::now_ms();
        let (Ok(mut vmb), Ok(mut r)) = (vm.try_borrow_mut(), req.try_borrow_mut()) else {
            internal_error();
            return Step::Responded;
        };
        if r.started_ms == 0 {
            // The first step of a request: its arrival time (one clock read per request).
            r.started_ms = now_ms;
        }
        let vmr = &mut *vmb;
        let cfg = vmr.cfg.clone();
        let Some(prep) = r.prepared.as_ref() else {
            drop((vmb, r));
            internal_error();
            return Step::Responded;
        };
        if pass == 0 {
            // Another VM may have replaced these keys since this VM's last tick (a removed key
            // must stop verifying on every worker at once): one read of the version hint each.
            vmr.keys
                .catch_up(&HostStore, prep.providers_with_tokens(), now_ms);
        }
        let view = RequestView {
            started_ms: r.started_ms,
            refetched: &r.refetched,
            no_wait: r.no_wait,
            now_ms,
        };
        let decision = gate::decide(
            &cfg,
            prep,
            &vmr.keys.view(view),
            &mut vmr.cache,
            i64::try_from(now_ms / 1000).unwrap_or(i64::MAX),
        );
        let needs = match decision {
            Decision::Wait(needs) => needs,
            // Another VM may have fetched the kid since this VM's last tick (its refetch spent
            // the window, so this VM would not refetch): look at shared data before saying no.
            ref d
                if !synced
                    && gate::denied_for(d, Reason::UnknownKid)
                    && vmr.keys.sync(&mut HostStore) =>
            {
                synced = true;
                continue;
            }
            other => {
                r.finished = true;
                vmr.keys.waiters.forget(id);
                vmr.unpause(id);
                drop((vmb, r));
                return apply(vm, other);
            }
        };
        let resumable = vmr.resumable;
        if !resumable && !r.own_fetches.is_empty() {
            // Its own answers are still to come; it is decided when they do.
            return Step::Waiting;
        }
        if origin == Origin::Root {
            // The root's tick fetches for paused requests: pause again.
            let started = r.started_ms;
            if !vmr.keys.pause(id, &needs, started, now_ms) {
                drop((vmb, r));
                return unavailable(vm, req);
            }
            vmr.paused.insert(id, req.clone());
            return Step::Waiting;
        }
        let plan = vmr
            .keys
            .plan(&mut HostStore, &needs, &mut r.refetched, resumable, now_ms);
        if !resumable && !plan.fetches.is_empty() && connection_reused() {
            // ngx_wasm_module 0.6 resumes a paused request on any write event of its connection
            // and then skips the filter, so it goes upstream before its verdict; a connection
            // that already sent a response delivers such an event as soon as the next request
            // pauses (measured on nginx 1.27.4: the request was forwarded unauthenticated and
            // the worker crashed when the callout answered; issue 24). Such a request must not
            // wait: the root fetches in its place and the client retries on a new connection,
            // where waiting is safe.
            for f in &plan.fetches {
                vmr.keys.defer_to_root(&mut HostStore, f, now_ms);
            }
            drop((vmb, r));
            return unavailable_with(vm, req, &[("retry-after", "1"), ("connection", "close")]);
        }
        let mut dispatched = false;
        // A request on a portable host makes one callout at a time: it must never be let go
        // while one of its callouts is outstanding.
        let limit = if resumable { plan.fetches.len() } else { 1 };
        for f in plan.fetches.iter().take(limit) {
            let refetch = needs.contains(&crate::verifier::Need::Refetch(f.provider));
            if let Some(token) = fetch::dispatch(vmr, f, Some(id), now_ms) {
                r.own_fetches.push(token);
                dispatched = true;
                if refetch {
                    vmr.metrics.provider(f.provider, ProviderEvent::Refetch);
                }
            }
        }
        if resumable {
            if plan.decide_now && !dispatched {
                continue;
            }
            let started = r.started_ms;
            if !vmr.keys.pause(id, &needs, started, now_ms) {
                drop((vmb, r));
                return unavailable(vm, req);
            }
            if vmr.paused.insert(id, req.clone()).is_none() {
                vmr.metrics.add(Event::Paused, 1);
            }
            vmr.metrics.flush();
            return Step::Waiting;
        }
        if dispatched {
            vmr.metrics.add(Event::Paused, 1);
            vmr.metrics.flush();
            return Step::Waiting;
        }
        // Nothing to wait for on this host: decide with what is there.
        r.no_wait = true;
    }
    internal_error();
    Step::Responded
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(vm) = self.vm.clone() else {
            return;
        };
        let answer = fetch::read_answer(num_headers, body_size);
        let now_ms = abi::now_ms();
        let finished = match self.req.try_borrow_mut() {
            Ok(mut r) => {
                r.own_fetches.retain(|t| *t != token);
                r.rounds = r.rounds.saturating_add(1);
                let resumable = vm.try_borrow().is_ok_and(|v| v.resumable);
                if !resumable && r.rounds >= MAX_ROUNDS {
                    r.no_wait = true;
                }
                r.finished
            }
            Err(_) => true,
        };
        if let Ok(mut v) = vm.try_borrow_mut() {
            fetch::complete(&mut v, token, answer, now_ms);
        }
        // Always decide here: some hosts forward a request whose callout answer returns
        // without a decision.
        if !finished {
            match step(&vm, self.id, &self.req, Origin::Own) {
                Step::Continue => {
                    let _ = abi::resume_request();
                }
                Step::Responded => {}
                Step::Waiting => {
                    let portable = vm.try_borrow().is_ok_and(|v| !v.resumable);
                    let outstanding = self.req.try_borrow().map_or(0, |r| r.own_fetches.len());
                    if portable && outstanding == 0 {
                        // Nothing would ever wake it here: fail closed rather than let the
                        // host forward it.
                        unavailable(&vm, &self.req);
                    }
                }
            }
        }
    }
}

/// nginx hands the filter a decoded, normalized `:path` (`%2F` already a `/`, `/x/../a`
/// already `/a`): judge the request line as the client sent it, `$request_uri`, where the
/// host has it. Paths rules then mean the same on every host. True when the host is nginx (it
/// has `$request_uri`).
fn raw_path_from_nginx(headers: &mut [(Cow<'_, str>, abi::LazyText<'_>)]) -> bool {
    let Ok(Some(raw)) = abi::property(&["ngx", "request_uri"]) else {
        return false;
    };
    let raw = String::from_utf8_lossy(&raw).into_owned();
    if let Some((_, path)) = headers.iter_mut().find(|(n, _)| n == ":path") {
        *path = abi::LazyText::owned(raw);
    }
    true
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let Some(vm) = self.vm.clone() else {
            internal_error();
            return Action::Pause;
        };
        // One copy of the map from the host; the pairs borrow from it.
        let Ok(bytes) = abi::header_bytes(Map::RequestHeaders) else {
            internal_error();
            return Action::Pause;
        };
        let mut headers = abi::decode_map(&bytes);
        let (cfg, resumable) = match vm.try_borrow_mut() {
            Ok(mut v) => {
                let resumable = v.know_host(super::root::host_resumes_from_root);
                (v.cfg.clone(), resumable)
            }
            Err(_) => {
                internal_error();
                return Action::Pause;
            }
        };
        // nginx decodes `%2F` when it proxies (measured: `/a%2Fb` arrives as `/a/b`).
        let escapes = if !resumable && raw_path_from_nginx(&mut headers) {
            gate::Escapes::Decoded
        } else {
            gate::Escapes::Kept
        };
        let step = match gate::prepare_for(&cfg, &headers, escapes) {
            Start::Done(decision) => apply(&vm, decision),
            Start::Check(prep) => {
                if let Ok(mut r) = self.req.try_borrow_mut() {
                    r.prepared = Some(prep);
                }
                step(&vm, self.id, &self.req, Origin::Own)
            }
        };
        match step {
            Step::Continue => Action::Continue,
            Step::Responded | Step::Waiting => Action::Pause,
        }
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        if let Some(vm) = &self.vm {
            if let Ok(mut v) = vm.try_borrow_mut() {
                v.unpause(self.id);
                // Gives back the lease of a fetch this request made and can no longer receive.
                v.keys.forget(&mut HostStore, self.id);
            }
        }
    }
}
