//! Per-VM state shared by the root context and the HTTP contexts of one VM.

use super::metrics::Metrics;
use super::shared;
use crate::authenticator::KeyState;
use crate::cache::TokenCache;
use crate::config::{Config, JwksSource, RemoteJwks};
use crate::gate::Prepared;
use crate::jwks_cache::{self, Freshness, Lease, Record};
use crate::keys::KeySet;
use crate::verifier::{KeyLookup, Need};
use std::cell::RefCell;
use std::rc::Rc;

/// One provider's keys as this VM knows them.
pub struct Slot {
    /// Remote policy and shared-data names; `None` for local JWKS.
    pub remote: Option<(RemoteJwks, shared::Keys)>,
    /// Parsed keys (local ones from the start).
    pub set: Option<Rc<KeySet>>,
    /// Version of `set` (the record's version).
    pub version: u64,
    /// Record times of `set` (body dropped after parsing).
    pub record: Option<Record>,
    /// The lease as last read (rate limit and backoff knowledge).
    pub lease: Lease,
}

impl Slot {
    fn freshness(&self, now_ms: u64) -> Freshness {
        match &self.remote {
            None => Freshness::Fresh,
            Some((policy, _)) => jwks_cache::freshness(policy, self.record.as_ref(), now_ms),
        }
    }
}

/// A request paused in this VM.
pub struct Waiter {
    /// The HTTP context id.
    pub context_id: u32,
    /// Its state.
    pub req: Rc<RefCell<RequestState>>,
}

/// What one HTTP context keeps between its callbacks (and shares with the root while waiting).
pub struct RequestState {
    /// Tokens and rule, from the request headers.
    pub prepared: Option<Box<Prepared>>,
    /// Arrival time: the cold-start wait counts from here.
    pub started_ms: u64,
    /// Providers already refetched for this request (one refetch each at most).
    pub refetched: Vec<bool>,
    /// What the request waits for.
    pub needs: Vec<Need>,
    /// Versions of the providers' keys when the wait began.
    pub wait_versions: Vec<u64>,
    /// When the wait began.
    pub wait_started_ms: u64,
    /// A JWKS callout this context made itself: (token, provider). It decides in its own callback.
    pub own_fetch: Option<(u32, usize)>,
    /// A decision was applied; nothing more to do.
    pub finished: bool,
    /// Missing keys are unavailable now, not awaited (hosts without root resume, after the
    /// request's own fetch).
    pub no_wait: bool,
}

impl RequestState {
    /// A fresh request arriving at `now_ms`.
    pub fn new(providers: usize, now_ms: u64) -> Self {
        RequestState {
            prepared: None,
            started_ms: now_ms,
            refetched: vec![false; providers],
            needs: Vec::new(),
            wait_versions: vec![0; providers],
            wait_started_ms: now_ms,
            own_fetch: None,
            finished: false,
            no_wait: false,
        }
    }
}

/// Everything one VM holds.
pub struct VmState {
    /// The configuration.
    pub cfg: Rc<Config>,
    /// One slot per provider.
    pub slots: Vec<Slot>,
    /// Verified tokens.
    pub cache: TokenCache,
    /// Paused requests.
    pub waiters: Vec<Waiter>,
    /// Counters waiting to be flushed to the host.
    pub metrics: Metrics,
    /// This VM's lease owner id.
    pub owner: u64,
    /// Root callouts in flight: token → provider.
    pub root_fetches: Vec<(u32, usize)>,
    /// The host cannot resume a paused request from the root context (nginx): each waiting
    /// request makes its own callout and decides in its own callback.
    pub isolated: bool,
}

impl VmState {
    /// State for a freshly configured VM.
    pub fn new(cfg: Rc<Config>, owner: u64, isolated: bool) -> Self {
        let slots = cfg
            .providers
            .iter()
            .map(|p| match &p.jwks {
                JwksSource::Local(set) => Slot {
                    remote: None,
                    set: Some(set.clone()),
                    version: 1,
                    record: None,
                    lease: Lease::default(),
                },
                JwksSource::Remote(r) => Slot {
                    remote: Some((r.clone(), shared::Keys::new(p, r))),
                    set: None,
                    version: 0,
                    record: None,
                    lease: Lease::default(),
                },
            })
            .collect();
        VmState {
            cache: TokenCache::new(cfg.providers.len(), cfg.token_cache_size),
            metrics: Metrics::new(&cfg),
            cfg,
            slots,
            waiters: Vec::new(),
            owner,
            root_fetches: Vec::new(),
            isolated,
        }
    }

