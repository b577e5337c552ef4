//! The host side of the core's step ([`crate::flow::StepHost`]): the clock, shared data,
//! callouts and counters of this host.

use super::abi;
use super::fetch;
use super::metrics::{Event, Metrics, ProviderEvent};
use super::store::HostStore;
use crate::config::Config;
use crate::crypto::{self, SignatureBackend};
use crate::flow::{StepEvent, StepHost};
use crate::jwks_cache::{Fetch, SharedStore};
use std::rc::Rc;

/// This host, for one step of one VM.
pub struct Host<'a> {
    /// The VM's configuration (provider names for logs).
    pub cfg: Rc<Config>,
    /// The VM's counters.
    pub metrics: &'a mut Metrics,
    /// Shared data.
    pub store: HostStore,
    /// How signatures are checked (the module's code unless the host's verify was probed).
    signatures: &'a dyn SignatureBackend,
}

impl<'a> Host<'a> {
    /// The host side for a VM with `cfg` and `metrics`.
    pub fn new(cfg: Rc<Config>, metrics: &'a mut Metrics) -> Self {
        Host {
            cfg,
            metrics,
            store: HostStore,
            signatures: &crypto::OWN_CODE,
        }
    }

    /// The same host, checking signatures through `signatures`.
    pub fn with_signatures(mut self, signatures: &'a dyn SignatureBackend) -> Self {
        self.signatures = signatures;
        self
    }
}

impl StepHost for Host<'_> {
    fn now_ms(&mut self) -> u64 {
        abi::now_ms()
    }

    fn store(&mut self) -> &mut dyn SharedStore {
        &mut self.store
    }

    fn dispatch(&mut self, f: &Fetch) -> Option<u32> {
        fetch::dispatch(&self.cfg, self.metrics, f)
    }

    fn store_and_signatures(&mut self) -> (&mut dyn SharedStore, &dyn SignatureBackend) {
        (&mut self.store, self.signatures)
    }

    fn jitter(&mut self) -> f64 {
        super::jitter()
    }

    fn connection_reused(&mut self) -> bool {
        // nginx's `$connection_requests`; a host without it (Envoy) says nothing against
        // waiting.
        match abi::property(&["ngx", "connection_requests"]) {
            Ok(Some(n)) => std::str::from_utf8(&n)
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_none_or(|n| n > 1),
            _ => false,
        }
    }

    fn note(&mut self, event: StepEvent) {
        match event {
            StepEvent::Paused => self.metrics.add(Event::Paused, 1),
            StepEvent::Refetch(p) => self.metrics.provider(p, ProviderEvent::Refetch),
            StepEvent::AtFetchBound(p) => self.metrics.provider(p, ProviderEvent::AtFetchBound),
        }
    }
}
