//! The fetch policy under the faults the trust issue lists, with two or more VMs sharing one
//! in-memory store that has a host's semantics.

use super::doc::FetchError;
use super::store::MemoryStore;
use super::*;
use crate::authenticator::KeyState;
use crate::config;

const KEY_A: &str = r#"{"kty":"EC","crv":"P-256","kid":"a","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
const KEY_B: &str = r#"{"kty":"EC","crv":"P-256","kid":"b","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

fn jwks(keys: &[&str]) -> Vec<u8> {
    format!("{{\"keys\":[{}]}}", keys.join(",")).into_bytes()
}

fn cfg() -> config::Config {
    config::parse(
        br#"{"providers":[{"name":"corp","issuer":"https://idp/",
            "remote_jwks":{"cluster":"idp","uri":"http://idp/jwks","timeout_ms":1000,
              "cache_duration_s":100,"min_refetch_interval_s":30,"max_stale_s":50}}]}"#,
    )
    .unwrap()
}

fn ok(body: Vec<u8>) -> Answer {
    Answer::Response {
        status: Some(200),
        body,
        too_large: false,
    }
}

fn refused() -> Answer {
    Answer::NoResponse("connection refused".into())
}

struct Vm {
    cache: KeyCache,
    next_token: u32,
}

impl Vm {
    fn new(owner: u64) -> Vm {
        Vm {
            cache: KeyCache::new(&cfg(), owner),
            next_token: owner as u32 * 1000,
        }
    }

    /// Dispatches every fetch of a tick; returns their tokens.
    fn tick(&mut self, s: &mut MemoryStore, now: u64) -> (Vec<u32>, Vec<(u32, ())>) {
        let t = self.cache.tick(s, now);
        let mut tokens = Vec::new();
        for f in &t.fetches {
            self.next_token += 1;
            self.cache
                .dispatched(s, f, Some(self.next_token), None, now, 0.5);
            tokens.push(self.next_token);
        }
        (tokens, t.wake)
    }

    /// A request of context `ctx` that needs `need`: the fetches it makes itself; paused
    /// when it is not decided now.
    fn request(&mut self, s: &mut MemoryStore, ctx: u32, need: Need, now: u64) -> (Vec<u32>, bool) {
        let (tokens, decide_now) = self.plan(s, ctx, need, true, now);
        if !decide_now {
            assert!(self.cache.pause(ctx, (), &[need], now, now));
        }
        (tokens, decide_now)
    }

    /// A request on a portable host (nginx): the fetches it makes itself, each dispatched.
    fn own(&mut self, s: &mut MemoryStore, ctx: u32, need: Need, now: u64) -> (Vec<u32>, bool) {
        self.plan(s, ctx, need, false, now)
    }

    /// Plans request `ctx` and dispatches the fetches of the plan: their tokens, and whether
    /// it is decided now.
    fn plan(
        &mut self,
        s: &mut MemoryStore,
        ctx: u32,
        need: Need,
        resume_from_root: bool,
        now: u64,
    ) -> (Vec<u32>, bool) {
        let mut refetched = vec![false];
        let plan = self
            .cache
            .plan(s, &[need], &mut refetched, resume_from_root, now);
        let mut tokens = Vec::new();
        for f in &plan.fetches {
            self.next_token += 1;
            self.cache
                .dispatched(s, f, Some(self.next_token), Some(ctx), now, 0.5);
            tokens.push(self.next_token);
        }
        (tokens, plan.decide_now)
    }

    fn state(&self, now: u64, refetched: bool) -> String {
        let flags = [refetched];
        let view = RequestView {
            started_ms: now,
            refetched: &flags,
            no_wait: false,
            now_ms: now,
        };
        match self.cache.providers[0].key_state(&view, 0) {
            KeyState::Ready {
                keys,
                version,
                refetch_allowed,
                ..
            } => format!(
                "ready n={} gen={version} refetch={refetch_allowed}",
                keys.len()
            ),
            KeyState::Pending => "pending".into(),
            KeyState::Unavailable => "unavailable".into(),
        }
    }

    /// Its first keys are in and left the unknown-kid refetch window unspent.
    fn assert_first_keys_spent_no_window(&self, now: u64, why: &str) {
        assert_eq!(self.jwks().lease.last_refetch_ms, 0, "{why}");
        assert_eq!(self.state(now, false), "ready n=1 gen=1 refetch=true");
    }

    fn jwks(&self) -> &doc::Doc<crate::keys::KeySet> {
        self.cache.providers[0].jwks.as_ref().unwrap()
    }
}

