//! One fetched document of one provider as one VM holds it, and the policy of fetching it:
//! when it is fresh, stale or expired; who fetches (the lease); what a fetch's answer does;
//! how VMs learn of each other's fetches (versions in shared data).

use super::content::Content;
use super::record::{Lease, Record};
use super::store::{self, Names, Published, SharedStore};
use crate::config::Endpoint;
use std::rc::Rc;

/// How a document is fetched and cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The callout's upstream (cluster name, or `host:port`).
    pub cluster: String,
    /// Callout timeout; also how long a request waits for a document.
    pub timeout_ms: u64,
    /// Refresh period (jittered down by up to 10%).
    pub cache_duration_ms: u64,
    /// How long past `fetched_at + cache_duration` a document is served while fetches fail.
    pub max_stale_ms: u64,
    /// Minimum time between answered unknown-`kid` refetches (`None`: refetches not allowed).
    pub min_refetch_ms: Option<u64>,
}

/// How usable a document is at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Nothing was ever loaded.
    Empty,
    /// Within the refresh period.
    Fresh,
    /// Past the refresh time: serve, and fetch.
    Refresh,
    /// Past `fetched_at + cache_duration`, within `max_stale`: serve while fetches fail.
    Stale,
    /// Past `max_stale`: do not serve.
    Expired,
}

/// The callout to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    /// Upstream.
    pub cluster: String,
    /// `:scheme`: hosts without clusters (nginx) choose TLS by it.
    pub scheme: &'static str,
    /// `:authority`.
    pub authority: String,
    /// `:path`.
    pub path: String,
    /// Timeout.
    pub timeout_ms: u64,
}

/// The answer to "may this VM fetch now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Yes: make this callout, then report it with [`Doc::started`] or [`Doc::not_started`].
    Go(Callout),
    /// Another fetch is in flight (this VM's or another's): wait for it.
    InFlight,
    /// Failures are backing off: not yet.
    BackingOff,
    /// An unknown-`kid` refetch is not allowed yet (`min_refetch_interval_s`).
    RateLimited,
    /// Not possible: no location known yet (discovery pending) or shared data refused.
    Unavailable,
}

/// A callout of this VM in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// The host's callout token.
    pub token: u32,
    /// The HTTP context that made it (its answer goes there), or `None` for the root.
    pub context: Option<u32>,
    /// Whether it holds the shared lease (or is a request's own fetch on a portable host).
    pub leased: bool,
    /// An unknown-`kid` refetch (answered, it spends the window).
    pub refetch: bool,
    /// When it was dispatched.
    pub started_ms: u64,
    /// The refetch window this request's own refetch claimed (portable hosts): given back if
    /// no answer comes.
    pub claim: Option<Claim>,
}

/// A refetch window claimed in the shared lease by a request's own refetch, before its callout
/// (hosts that cannot resume a request from the root): concurrent requests on every worker see
/// the window spent at once. A refetch that gets no answer gives it back (contract: only an
/// answered refetch spends the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// `last_refetch_ms` before the claim.
    pub prev_ms: u64,
    /// The `last_refetch_ms` the claim wrote.
    pub at_ms: u64,
}

/// The answer of a callout, as the host reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A response with this status (if it had one) and body.
    Response {
        /// `:status`, when the host had one.
        status: Option<u32>,
        /// The body (empty when over the size limit; see `too_large`).
        body: Vec<u8>,
        /// The body was larger than 1 MiB and was not read.
        too_large: bool,
    },
    /// No response: connection refused or reset, timeout, unknown upstream (the host's words).
    NoResponse(String),
}

/// Why a fetch failed (the old document stays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No HTTP response reached us (with what the host said).
    NoResponse(String),
    /// The IdP answered with a status other than 200.
    Status(u32),
    /// A response without `:status` (cut off before the headers).
    NoStatus,
    /// The body is over 1 MiB.
    TooLarge,
    /// The body is unusable.
    Invalid(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::NoResponse(why) => write!(f, "no response ({why})"),
            FetchError::Status(s) => write!(f, "the endpoint answered status {s}"),
            FetchError::NoStatus => f.write_str("response cut off before its status"),
            FetchError::TooLarge => f.write_str("response larger than 1048576 bytes"),
            FetchError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for FetchError {}

/// What [`Doc::finish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The fetch's result.
    pub result: Result<(), FetchError>,
    /// Log lines from parsing (skipped keys).
    pub warnings: Vec<String>,
    /// The version now held, when the fetch succeeded.
    pub version: u64,
    /// Shared data refused the new record (this VM still uses it).
    pub unpublished: bool,
}

