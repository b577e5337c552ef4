//! The HTTP context: hands the request headers to the core and applies its decision.

use super::abi::{self, Level, Map};
use super::fetch;
use super::metrics::{Event, ProviderEvent};
use super::state::VmState;
use super::step_host::Host;
use super::store::HostStore;
use crate::edits::{self, Edit, Removal};
use crate::flow::{self, HostCaps, Next, Origin, RequestState};
use crate::gate::{self, Decision, Mutations, Outcome, Start};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

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

/// One HTTP request. Its state is made in its headers callback and lives there; only a
/// request that waits keeps it past that callback, in the VM (`VmState::paused`).
pub struct Http {
    id: u32,
    vm: Option<Rc<RefCell<VmState>>>,
}

impl Http {
    /// A context for request `id` in the VM `vm` (`None`: the plugin is not configured).
    pub fn new(id: u32, vm: Option<Rc<RefCell<VmState>>>) -> Http {
        Http { id, vm }
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
    let caps = vm.try_borrow().map_or(HostCaps::PORTABLE, |v| v.caps);
    let removal = if caps.removes_headers {
        Removal::Remove
    } else {
        Removal::Blank
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
    if caps.filter_state {
        set_metadata(&m.metadata);
    }
}

/// `claims_to_metadata` on Envoy: property `jwtgate.<key>` (one path segment) becomes the
/// filter state `wasm.jwtgate.<key>` that RBAC, CEL and access logs read. Envoy prefixes the
/// path as given with `wasm.`; the two segments `["jwtgate", key]` would name
/// `wasm.jwtgate\0<key>`, which no RBAC rule matches (measured: tests/e2e/test_claims_proxy.py
/// fails with them). Only on a host with filter state
/// (Envoy): elsewhere there is no such state (nginx refuses the property), and the
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
    let (hits, misses) = vm.core.cache.take_stats();
    vm.metrics.add(Event::CacheHit, hits);
    vm.metrics.add(Event::CacheMiss, misses);
    vm.count_signatures();
    // Sent with the next tick (see metrics.rs).
    let adds_to_gauges = vm.caps.adds_to_gauges;
    vm.metrics.defer(adds_to_gauges);
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
                .and_then(|p| vm.core.cfg.providers.get(p))
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
            let caps = vm.try_borrow().map_or(HostCaps::PORTABLE, |v| v.caps);
            let joined = edits::reply_headers(&r.headers, caps.repeats_reply_headers);
            let headers: Vec<(&str, &str)> = joined.iter().map(|(k, v)| (*k, v.as_ref())).collect();
            if abi::send_response(r.status, &headers, r.body.as_bytes()).is_err() {
                internal_error();
            }
            record(vm, &outcome, Some(r.status));
            Step::Responded
        }
        Decision::Wait(_) => Step::Waiting,
    }
}

/// Steps the paused request `id` again (its callout answered, or the root woke it) and
/// applies what the core decided.
pub fn step(vm: &Rc<RefCell<VmState>>, id: u32, origin: Origin) -> Step {
    let state = vm
        .try_borrow_mut()
        .ok()
        .and_then(|mut v| v.paused.remove(id));
    let Some(state) = state else {
        internal_error();
        return Step::Responded;
    };
    run(vm, id, state, origin)
}

/// Steps request `id`, whose state is `req`, through the core ([`flow::step`]) and applies
/// what it decided. A request left waiting keeps its state in the VM until a later step.
fn run(vm: &Rc<RefCell<VmState>>, id: u32, mut req: RequestState, origin: Origin) -> Step {
    let next = {
        let Ok(mut v) = vm.try_borrow_mut() else {
            internal_error();
            return Step::Responded;
        };
        let v = &mut *v;
        let mut host = Host::new(v.core.cfg.clone(), &mut v.metrics).with_signatures(&v.signatures);
        let next = flow::step(&mut v.core, id, &mut req, &(), origin, v.caps, &mut host);
        if matches!(next, Next::Wait) {
            v.metrics.flush();
            v.paused.insert(id, req);
        }
        next
    };
    match next {
        Next::Apply(decision) => apply(vm, decision),
        Next::Wait => Step::Waiting,
        Next::Internal => {
            internal_error();
            Step::Responded
        }
    }
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
        // Only a request that waits has a state; one already decided has nothing to do.
        let undecided = vm.try_borrow_mut().is_ok_and(|mut v| {
            let caps = v.caps;
            v.paused
                .get_mut(self.id)
                .is_some_and(|r| r.answered(token, caps))
        });
        if let Ok(mut v) = vm.try_borrow_mut() {
            fetch::complete(&mut v, token, answer, now_ms);
        }
        // Always decide here: some hosts forward a request whose callout answer returns
        // without a decision.
        // The core never leaves a request waiting that nothing will wake (on a host that
        // cannot resume from the root, only its own outstanding callout does).
        if undecided && step(&vm, self.id, Origin::Own) == Step::Continue {
            let _ = abi::resume_request();
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

/// The SHA-256 of the downstream TLS client certificate, for certificate-bound tokens. Envoy
/// reports the digest (lowercase hex; NotFound without a certificate); nginx the certificate
/// itself (`$ssl_client_raw_cert`, PEM; empty without one). Any other answer is no
/// certificate: the token then fails `cert_mismatch`, never passes unchecked.
fn peer_certificate(caps: HostCaps) -> Option<crate::mtls::Digest32> {
    if caps.peer_certificate_digest {
        match abi::property(&["connection", "sha256_peer_certificate_digest"]) {
            Ok(Some(hex)) => crate::mtls::digest_from_hex(&hex),
            _ => None,
        }
    } else {
        match abi::property(&["ngx", "ssl_client_raw_cert"]) {
            Ok(Some(pem)) => crate::mtls::digest_of_certificate(&pem),
            _ => None,
        }
    }
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
        let (cfg, caps) = match vm.try_borrow_mut() {
            Ok(mut v) => {
                let caps = v.know_host(super::root::host_caps);
                (v.core.cfg.clone(), caps)
            }
            Err(_) => {
                internal_error();
                return Action::Pause;
            }
        };
        // nginx decodes `%2F` when it proxies (measured: `/a%2Fb` arrives as `/a/b`).
        let escapes = if !caps.resume_from_root && raw_path_from_nginx(&mut headers) {
            gate::Escapes::Decoded
        } else {
            gate::Escapes::Kept
        };
        let step = match gate::prepare_for(&cfg, &headers, escapes) {
            Start::Done(decision) => apply(&vm, decision),
            Start::Check(mut prep) => {
                if prep.wants_peer_certificate(&cfg) {
                    prep.set_peer_certificate(peer_certificate(caps));
                }
                let mut state = RequestState::new(cfg.providers.len());
                state.prepared = Some(prep);
                run(&vm, self.id, state, Origin::Own)
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
                // Unqueues it, and gives back the lease of a fetch it made and can no longer
                // receive.
                v.core.keys.forget(&mut HostStore, self.id);
                v.paused.remove(self.id);
            }
        }
    }
}
