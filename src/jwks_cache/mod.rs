//! The JWKS cache of one VM, independent of the host (as Envoy's `JwksCache`): per provider the
//! documents it fetches ([`doc`], [`content`]), the shared-data protocol that makes one fetch
//! serve every VM ([`store`], [`record`]), and the requests paused for keys ([`waiters`]).
//!
//! The glue asks [`KeyCache`] what to do (which callouts to make, which requests to wake) and
//! reports back what the host did; every decision is made here and tested natively.

pub mod content;
pub mod doc;
pub mod provider;
pub mod record;
pub mod store;
pub mod waiters;

pub use doc::{Answer, Begin, Callout, Finished};
pub use provider::{DocId, ProviderKeys, RequestView};
pub use store::{SharedStore, StoreError};

use crate::authenticator::KeyState;
use crate::config::Config;
use crate::crypto::{self, SignatureBackend};
use crate::verifier::{KeyLookup, Need};
use waiters::Waiters;

/// Most callouts of one provider one VM keeps in flight on a host that cannot wake a paused
/// request (nginx): there each waiting request fetches for itself, so without a bound a cold
/// start makes one fetch per request (100 concurrent requests, 100 fetches against a slow
/// IdP). The root tick's own fetch counts. A request that would exceed it does not fetch: it
/// is answered 503 `jwks_unavailable` with `Retry-After: 1`, and its retry finds the keys
/// those fetches publish.
pub const MAX_COLD_FETCHES: usize = 4;

/// A callout the glue must make, then report with [`KeyCache::dispatched`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// Provider index.
    pub provider: usize,
    /// Which document.
    pub doc: DocId,
    /// The callout.
    pub callout: Callout,
    /// Holds the shared lease (else a request's own fetch on a portable host).
    pub shared: bool,
    /// An unknown-`kid` refetch.
    pub refetch: bool,
}

/// What a tick asks of the glue.
#[derive(Debug)]
pub struct Tick<T = ()> {
    /// Callouts to make from the root.
    pub fetches: Vec<Fetch>,
    /// Paused requests to decide again, with their handles.
    pub wake: Vec<(u32, T)>,
}

/// What a paused request should do after asking for its documents.
#[derive(Debug, Default)]
pub struct Plan {
    /// Callouts to make from the request's context.
    pub fetches: Vec<Fetch>,
    /// Decide again at once: what it waited for cannot come (refetch refused).
    pub decide_now: bool,
    /// Providers whose documents this request may not fetch: [`MAX_COLD_FETCHES`] of their
    /// callouts are in flight in this VM (hosts that cannot wake a request). Without a
    /// fetch of its own it is answered 503 and retries.
    pub at_bound: Vec<usize>,
}

/// The key state of every provider of one VM, and its paused requests (each with a `T`, what
/// the glue needs to decide it again).
#[derive(Debug)]
pub struct KeyCache<T = ()> {
    /// Per provider, in config order.
    pub providers: Vec<ProviderKeys>,
    /// Paused requests.
    pub waiters: Waiters<T>,
    /// This VM's lease-owner id (random, non-zero).
    pub owner: u64,
}

impl<T> KeyCache<T> {
    /// Nothing fetched yet.
    pub fn new(cfg: &Config, owner: u64) -> KeyCache<T> {
        KeyCache {
            providers: cfg.providers.iter().map(ProviderKeys::new).collect(),
            waiters: Waiters::new(cfg.providers.len()),
            owner: owner.max(1),
        }
    }

    /// Loads what other VMs published. True when something changed.
    pub fn sync(&mut self, store: &mut dyn SharedStore) -> bool {
        let mut changed = false;
        for p in &mut self.providers {
            changed |= p.sync(store);
        }
        changed
    }

    /// Before a request is decided: adopts what other VMs published for `providers` since
    /// this VM last looked, so that no VM verifies with keys another has already replaced
    /// (a removed key stops verifying everywhere at once; see `Doc::catch_up`). True
    /// when something changed.
    pub fn catch_up(
        &mut self,
        store: &dyn SharedStore,
        providers: impl IntoIterator<Item = usize>,
        now_ms: u64,
    ) -> bool {
        let mut changed = false;
        for p in providers {
            if let Some(keys) = self.providers.get_mut(p) {
                changed |= keys.catch_up(store, now_ms);
            }
        }
        changed
    }