/// One document of one provider in one VM.
#[derive(Debug)]
pub struct Doc<T> {
    /// Its shared-data names.
    pub names: Names,
    /// How it is fetched.
    pub policy: Policy,
    /// Where it is fetched from (`None`: not known yet, e.g. awaiting discovery).
    pub endpoint: Option<Endpoint>,
    issuer: String,
    value: Option<Rc<T>>,
    body_fingerprint: u64,
    /// Shared version of `value` (0: none, or a fetch of this VM that shared data refused).
    version: u64,
    /// Highest version ever seen in shared data: never go back to below it.
    seen: u64,
    fetched_at_ms: u64,
    refresh_at_ms: u64,
    /// Bumped whenever the content changes: verified-token cache entries are tied to it.
    generation: u64,
    /// Bumped by every successful fetch (own or another VM's): what waiters wait for.
    events: u64,
    /// The lease as last read.
    pub lease: Lease,
    /// This VM's callouts in flight.
    pub inflight: Vec<InFlight>,
    /// When each callout of a request that went away (the client hung up) was made: the host
    /// may still be fetching, so it counts toward the cold-fetch bound until it would have
    /// timed out, and hanging up cannot open room for more fetches.
    abandoned: Vec<u64>,
    pub(super) polls: u32,
    /// When a request last looked at the hint ([`Doc::catch_up`]).
    looked_ms: Option<u64>,
    /// The window claimed by the last [`Begin::Go`], until [`Doc::started`] or
    /// [`Doc::not_started`] takes it.
    claim: Option<Claim>,
}

/// Every this many ticks the record itself is read, even if the hint did not move (a
/// publisher that died between writing the record and the hint).
const FULL_READ_EVERY: u32 = 50;

fn fingerprint(body: &[u8]) -> u64 {
    // FNV-1a; equality of bodies is what matters, and a collision only keeps an old
    // generation for identical-looking content.
    body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) ^ (body.len() as u64).rotate_left(32)
}

impl<T: Content> Doc<T> {
    /// A document not fetched yet.
    pub fn new(names: Names, policy: Policy, endpoint: Option<Endpoint>, issuer: &str) -> Self {
        Doc {
            names,
            policy,
            endpoint,
            issuer: issuer.to_owned(),
            value: None,
            body_fingerprint: 0,
            version: 0,
            seen: 0,
            fetched_at_ms: 0,
            refresh_at_ms: 0,
            generation: 0,
            events: 0,
            lease: Lease::default(),
            inflight: Vec::new(),
            abandoned: Vec::new(),
            polls: 0,
            looked_ms: None,
            claim: None,
        }
    }

    /// The parsed document, when one is loaded (whatever its freshness).
    pub fn value(&self) -> Option<&Rc<T>> {
        self.value.as_ref()
    }

