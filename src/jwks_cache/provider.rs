//! Everything one VM fetches for one provider (its JWKS, and its discovery document and
//! revocation list when configured), and what a request may do with it right now.

use super::content::Discovered;
use super::doc::{Answer, Begin, Doc, Finished, Policy};
use super::store::{Names, SharedStore};
use crate::authenticator::KeyState;
use crate::config::{JwksLocation, JwksSource, Provider, RemoteJwks, Revocation};
use crate::keys::KeySet;
use crate::revocation::RevocationList;
use std::rc::Rc;

/// Which of a provider's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocId {
    /// The JWKS.
    Jwks,
    /// The OIDC discovery document.
    Discovery,
    /// The revocation list.
    Revocation,
}

impl DocId {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DocId::Jwks => "jwks",
            DocId::Discovery => "discovery",
            DocId::Revocation => "revocation",
        }
    }
}

/// A provider's keys and lists as one VM holds them.
#[derive(Debug)]
pub struct ProviderKeys {
    /// Keys given in the config.
    pub local: Option<Rc<KeySet>>,
    /// A fetched JWKS.
    pub jwks: Option<Doc<KeySet>>,
    /// Where the JWKS is, per the issuer's discovery document.
    pub discovery: Option<Doc<Discovered>>,
    /// A fetched revocation list.
    pub revocation: Option<Doc<RevocationList>>,
}

/// What a request brings to the question "what may I do with these keys now?".
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// When the request arrived: the cold-start wait counts from here.
    pub started_ms: u64,
    /// Providers this request already refetched for (once each at most).
    pub refetched: &'a [bool],
    /// Do not wait for missing keys (a portable host after the request's own fetch).
    pub no_wait: bool,
    /// Now.
    pub now_ms: u64,
}

fn jwks_policy(r: &RemoteJwks) -> Policy {
    Policy {
        cluster: r.cluster.clone(),
        timeout_ms: r.timeout_ms,
        cache_duration_ms: r.cache_duration_s.saturating_mul(1000),
        max_stale_ms: r.max_stale_s.saturating_mul(1000),
        min_refetch_ms: Some(r.min_refetch_interval_s.saturating_mul(1000)),
    }
}

impl ProviderKeys {
    /// The empty state of provider `p` (local keys loaded at once).
    pub fn new(p: &Provider) -> ProviderKeys {
        let (local, jwks, discovery) = match &p.jwks {
            JwksSource::Local(set) => (Some(set.clone()), None, None),
            JwksSource::Remote(r) => {
                let (endpoint, discovery) = match &r.location {
                    JwksLocation::Uri(e) => (Some(e), None),
                    JwksLocation::Discovery(d) => (None, Some(d)),
                };
                // Names the shared-data records: a discovered JWKS has no configured URI.
                let uri = endpoint.map_or("", |e| e.uri.as_str());
                let what = [p.issuer.as_str(), r.cluster.as_str(), uri];
                let jwks = Doc::new(
                    Names::new(&p.name, "jwks", &what),
                    jwks_policy(r),
                    endpoint.cloned(),
                    &p.issuer,
                );
                let discovery = discovery.map(|d| {
                    Doc::new(
                        Names::new(&p.name, "discovery", &[&p.issuer, &r.cluster]),
                        Policy {
                            min_refetch_ms: None,
                            ..jwks_policy(r)
                        },
                        Some(d.clone()),
                        &p.issuer,
                    )
                });
                (None, Some(jwks), discovery)
            }
        };
        let revocation = match &p.revocation {
            Some(Revocation::Remote(r)) => Some(Doc::new(
                Names::new(
                    &p.name,
                    "revocation",
                    &[&p.issuer, &r.cluster, &r.endpoint.uri],
                ),
                Policy {
                    cluster: r.cluster.clone(),
                    timeout_ms: r.timeout_ms,
                    cache_duration_ms: r.cache_duration_s.saturating_mul(1000),
                    // A list that cannot be refreshed stays in force (contract v1.1).
                    max_stale_ms: u64::MAX / 4,
                    min_refetch_ms: None,
                },
                Some(r.endpoint.clone()),
                &p.issuer,
            )),
            _ => None,
        };
        ProviderKeys {
            local,
            jwks,
            discovery,
            revocation,
        }
    }

    /// Loads what other VMs published. True when a document changed.
    pub fn sync(&mut self, store: &mut dyn SharedStore) -> bool {
        let mut changed = false;
        if let Some(d) = &mut self.discovery {
            changed |= d.sync(store);
        }
        self.follow_discovery();
        if let Some(d) = &mut self.jwks {
            changed |= d.sync(store);
        }
        if let Some(d) = &mut self.revocation {
            changed |= d.sync(store);
        }
        changed
    }

