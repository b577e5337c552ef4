//! The whole request path natively against the real key state: `gate` deciding with
//! `jwks_cache::KeyCache` (freshness, refetch limit, key-set generations) over an in-memory
//! shared store, driven by the core's own step policy (`flow::step`, `flow::tick`) on a host
//! like Envoy, the way the glue drives them — only the host is left out (a test host,
//! tests/common/flow_host.rs).

mod common;

use common::flow_host::*;
use common::*;
use jwtgate::flow::{self, Next, Origin, RequestState, StepEvent, Vm};
use jwtgate::gate::Decision;

/// A new request of `token`, stepped in its own callback at the host's clock.
fn new_request(vm: &mut Vm<u32>, h: &mut TestHost, id: u32, token: &str) -> (RequestState, Next) {
    let mut r = request_state(&vm.cfg, token);
    let n = step(vm, id, &mut r, ENVOY, h);
    (r, n)
}

/// A new request's decision, at the host's clock (it must not wait).
fn decided(vm: &mut Vm<u32>, h: &mut TestHost, token: &str) -> Decision {
    match new_request(vm, h, 0, token).1 {
        Next::Apply(d) => d,
        n => panic!("not decided: {n:?}"),
    }
}

/// The root's tick at the host's clock wakes paused request `id`, which is stepped again.
fn woken(vm: &mut Vm<u32>, h: &mut TestHost, id: u32, r: &mut RequestState) -> Next {
    let wake = flow::tick(vm, h);
    assert!(
        wake.iter().any(|(w, _)| *w == id),
        "{id} not woken: {wake:?}"
    );
    flow::step(vm, id, r, &id, Origin::Root, ENVOY, h)
}

/// The request paused waiting for its provider's keys: a first fetch (`refetch` false) or an
/// unknown-kid refetch (true) is out for it.
fn waits_for_fetch(n: &Next, h: &TestHost, refetch: bool) -> bool {
    matches!(n, Next::Wait)
        && h.out
            .iter()
            .any(|(_, f)| f.provider == 0 && f.refetch == refetch)
}

#[test]
fn cold_start_waits_then_decides_with_the_fetched_keys() {
    let (mut vm, mut h) = (vm(), TestHost::new(ENVOY));
    let t = es_token(&claims());
    let (mut r, n) = new_request(&mut vm, &mut h, 1, &t);
    assert!(waits_for_fetch(&n, &h, false), "{n:?}");
    assert_eq!(h.out.len(), 1, "one fetch");
    h.now_ms += 5;
    answer_all(&mut vm, &mut h, &default_jwks());
    h.now_ms += 5;
    assert!(forwarded(&woken(&mut vm, &mut h, 1, &mut r)));
    // Past the wait, a cold start with nothing fetched is 503.
    let (mut other, mut empty) = (vm_with_owner(8), TestHost::new(ENVOY));
    let (mut r, _) = new_request(&mut other, &mut empty, 1, &t);
    empty.now_ms += 1001;
    let n = woken(&mut other, &mut empty, 1, &mut r);
    assert!(refused_with(&n, 503, "jwks_unavailable"), "{n:?}");
}

