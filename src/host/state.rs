//! Per-VM state shared by the root context and the HTTP contexts of one VM.

use super::abi::Level;
use super::metrics::{Event, Metrics};
use super::signatures::HostSignatures;
use crate::config::Config;
use crate::flow::{self, HostCaps, RequestState};
use std::cell::RefCell;
use std::rc::Rc;

/// One request's state, shared by its HTTP context and (while it waits) the VM's registry of
/// paused requests, through which the root decides it again.
pub type Handle = Rc<RefCell<RequestState>>;

/// Everything one VM holds.
pub struct VmState {
    /// Configuration, keys (with the paused requests) and verified tokens: the core's.
    pub core: flow::Vm<Handle>,
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
