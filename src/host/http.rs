//! The HTTP context: hands the request headers to the core and applies its decision.

use super::fetch;
use super::metrics::{Event, ProviderEvent};
use super::state::{RequestKeys, RequestState, VmState, Waiter};
use crate::gate::{self, Decision, Mutations, Outcome, Start};
use crate::verifier::Need;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};
use std::cell::RefCell;
use std::rc::Rc;

/// Which context's callback a step runs in: it decides where a callout's answer will arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The request's own callback: answers come to this HTTP context.
    Own,
    /// The root context, with the request made effective: answers come to the root.
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

/// One HTTP request.
pub struct Http {
    id: u32,
    vm: Option<Rc<RefCell<VmState>>>,
    req: Rc<RefCell<RequestState>>,
}

impl Http {
    /// A context for request `id` in the VM `vm` (`None`: the plugin is not configured).
    pub fn new(id: u32, vm: Option<Rc<RefCell<VmState>>>) -> Http {
        let providers = vm.as_ref().map_or(0, |v| v.borrow().cfg.providers.len());
        Http {
            id,
            vm,
            req: Rc::new(RefCell::new(RequestState::new(providers, 0))),
        }
    }
}

fn request_headers() -> Option<Vec<(String, String)>> {
    let raw = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).ok()?;
    Some(
        raw.into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect(),
    )
}

fn internal_error() {
    let _ = hostcalls::send_http_response(
        500,
        vec![("content-type", "application/json")],
        Some(br#"{"error":"internal_error","reason":"filter_unavailable"}"#),
    );
}

fn apply_mutations(m: &Mutations, present: Option<&[(String, String)]>) {
    for name in &m.remove {
        let here = present.is_none_or(|h| h.iter().any(|(n, _)| n == name));
        if here {
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None);
        }
    }
    for (name, value) in &m.set {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
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
            let kid = gate::log_safe(denial.kid.as_deref().unwrap_or("-"));
            let action = match (reported, status) {
                (true, _) => "report-only".to_owned(),
                (false, Some(s)) => format!("denied status={s}"),
                (false, None) => "denied".to_owned(),
            };
            super::log(
                LogLevel::Info,
                &format!(
                    "{action} reason={} provider={provider} kid={kid}",
                    denial.reason
                ),
            );
        }
    }
}

/// Applies a decision in the current effective context.
fn apply(
    vm: &Rc<RefCell<VmState>>,
    decision: Decision,
    present: Option<&[(String, String)]>,
) -> Step {
    match decision {
        Decision::Forward(m, outcome) => {
            apply_mutations(&m, present);
            record(vm, &outcome, None);
            Step::Continue
        }
        Decision::Reject(r, outcome) => {
            let headers: Vec<(&str, &str)> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let _ = hostcalls::send_http_response(r.status, headers, Some(r.body.as_bytes()));
            record(vm, &outcome, Some(r.status));
            Step::Responded
        }
        Decision::Wait(_) => Step::Waiting,
    }
}

/// Decides request `id` with the keys as they are now, starting fetches it needs; runs in the
/// request's own callbacks or, with the context made effective, from the root.
pub fn step(
    vm: &Rc<RefCell<VmState>>,
    id: u32,
    req: &Rc<RefCell<RequestState>>,
    present: Option<&[(String, String)]>,
    origin: Origin,
) -> Step {
    // A refetch that is refused (rate limit) is decided again at once: bounded, since each
    // provider can be refetched once per request.
    for _ in 0..4 {
        let now_ms = super::now_ms();
        let decision = {
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
            let Some(prep) = r.prepared.as_deref() else {
                internal_error();
                return Step::Responded;
            };
            let keys = RequestKeys {
                slots: &vmr.slots,
                req: &r,
                now_ms,
            };
            gate::decide(&cfg, prep, &keys, &mut vmr.cache, (now_ms / 1000) as i64)
        };
        let needs = match decision {
            Decision::Wait(needs) => needs,
            other => {
                if let Ok(mut r) = req.try_borrow_mut() {
                    r.finished = true;
                }
                return apply(vm, other, present);
            }
        };
        if !wait(vm, id, req, &needs, now_ms, origin) {
            return Step::Waiting;
        }
    }
    internal_error();
    Step::Responded
}

