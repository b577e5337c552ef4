//! Per-VM state shared by the root context and the HTTP contexts of one VM.

use super::metrics::Metrics;
use crate::cache::TokenCache;
use crate::config::Config;
use crate::gate::Prepared;
use crate::jwks_cache::KeyCache;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// What one HTTP context keeps between its callbacks.
pub struct RequestState {
    /// Tokens and rule, from the request headers.
    pub prepared: Option<Prepared>,
    /// Arrival time: the cold-start wait counts from here.
    pub started_ms: u64,
    /// Providers already refetched for (one refetch each at most).
    pub refetched: Vec<bool>,
    /// Callouts this context made itself whose answers it still expects.
    pub own_fetches: Vec<u32>,
    /// Own fetches answered so far (portable hosts: a bounded number per request).
    pub rounds: u8,
    /// A decision was applied; nothing more to do.
    pub finished: bool,
    /// Missing keys are unavailable now, not awaited (portable hosts, after own fetches).
    pub no_wait: bool,
}

impl RequestState {
    /// A request arriving at `now_ms`.
    pub fn new(providers: usize, now_ms: u64) -> Self {
        RequestState {
            prepared: None,
            started_ms: now_ms,
            refetched: vec![false; providers],
            own_fetches: Vec::new(),
            rounds: 0,
            finished: false,
            no_wait: false,
        }
    }
}

/// Everything one VM holds.
pub struct VmState {
    /// The configuration.
    pub cfg: Rc<Config>,
    /// Keys, fetch policy and paused requests.
    pub keys: KeyCache,
    /// Verified tokens.
    pub cache: TokenCache,
    /// Counters waiting to be flushed to the host.
    pub metrics: Metrics,
    /// The host can answer or resume a paused request from the root context (Envoy,
    /// positively identified). Otherwise every paused request is decided in its own callback.
    pub resumable: bool,
    /// `resumable` was asked of the host (by the first request; see [`VmState::know_host`]).
    pub host_known: bool,
    /// Requests paused in this VM, for the root to decide when keys arrive.
    pub paused: HashMap<u32, Rc<RefCell<RequestState>>>,
}

impl VmState {
    /// Takes request `id` off the paused set, if it is there. Almost always nothing is paused:
    /// then no hash of the id is computed (this runs on every request).
    pub fn unpause(&mut self, id: u32) -> Option<Rc<RefCell<RequestState>>> {
        if self.paused.is_empty() {
            return None;
        }
        self.paused.remove(&id)
    }

    /// State for a freshly configured VM; which host it runs in is learnt by its first request.
    pub fn new(cfg: Rc<Config>, owner: u64) -> Self {
        VmState {
            keys: KeyCache::new(&cfg, owner),
            cache: TokenCache::new(cfg.providers.len(), cfg.token_cache_size),
            metrics: Metrics::new(&cfg),
            cfg,
            resumable: false,
            host_known: false,
            paused: HashMap::new(),
        }
    }

    /// Learns whether the host resumes requests from the root, once, from inside a request
    /// (`probe` reads a property the root context must not ask for on nginx). Until then
    /// nothing is paused, so nothing depends on it.
    pub fn know_host(&mut self, probe: impl FnOnce() -> bool) -> bool {
        if !self.host_known {
            self.resumable = probe();
            self.host_known = true;
        }
        self.resumable
    }
}