/// Shared data and a VM whose first fetch (made by its first tick, at 0) brought `keys`
/// at `at_ms`: where most tests start.
fn loaded(keys: &[&str], at_ms: u64) -> (MemoryStore, Vm) {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    let (t, _) = a.tick(&mut s, 0);
    a.cache
        .answer(&mut s, t[0], ok(jwks(keys)), at_ms, 0.5)
        .unwrap();
    (s, a)
}

/// An old publisher writes its record back: version 1, keys a and b, over whatever is there.
fn write_back_version_1(s: &mut MemoryStore, names: &store::Names) {
    let old = record::Record {
        version: 1,
        fetched_at_ms: 0,
        refresh_at_ms: 95_000,
        body: jwks(&[KEY_A, KEY_B]),
    };
    let cas = s.get(&names.record).unwrap().unwrap().1;
    s.set(&names.record, &old.encode(), Some(cas)).unwrap();
}

#[test]
fn one_fetch_serves_every_vm() {
    let mut s = MemoryStore::default();
    let (mut a, mut b) = (Vm::new(1), Vm::new(2));
    let (ta, _) = a.tick(&mut s, 0);
    let (tb, _) = b.tick(&mut s, 0);
    assert_eq!((ta.len(), tb.len()), (1, 0), "the lease lets one VM fetch");
    let (_, _, done) = a
        .cache
        .answer(&mut s, ta[0], ok(jwks(&[KEY_A])), 10, 0.5)
        .unwrap();
    assert_eq!(done.result, Ok(()));
    assert_eq!(done.version, 1);
    assert!(b.cache.sync(&mut s));
    assert_eq!(b.state(20, false), "ready n=1 gen=1 refetch=true");
    assert_eq!(b.tick(&mut s, 20).0.len(), 0, "fresh: nothing to fetch");
}

#[test]
fn a_cut_off_or_refused_answer_keeps_the_old_keys_and_backs_off() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    // Due at ~95 s: the refresh is cut off before its status.
    let (t, _) = a.tick(&mut s, 96_000);
    assert_eq!(t.len(), 1);
    let cut = Answer::Response {
        status: None,
        body: Vec::new(),
        too_large: false,
    };
    let (_, _, done) = a.cache.answer(&mut s, t[0], cut, 96_010, 1.0).unwrap();
    assert_eq!(done.result, Err(FetchError::NoStatus));
    assert_eq!(a.state(96_020, false), "ready n=1 gen=1 refetch=true");
    assert!(a.tick(&mut s, 96_300).0.is_empty(), "backing off 0.5 s");
    let (t, _) = a.tick(&mut s, 96_511);
    assert_eq!(t.len(), 1, "retried after one backoff step");
    a.cache
        .answer(&mut s, t[0], refused(), 96_600, 1.0)
        .unwrap();
    assert!(a.tick(&mut s, 97_000).0.is_empty(), "second step is 1 s");
    assert_eq!(a.tick(&mut s, 97_601).0.len(), 1);
}

#[test]
fn stale_keys_are_served_until_max_stale_then_unavailable_at_once() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    let mut now = 95_000;
    // The endpoint fails from the first refresh on.
    while now < 160_000 {
        for t in a.tick(&mut s, now).0 {
            a.cache.answer(&mut s, t, refused(), now, 0.5).unwrap();
        }
        let expect_ready = now < 150_000;
        assert_eq!(
            a.state(now, false).starts_with("ready"),
            expect_ready,
            "{now}"
        );
        now += 250;
    }
    assert_eq!(a.state(160_000, false), "unavailable", "hopeless: no wait");
}

#[test]
fn a_failed_refetch_spends_no_window_and_is_retried() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    // A token with a new kid: refetch, which hits the IdP restarting.
    let (t, now_decide) = a.request(&mut s, 7, Need::Refetch(0), 1000);
    assert_eq!((t.len(), now_decide), (1, false));
    a.cache.answer(&mut s, t[0], refused(), 1010, 1.0).unwrap();
    assert_eq!(a.jwks().lease.last_refetch_ms, 0, "window not spent");
    assert!(
        a.cache.tick(&mut s, 1100).wake.is_empty(),
        "a failure wakes nobody"
    );
    // One backoff step later the root retries the refetch by itself.
    let (t, _) = a.tick(&mut s, 1511);
    assert_eq!(t.len(), 1);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A, KEY_B])), 1520, 0.5)
        .unwrap();
    let (_, wake) = a.tick(&mut s, 1600);
    assert_eq!(wake, vec![(7, ())], "woken by the new keys");
    assert_eq!(a.state(1600, false), "ready n=2 gen=2 refetch=false");
    assert_eq!(
        a.jwks().lease.last_refetch_ms,
        1520,
        "an answered refetch spends it"
    );
    assert_eq!(a.state(31_600, false), "ready n=2 gen=2 refetch=true");
}

