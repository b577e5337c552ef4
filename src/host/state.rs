//! Per-VM state shared by the root context and the HTTP contexts of one VM.

use super::abi::Level;
use super::metrics::{Event, Metrics};
use super::signatures::HostSignatures;
use crate::config::Config;
use crate::flow::{self, HostCaps, RequestState};
use std::rc::Rc;

/// Everything one VM holds.
pub struct VmState {
    /// Configuration, keys (with the registry of paused requests, by context id) and verified
    /// tokens: the core's.
    pub core: flow::Vm<()>,
    /// The state of each request that waits, by context id: kept from the step that paused it
    /// to the one that decides it (from its own callout's answer, or the root's tick on Envoy).
    /// A request decided in its headers callback, the usual one, keeps nothing here: its state
    /// lives on the stack of that callback.
    pub paused: Paused,
    /// Counters waiting to be flushed to the host.
    pub metrics: Metrics,
    /// What this host can do: [`HostCaps::PORTABLE`] until the first request identifies it
    /// ([`VmState::know_host`]).
    pub caps: HostCaps,
    /// `caps` was asked of the host.
    pub host_known: bool,
    /// Where signatures are checked: the host's `verify_signature` for the schemes it
    /// passed the probe with, the module's code for the rest.
    pub signatures: HostSignatures,
}

impl VmState {
    /// State for a freshly configured VM; which host it runs in is learnt by its first request.
    pub fn new(cfg: Rc<Config>, owner: u64) -> Self {
        VmState {
            metrics: Metrics::new(&cfg),
            core: flow::Vm::new(cfg, owner),
            paused: Paused::default(),
            caps: HostCaps::PORTABLE,
            host_known: false,
            signatures: HostSignatures::default(),
        }
    }

    /// Moves the signature counts into the metrics (flushed with them).
    pub fn count_signatures(&mut self) {
        let (decided, fell_back) = self.signatures.take_stats();
        self.metrics.add(Event::SignatureHost, decided);
        self.metrics.add(Event::SignatureHostFallback, fell_back);
    }

    /// Learns what the host can do, once, from inside a request (`probe` reads a property the
    /// root context must not ask for on nginx). Until then nothing is paused in the registry
    /// (only a request pauses, and it asks first), so nothing depends on it.
    pub fn know_host(&mut self, probe: impl FnOnce() -> HostCaps) -> HostCaps {
        if !self.host_known {
            self.caps = probe();
            self.host_known = true;
            // Only Envoy is asked for its signature check: nginx has no such function (its
            // stub answers Unimplemented), and the module's code is the reference anyway.
            if self.caps.resume_from_root {
                self.signatures = HostSignatures::probe();
            }
            super::log(
                Level::Info,
                &format!("signatures: {}", self.signatures.describe()),
            );
        }
        self.caps
    }
}

/// The states of the requests that wait, by context id: at most a registry's worth (1,024 on
/// Envoy, a few per provider elsewhere), looked up only when one of them is stepped.
#[derive(Default)]
pub struct Paused(Vec<(u32, RequestState)>);

impl Paused {
    /// Keeps the state of request `id` (replacing any it had).
    pub fn insert(&mut self, id: u32, state: RequestState) {
        match self.0.iter_mut().find(|(c, _)| *c == id) {
            Some(slot) => slot.1 = state,
            None => self.0.push((id, state)),
        }
    }

    /// The state of request `id`.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut RequestState> {
        self.0.iter_mut().find(|(c, _)| *c == id).map(|(_, s)| s)
    }

    /// Takes the state of request `id` out.
    pub fn remove(&mut self, id: u32) -> Option<RequestState> {
        let i = self.0.iter().position(|(c, _)| *c == id)?;
        Some(self.0.swap_remove(i).1)
    }
}