    /// The periodic step: learn of other VMs' fetches, start due fetches (first fetches,
    /// refreshes, retries after backoff), and pick the requests to wake.
    pub fn tick(&mut self, store: &mut dyn SharedStore, now_ms: u64) -> Tick<T> {
        let mut out = Tick {
            fetches: Vec::new(),
            wake: Vec::new(),
        };
        for p in &mut self.providers {
            p.expire_inflight(now_ms);
            p.sync(store);
        }
        // Wake first: a request that got what it waited for is no demand for another fetch.
        let providers = &self.providers;
        out.wake = self
            .waiters
            .ready(|p| providers.get(p).map_or(0, ProviderKeys::events), now_ms);
        for (i, p) in self.providers.iter_mut().enumerate() {
            for doc in p.due(now_ms) {
                if let Begin::Go(callout) = p.begin(doc, store, self.owner, now_ms, false, true) {
                    out.fetches.push(Fetch {
                        provider: i,
                        doc,
                        callout,
                        shared: true,
                        refetch: false,
                    });
                }
            }
        }
        out
    }

    /// A request must wait for `needs`: which callouts it should make itself, and whether it
    /// should rather be decided again now. `shared`: fetches take the lease (hosts that can
    /// resume a request from the root); otherwise each is the request's own.
    pub fn plan(
        &mut self,
        store: &mut dyn SharedStore,
        needs: &[Need],
        refetched: &mut [bool],
        shared: bool,
        now_ms: u64,
    ) -> Plan {
        let mut plan = Plan::default();
        let mut waiting = false;
        for need in needs {
            if !shared && !plan.fetches.is_empty() {
                // A request that cannot be woken makes one callout at a time: the next need
                // is planned in its next round, so no other refetch window is claimed (and
                // spent) for a callout that is not made now.
                break;
            }
            let (p, refetch) = match *need {
                Need::Keys(p) => (p, false),
                Need::Refetch(p) => (p, true),
            };
            if refetch {
                if let Some(flag) = refetched.get_mut(p) {
                    *flag = true;
                }
            }
            let Some(keys) = self.providers.get_mut(p) else {
                continue;
            };
            // Another VM (or the previous config's) may have published since this VM's last
            // tick: never fetch what shared data already holds.
            if keys.sync(store) {
                return Plan {
                    decide_now: true,
                    ..Plan::default()
                };
            }
            if !shared && keys.inflight() >= MAX_COLD_FETCHES {
                // A request's own fetch, with enough of them in flight here: no more. An
                // unknown-`kid` refetch the window refuses is decided at once, as always.
                if refetch && !keys.refetch_window_open(now_ms) {
                    plan.decide_now = true;
                } else if !keys.missing(now_ms, refetch).is_empty() {
                    plan.at_bound.push(p);
                }
                continue;
            }
            // Documents in order: the first one that can be fetched (discovery before JWKS).
            for doc in keys.missing(now_ms, refetch) {
                let doc_refetch = refetch && doc == DocId::Jwks;
                match keys.begin(doc, store, self.owner, now_ms, doc_refetch, shared) {
                    Begin::Go(callout) => {
                        plan.fetches.push(Fetch {
                            provider: p,
                            doc,
                            callout,
                            shared,
                            refetch: doc_refetch,
                        });
                        break;
                    }
                    Begin::InFlight | Begin::BackingOff if shared => {
                        waiting = true;
                        break;
                    }
                    Begin::RateLimited if doc_refetch => plan.decide_now = true,
                    _ => {}
                }
            }
        }
        if plan.fetches.is_empty() && !waiting && plan.at_bound.is_empty() {
            plan.decide_now = true;
        }
        plan
    }