#[test]
fn a_holder_that_goes_away_gives_the_lease_back() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    let mut b = Vm::new(2);
    b.cache.sync(&mut s);
    // A client sends a random kid and hangs up mid-refetch.
    let (t, _) = a.request(&mut s, 9, Need::Refetch(0), 1000);
    assert_eq!(t.len(), 1);
    a.cache.forget(&mut s, 9);
    // The next token of a really new key refetches at once, from either VM.
    let (t, decide_now) = b.request(&mut s, 5, Need::Refetch(0), 1001);
    assert_eq!(
        (t.len(), decide_now),
        (1, false),
        "lease free, window unspent"
    );
    b.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A, KEY_B])), 1010, 0.5)
        .unwrap();
    assert!(a.cache.sync(&mut s));
    assert_eq!(a.state(1020, false), "ready n=2 gen=2 refetch=false");
}

#[test]
fn a_callout_never_answered_lapses() {
    let mut s = MemoryStore::default();
    let (mut a, mut b) = (Vm::new(1), Vm::new(2));
    let (t, _) = a.tick(&mut s, 0);
    assert_eq!(t.len(), 1);
    assert!(b.tick(&mut s, 1500).0.is_empty(), "held for timeout + 1 s");
    let (tb, _) = b.tick(&mut s, 2001);
    assert_eq!(tb.len(), 1, "then another VM takes over");
    a.cache.tick(&mut s, 4000);
    assert!(a.jwks().inflight.is_empty(), "the dead entry expired");
    // The lost answer arriving late changes nothing bad: it is no longer A's.
    assert!(a
        .cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 4001, 0.5)
        .is_none());
}

#[test]
fn a_failed_publish_claims_no_version_and_never_shadows_another() {
    let mut s = MemoryStore::default();
    let (mut a, mut b) = (Vm::new(1), Vm::new(2));
    let (t, _) = a.tick(&mut s, 0);
    s.refuse_writes = true;
    let (_, _, done) = a
        .cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 10, 0.5)
        .unwrap();
    assert!(done.unpublished);
    assert_eq!(a.jwks().version(), 0, "no shared version claimed");
    assert!(
        a.state(20, false).starts_with("ready n=1"),
        "the keys are used here"
    );
    s.refuse_writes = false;
    // B publishes different keys as version 1: A must load them, not think it has them.
    let (t, _) = b.tick(&mut s, 3000);
    b.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_B])), 3010, 0.5)
        .unwrap();
    assert!(a.cache.sync(&mut s));
    assert_eq!(a.jwks().version(), 1);
    assert!(a.jwks().value().unwrap().keys()[0].kid.as_deref() == Some("b"));
}

#[test]
fn versions_only_grow_and_removed_keys_never_come_back() {
    let (mut s, mut a) = loaded(&[KEY_A, KEY_B], 0);
    let mut b = Vm::new(2);
    b.cache.sync(&mut s);
    // Key b is removed at the IdP; A refreshes and publishes version 2.
    let (t, _) = a.tick(&mut s, 96_000);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 96_000, 0.5)
        .unwrap();
    assert!(b.cache.sync(&mut s));
    assert_eq!(b.jwks().value().unwrap().len(), 1);
    // A stale record written back (an old publisher) must not be loaded.
    let names = b.jwks().names.clone();
    write_back_version_1(&mut s, &names);
    for now in [96_100, 96_200] {
        b.cache.sync(&mut s);
        assert_eq!(b.jwks().value().unwrap().len(), 1, "{now}");
    }
    // The next publish goes above everything seen.
    let (t, _) = b.tick(&mut s, 200_000);
    b.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 200_000, 0.5)
        .unwrap();
    assert!(b.jwks().version() > 2);
}

#[test]
fn the_same_keys_refetched_keep_the_cache_generation() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    let g = a.jwks().generation();
    let (t, _) = a.tick(&mut s, 96_000);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 96_000, 0.5)
        .unwrap();
    assert_eq!(a.jwks().generation(), g, "verified tokens stay cached");
    assert_eq!(a.jwks().version(), 2);
    let (t, _) = a.tick(&mut s, 200_000);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_B])), 200_000, 0.5)
        .unwrap();
    assert_ne!(a.jwks().generation(), g, "other keys: other generation");
}

