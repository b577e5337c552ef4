//! The whole request path natively against the real key state: `gate` deciding with
//! `jwks_cache::KeyCache` (freshness, refetch limit, key-set generations) over an in-memory
//! shared store, the way the glue drives them — only the host is left out.

mod common;

use common::*;
use jwtgate::config::Config;
use jwtgate::gate::{self, Decision, Start};
use jwtgate::jwks_cache::store::MemoryStore;
use jwtgate::jwks_cache::{Answer, KeyCache, RequestView};
use jwtgate::Need;
use jwtgate::TokenCache;
use serde_json::Value;

const NOW_MS: u64 = NOW as u64 * 1000;

/// One VM: its key cache, token cache, and the callouts it has out.
struct Vm {
    cfg: Config,
    keys: KeyCache,
    cache: TokenCache,
    out: Vec<u32>,
    next: u32,
}

impl Vm {
    fn new() -> Vm {
        Vm::with_owner(7)
    }

    /// Another VM (worker) beside the first, on the same shared store.
    fn with_owner(owner: u64) -> Vm {
        let cfg = remote_config();
        Vm {
            keys: KeyCache::new(&cfg, owner),
            cache: TokenCache::new(1, 64),
            cfg,
            out: Vec::new(),
            next: 0,
        }
    }

    /// prepare + decide for `token` at `now_ms`; on Wait, make the fetches the plan asks for.
    fn request(
        &mut self,
        s: &mut MemoryStore,
        token: &str,
        refetched: &mut [bool],
        now_ms: u64,
    ) -> Decision {
        self.request_since(s, token, refetched, now_ms, now_ms)
    }

    /// As `request`, for a request that arrived at `started_ms` (it waits from then on).
    fn request_since(
        &mut self,
        s: &mut MemoryStore,
        token: &str,
        refetched: &mut [bool],
        started_ms: u64,
        now_ms: u64,
    ) -> Decision {
        let prep = match gate::prepare(&self.cfg, &bearer(token)) {
            Start::Check(p) => p,
            Start::Done(d) => return d,
        };
        // As the glue does before deciding: adopt what another VM published since this
        // VM's last tick.
        self.keys.catch_up(s, prep.providers_with_tokens(), now_ms);
        for _ in 0..3 {
            let view = RequestView {
                started_ms,
                refetched,
                no_wait: false,
                now_ms,
            };
            let d = gate::decide(
                &self.cfg,
                &prep,
                &self.keys.view(view),
                &mut self.cache,
                (now_ms / 1000) as i64,
            );
            let Decision::Wait(needs) = d else {
                return d;
            };
            let plan = self.keys.plan(s, &needs, refetched, true, now_ms);
            for f in &plan.fetches {
                self.next += 1;
                self.keys
                    .dispatched(s, f, Some(self.next), Some(1), now_ms, 0.5);
                self.out.push(self.next);
            }
            if !plan.decide_now {
                return Decision::Wait(needs);
            }
        }
        panic!("no decision");
    }

    fn answer(&mut self, s: &mut MemoryStore, jwks: &Value, now_ms: u64) {
        for t in std::mem::take(&mut self.out) {
            let a = Answer::Response {
                status: Some(200),
                body: jwks.to_string().into_bytes(),
                too_large: false,
            };
            self.keys.answer(s, t, a, now_ms, 0.5).expect("our callout");
        }
    }
}

fn waits_for(d: &Decision, need: Need) -> bool {
    matches!(d, Decision::Wait(n) if n.contains(&need))
}

#[test]
fn cold_start_waits_then_decides_with_the_fetched_keys() {
    let mut s = MemoryStore::default();
    let mut vm = Vm::new();
    let t = es_token(&claims());
    let d = vm.request(&mut s, &t, &mut [false], NOW_MS);
    assert!(waits_for(&d, Need::Keys(0)), "{d:?}");
    assert_eq!(vm.out.len(), 1, "one fetch");
    vm.answer(&mut s, &default_jwks(), NOW_MS + 5);
    assert!(matches!(
        vm.request(&mut s, &t, &mut [false], NOW_MS + 10),
        Decision::Forward(..)
    ));
    // Past the wait, a cold start with nothing fetched is 503.
    let mut other = Vm::new();
    let mut empty = MemoryStore::default();
    other.request(&mut empty, &t, &mut [false], NOW_MS);
    let d = other.request_since(&mut empty, &t, &mut [false], NOW_MS, NOW_MS + 1001);
    assert_eq!(rejection(&d).status, 503);
}

