//! Per-VM state shared by the root context and the HTTP contexts of one VM.

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
    /// What this host can do.
    pub caps: HostCaps,
    /// Where signatures are checked: the host's `verify_signature` for the schemes it
    /// passed the probe with, the module's code for the rest.
    pub signatures: HostSignatures,
}

impl VmState {
    /// State for a freshly configured VM.
    pub fn new(cfg: Rc<Config>, owner: u64, caps: HostCaps) -> Self {
        VmState {
            metrics: Metrics::new(&cfg),
            core: flow::Vm::new(cfg, owner),
            caps,
            signatures: HostSignatures::default(),
        }
    }

    /// Moves the signature counts into the metrics (flushed with them).
    pub fn count_signatures(&mut self) {
        let (decided, fell_back) = self.signatures.take_stats();
        self.metrics.add(Event::SignatureHost, decided);
        self.metrics.add(Event::SignatureHostFallback, fell_back);
    }
}