#[test]
fn cold_start_waiters_wake_on_keys_or_deadline_only() {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    let (t1, _) = a.request(&mut s, 1, Need::Keys(0), 0);
    let (t2, _) = a.request(&mut s, 2, Need::Keys(0), 10);
    assert_eq!(
        (t1.len(), t2.len()),
        (1, 0),
        "the second waits for the first's fetch"
    );
    assert_eq!(a.state(20, false), "pending");
    a.cache.answer(&mut s, t1[0], refused(), 30, 0.5).unwrap();
    assert!(
        a.cache.tick(&mut s, 100).wake.is_empty(),
        "a failure wakes nobody"
    );
    let (t, wake) = a.tick(&mut s, 600);
    assert_eq!(t.len(), 1, "the root retries for the waiters");
    assert!(wake.is_empty());
    assert_eq!(
        a.cache.tick(&mut s, 1000).wake,
        vec![(1, ())],
        "deadline of the first"
    );
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 1005, 0.5)
        .unwrap();
    assert_eq!(
        a.cache.tick(&mut s, 1006).wake,
        vec![(2, ())],
        "keys for the second"
    );
}

#[test]
fn paused_requests_are_bounded() {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    for c in 0..waiters::MAX_WAITERS as u32 {
        a.request(&mut s, c, Need::Keys(0), 0);
    }
    assert!(!a.cache.pause(99_999, (), &[Need::Keys(0)], 0, 0));
}

#[test]
fn a_rate_limited_refetch_is_decided_at_once() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    let (t, _) = a.request(&mut s, 1, Need::Refetch(0), 1000);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 1010, 0.5)
        .unwrap();
    assert_eq!(a.state(2000, false), "ready n=1 gen=1 refetch=false");
    let mut refetched = vec![false];
    let plan = a
        .cache
        .plan(&mut s, &[Need::Refetch(0)], &mut refetched, true, 2000);
    assert!(plan.decide_now && plan.fetches.is_empty());
}

#[test]
fn portable_hosts_fetch_per_request_but_share_backoff_and_the_window() {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    let mut refetched = vec![false];
    let p1 = a
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, false, 0);
    let p2 = a
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, false, 0);
    assert_eq!(
        (p1.fetches.len(), p2.fetches.len()),
        (1, 1),
        "each request its own"
    );
    a.cache
        .dispatched(&mut s, &p1.fetches[0], Some(1), Some(1), 0, 0.5);
    a.cache.answer(&mut s, 1, refused(), 5, 0.5).unwrap();
    let p3 = a
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, false, 10);
    assert!(
        p3.fetches.is_empty() && p3.decide_now,
        "backing off: decide now"
    );
}

/// Found on nginx: a root tick's cold fetch held the lease, and a request on a portable host
/// (which nothing can wake) was answered 503 at once instead of fetching for itself.
#[test]
fn a_portable_request_fetches_beside_another_vms_fetch_in_flight() {
    let mut s = MemoryStore::default();
    let mut root = Vm::new(1);
    let mut b = Vm::new(2);
    let (tokens, _) = root.tick(&mut s, 0);
    assert_eq!(tokens.len(), 1, "the root's cold fetch holds the lease");
    let mut refetched = vec![false];
    let plan = b
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, false, 5);
    assert_eq!(
        plan.fetches.len(),
        1,
        "a request that cannot wait fetches itself"
    );
    assert!(!plan.decide_now);
    // A shared-host request waits for the fetch in flight instead.
    let plan = b
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, true, 5);
    assert!(plan.fetches.is_empty() && !plan.decide_now);
    // Backoff still holds for everyone once that fetch failed.
    root.cache
        .answer(&mut s, tokens[0], refused(), 10, 0.5)
        .unwrap();
    let plan = b
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, false, 20);
    assert!(plan.fetches.is_empty() && plan.decide_now, "backing off");
}

#[test]
fn a_new_vm_uses_what_shared_data_holds_before_fetching() {
    let (mut s, _) = loaded(&[KEY_A], 0);
    // A VM of a new config (live update) gets its first request before its first tick.
    let mut b = Vm::new(2);
    let mut refetched = vec![false];
    let plan = b
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, true, 10);
    assert!(plan.fetches.is_empty() && plan.decide_now);
    assert_eq!(b.state(10, false), "ready n=1 gen=1 refetch=true");
}

// ---- behaviours found unguarded by mutation testing (tests/MUTANTS.md)