#[test]
fn a_new_kid_refetches_once_and_a_cached_token_dies_with_its_key() {
    let (mut vm, mut h) = (vm(), TestHost::new(ENVOY));
    let old = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    new_request(&mut vm, &mut h, 1, &old);
    answer_all(&mut vm, &mut h, &jwks(&[ec_a().jwk(Some("a"))]));
    assert!(matches!(
        decided(&mut vm, &mut h, &old),
        Decision::Forward(..)
    ));
    assert_eq!(vm.cache.len(), 1, "cached");

    // The IdP rotates: key b only. A token of b triggers one refetch and passes.
    let new = jwt(ec_b(), &header(ec_b(), Some("b")), &claims());
    h.now_ms = NOW_MS + 1000;
    let (mut r, n) = new_request(&mut vm, &mut h, 2, &new);
    assert!(waits_for_fetch(&n, &h, true), "{n:?}");
    assert!(h.events.contains(&StepEvent::Refetch(0)));
    h.now_ms = NOW_MS + 1010;
    answer_all(&mut vm, &mut h, &jwks(&[ec_b().jwk(Some("b"))]));
    h.now_ms = NOW_MS + 1020;
    assert!(forwarded(&woken(&mut vm, &mut h, 2, &mut r)));

    // The old token, though cached, is now verified under another key set: unknown_kid.
    h.now_ms = NOW_MS + 1030;
    assert_invalid_token(&decided(&mut vm, &mut h, &old), "unknown_kid");

    // A second unknown kid inside min_refetch_interval_s: no refetch, unknown_kid at once.
    let stranger = jwt(ec_a(), &header(ec_a(), Some("zz")), &claims());
    h.now_ms = NOW_MS + 2000;
    let asked = h.asked;
    assert_invalid_token(&decided(&mut vm, &mut h, &stranger), "unknown_kid");
    assert_eq!(h.asked, asked, "rate limited: nothing fetched");
}

#[test]
fn the_token_cache_serves_while_keys_keep_their_generation() {
    let (mut vm, mut h) = (vm(), TestHost::new(ENVOY));
    let t = es_token(&claims());
    new_request(&mut vm, &mut h, 1, &t);
    let set = default_jwks();
    answer_all(&mut vm, &mut h, &set);
    decided(&mut vm, &mut h, &t);
    vm.cache.take_stats();
    // A refresh bringing the same keys keeps the cached entry valid.
    h.now_ms = NOW_MS + 59_000;
    flow::tick(&mut vm, &mut h);
    assert_eq!(h.out.len(), 1, "due for refresh");
    h.now_ms = NOW_MS + 59_010;
    answer_all(&mut vm, &mut h, &set);
    h.now_ms = NOW_MS + 59_020;
    assert!(matches!(
        decided(&mut vm, &mut h, &t),
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
    // Two VMs (workers) on one host: one shared store.
    let mut h = TestHost::new(ENVOY);
    let (mut a, mut b) = (vm_with_owner(1), vm_with_owner(2));
    let old = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    let both = jwks(&[ec_a().jwk(Some("a")), ec_b().jwk(Some("b"))]);
    new_request(&mut a, &mut h, 1, &old);
    answer_all(&mut a, &mut h, &both);
    // B holds the same set (from shared data, no fetch of its own) and caches the token.
    h.now_ms = NOW_MS + 10;
    let asked = h.asked;
    for _ in 0..2 {
        assert!(matches!(
            decided(&mut b, &mut h, &old),
            Decision::Forward(..)
        ));
    }
    assert_eq!(h.asked, asked, "B fetched nothing: one fetch serves both");
    assert_eq!(b.cache.len(), 1, "cached on B");

    // The IdP drops key a; a token of an unknown kid makes A refetch and publish the new set.
    let stranger = jwt(ec_b(), &header(ec_b(), Some("zz")), &claims());
    h.now_ms = NOW_MS + 1000;
    let (_, n) = new_request(&mut a, &mut h, 2, &stranger);
    assert!(waits_for_fetch(&n, &h, true), "{n:?}");
    h.now_ms = NOW_MS + 1010;
    answer_all(&mut a, &mut h, &jwks(&[ec_b().jwk(Some("b"))]));

    // B has not ticked since: its very next request already decides with the new set.
    h.now_ms = NOW_MS + 1020;
    let asked = h.asked;
    assert_invalid_token(&decided(&mut b, &mut h, &old), "unknown_kid");
    assert_eq!(h.asked, asked, "learnt from shared data, not fetched");
    let fresh = jwt(ec_b(), &header(ec_b(), Some("b")), &claims());
    h.now_ms = NOW_MS + 1030;
    assert!(matches!(
        decided(&mut b, &mut h, &fresh),
        Decision::Forward(..)
    ));
}
