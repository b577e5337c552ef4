//! Per-VM state shared by the root context and the HTTP contexts of one VM.

use super::metrics::Metrics;
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
}

impl VmState {
    /// State for a freshly configured VM.
    pub fn new(cfg: Rc<Config>, owner: u64, caps: HostCaps) -> Self {
        VmState {
            metrics: Metrics::new(&cfg),
            core: flow::Vm::new(cfg, owner),
            caps,
        }
    }
}