#[test]
fn a_refetch_asked_for_during_backoff_is_retried_by_the_root() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    // A refresh fails: backing off.
    let (t, _) = a.tick(&mut s, 96_000);
    a.cache
        .answer(&mut s, t[0], refused(), 96_000, 1.0)
        .unwrap();
    assert!(!a.jwks().lease.refetch, "a refresh is no refetch");
    // Meanwhile a token with a new kid: no fetch now, but the want is remembered...
    let mut refetched = vec![false];
    let plan = a
        .cache
        .plan(&mut s, &[Need::Refetch(0)], &mut refetched, true, 96_100);
    assert!(
        plan.fetches.is_empty() && !plan.decide_now,
        "waits for the retry"
    );
    assert!(a.jwks().lease.refetch, "the refetch is wanted");
    // ...and the root's retry after backoff is a refetch: answered, it spends the window.
    let (t, _) = a.tick(&mut s, 96_501);
    assert_eq!(t.len(), 1);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A, KEY_B])), 96_510, 0.5)
        .unwrap();
    assert_eq!(a.jwks().lease.last_refetch_ms, 96_510);
}

#[test]
fn a_callout_the_host_refused_backs_off() {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    let t = a.cache.tick(&mut s, 0);
    assert_eq!(t.fetches.len(), 1);
    a.cache
        .dispatched(&mut s, &t.fetches[0], None, None, 0, 1.0);
    let lease = a.jwks().lease;
    assert_eq!(
        (lease.owner, lease.failures),
        (0, 1),
        "released as a failure"
    );
    assert!(a.cache.tick(&mut s, 100).fetches.is_empty(), "backing off");
    assert_eq!(a.cache.tick(&mut s, 501).fetches.len(), 1);
}

#[test]
fn a_portable_hosts_answered_refetch_spends_the_window_too() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    let mut refetched = vec![false];
    let plan = a
        .cache
        .plan(&mut s, &[Need::Refetch(0)], &mut refetched, false, 1000);
    assert_eq!(plan.fetches.len(), 1, "its own fetch");
    a.cache
        .dispatched(&mut s, &plan.fetches[0], Some(77), Some(3), 1000, 0.5);
    a.cache
        .answer(&mut s, 77, ok(jwks(&[KEY_A, KEY_B])), 1010, 0.5)
        .unwrap();
    let lease = a.jwks().lease;
    assert_eq!(lease.last_refetch_ms, 1010);
    assert!(!lease.refetch);
    // So the next unknown kid inside the window is refused at once, on every VM.
    let mut refetched = vec![false];
    let plan = a
        .cache
        .plan(&mut s, &[Need::Refetch(0)], &mut refetched, false, 2000);
    assert!(plan.fetches.is_empty() && plan.decide_now);
}

#[test]
fn hopeless_only_when_expired_and_failing() {
    let (mut s, mut a) = loaded(&[KEY_A], 0);
    // Expired (100 s + 50 s stale) but no failure seen yet: a request may still wait.
    assert!(!a.jwks().hopeless(150_000));
    assert_eq!(a.state(150_000, false), "pending");
    let (t, _) = a.tick(&mut s, 150_000);
    a.cache
        .answer(&mut s, t[0], refused(), 150_001, 0.5)
        .unwrap();
    assert!(a.jwks().hopeless(150_002));
    assert!(!a.jwks().hopeless(149_000), "not expired yet");
    assert_eq!(a.state(150_002, false), "unavailable");
}

#[test]
fn a_late_answer_loses_to_a_newer_record_and_never_reuses_its_version() {
    let mut s = MemoryStore::default();
    let (mut a, mut b) = (Vm::new(1), Vm::new(2));
    // A's callout is out; it lapses and B fetches and publishes a newer document.
    let (ta, _) = a.tick(&mut s, 0);
    let (tb, _) = b.tick(&mut s, 2001);
    b.cache
        .answer(&mut s, tb[0], ok(jwks(&[KEY_B])), 2100, 0.5)
        .unwrap();
    // A's answer, to a callout made before B's, arrives after B's: B's record stays.
    let (_, _, done) = a
        .cache
        .answer(&mut s, ta[0], ok(jwks(&[KEY_A])), 2150, 0.5)
        .expect("still A's callout");
    assert_eq!(done.result, Ok(()));
    assert_eq!(done.version, 1, "B's version, no new one");
    let names = a.jwks().names.clone();
    let shared = store::read_record(&s, &names).unwrap();
    assert_eq!(shared.version, 1);
    assert!(
        String::from_utf8_lossy(&shared.body).contains("\"b\""),
        "B's keys in shared data"
    );
    assert_eq!(a.jwks().version(), 1);
    assert_eq!(
        a.jwks().value().unwrap().keys()[0].kid.as_deref(),
        Some("b")
    );
}