    /// Adopts what other VMs published since this VM last looked (see [`Doc::catch_up`]).
    /// True when a document changed.
    pub fn catch_up(&mut self, store: &dyn SharedStore, now_ms: u64) -> bool {
        let mut changed = false;
        if let Some(d) = &mut self.discovery {
            changed |= d.catch_up(store, now_ms);
        }
        self.follow_discovery();
        if let Some(d) = &mut self.jwks {
            changed |= d.catch_up(store, now_ms);
        }
        if let Some(d) = &mut self.revocation {
            changed |= d.catch_up(store, now_ms);
        }
        changed
    }

    /// Points the JWKS at the discovered `jwks_uri`.
    fn follow_discovery(&mut self) {
        let found = self
            .discovery
            .as_ref()
            .and_then(|d| d.value())
            .map(|v| v.jwks.clone());
        if let (Some(found), Some(jwks)) = (found, &mut self.jwks) {
            if jwks.endpoint.as_ref() != Some(&found) {
                jwks.endpoint = Some(found);
            }
        }
    }

    /// Counts successful fetches of what a paused request waits for (keys, and a revocation
    /// list): it wakes when this moves. Discovery is not counted: it only leads to a JWKS
    /// fetch, and waking a request waiting for a refetch on it would fail it too early.
    pub fn events(&self) -> u64 {
        let j = self.jwks.as_ref().map_or(0, Doc::events);
        let r = self.revocation.as_ref().map_or(0, Doc::events);
        j.wrapping_add(r)
    }

    /// The key-set generation verified tokens are cached under.
    pub fn generation(&self) -> u64 {
        self.jwks.as_ref().map_or(1, Doc::generation)
    }

    /// The documents a request waiting on this provider needs fetched, in order.
    pub fn missing(&self, now_ms: u64, refetch: bool) -> Vec<DocId> {
        let mut out = Vec::new();
        if let Some(d) = &self.discovery {
            if !d.usable(now_ms) {
                out.push(DocId::Discovery);
            }
        }
        if let Some(j) = &self.jwks {
            if refetch || (!j.usable(now_ms) && j.endpoint.is_some()) {
                out.push(DocId::Jwks);
            }
        }
        if let Some(r) = &self.revocation {
            if !r.usable(now_ms) {
                out.push(DocId::Revocation);
            }
        }
        out
    }

    /// The documents the root should fetch now (first fetch, refresh, retry).
    pub fn due(&self, now_ms: u64) -> Vec<DocId> {
        let mut out = Vec::new();
        if self.discovery.as_ref().is_some_and(|d| d.due(now_ms)) {
            out.push(DocId::Discovery);
        }
        if self.jwks.as_ref().is_some_and(|d| d.due(now_ms)) {
            out.push(DocId::Jwks);
        }
        if self.revocation.as_ref().is_some_and(|d| d.due(now_ms)) {
            out.push(DocId::Revocation);
        }
        out
    }

    /// Asks to fetch document `id` (see [`Doc::begin`]).
    pub fn begin(
        &mut self,
        id: DocId,
        store: &mut dyn SharedStore,
        owner: u64,
        now_ms: u64,
        refetch: bool,
        shared: bool,
    ) -> Begin {
        match id {
            DocId::Jwks => self
                .jwks
                .as_mut()
                .map(|d| d.begin(store, owner, now_ms, refetch, shared)),
            DocId::Discovery => self
                .discovery
                .as_mut()
                .map(|d| d.begin(store, owner, now_ms, false, shared)),
            DocId::Revocation => self
                .revocation
                .as_mut()
                .map(|d| d.begin(store, owner, now_ms, false, shared)),
        }
        .unwrap_or(Begin::Unavailable)
    }