    /// Loads newer keys from shared data if another VM (or this one) published them.
    /// Returns true when some provider's keys changed.
    pub fn sync(&mut self) -> bool {
        let mut changed = false;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some((_, keys)) = &slot.remote else {
                continue;
            };
            if let Some((lease, _)) = shared::read_lease(keys) {
                slot.lease = lease;
            }
            let v = shared::version(keys);
            if v == 0 || v == slot.version {
                continue;
            }
            let Some(rec) = shared::record(keys) else {
                continue;
            };
            match KeySet::parse(&rec.body) {
                Ok((set, skipped)) => {
                    let name = self.cfg.providers.get(i).map_or("", |p| p.name.as_str());
                    for s in skipped {
                        super::log(
                            proxy_wasm::types::LogLevel::Warn,
                            &format!(
                                "provider={name} kid={} jwk skipped: {}",
                                crate::gate::log_safe(s.kid.as_deref().unwrap_or("-")),
                                s.why.as_str()
                            ),
                        );
                    }
                    slot.set = Some(Rc::new(set));
                    slot.version = rec.version;
                    slot.record = Some(Record {
                        body: Vec::new(),
                        ..rec
                    });
                    changed = true;
                }
                Err(_) => {
                    // Published records were validated by the fetcher; a bad one is ignored.
                    slot.version = rec.version;
                }
            }
        }
        changed
    }

    /// Provider indexes whose keys this VM should fetch now (missing, due, or stale).
    pub fn due(&self, now_ms: u64) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.remote.is_some())
            .filter(|(_, s)| !matches!(s.freshness(now_ms), Freshness::Fresh))
            .filter(|(_, s)| s.lease.available(now_ms))
            .map(|(i, _)| i)
            .collect()
    }
}

/// The key view of one request at one moment.
pub struct RequestKeys<'a> {
    /// The VM's slots.
    pub slots: &'a [Slot],
    /// The request.
    pub req: &'a RequestState,
    /// Now.
    pub now_ms: u64,
}

impl KeyLookup for RequestKeys<'_> {
    fn key_state(&self, provider: usize) -> KeyState<'_> {
        let Some(slot) = self.slots.get(provider) else {
            return KeyState::Unavailable;
        };
        let Some((policy, _)) = &slot.remote else {
            return match &slot.set {
                Some(set) => KeyState::Ready {
                    keys: set,
                    version: slot.version,
                    refetch_allowed: false,
                    revoked: None,
                },
                None => KeyState::Unavailable,
            };
        };
        let freshness = slot.freshness(self.now_ms);
        let usable = !matches!(freshness, Freshness::Empty | Freshness::Expired);
        // Keys that expired while the endpoint keeps failing are not coming back within a
        // request's wait: answer 503 at once rather than after timeout_ms. A cold start waits.
        let hopeless = freshness == Freshness::Expired && slot.lease.failures > 0;
        match (&slot.set, usable) {
            (Some(set), true) => {
                let already = self.req.refetched.get(provider).copied().unwrap_or(true);
                let interval_ms = policy.min_refetch_interval_s * 1000;
                let rate_ok = self.now_ms >= slot.lease.last_refetch_ms.saturating_add(interval_ms);
                // A fetch in flight may bring the kid: waiting for it is not another refetch.
                let in_flight = slot.lease.owner != 0 && self.now_ms < slot.lease.until_ms;
                KeyState::Ready {
                    keys: set,
                    version: slot.version,
                    refetch_allowed: !already && (rate_ok || in_flight),
                    revoked: None,
                }
            }
            _ if !hopeless
                && !self.req.no_wait
                && self.now_ms < self.req.started_ms + policy.timeout_ms =>
            {
                KeyState::Pending
            }
            _ => KeyState::Unavailable,
        }
    }
}