#[test]
fn the_hint_is_enough_to_see_a_new_record_and_a_missing_hint_is_caught_up() {
    let (mut s, _) = loaded(&[KEY_A], 0);
    let mut b = Vm::new(2);
    assert!(b.cache.sync(&mut s), "seen through the hint");
    assert!(!b.cache.sync(&mut s), "nothing new: nothing loaded");
    // A publisher that wrote the record but died before the hint: caught up within 50 polls.
    let rec = record::Record {
        version: 5,
        fetched_at_ms: 10,
        refresh_at_ms: 90_000,
        body: jwks(&[KEY_B]),
    };
    let names = b.jwks().names.clone();
    let cas = s.get(&names.record).unwrap().unwrap().1;
    s.set(&names.record, &rec.encode(), Some(cas)).unwrap();
    let mut seen_at = None;
    for i in 1..=60 {
        if b.cache.sync(&mut s) {
            seen_at = Some(i);
            break;
        }
    }
    let i = seen_at.expect("a record behind a stale hint is read at last");
    assert!(i > 1 && i <= 50, "{i}");
    assert_eq!(b.jwks().version(), 5);
}

#[test]
fn refresh_jitter_takes_at_most_ten_percent_off_the_period() {
    let p = doc::Policy {
        cluster: "idp".into(),
        timeout_ms: 1000,
        cache_duration_ms: 100_000,
        max_stale_ms: 0,
        min_refetch_ms: None,
    };
    assert_eq!(doc::refresh_at(&p, 5_000, 0.0), 105_000);
    assert_eq!(doc::refresh_at(&p, 5_000, 1.0), 95_000);
    assert_eq!(doc::refresh_at(&p, 5_000, 0.5), 100_000);
    assert_eq!(doc::refresh_at(&p, 5_000, 7.0), 95_000, "jitter is clamped");
}

#[test]
fn fetch_errors_say_what_happened() {
    let cases = [
        (
            FetchError::NoResponse("connection refused".into()),
            "no response (connection refused)",
        ),
        (FetchError::Status(503), "the endpoint answered status 503"),
        (FetchError::NoStatus, "response cut off before its status"),
        (FetchError::TooLarge, "response larger than 1048576 bytes"),
        (FetchError::Invalid("no usable key".into()), "no usable key"),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
}

#[test]
fn the_root_does_not_fetch_beside_a_callout_of_its_own_vm() {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    // A portable host's request has its own fetch out (no lease taken).
    let mut refetched = vec![false];
    let plan = a
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, false, 0);
    a.cache
        .dispatched(&mut s, &plan.fetches[0], Some(5), Some(9), 0, 0.5);
    assert!(a.jwks().lease.available(0), "no lease held");
    assert!(
        a.cache.tick(&mut s, 100).fetches.is_empty(),
        "one callout at a time per VM"
    );
}

#[test]
fn a_cold_start_retry_is_no_refetch_and_spends_no_window() {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    let (t, _) = a.request(&mut s, 1, Need::Keys(0), 0);
    a.cache.answer(&mut s, t[0], refused(), 10, 1.0).unwrap();
    // Another request waits during the backoff: still no refetch wanted.
    let (t2, _) = a.request(&mut s, 2, Need::Keys(0), 100);
    assert!(t2.is_empty());
    assert!(!a.jwks().lease.refetch);
    let (t, _) = a.tick(&mut s, 511);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 520, 0.5)
        .unwrap();
    a.assert_first_keys_spent_no_window(600, "a first fetch is not a refetch");
}

#[test]
fn a_newer_record_this_vm_cannot_read_does_not_hide_its_own_fetch() {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    let (t, _) = a.tick(&mut s, 0);
    // Meanwhile shared data got a newer record this build cannot parse (another version).
    let names = a.jwks().names.clone();
    let junk = record::Record {
        version: 3,
        fetched_at_ms: 500,
        refresh_at_ms: 90_000,
        body: b"not a jwks".to_vec(),
    };
    s.set(&names.record, &junk.encode(), None).unwrap();
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 600, 0.5)
        .unwrap();
    assert_eq!(
        a.jwks().value().map(|v| v.len()),
        Some(1),
        "its own keys are used"
    );
    assert_eq!(a.jwks().version(), 0, "under no shared version");
}