    /// Changes whenever the content does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Changes whenever a fetch succeeds.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The shared version held.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// How usable the loaded document is at `now_ms`.
    pub fn freshness(&self, now_ms: u64) -> Freshness {
        if self.value.is_none() {
            return Freshness::Empty;
        }
        let expires = self
            .fetched_at_ms
            .saturating_add(self.policy.cache_duration_ms);
        if now_ms < self.refresh_at_ms {
            Freshness::Fresh
        } else if now_ms < expires {
            Freshness::Refresh
        } else if now_ms < expires.saturating_add(self.policy.max_stale_ms) {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }

    /// True when the loaded document may be used.
    pub fn usable(&self, now_ms: u64) -> bool {
        !matches!(
            self.freshness(now_ms),
            Freshness::Empty | Freshness::Expired
        )
    }

    /// True while an unknown-`kid` refetch may start or is in flight (a request may wait for it).
    pub fn refetch_possible(&self, now_ms: u64) -> bool {
        self.policy.min_refetch_ms.is_some()
            && (self.lease.held(now_ms) || self.refetch_window_open(&self.lease, now_ms))
    }

    /// True when the rate limit lets an unknown-`kid` refetch start now (as of the lease
    /// last read).
    pub fn refetch_window_open_now(&self, now_ms: u64) -> bool {
        self.refetch_window_open(&self.lease, now_ms)
    }

    /// The rate limit: `min_refetch_interval_s` since the last answered refetch.
    fn refetch_window_open(&self, lease: &Lease, now_ms: u64) -> bool {
        match self.policy.min_refetch_ms {
            None => false,
            Some(min) => {
                lease.last_refetch_ms == 0 || now_ms >= lease.last_refetch_ms.saturating_add(min)
            }
        }
    }

    /// True when fetches are failing and nothing usable is left: waiting would not help.
    pub fn hopeless(&self, now_ms: u64) -> bool {
        self.freshness(now_ms) == Freshness::Expired && self.lease.failures > 0
    }

    /// Installs a document: a new generation only if the content differs.
    fn install(&mut self, value: T, body: &[u8], version: u64, fetched: u64, refresh: u64) {
        let fp = fingerprint(body);
        if self.value.is_none() || fp != self.body_fingerprint {
            self.generation = self.generation.wrapping_add(1);
        }
        self.body_fingerprint = fp;
        self.value = Some(Rc::new(value));
        self.version = version;
        self.seen = self.seen.max(version);
        self.fetched_at_ms = fetched;
        self.refresh_at_ms = refresh;
        self.events = self.events.wrapping_add(1);
    }

    /// Loads a newer record another VM published. Returns true when something new arrived;
    /// warnings are the parse's (the publisher logged them already, so usually ignored).
    pub fn sync(&mut self, store: &mut dyn SharedStore) -> bool {
        if let Some((lease, _)) = store::read_lease(store, &self.names) {
            self.lease = lease;
        }
        self.polls = self.polls.wrapping_add(1);
        let hinted = store::hint(store, &self.names);
        if hinted <= self.seen && self.polls % FULL_READ_EVERY != 0 {
            return false;
        }
        let Some(rec) = store::read_record(store, &self.names) else {
            return false;
        };
        self.adopt(rec)
    }

    /// Adopts a record another VM published since this VM last looked, when the hint names
    /// one: the per-request check that keeps a VM from deciding with a key set another VM has
    /// already replaced (the tick alone would leave a window of up to its period in which a
    /// removed key still verifies here). One read of a short value, no lease, no poll counted,
    /// and at most once per millisecond: under load most requests share the look of one just
    /// before them, and the window left is below a millisecond, the order of a request that
    /// was already being decided when the other VM published.
    pub fn catch_up(&mut self, store: &dyn SharedStore, now_ms: u64) -> bool {
        if self.looked_ms == Some(now_ms) {
            return false;
        }
        self.looked_ms = Some(now_ms);
        if store::hint(store, &self.names) <= self.seen {
            return false;
        }
        match store::read_record(store, &self.names) {
            Some(rec) => self.adopt(rec),
            None => false,
        }
    }

    /// Takes `rec` if it is newer than anything seen; parse failures are remembered as seen.
    fn adopt(&mut self, rec: Record) -> bool {
        if rec.version <= self.seen {
            return false;
        }
        self.seen = self.seen.max(rec.version);
        match T::parse(&rec.body, &self.issuer) {
            Ok((value, _)) => {
                self.install(
                    value,
                    &rec.body,
                    rec.version,
                    rec.fetched_at_ms,
                    rec.refresh_at_ms,
                );
                true
            }
            // A record this build cannot parse: keep what is held, do not retry it every tick.
            Err(_) => false,
        }
    }

    /// Whether the root should fetch now: nothing loaded, due for refresh, stale, or a
    /// failed refetch wants a retry — and no fetch in flight. Paused requests add nothing:
    /// what they wait for is one of these (a fresh document is never fetched for them).
    pub fn due(&self, now_ms: u64) -> bool {
        if self.endpoint.is_none() || !self.lease.available(now_ms) || !self.inflight.is_empty() {
            return false;
        }
        self.lease.refetch || !matches!(self.freshness(now_ms), Freshness::Fresh)
    }

    /// Asks for a fetch. `shared`: take the lease (one fetch across VMs); otherwise a
    /// request's own fetch on a host that cannot resume it from elsewhere (rate limit and
    /// backoff still apply, read from the lease).
    pub fn begin(
        &mut self,
        store: &mut dyn SharedStore,
        owner: u64,
        now_ms: u64,
        refetch: bool,
        shared: bool,
    ) -> Begin {
        self.claim = None;
        // A claim loses a CAS race only to another VM's write in between: read again.
        for _ in 0..3 {
            if let Some(b) = self.begin_once(store, owner, now_ms, refetch, shared) {
                return b;
            }
        }
        Begin::Unavailable
    }

    /// One attempt of [`Doc::begin`]; `None`: the lease moved under a claim, try again.
    fn begin_once(
        &mut self,
        store: &mut dyn SharedStore,
        owner: u64,
        now_ms: u64,
        refetch: bool,
        shared: bool,
    ) -> Option<Begin> {
        let Some(endpoint) = self.endpoint.clone() else {
            return Some(Begin::Unavailable);
        };
        let Some((lease, cas)) = store::read_lease(store, &self.names) else {
            return Some(Begin::Unavailable);
        };
        self.lease = lease;
        // A fetch in flight may bring what the request needs: waiting for it is no new refetch.
        // (A request's own fetch cannot wait for another's: nothing would wake it.)
        if shared && lease.held(now_ms) {
            return Some(Begin::InFlight);
        }
        if refetch && !self.refetch_window_open(&lease, now_ms) {
            return Some(Begin::RateLimited);
        }
        // A request's own fetch goes beside another VM's fetch in flight (it could not be woken
        // by it), but never during a backoff.
        if !lease.available(now_ms) && (shared || !lease.held(now_ms)) {
            if refetch && !lease.refetch {
                // Remember that a refetch is wanted: the root retries it when backoff ends.
                let wanted = Lease {
                    refetch: true,
                    ..lease
                };
                if store::write_lease(store, &self.names, &wanted, cas) {
                    self.lease = wanted;
                }
            }
            return Some(Begin::BackingOff);
        }
        if shared {
            let taken = lease.taken(owner, now_ms, self.policy.timeout_ms, refetch);
            if !store::write_lease(store, &self.names, &taken, cas) {
                return Some(Begin::InFlight);
            }
            self.lease = taken;
        } else if refetch {
            // A request's own refetch cannot be waited for by the others, so the window is
            // claimed now, by CAS, before the callout: every concurrent request on every worker
            // then finds it spent (checking without claiming let each worker's requests refetch).
            // It is the refetch a request that could not wait left to the root: taken here.
            let at_ms = now_ms.max(1);
            let claimed = Lease {
                last_refetch_ms: at_ms,
                refetch: false,
                ..lease
            };
            if !store::write_lease(store, &self.names, &claimed, cas) {
                return None;
            }
            self.lease = claimed;
            self.claim = Some(Claim {
                prev_ms: lease.last_refetch_ms,
                at_ms,
            });
        }
        Some(Begin::Go(Callout {
            cluster: self.policy.cluster.clone(),
            scheme: if endpoint.uri.starts_with("https://") {
                "https"
            } else {
                "http"
            },
            authority: endpoint.authority,
            path: endpoint.path,
            timeout_ms: self.policy.timeout_ms,
        }))
    }

    /// The callout of a [`Begin::Go`] is out.
    pub fn started(
        &mut self,
        token: u32,
        context: Option<u32>,
        shared: bool,
        refetch: bool,
        now_ms: u64,
    ) {
        let claim = if refetch && !shared {
            self.claim.take()
        } else {
            None
        };
        self.inflight.push(InFlight {
            token,
            context,
            leased: shared,
            refetch,
            started_ms: now_ms,
            claim,
        });
    }

    /// The callout of a [`Begin::Go`] could not be made: a failed fetch.
    pub fn not_started(
        &mut self,
        store: &mut dyn SharedStore,
        owner: u64,
        shared: bool,
        now_ms: u64,
        jitter: f64,
    ) {
        if shared {
            self.release(store, owner, |l| l.failed(now_ms, jitter));
        }
        if let Some(claim) = self.claim.take() {
            self.give_back(store, claim);
        }
    }

    /// A claimed refetch window whose refetch got no answer is given back, unless the lease
    /// moved on (another refetch answered since).
    fn give_back(&mut self, store: &mut dyn SharedStore, claim: Claim) {
        for _ in 0..3 {
            let Some((lease, cas)) = store::read_lease(store, &self.names) else {
                return;
            };
            if lease.last_refetch_ms != claim.at_ms {
                self.lease = lease;
                return;
            }
            let back = Lease {
                last_refetch_ms: claim.prev_ms,
                ..lease
            };
            if store::write_lease(store, &self.names, &back, cas) {
                self.lease = back;
                return;
            }
        }
    }

    /// The callout of a [`Begin::Go`] will not be made: a request that cannot wait hands it
    /// to the root. Its claimed window is given back; a refetch is marked wanted in the lease,
    /// so the root's next tick makes it (and spends the window when it is answered).
    pub fn defer(&mut self, store: &mut dyn SharedStore, refetch: bool, now_ms: u64) {
        if let Some(claim) = self.claim.take() {
            self.give_back(store, claim);
        }
        if !refetch {
            return;
        }
        for _ in 0..3 {
            let Some((lease, cas)) = store::read_lease(store, &self.names) else {
                return;
            };
            if lease.refetch || !self.refetch_window_open(&lease, now_ms) {
                self.lease = lease;
                return;
            }
            let wanted = Lease {
                refetch: true,
                ..lease
            };
            if store::write_lease(store, &self.names, &wanted, cas) {
                self.lease = wanted;
                return;
            }
        }
    }

    /// True when `token` is one of this VM's callouts for this document.
    pub fn owns(&self, token: u32) -> bool {
        self.inflight.iter().any(|f| f.token == token)
    }

    fn release(&mut self, store: &mut dyn SharedStore, owner: u64, next: impl Fn(&Lease) -> Lease) {
        // With the CAS just read: if the lease moved on (lapsed, taken over), leave it alone.
        if let Some((lease, cas)) = store::read_lease(store, &self.names) {
            if lease.owner == owner {
                let n = next(&lease);
                if store::write_lease(store, &self.names, &n, cas) {
                    self.lease = n;
                    return;
                }
            }
            self.lease = lease;
        }
    }

    /// Handles the answer to callout `token`: accept and publish a good document, or back off.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &mut self,
        store: &mut dyn SharedStore,
        owner: u64,
        token: u32,
        answer: Answer,
        now_ms: u64,
        jitter: f64,
    ) -> Finished {
        let (leased, refetch, started_ms, claim) =
            match self.inflight.iter().position(|f| f.token == token) {
                Some(i) => {
                    let f = self.inflight.swap_remove(i);
                    (f.leased, f.refetch, f.started_ms, f.claim)
                }
                None => (false, false, now_ms, None),
            };
        // A document is as old as the request that fetched it: an answer that was slow to
        // arrive must not overwrite one fetched after it started (removed keys stay removed).
        let fetched_at = started_ms.min(now_ms);
        let parsed = match answer {
            Answer::NoResponse(why) => Err(FetchError::NoResponse(why)),
            Answer::Response {
                too_large: true, ..
            } => Err(FetchError::TooLarge),
            Answer::Response { status: None, .. } => Err(FetchError::NoStatus),
            Answer::Response {
                status: Some(200),
                body,
                ..
            } => T::parse(&body, &self.issuer)
                .map(|(v, w)| (v, w, body))
                .map_err(FetchError::Invalid),
            Answer::Response {
                status: Some(s), ..
            } => Err(FetchError::Status(s)),
        };
        let (value, warnings, body) = match parsed {
            Ok(ok) => ok,
            Err(e) => {
                if leased {
                    self.release(store, owner, |l| l.failed(now_ms, jitter));
                } else {
                    // A request's own fetch (portable hosts): the failure still backs off, and
                    // a refetch without an answer spends no window.
                    self.bump_shared_failure(store, now_ms, jitter);
                    if let Some(claim) = claim {
                        self.give_back(store, claim);
                    }
                }
                return Finished {
                    result: Err(e),
                    warnings: Vec::new(),
                    version: self.version,
                    unpublished: false,
                };
            }
        };
        let refresh_at = refresh_at(&self.policy, fetched_at, jitter);
        let mut unpublished = false;
        match store::publish(store, &self.names, fetched_at, refresh_at, &body, self.seen) {
            Published::As(v) => self.install(value, &body, v, fetched_at, refresh_at),
            Published::Superseded(rec) => {
                // Another VM fetched later: take its record; ours only if that one is unusable.
                let v = rec.version;
                self.adopt(rec);
                if self.version < v {
                    self.install(value, &body, 0, fetched_at, refresh_at);
                }
            }
            // Use the document here, but claim no shared version (0 is never published):
            // a version number stands for one content in every VM.
            Published::Failed => {
                unpublished = true;
                self.install(value, &body, 0, fetched_at, refresh_at);
            }
        }
        if leased {
            self.release(store, owner, |l| l.succeeded(now_ms));
        } else if refetch {
            // Only a refetch spends the window; a request's first fetch (cold start) does not.
            self.mark_refetch_answered(store, now_ms);
        }
        Finished {
            result: Ok(()),
            warnings,
            version: self.version,
            unpublished,
        }
    }

