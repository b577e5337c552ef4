//! Counters in the host's stats (`proxy_define_metric`). Events are counted in memory; a
//! request's counts go to the host with the root's next tick (at most [`super::root`]'s period
//! later), the root's own (fetches) at once: each counter that moved is one host call, and three
//! of them per request were ~3% of a cache hit's cost in Envoy. So that a reader can tell when
//! the counts are complete, on Envoy the gauge `jwtgate.vms_with_unsent_counts` is 1 for each VM
//! holding counts not yet sent: raised (one host call) by the first count after a flush, lowered
//! after the flush has sent every counter. Not on ngx_wasm_module: adding to a gauge traps the VM
//! there ("metric not a counter"), and nginx has no reader of these counts to tell anyway.

use super::abi;
use crate::config::Config;
use crate::Reason;

struct Counter {
    name: String,
    id: Option<u32>,
    pending: u64,
}

/// Every counter jwtgate defines, by index.
pub struct Metrics {
    counters: Vec<Counter>,
    providers: usize,
    dirty: Vec<usize>,
    /// The gauge `jwtgate.vms_with_unsent_counts` (defined on first use).
    unsent: Option<u32>,
    /// This VM added its 1 to that gauge and has not taken it back.
    raised: bool,
}

/// The gauge of VMs holding counts not yet sent to the host.
const UNSENT: &str = "jwtgate.vms_with_unsent_counts";

/// Counters per provider, in this order after the global ones.
const PER_PROVIDER: [&str; 10] = [
    "allowed",
    "jwks_fetch_ok",
    "jwks_fetch_failed",
    "jwks_refetch_unknown_kid",
    "reported",
    "discovery_fetch_ok",
    "discovery_fetch_failed",
    "revocation_fetch_ok",
    "revocation_fetch_failed",
    "jwks_fetch_at_bound",
];

/// Global counters, in this order at the start.
const GLOBAL: [&str; 9] = [
    "allowed",
    "not_required",
    "preflight",
    "paused",
    "token_cache_hit",
    "token_cache_miss",
    "reported",
    "signature_host",
    "signature_host_fallback",
];

/// A counter to bump.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// A request passed (globally and for each provider that verified).
    Allowed,
    /// A rule without requirement.
    NotRequired,
    /// A CORS preflight passed.
    Preflight,
    /// A request paused for keys.
    Paused,
    /// Token cache hit.
    CacheHit,
    /// Token cache miss.
    CacheMiss,
    /// Denied (or would have been) for a reason.
    Denied(Reason),
    /// Report mode let a failure through.
    Reported,
    /// A signature the host's `verify_signature` decided.
    SignatureHost,
    /// A host signature check that failed and fell back to the module's code.
    SignatureHostFallback,
}

/// A per-provider counter.
#[derive(Debug, Clone, Copy)]
pub enum ProviderEvent {
    /// A token of this provider passed.
    Allowed = 0,
    /// A JWKS fetch succeeded.
    FetchOk = 1,
    /// A JWKS fetch failed.
    FetchFailed = 2,
    /// A refetch for an unknown `kid` started.
    Refetch = 3,
    /// Report mode let a failure of this provider through.
    Reported = 4,
    /// A discovery document fetch succeeded.
    DiscoveryOk = 5,
    /// A discovery document fetch failed.
    DiscoveryFailed = 6,
    /// A revocation list fetch succeeded.
    RevocationOk = 7,
    /// A revocation list fetch failed.
    RevocationFailed = 8,
    /// A request got 503 without a fetch: the worker had `MAX_COLD_FETCHES` in flight.
    AtFetchBound = 9,
}

impl Metrics {
    /// The counter set for `cfg`.
    pub fn new(cfg: &Config) -> Metrics {
        let mut names: Vec<String> = GLOBAL.iter().map(|n| format!("jwtgate.{n}")).collect();
        names.extend(Reason::ALL.iter().map(|r| format!("jwtgate.denied.{r}")));
        for p in &cfg.providers {
            names.extend(
                PER_PROVIDER
                    .iter()
                    .map(|n| format!("jwtgate.provider.{}.{n}", p.name)),
            );
            names.extend(
                Reason::ALL
                    .iter()
                    .map(|r| format!("jwtgate.provider.{}.denied.{r}", p.name)),
            );
        }
        Metrics {
            counters: names
                .into_iter()
                .map(|name| Counter {
                    name,
                    id: None,
                    pending: 0,
                })
                .collect(),
            providers: cfg.providers.len(),
            dirty: Vec::new(),
            unsent: None,
            raised: false,
        }
    }

    fn bump(&mut self, index: usize, n: u64) {
        if let Some(c) = self.counters.get_mut(index) {
            if n > 0 && c.pending == 0 {
                self.dirty.push(index);
            }
            c.pending = c.pending.saturating_add(n);
        }
    }

    fn reason_index(r: Reason) -> usize {
        Reason::ALL.iter().position(|x| *x == r).unwrap_or(0)
    }

    fn provider_base(&self, p: usize) -> usize {
        GLOBAL.len() + Reason::ALL.len() + p * (PER_PROVIDER.len() + Reason::ALL.len())
    }

    /// Counts a global event, `n` times.
    pub fn add(&mut self, e: Event, n: u64) {
        let i = match e {
            Event::Allowed => 0,
            Event::NotRequired => 1,
            Event::Preflight => 2,
            Event::Paused => 3,
            Event::CacheHit => 4,
            Event::CacheMiss => 5,
            Event::Reported => 6,
            Event::SignatureHost => 7,
            Event::SignatureHostFallback => 8,
            Event::Denied(r) => GLOBAL.len() + Self::reason_index(r),
        };
        self.bump(i, n);
    }

    /// Counts a provider event.
    pub fn provider(&mut self, p: usize, e: ProviderEvent) {
        if p < self.providers {
            let i = self.provider_base(p) + e as usize;
            self.bump(i, 1);
        }
    }

    /// Counts a denial of provider `p`.
    pub fn provider_denied(&mut self, p: usize, r: Reason) {
        if p < self.providers {
            let i = self.provider_base(p) + PER_PROVIDER.len() + Self::reason_index(r);
            self.bump(i, 1);
        }
    }

    /// Keeps the counts of a request for the next flush and, where the host `adds_to_gauges`
    /// (`HostCaps`), tells it that this VM holds counts it has not sent, unless it already
    /// said so.
    pub fn defer(&mut self, adds_to_gauges: bool) {
        if !adds_to_gauges || self.dirty.is_empty() || self.raised {
            return;
        }
        if self.unsent.is_none() {
            self.unsent = abi::define_gauge(UNSENT).ok();
        }
        if let Some(id) = self.unsent {
            self.raised = abi::increment(id, 1).is_ok();
        }
    }

    /// Sends pending counts to the host, defining counters on first use; then, when every count
    /// went out, takes this VM's 1 back from the gauge of VMs with unsent counts.
    pub fn flush(&mut self) {
        for i in std::mem::take(&mut self.dirty) {
            let Some(c) = self.counters.get_mut(i) else {
                continue;
            };
            if c.id.is_none() {
                c.id = abi::define_counter(&c.name).ok();
            }
            if let Some(id) = c.id {
                if abi::increment(id, i64::try_from(c.pending).unwrap_or(i64::MAX)).is_ok() {
                    c.pending = 0;
                    continue;
                }
            }
            self.dirty.push(i);
        }
        if self.raised && self.dirty.is_empty() {
            if let Some(id) = self.unsent {
                self.raised = abi::increment(id, -1).is_err();
            }
        }
    }
}
