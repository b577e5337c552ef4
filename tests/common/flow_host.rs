//! A test host for the core's step policy (`flow::step`, `flow::tick`): a clock, an in-memory
//! shared store with the host's semantics, callouts that are taken or refused, counters; and
//! requests and VMs as the glue makes them.

use super::*;
use jwtgate::config::Config;
use jwtgate::flow::{self, HostCaps, Next, Origin, RequestState, StepEvent, StepHost, Vm};
use jwtgate::gate::{self, Decision, Start};
use jwtgate::jwks_cache::store::MemoryStore;
use jwtgate::jwks_cache::{Answer, Fetch, SharedStore};
use serde_json::Value;
use std::rc::Rc;

pub const NOW_MS: u64 = NOW as u64 * 1000;
pub const ENVOY: HostCaps = HostCaps::ENVOY;
pub const NGINX: HostCaps = HostCaps::PORTABLE;

/// The host side: a clock, shared data, callouts (taken with increasing tokens, or refused).
pub struct TestHost {
    pub now_ms: u64,
    pub store: MemoryStore,
    pub refuse: bool,
    /// The request's connection already carried a request (nginx's `$connection_requests`).
    pub reused: bool,
    pub next_token: u32,
    /// Callouts made and not yet answered.
    pub out: Vec<(u32, Fetch)>,
    /// Every callout asked for, refused ones included.
    pub asked: usize,
    pub events: Vec<StepEvent>,
}

impl TestHost {
    pub fn new(caps: HostCaps) -> TestHost {
        let mut store = MemoryStore::default();
        // Envoy overwrites on a write without CAS; nginx only creates.
        store.overwrite_without_cas = caps.resume_from_root;
        TestHost {
            now_ms: NOW_MS,
            store,
            refuse: false,
            reused: false,
            next_token: 0,
            out: Vec::new(),
            asked: 0,
            events: Vec::new(),
        }
    }

    pub fn paused(&self) -> usize {
        self.events
            .iter()
            .filter(|e| **e == StepEvent::Paused)
            .count()
    }
}

impl StepHost for TestHost {
    fn now_ms(&mut self) -> u64 {
        self.now_ms
    }
    fn store(&mut self) -> &mut dyn SharedStore {
        &mut self.store
    }
    fn dispatch(&mut self, f: &Fetch) -> Option<u32> {
        self.asked += 1;
        if self.refuse {
            return None;
        }
        self.next_token += 1;
        self.out.push((self.next_token, f.clone()));
        Some(self.next_token)
    }
    fn jitter(&mut self) -> f64 {
        0.5
    }
    fn connection_reused(&mut self) -> bool {
        self.reused
    }
    fn note(&mut self, event: StepEvent) {
        self.events.push(event);
    }
}

/// A request of `token` (prepared as the glue does), handle = its id.
pub fn request_state(cfg: &Config, token: &str) -> RequestState {
    let mut r = RequestState::new(cfg.providers.len());
    match gate::prepare(cfg, &bearer(token)) {
        Start::Check(p) => r.prepared = Some(p),
        Start::Done(d) => panic!("decided before any key: {d:?}"),
    }
    r
}

pub fn vm() -> Vm<u32> {
    vm_with_owner(7)
}

/// A VM of `remote_config()` whose lease-owner id is `owner` (another worker: another owner).
pub fn vm_with_owner(owner: u64) -> Vm<u32> {
    Vm::new(Rc::new(remote_config()), owner)
}

pub fn step(
    vm: &mut Vm<u32>,
    id: u32,
    r: &mut RequestState,
    caps: HostCaps,
    h: &mut TestHost,
) -> Next {
    flow::step(vm, id, r, &id, Origin::Own, caps, h)
}

/// Answers every outstanding callout with `jwks`; returns their tokens.
pub fn answer_all(vm: &mut Vm<u32>, h: &mut TestHost, jwks: &Value) -> Vec<u32> {
    let mut tokens = Vec::new();
    for (t, _) in std::mem::take(&mut h.out) {
        let a = Answer::Response {
            status: Some(200),
            body: jwks.to_string().into_bytes(),
            too_large: false,
        };
        vm.keys.answer(&mut h.store, t, a, h.now_ms, 0.5);
        tokens.push(t);
    }
    tokens
}

pub fn forwarded(n: &Next) -> bool {
    matches!(n, Next::Apply(Decision::Forward(..)))
}

pub fn refused_with(n: &Next, status: u32, reason: &str) -> bool {
    match n {
        Next::Apply(d @ Decision::Reject(r, _)) => r.status == status && reason_of(d) == reason,
        _ => false,
    }
}