/// Registers the wait and starts the fetches it needs. True when the request should be
/// decided again right away (a refetch was refused).
fn wait(
    vm: &Rc<RefCell<VmState>>,
    id: u32,
    req: &Rc<RefCell<RequestState>>,
    needs: &[Need],
    now_ms: u64,
    origin: Origin,
) -> bool {
    let (Ok(mut vmb), Ok(mut r)) = (vm.try_borrow_mut(), req.try_borrow_mut()) else {
        return false;
    };
    // Another VM may have published keys since this VM's last tick: never fetch what is there.
    if vmb.sync() {
        return true;
    }
    let mut again = false;
    for need in needs {
        let (p, refetch) = match *need {
            Need::Keys(p) => (p, false),
            Need::Refetch(p) => (p, true),
        };
        if refetch {
            if let Some(flag) = r.refetched.get_mut(p) {
                *flag = true;
            }
        }
        if r.own_fetch.is_some() {
            continue;
        }
        if vmb.isolated {
            // This host cannot resume a request from the root: the request fetches for itself
            // and decides in its own callback, never waiting on another context's fetch.
            match fetch::start_own(&mut vmb, p, refetch, now_ms) {
                Some(token) => r.own_fetch = Some((token, p)),
                None => {
                    r.no_wait = true;
                    again = true;
                }
            }
            continue;
        }
        match fetch::start(&mut vmb, p, refetch, now_ms) {
            fetch::Start::Dispatched(token) if origin == Origin::Own => {
                r.own_fetch = Some((token, p))
            }
            fetch::Start::Dispatched(token) => vmb.root_fetches.push((token, p)),
            fetch::Start::Busy => {}
            fetch::Start::RateLimited | fetch::Start::Failed => again |= refetch,
        }
    }
    if again && r.own_fetch.is_none() {
        return true;
    }
    r.needs = needs.to_vec();
    r.wait_started_ms = now_ms;
    r.wait_versions = vmb.slots.iter().map(|s| s.version).collect();
    if !vmb.waiters.iter().any(|w| w.context_id == id) {
        vmb.waiters.push(Waiter {
            context_id: id,
            req: req.clone(),
        });
        vmb.metrics.add(Event::Paused, 1);
    }
    vmb.metrics.flush();
    false
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(vm) = self.vm.clone() else {
            return;
        };
        let (own, finished) = match self.req.try_borrow() {
            Ok(r) => (r.own_fetch, r.finished),
            Err(_) => (None, true),
        };
        if let Some((_, p)) = own.filter(|(t, _)| *t == token) {
            let isolated = vm.try_borrow().is_ok_and(|v| v.isolated);
            if let Ok(mut r) = self.req.try_borrow_mut() {
                r.own_fetch = None;
                // One fetch per request on hosts without root resume: then decide with what is there.
                r.no_wait |= isolated;
            }
            if let Ok(mut vmb) = vm.try_borrow_mut() {
                fetch::complete(&mut vmb, p, body_size, super::now_ms());
                vmb.waiters.retain(|w| w.context_id != self.id);
            }
        }
        // Always decide here: some hosts forward a request whose callout answer returns
        // without a decision.
        if !finished && step(&vm, self.id, &self.req, None, Origin::Own) == Step::Continue {
            let _ = hostcalls::resume_http_request();
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let Some(vm) = self.vm.clone() else {
            internal_error();
            return Action::Pause;
        };
        let Some(headers) = request_headers() else {
            internal_error();
            return Action::Pause;
        };
        let cfg = match vm.try_borrow() {
            Ok(v) => v.cfg.clone(),
            Err(_) => {
                internal_error();
                return Action::Pause;
            }
        };
        let step = match gate::prepare(&cfg, &headers) {
            Start::Done(decision) => apply(&vm, decision, Some(&headers)),
            Start::Check(prep) => {
                if let Ok(mut r) = self.req.try_borrow_mut() {
                    r.prepared = Some(prep);
                }
                step(&vm, self.id, &self.req, Some(&headers), Origin::Own)
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
                v.waiters.retain(|w| w.context_id != self.id);
            }
        }
    }
}