#[test]
fn a_portable_hosts_first_fetch_spends_no_refetch_window() {
    let mut s = MemoryStore::default();
    let mut a = Vm::new(1);
    let mut refetched = vec![false];
    let plan = a
        .cache
        .plan(&mut s, &[Need::Keys(0)], &mut refetched, false, 0);
    assert!(!plan.fetches[0].refetch);
    a.cache
        .dispatched(&mut s, &plan.fetches[0], Some(5), Some(9), 0, 0.5);
    a.cache
        .answer(&mut s, 5, ok(jwks(&[KEY_A])), 10, 0.5)
        .unwrap();
    a.assert_first_keys_spent_no_window(20, "a cold start is no refetch");
}

#[test]
fn a_request_sees_a_set_another_vm_replaced_before_its_own_tick() {
    let (mut s, mut a) = loaded(&[KEY_A, KEY_B], 0);
    let mut b = Vm::new(2);
    b.cache.sync(&mut s);
    let before = b.state(10, false);
    assert!(before.starts_with("ready n=2"), "{before}");
    // Key b is removed at the IdP; A refetches and publishes. B has not ticked since.
    let (t, _) = a.tick(&mut s, 96_000);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 96_000, 0.5)
        .unwrap();
    assert_eq!(b.state(96_010, false), before, "B still holds the old set");
    let polls = b.jwks().polls;
    assert!(
        !b.cache.catch_up(&s, std::iter::empty(), 96_010),
        "no provider in play: nothing read"
    );
    assert!(
        b.cache.catch_up(&s, [0], 96_010),
        "the hint names a newer record"
    );
    let after = b.state(96_010, false);
    assert!(after.starts_with("ready n=1"), "{after}");
    assert_ne!(
        after, before,
        "a new generation: cached tokens of the old set are void"
    );
    assert_eq!(b.jwks().polls, polls, "a request's look counts no poll");
    assert!(
        !b.cache.catch_up(&s, [0], 96_011),
        "nothing newer: nothing loaded"
    );
    assert!(
        !b.cache.catch_up(&s, [7], 96_012),
        "an unknown provider is ignored"
    );
    // A stale record written back under a lower version is never taken by a request either.
    let names = b.jwks().names.clone();
    write_back_version_1(&mut s, &names);
    let cas = s.get(&names.hint).unwrap().unwrap().1;
    s.set(&names.hint, b"9", Some(cas)).unwrap();
    assert!(!b.cache.catch_up(&s, [0], 96_020));
    assert!(b.state(96_020, false).starts_with("ready n=1"));
}

#[test]
fn requests_look_at_the_hint_at_most_once_a_millisecond() {
    let (mut s, mut a) = loaded(&[KEY_A, KEY_B], 0);
    let mut b = Vm::new(2);
    assert!(b.cache.catch_up(&s, [0], 500), "the first look loads");
    let (t, _) = a.tick(&mut s, 96_000);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_A])), 96_000, 0.5)
        .unwrap();
    assert!(
        b.cache.catch_up(&s, [0], 96_001),
        "seen in the next millisecond"
    );
    let (t, _) = a.tick(&mut s, 192_000);
    a.cache
        .answer(&mut s, t[0], ok(jwks(&[KEY_B])), 96_001, 0.5)
        .unwrap();
    assert!(
        !b.cache.catch_up(&s, [0], 96_001),
        "the same millisecond: not looked again"
    );
    assert!(b.cache.catch_up(&s, [0], 96_002), "the next one looks");
    assert_eq!(b.jwks().value().unwrap().len(), 1);
}

/// Issue 24, item 1: on nginx (no resume from the root) each request refetches for itself, and
/// the window was checked but not taken, so concurrent unknown kids on every worker each
/// refetched (4-5 fetches where the contract allows one per window).
#[test]
fn concurrent_own_refetches_on_every_vm_make_one_per_window() {
    // nginx: a write without CAS only creates (the default store).
    let (mut s, mut a) = loaded(&[KEY_A], 10);
    let mut b = Vm::new(2);
    b.tick(&mut s, 20);
    // Four requests with unknown kids, two per VM, all before any refetch answers.
    let (first, _) = a.own(&mut s, 1, Need::Refetch(0), 1000);
    assert_eq!(first.len(), 1, "the first refetches");
    for (on_a, ctx) in [(true, 2), (false, 3), (false, 4)] {
        let vm = if on_a { &mut a } else { &mut b };
        let (tokens, decide_now) = vm.own(&mut s, ctx, Need::Refetch(0), 1001);
        assert!(
            tokens.is_empty(),
            "request {ctx} refetched beside another: {tokens:?}"
        );
        assert!(
            decide_now,
            "request {ctx} is decided at once (401 unknown_kid)"
        );
    }
    assert_eq!(b.state(1001, false), "ready n=1 gen=1 refetch=false");
    a.cache
        .answer(&mut s, first[0], ok(jwks(&[KEY_A, KEY_B])), 1100, 0.5)
        .unwrap();
    assert_eq!(a.jwks().lease.last_refetch_ms, 1100, "answered: spent");
    // Inside the window no VM refetches; past it, one does again.
    assert!(b.own(&mut s, 5, Need::Refetch(0), 20_000).0.is_empty());
    assert_eq!(b.own(&mut s, 6, Need::Refetch(0), 31_200).0.len(), 1);
}