    /// Reports a callout of a [`Fetch`]: `Some(token)` if made, `None` if the host refused.
    pub fn dispatched(
        &mut self,
        store: &mut dyn SharedStore,
        f: &Fetch,
        token: Option<u32>,
        context: Option<u32>,
        now_ms: u64,
        jitter: f64,
    ) {
        let owner = self.owner;
        if let Some(p) = self.providers.get_mut(f.provider) {
            p.dispatched(
                f.doc, store, owner, token, context, f.shared, f.refetch, now_ms, jitter,
            );
        }
    }

    /// A fetch of [`KeyCache::plan`] that the request will not make after all (a host where
    /// it cannot wait): the window it claimed is given back, and a refetch is left to the
    /// root's next tick (marked wanted in the lease). A first fetch needs nothing: the root
    /// fetches a document it does not hold anyway.
    pub fn defer_to_root(&mut self, store: &mut dyn SharedStore, f: &Fetch, now_ms: u64) {
        if let Some(p) = self.providers.get_mut(f.provider) {
            p.defer(f.doc, store, f.refetch, now_ms);
        }
    }

    /// Handles the answer of callout `token`. Returns the provider, the document and what
    /// became of it (for logs and metrics); `None` when the token is not a fetch of this VM.
    pub fn answer(
        &mut self,
        store: &mut dyn SharedStore,
        token: u32,
        answer: Answer,
        now_ms: u64,
        jitter: f64,
    ) -> Option<(usize, DocId, Finished)> {
        let owner = self.owner;
        let (i, doc) = self
            .providers
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.owner_of(token).map(|d| (i, d)))?;
        let p = self.providers.get_mut(i)?;
        let done = p.finish(doc, store, owner, token, answer, now_ms, jitter)?;
        Some((i, doc, done))
    }

    /// Pauses request `context` (with `handle`) on the providers of `needs` until an event or
    /// its deadline. False when the VM holds too many paused requests (then: 503
    /// `jwks_unavailable`).
    pub fn pause(
        &mut self,
        context: u32,
        handle: T,
        needs: &[Need],
        started_ms: u64,
        now_ms: u64,
    ) -> bool {
        let mut on: Vec<(usize, u64)> = Vec::new();
        let mut deadline = u64::MAX;
        for need in needs {
            let (p, refetch) = match *need {
                Need::Keys(p) => (p, false),
                Need::Refetch(p) => (p, true),
            };
            let Some(keys) = self.providers.get(p) else {
                continue;
            };
            // A cold start waits from the request's arrival; a refetch from now.
            let from = if refetch { now_ms } else { started_ms };
            deadline = deadline.min(from.saturating_add(keys.timeout_ms()));
            if !on.iter().any(|(q, _)| *q == p) {
                on.push((p, keys.events()));
            }
        }
        self.waiters.push(context, handle, &on, deadline)
    }

    /// Request `context` is gone: unqueue it, and give back what it was fetching.
    pub fn forget(&mut self, store: &mut dyn SharedStore, context: u32) {
        self.waiters.forget(context);
        let owner = self.owner;
        for p in &mut self.providers {
            p.abandon(store, owner, context);
        }
    }

    /// The key view of one request at one moment, for the verifier.
    pub fn view<'a>(&'a self, req: RequestView<'a>) -> Lookup<'a> {
        Lookup {
            providers: &self.providers,
            req,
            signatures: &crypto::OWN_CODE,
        }
    }
}

/// [`KeyLookup`] over a [`KeyCache`] for one request.
pub struct Lookup<'a> {
    providers: &'a [ProviderKeys],
    req: RequestView<'a>,
    signatures: &'a dyn SignatureBackend,
}

impl<'a> Lookup<'a> {
    /// The same view, with signatures checked through `signatures` (the host's, where it has
    /// one).
    pub fn with_signatures(mut self, signatures: &'a dyn SignatureBackend) -> Self {
        self.signatures = signatures;
        self
    }
}

impl KeyLookup for Lookup<'_> {
    fn key_state(&self, provider: usize) -> KeyState<'_> {
        match self.providers.get(provider) {
            Some(p) => p.key_state(&self.req, provider),
            None => KeyState::Unavailable,
        }
    }

    fn signatures(&self) -> &dyn SignatureBackend {
        self.signatures
    }
}

#[cfg(test)]
mod tests;