#[test]
fn a_new_kid_refetches_once_and_a_cached_token_dies_with_its_key() {
    let mut s = MemoryStore::default();
    let mut vm = Vm::new();
    let old = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    vm.request(&mut s, &old, &mut [false], NOW_MS);
    vm.answer(&mut s, &jwks(&[ec_a().jwk(Some("a"))]), NOW_MS);
    assert!(matches!(
        vm.request(&mut s, &old, &mut [false], NOW_MS),
        Decision::Forward(..)
    ));
    assert_eq!(vm.cache.len(), 1, "cached");

    // The IdP rotates: key b only. A token of b triggers one refetch and passes.
    let new = jwt(ec_b(), &header(ec_b(), Some("b")), &claims());
    let mut refetched = [false];
    let d = vm.request(&mut s, &new, &mut refetched, NOW_MS + 1000);
    assert!(waits_for(&d, Need::Refetch(0)), "{d:?}");
    vm.answer(&mut s, &jwks(&[ec_b().jwk(Some("b"))]), NOW_MS + 1010);
    assert!(matches!(
        vm.request(&mut s, &new, &mut refetched, NOW_MS + 1020),
        Decision::Forward(..)
    ));

    // The old token, though cached, is now verified under another key set: unknown_kid.
    let d = vm.request(&mut s, &old, &mut [false], NOW_MS + 1030);
    assert_invalid_token(&d, "unknown_kid");

    // A second unknown kid inside min_refetch_interval_s: no refetch, unknown_kid at once.
    let stranger = jwt(ec_a(), &header(ec_a(), Some("zz")), &claims());
    let d = vm.request(&mut s, &stranger, &mut [false], NOW_MS + 2000);
    assert_invalid_token(&d, "unknown_kid");
    assert!(vm.out.is_empty(), "rate limited: nothing fetched");
}

#[test]
fn the_token_cache_serves_while_keys_keep_their_generation() {
    let mut s = MemoryStore::default();
    let mut vm = Vm::new();
    let t = es_token(&claims());
    vm.request(&mut s, &t, &mut [false], NOW_MS);
    let set = default_jwks();
    vm.answer(&mut s, &set, NOW_MS);
    vm.request(&mut s, &t, &mut [false], NOW_MS);
    vm.cache.take_stats();
    // A refresh bringing the same keys keeps the cached entry valid.
    let tick = vm.keys.tick(&mut s, NOW_MS + 59_000);
    for f in &tick.fetches {
        vm.keys
            .dispatched(&mut s, f, Some(99), None, NOW_MS + 59_000, 0.5);
    }
    assert_eq!(tick.fetches.len(), 1, "due for refresh");
    let a = Answer::Response {
        status: Some(200),
        body: set.to_string().into_bytes(),
        too_large: false,
    };
    vm.keys.answer(&mut s, 99, a, NOW_MS + 59_010, 0.5).unwrap();
    assert!(matches!(
        vm.request(&mut s, &t, &mut [false], NOW_MS + 59_020),
        Decision::Forward(..)
    ));
    assert_eq!(
        vm.cache.take_stats(),
        (1, 0),
        "a hit, not a re-verification"
    );
}

#[test]
fn a_key_removed_through_another_vm_fails_here_before_this_vms_tick() {
    let mut s = MemoryStore::default();
    let (mut a, mut b) = (Vm::with_owner(1), Vm::with_owner(2));
    let old = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    let both = jwks(&[ec_a().jwk(Some("a")), ec_b().jwk(Some("b"))]);
    a.request(&mut s, &old, &mut [false], NOW_MS);
    a.answer(&mut s, &both, NOW_MS);
    // B holds the same set (from shared data, no fetch of its own) and caches the token.
    for _ in 0..2 {
        assert!(matches!(
            b.request(&mut s, &old, &mut [false], NOW_MS + 10),
            Decision::Forward(..)
        ));
    }
    assert!(b.out.is_empty(), "B fetched nothing: one fetch serves both");
    assert_eq!(b.cache.len(), 1, "cached on B");

    // The IdP drops key a; a token of an unknown kid makes A refetch and publish the new set.
    let stranger = jwt(ec_b(), &header(ec_b(), Some("zz")), &claims());
    let mut refetched = [false];
    let d = a.request(&mut s, &stranger, &mut refetched, NOW_MS + 1000);
    assert!(waits_for(&d, Need::Refetch(0)), "{d:?}");
    a.answer(&mut s, &jwks(&[ec_b().jwk(Some("b"))]), NOW_MS + 1010);

    // B has not ticked since: its very next request already decides with the new set.
    let d = b.request(&mut s, &old, &mut [false], NOW_MS + 1020);
    assert_invalid_token(&d, "unknown_kid");
    assert!(b.out.is_empty(), "learnt from shared data, not fetched");
    let fresh = jwt(ec_b(), &header(ec_b(), Some("b")), &claims());
    assert!(matches!(
        b.request(&mut s, &fresh, &mut [false], NOW_MS + 1030),
        Decision::Forward(..)
    ));
}