/// A claimed window comes back when the refetch gets no answer: refused, not made, or its
/// request gone (contract: only an answered refetch spends the window).
#[test]
fn an_own_refetch_without_an_answer_gives_the_window_back() {
    let (mut s, mut a) = loaded(&[KEY_A], 10);
    let mut b = Vm::new(2);
    b.tick(&mut s, 20);
    // Refused: the window is free again once the backoff has passed.
    let (tokens, _) = a.own(&mut s, 1, Need::Refetch(0), 1000);
    a.cache
        .answer(&mut s, tokens[0], refused(), 1010, 0.5)
        .unwrap();
    assert_eq!(a.jwks().lease.last_refetch_ms, 0);
    assert_eq!(b.own(&mut s, 2, Need::Refetch(0), 2000).0.len(), 1);
    // Its request went away (client hung up): given back at once.
    b.cache.forget(&mut s, 2);
    assert_eq!(b.jwks().lease.last_refetch_ms, 0);
    // The host refused the callout: given back too.
    let mut refetched = vec![false];
    let plan = a
        .cache
        .plan(&mut s, &[Need::Refetch(0)], &mut refetched, false, 3000);
    assert_eq!(plan.fetches.len(), 1);
    a.cache
        .dispatched(&mut s, &plan.fetches[0], None, Some(3), 3000, 0.5);
    assert_eq!(a.jwks().lease.last_refetch_ms, 0);
    // An answered one spends it for everyone.
    let (tokens, _) = b.own(&mut s, 4, Need::Refetch(0), 9000);
    assert_eq!(tokens.len(), 1);
    b.cache
        .answer(&mut s, tokens[0], ok(jwks(&[KEY_A])), 9010, 0.5)
        .unwrap();
    assert!(a.own(&mut s, 5, Need::Refetch(0), 9020).0.is_empty());
}

/// Issue 24, item 6: a request that cannot wait on its connection (nginx, reused) hands its
/// refetch to the root: the window it claimed comes back, the root's next tick refetches and
/// spends it, and a request's own refetch takes a wanted one over instead of doubling it.
#[test]
fn a_refetch_deferred_to_the_root_is_made_once_by_the_next_tick() {
    let (mut s, mut a) = loaded(&[KEY_A], 10);
    let mut refetched = vec![false];
    let plan = a
        .cache
        .plan(&mut s, &[Need::Refetch(0)], &mut refetched, false, 1000);
    assert_eq!(plan.fetches.len(), 1);
    a.cache.defer_to_root(&mut s, &plan.fetches[0], 1000);
    let lease = a.jwks().lease;
    assert!(lease.refetch, "wanted");
    assert_eq!(
        lease.last_refetch_ms, 0,
        "not spent by a callout never made"
    );
    let (tokens, _) = a.tick(&mut s, 1100);
    assert_eq!(tokens.len(), 1, "the root refetches");
    a.cache
        .answer(&mut s, tokens[0], ok(jwks(&[KEY_A, KEY_B])), 1150, 0.5)
        .unwrap();
    assert_eq!(
        a.jwks().lease.last_refetch_ms,
        1150,
        "and spends the window"
    );
    assert!(a.tick(&mut s, 1300).0.is_empty());
    // Deferred again past the window, then a request's own refetch comes first: one fetch.
    let plan = a
        .cache
        .plan(&mut s, &[Need::Refetch(0)], &mut [false], false, 40_000);
    a.cache.defer_to_root(&mut s, &plan.fetches[0], 40_000);
    let mut b = Vm::new(2);
    b.cache.sync(&mut s); // b's keys, without a tick of its own
    assert_eq!(b.own(&mut s, 9, Need::Refetch(0), 40_010).0.len(), 1);
    assert!(
        a.tick(&mut s, 40_100).0.is_empty(),
        "the root does not refetch beside it"
    );
}