    /// Reports the callout of a [`Begin::Go`]: `Some(token)` if made, `None` if the host refused.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatched(
        &mut self,
        id: DocId,
        store: &mut dyn SharedStore,
        owner: u64,
        token: Option<u32>,
        context: Option<u32>,
        shared: bool,
        refetch: bool,
        now_ms: u64,
        jitter: f64,
    ) {
        macro_rules! report {
            ($d:expr) => {
                if let Some(d) = $d {
                    match token {
                        Some(t) => d.started(t, context, shared, refetch, now_ms),
                        None => d.not_started(store, owner, shared, now_ms, jitter),
                    }
                }
            };
        }
        match id {
            DocId::Jwks => report!(self.jwks.as_mut()),
            DocId::Discovery => report!(self.discovery.as_mut()),
            DocId::Revocation => report!(self.revocation.as_mut()),
        }
    }

    /// See [`super::KeyCache::defer_to_root`].
    pub fn defer(&mut self, id: DocId, store: &mut dyn SharedStore, refetch: bool, now_ms: u64) {
        match id {
            DocId::Jwks => self.jwks.as_mut().map(|d| d.defer(store, refetch, now_ms)),
            DocId::Discovery => self
                .discovery
                .as_mut()
                .map(|d| d.defer(store, false, now_ms)),
            DocId::Revocation => self
                .revocation
                .as_mut()
                .map(|d| d.defer(store, false, now_ms)),
        };
    }

    /// Which document callout `token` fetches, if it is one of this VM's.
    pub fn owner_of(&self, token: u32) -> Option<DocId> {
        if self.jwks.as_ref().is_some_and(|d| d.owns(token)) {
            Some(DocId::Jwks)
        } else if self.discovery.as_ref().is_some_and(|d| d.owns(token)) {
            Some(DocId::Discovery)
        } else if self.revocation.as_ref().is_some_and(|d| d.owns(token)) {
            Some(DocId::Revocation)
        } else {
            None
        }
    }

    /// Handles the answer of callout `token` for document `id`.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &mut self,
        id: DocId,
        store: &mut dyn SharedStore,
        owner: u64,
        token: u32,
        answer: Answer,
        now_ms: u64,
        jitter: f64,
    ) -> Option<Finished> {
        let done = match id {
            DocId::Jwks => self
                .jwks
                .as_mut()
                .map(|d| d.finish(store, owner, token, answer, now_ms, jitter)),
            DocId::Discovery => self
                .discovery
                .as_mut()
                .map(|d| d.finish(store, owner, token, answer, now_ms, jitter)),
            DocId::Revocation => self
                .revocation
                .as_mut()
                .map(|d| d.finish(store, owner, token, answer, now_ms, jitter)),
        };
        self.follow_discovery();
        done
    }

    /// Context `context` went away: give back the leases of its callouts.
    pub fn abandon(&mut self, store: &mut dyn SharedStore, owner: u64, context: u32) {
        if let Some(d) = &mut self.jwks {
            d.abandon(store, owner, context);
        }
        if let Some(d) = &mut self.discovery {
            d.abandon(store, owner, context);
        }
        if let Some(d) = &mut self.revocation {
            d.abandon(store, owner, context);
        }
    }

    /// Forgets callouts the host never answered.
    pub fn expire_inflight(&mut self, now_ms: u64) {
        if let Some(d) = &mut self.jwks {
            d.expire_inflight(now_ms);
        }
        if let Some(d) = &mut self.discovery {
            d.expire_inflight(now_ms);
        }
        if let Some(d) = &mut self.revocation {
            d.expire_inflight(now_ms);
        }
    }

    /// This VM's callouts that may still be fetching any of the provider's documents (the
    /// root's and its requests', including those of requests that went away).
    pub fn inflight(&self) -> usize {
        self.jwks.as_ref().map_or(0, |d| d.fetching())
            + self.discovery.as_ref().map_or(0, |d| d.fetching())
            + self.revocation.as_ref().map_or(0, |d| d.fetching())
    }

    /// True when an unknown-`kid` refetch of the JWKS would not be rate limited now (as of
    /// the lease last read).
    pub fn refetch_window_open(&self, now_ms: u64) -> bool {
        self.jwks
            .as_ref()
            .is_some_and(|d| d.refetch_window_open_now(now_ms))
    }

    /// The callout timeout (how long requests wait for this provider).
    pub fn timeout_ms(&self) -> u64 {
        self.jwks.as_ref().map_or(0, |d| d.policy.timeout_ms)
    }

    /// What a request may do with this provider's keys now.
    pub fn key_state(&self, req: &RequestView<'_>, provider: usize) -> KeyState<'_> {
        let now = req.now_ms;
        let can_wait =
            |timeout_ms: u64| !req.no_wait && now < req.started_ms.saturating_add(timeout_ms);
        // A fetched revocation list is part of trusting a token: none yet, no verdict yet.
        let revoked = match &self.revocation {
            None => None,
            Some(r) => match r.value() {
                Some(list) => Some(&**list),
                None if can_wait(r.policy.timeout_ms) && !r.hopeless(now) => {
                    return KeyState::Pending
                }
                None => return KeyState::Unavailable,
            },
        };
        if let Some(set) = &self.local {
            return KeyState::Ready {
                keys: set,
                version: 1,
                refetch_allowed: false,
                revoked,
            };
        }
        let Some(jwks) = &self.jwks else {
            return KeyState::Unavailable;
        };
        match jwks.value() {
            Some(set) if jwks.usable(now) => {
                let already = req.refetched.get(provider).copied().unwrap_or(true);
                KeyState::Ready {
                    keys: set,
                    version: jwks.generation(),
                    refetch_allowed: !already && jwks.refetch_possible(now),
                    revoked,
                }
            }
            // Keys that expired while the endpoint keeps failing are not coming back within a
            // request's wait: answer 503 at once rather than after timeout_ms.
            _ if jwks.hopeless(now) => KeyState::Unavailable,
            _ if can_wait(jwks.policy.timeout_ms) => KeyState::Pending,
            _ => KeyState::Unavailable,
        }
    }
}