    /// A portable host's own fetch failed: count it in the lease so others back off too.
    fn bump_shared_failure(&mut self, store: &mut dyn SharedStore, now_ms: u64, jitter: f64) {
        if let Some((lease, cas)) = store::read_lease(store, &self.names) {
            if !lease.held(now_ms) {
                let n = lease.failed(now_ms, jitter);
                if store::write_lease(store, &self.names, &n, cas) {
                    self.lease = n;
                }
            }
        }
    }

    /// A portable host's own fetch succeeded: it spends the refetch window like a shared one.
    fn mark_refetch_answered(&mut self, store: &mut dyn SharedStore, now_ms: u64) {
        if let Some((lease, cas)) = store::read_lease(store, &self.names) {
            if !lease.held(now_ms) {
                let n = Lease {
                    refetch: true,
                    ..lease
                }
                .succeeded(now_ms);
                if store::write_lease(store, &self.names, &n, cas) {
                    self.lease = n;
                }
            }
        }
    }

    /// The HTTP context `context` went away: its callouts will never be answered here. A
    /// leased one gives the lease back at once, counting no failure and spending no window,
    /// so the next tick (or request) fetches again.
    pub fn abandon(&mut self, store: &mut dyn SharedStore, owner: u64, context: u32) {
        let (gone, kept): (Vec<InFlight>, Vec<InFlight>) = self
            .inflight
            .drain(..)
            .partition(|f| f.context == Some(context));
        self.inflight = kept;
        self.abandoned.extend(gone.iter().map(|f| f.started_ms));
        if gone.iter().any(|f| f.leased) {
            self.release(store, owner, Lease::abandoned);
        }
        for claim in gone.iter().filter_map(|f| f.claim) {
            self.give_back(store, claim);
        }
    }

    /// Forgets callouts that were never answered (the host lost them): past their timeout
    /// and a grace second, as the lease itself lapses.
    pub fn expire_inflight(&mut self, now_ms: u64) {
        let limit = self.policy.timeout_ms.saturating_add(2000);
        self.inflight
            .retain(|f| now_ms < f.started_ms.saturating_add(limit));
        self.abandoned
            .retain(|started| now_ms < started.saturating_add(limit));
    }

    /// This VM's callouts that may still be fetching: in flight, or made by a request that
    /// went away since.
    pub fn fetching(&self) -> usize {
        self.inflight.len() + self.abandoned.len()
    }
}

/// When a document fetched at `fetched_at_ms` should be refreshed; `jitter` in [0, 1)
/// takes up to 10% off the period so proxies do not refresh in lockstep.
pub fn refresh_at(policy: &Policy, fetched_at_ms: u64, jitter: f64) -> u64 {
    let period = policy.cache_duration_ms;
    let early = (period as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as u64;
    fetched_at_ms.saturating_add(period - early.min(period))
}
