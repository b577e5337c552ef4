//! The step policy (`flow::step`, `flow::tick`): what a request does next, for a host like
//! Envoy (resumes paused requests from the root) and a host like nginx (decides a paused
//! request only in its own callbacks), natively over an in-memory shared store. The host side
//! is a test host (tests/common/flow_host.rs): a clock, the store, callouts that are taken or
//! refused, counters.

mod common;

use common::flow_host::*;
use common::*;
use jwtgate::config::Config;
use jwtgate::flow::{self, HostCaps, Next, Origin, RequestState, StepEvent, Vm};
use jwtgate::gate::{self, Decision, Start};
use jwtgate::jwks_cache::waiters::MAX_WAITERS;
use jwtgate::jwks_cache::{Answer, MAX_COLD_FETCHES};
use serde_json::json;
use std::rc::Rc;

/// A VM, a host with `caps` and one request of a valid token, before its first step.
fn one_request(caps: HostCaps) -> (Vm<u32>, TestHost, RequestState) {
    let (vm, h) = (vm(), TestHost::new(caps));
    let r = request_state(&vm.cfg, &es_token(&claims()));
    (vm, h, r)
}

#[test]
fn envoy_cold_start_one_callout_many_waiters_woken_by_the_tick() {
    let (mut vm, mut h) = (vm(), TestHost::new(ENVOY));
    let t = es_token(&claims());
    let (mut a, mut b) = (request_state(&vm.cfg, &t), request_state(&vm.cfg, &t));
    assert!(matches!(
        step(&mut vm, 1, &mut a, ENVOY, &mut h),
        Next::Wait
    ));
    assert!(matches!(
        step(&mut vm, 2, &mut b, ENVOY, &mut h),
        Next::Wait
    ));
    assert_eq!(h.out.len(), 1, "the second waits for the first's callout");
    assert_eq!(h.paused(), 2);
    assert_eq!(vm.keys.waiters.len(), 2, "both registered, once each");

    answer_all(&mut vm, &mut h, &default_jwks());
    h.now_ms += 5;
    let wake = flow::tick(&mut vm, &mut h);
    assert_eq!(wake, vec![(1, 1), (2, 2)], "woken with their handles");
    for (id, r) in [(1, &mut a), (2, &mut b)] {
        let n = flow::step(&mut vm, id, r, &id, Origin::Root, ENVOY, &mut h);
        assert!(forwarded(&n), "{n:?}");
        assert!(r.finished);
    }
    assert!(vm.keys.waiters.is_empty());
}

#[test]
fn envoy_a_paused_request_past_its_deadline_fails_closed() {
    let (mut vm, mut h, mut a) = one_request(ENVOY);
    assert!(matches!(
        step(&mut vm, 1, &mut a, ENVOY, &mut h),
        Next::Wait
    ));
    h.out.clear(); // the IdP never answers
    h.now_ms += 1000; // timeout_ms
    let wake = flow::tick(&mut vm, &mut h);
    assert_eq!(wake, vec![(1, 1)], "the deadline wakes it");
    let n = flow::step(&mut vm, 1, &mut a, &1, Origin::Root, ENVOY, &mut h);
    assert!(refused_with(&n, 503, "jwks_unavailable"), "{n:?}");
}

#[test]
fn envoy_the_root_pauses_again_without_a_callout_of_its_own() {
    let (mut vm, mut h, mut a) = one_request(ENVOY);
    assert!(matches!(
        step(&mut vm, 1, &mut a, ENVOY, &mut h),
        Next::Wait
    ));
    let asked = h.asked;
    // Woken (say, by an event of another provider) before its keys came: waits again.
    vm.keys.waiters.forget(1);
    let n = flow::step(&mut vm, 1, &mut a, &1, Origin::Root, ENVOY, &mut h);
    assert!(matches!(n, Next::Wait));
    assert_eq!(
        h.asked, asked,
        "the root's tick fetches, not the woken request"
    );
    assert!(vm.keys.waiters.contains(1));
}

#[test]
fn envoy_too_many_paused_requests_get_503_at_once() {
    let (mut vm, mut h) = (vm(), TestHost::new(ENVOY));
    let t = es_token(&claims());
    for id in 0..MAX_WAITERS as u32 {
        let mut r = request_state(&vm.cfg, &t);
        assert!(matches!(
            step(&mut vm, id, &mut r, ENVOY, &mut h),
            Next::Wait
        ));
    }
    let mut r = request_state(&vm.cfg, &t);
    let n = step(&mut vm, 99_999, &mut r, ENVOY, &mut h);
    assert!(refused_with(&n, 503, "jwks_unavailable"), "{n:?}");
    assert!(r.finished);
    assert_eq!(h.paused(), MAX_WAITERS, "the refused one is not counted");
}

#[test]
fn envoy_a_refused_callout_leaves_the_request_to_the_root() {
    let (mut vm, mut h, mut a) = one_request(ENVOY);
    h.refuse = true;
    // Nothing dispatched, the lease given back with a backoff: it waits for the root's
    // retry or its deadline (never forwarded undecided).
    let n = step(&mut vm, 1, &mut a, ENVOY, &mut h);
    assert!(matches!(n, Next::Wait), "{n:?}");
    assert!(vm.keys.waiters.contains(1));
}

#[test]
fn nginx_one_own_callout_at_a_time_and_decided_on_its_answer() {
    let (mut vm, mut h, mut a) = one_request(NGINX);
    assert!(matches!(
        step(&mut vm, 1, &mut a, NGINX, &mut h),
        Next::Wait
    ));
    assert_eq!(a.own_fetches.len(), 1, "its own callout");
    assert!(vm.keys.waiters.is_empty(), "nothing for the root to wake");
    // Stepped again before its answer (another callback): it keeps waiting, no new callout.
    assert!(matches!(
        step(&mut vm, 1, &mut a, NGINX, &mut h),
        Next::Wait
    ));
    assert_eq!(h.asked, 1);
    let tokens = answer_all(&mut vm, &mut h, &default_jwks());
    assert!(a.answered(tokens[0], NGINX), "still undecided");
    let n = step(&mut vm, 1, &mut a, NGINX, &mut h);
    assert!(forwarded(&n), "{n:?}");
    assert!(
        flow::tick(&mut vm, &mut h).is_empty(),
        "the root wakes nothing on this host"
    );
}

#[test]
fn nginx_a_refused_callout_is_decided_at_once_without_keys() {
    let (mut vm, mut h, mut a) = one_request(NGINX);
    h.refuse = true;
    // Nothing can wake it: it must not be left paused (the host would forward it).
    let n = step(&mut vm, 1, &mut a, NGINX, &mut h);
    assert!(refused_with(&n, 503, "jwks_unavailable"), "{n:?}");
    assert!(a.no_wait && a.finished);
}

#[test]
fn nginx_own_callouts_are_bounded_per_request() {
    let (mut vm, mut h, mut a) = one_request(NGINX);
    for round in 1..=flow::MAX_ROUNDS {
        assert!(!a.no_wait, "round {round}: may still wait");
        a.own_fetches.push(u32::from(round));
        assert!(a.answered(u32::from(round), NGINX));
    }
    assert!(a.no_wait, "after MAX_ROUNDS answers it waits no more");
    // Decided with what is there (nothing): 503, no further callout.
    let n = step(&mut vm, 1, &mut a, NGINX, &mut h);
    assert!(refused_with(&n, 503, "jwks_unavailable"), "{n:?}");
    assert_eq!(h.asked, 0);

    // Envoy's requests are woken by the root: no bound on answers there.
    let mut b = request_state(&vm.cfg, &es_token(&claims()));
    for round in 1..=flow::MAX_ROUNDS {
        b.answered(u32::from(round), ENVOY);
    }
    assert!(!b.no_wait);
}

#[test]
fn nginx_an_unknown_kid_refetches_once_then_decides() {
    let (mut vm, mut h) = (vm(), TestHost::new(NGINX));
    let old = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    let mut a = request_state(&vm.cfg, &old);
    step(&mut vm, 1, &mut a, NGINX, &mut h);
    for t in answer_all(&mut vm, &mut h, &jwks(&[ec_a().jwk(Some("a"))])) {
        a.answered(t, NGINX);
    }
    assert!(forwarded(&step(&mut vm, 1, &mut a, NGINX, &mut h)));

    // A token of a key published later: one refetch, its own, then the verdict.
    let new = jwt(ec_b(), &header(ec_b(), Some("b")), &claims());
    let mut b = request_state(&vm.cfg, &new);
    h.now_ms += 1000;
    assert!(matches!(
        step(&mut vm, 2, &mut b, NGINX, &mut h),
        Next::Wait
    ));
    assert!(h.events.contains(&StepEvent::Refetch(0)));
    for t in answer_all(&mut vm, &mut h, &jwks(&[ec_b().jwk(Some("b"))])) {
        b.answered(t, NGINX);
    }
    assert!(forwarded(&step(&mut vm, 2, &mut b, NGINX, &mut h)));

    // Another unknown kid inside the window: no callout, unknown_kid at once.
    let stranger = jwt(ec_a(), &header(ec_a(), Some("zz")), &claims());
    let mut c = request_state(&vm.cfg, &stranger);
    let asked = h.asked;
    let n = step(&mut vm, 3, &mut c, NGINX, &mut h);
    assert!(refused_with(&n, 401, "unknown_kid"), "{n:?}");
    assert_eq!(h.asked, asked, "rate limited");
}

#[test]
fn an_unknown_kid_another_vm_fetched_is_found_in_shared_data() {
    let mut h = TestHost::new(ENVOY);
    let (mut one, mut two) = (vm(), Vm::new(Rc::new(remote_config()), 8));
    let t = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    let mut a = request_state(&one.cfg, &t);
    step(&mut one, 1, &mut a, ENVOY, &mut h);
    answer_all(&mut one, &mut h, &jwks(&[ec_a().jwk(Some("a"))]));
    let mut b = request_state(&two.cfg, &t);
    assert!(forwarded(&step(&mut two, 1, &mut b, ENVOY, &mut h)));

    // VM one refetches for kid b; VM two, whose window that refetch spent, sees kid b in
    // shared data instead of refusing it.
    let nt = jwt(ec_b(), &header(ec_b(), Some("b")), &claims());
    h.now_ms += 1000;
    // VM two has already looked at shared data this millisecond (it looks at most once per
    // millisecond before deciding), so only the look on unknown_kid finds VM one's keys.
    let mut b2 = request_state(&two.cfg, &t);
    assert!(forwarded(&step(&mut two, 3, &mut b2, ENVOY, &mut h)));
    let mut c = request_state(&one.cfg, &nt);
    assert!(matches!(
        step(&mut one, 2, &mut c, ENVOY, &mut h),
        Next::Wait
    ));
    answer_all(&mut one, &mut h, &jwks(&[ec_b().jwk(Some("b"))]));
    let mut d = request_state(&two.cfg, &nt);
    let asked = h.asked;
    assert!(forwarded(&step(&mut two, 2, &mut d, ENVOY, &mut h)));
    assert_eq!(h.asked, asked, "no second fetch");
}

#[test]
fn a_request_without_prepared_state_is_an_internal_error() {
    let (mut vm, mut h) = (vm(), TestHost::new(ENVOY));
    let mut r = RequestState::new(1);
    assert!(matches!(
        step(&mut vm, 1, &mut r, ENVOY, &mut h),
        Next::Internal
    ));
}

#[test]
fn envoy_a_rate_limited_refetch_is_decided_at_once() {
    let (mut vm, mut h) = (vm(), TestHost::new(ENVOY));
    let t = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    let mut a = request_state(&vm.cfg, &t);
    step(&mut vm, 1, &mut a, ENVOY, &mut h);
    answer_all(&mut vm, &mut h, &jwks(&[ec_a().jwk(Some("a"))]));
    assert_eq!(flow::tick(&mut vm, &mut h), vec![(1, 1)]);
    let n = flow::step(&mut vm, 1, &mut a, &1, Origin::Root, ENVOY, &mut h);
    assert!(forwarded(&n), "{n:?}");
    let stranger = jwt(ec_a(), &header(ec_a(), Some("zz")), &claims());
    h.now_ms += 1000;
    let mut b = request_state(&vm.cfg, &stranger);
    assert!(matches!(
        step(&mut vm, 2, &mut b, ENVOY, &mut h),
        Next::Wait
    ));
    answer_all(&mut vm, &mut h, &jwks(&[ec_a().jwk(Some("a"))]));
    let wake = flow::tick(&mut vm, &mut h);
    assert_eq!(wake, vec![(2, 2)]);
    let n = flow::step(&mut vm, 2, &mut b, &2, Origin::Root, ENVOY, &mut h);
    assert!(refused_with(&n, 401, "unknown_kid"), "{n:?}");
    // Inside min_refetch_interval_s another unknown kid is refused without waiting.
    let mut c = request_state(&vm.cfg, &stranger);
    let asked = h.asked;
    let n = step(&mut vm, 3, &mut c, ENVOY, &mut h);
    assert!(refused_with(&n, 401, "unknown_kid"), "{n:?}");
    assert_eq!(h.asked, asked);
    assert!(!vm.keys.waiters.contains(3));
}

/// Two providers, each token in its own header, a rule that requires both.
fn two_provider_config() -> Config {
    let remote = |name: &str, issuer: &str, header: &str| {
        json!({"name": name, "issuer": issuer, "audiences": [AUDIENCE],
               "from_headers": [{"name": header}],
               "remote_jwks": {"cluster": "idp", "uri": format!("http://idp/{name}"), "timeout_ms": 1000}})
    };
    parse_config(&json!({
        "providers": [remote("one", ISSUER, "x-one"), remote("two", "https://two.test/", "x-two")],
        "rules": [{"match": {"prefix": "/"}, "requires": {"all": [{"provider": "one"}, {"provider": "two"}]}}]
    }))
}

/// A request of `two_provider_config` with token `one` in `x-one` and `two` in `x-two`.
fn two_token_request(cfg: &Config, one: &str, two: &str) -> RequestState {
    let headers = common::request("/", &[("x-one", one), ("x-two", two)]);
    let mut r = RequestState::new(2);
    match gate::prepare(cfg, &headers) {
        Start::Check(p) => r.prepared = Some(p),
        Start::Done(d) => panic!("{d:?}"),
    }
    r
}

#[test]
fn callouts_per_step_one_at_a_time_on_nginx_all_at_once_on_envoy() {
    for (caps, expected) in [(NGINX, 1), (ENVOY, 2)] {
        let cfg = Rc::new(two_provider_config());
        let mut vm: Vm<u32> = Vm::new(cfg.clone(), 7);
        let mut h = TestHost::new(caps);
        let one = es_token(&claims());
        let two = es_token(&claims_with(json!({"iss": "https://two.test/"})));
        let mut r = two_token_request(&cfg, &one, &two);
        assert!(matches!(step(&mut vm, 1, &mut r, caps, &mut h), Next::Wait));
        assert_eq!(h.asked, expected, "{caps:?}");
    }
}

#[test]
fn envoy_a_request_waiting_again_after_its_own_answer_is_counted_once() {
    let (mut vm, mut h, mut a) = one_request(ENVOY);
    assert!(matches!(
        step(&mut vm, 1, &mut a, ENVOY, &mut h),
        Next::Wait
    ));
    // Its own callout answers with no JWKS: backing off, it waits on (for the root's retry).
    for t in answer_all(&mut vm, &mut h, &json!({"not": "a jwks"})) {
        assert!(a.answered(t, ENVOY));
    }
    let n = step(&mut vm, 1, &mut a, ENVOY, &mut h);
    assert!(matches!(n, Next::Wait), "{n:?}");
    assert_eq!(h.paused(), 1, "one request paused once");
    assert_eq!(vm.keys.waiters.len(), 1);
}

#[test]
fn envoy_a_woken_request_never_makes_a_callout_from_the_root() {
    // A long wait, so that a retry falls due while the request still waits.
    let cfg = remote_config_with(json!({"timeout_ms": 60000}));
    let mut vm: Vm<u32> = Vm::new(Rc::new(cfg), 7);
    let mut h = TestHost::new(ENVOY);
    h.refuse = true;
    let t = es_token(&claims());
    let mut a = request_state(&vm.cfg, &t);
    assert!(matches!(
        step(&mut vm, 1, &mut a, ENVOY, &mut h),
        Next::Wait
    ));
    h.refuse = false;
    h.now_ms += 30_000;
    let asked = h.asked;
    // Woken (as by another provider's event) when a retry is due: the root's tick makes the
    // callout, not the request (its answer would come to no one waiting for it).
    vm.keys.waiters.forget(1);
    let n = flow::step(&mut vm, 1, &mut a, &1, Origin::Root, ENVOY, &mut h);
    assert!(matches!(n, Next::Wait), "{n:?}");
    assert_eq!(h.asked, asked);
    flow::tick(&mut vm, &mut h);
    assert_eq!(h.asked, asked + 1, "the tick retries");
}

fn header_of<'a>(n: &'a Next, name: &str) -> Option<&'a str> {
    match n {
        Next::Apply(Decision::Reject(r, _)) => r
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str()),
        _ => None,
    }
}

#[test]
fn nginx_a_request_on_a_reused_connection_never_waits_the_root_fetches_for_it() {
    let (mut vm, mut h, mut a) = one_request(NGINX);
    h.reused = true;
    // Cold: it would have to wait, and ngx_wasm_module would forward it unverified.
    let n = step(&mut vm, 1, &mut a, NGINX, &mut h);
    assert!(refused_with(&n, 503, "jwks_unavailable"), "{n:?}");
    assert_eq!(header_of(&n, "retry-after"), Some("1"));
    assert_eq!(header_of(&n, "connection"), Some("close"));
    assert!(a.finished && a.own_fetches.is_empty());
    assert_eq!(h.asked, 0, "no callout of its own");
    assert!(flow::tick(&mut vm, &mut h).is_empty());
    assert_eq!(h.out.len(), 1, "the root fetched in its place");
    answer_all(&mut vm, &mut h, &jwks(&[ec_a().jwk(Some("a"))]));

    // With keys there, a reused connection is decided as any other.
    let good = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    let mut b = request_state(&vm.cfg, &good);
    assert!(forwarded(&step(&mut vm, 2, &mut b, NGINX, &mut h)));

    // An unknown kid (a key published later) on a reused connection: no refetch of its own,
    // the window is not spent by it, and the root's next tick refetches.
    h.now_ms += 1000;
    let new = jwt(ec_b(), &header(ec_b(), Some("b")), &claims());
    let mut c = request_state(&vm.cfg, &new);
    let asked = h.asked;
    let n = step(&mut vm, 3, &mut c, NGINX, &mut h);
    assert!(refused_with(&n, 503, "jwks_unavailable"), "{n:?}");
    assert_eq!(h.asked, asked, "no callout of its own");
    h.now_ms += 100;
    flow::tick(&mut vm, &mut h);
    assert_eq!(h.out.len(), 1, "the root refetched for it");
    answer_all(
        &mut vm,
        &mut h,
        &jwks(&[ec_a().jwk(Some("a")), ec_b().jwk(Some("b"))]),
    );
    // The client's retry (a new connection) finds the key.
    h.reused = false;
    let mut d = request_state(&vm.cfg, &new);
    assert!(forwarded(&step(&mut vm, 4, &mut d, NGINX, &mut h)));
}

#[test]
fn a_reused_connection_changes_nothing_on_envoy_nor_for_a_request_that_needs_no_callout() {
    let (mut vm, mut h, mut a) = one_request(ENVOY);
    h.reused = true;
    // Envoy wakes a paused request from the root: waiting is safe there.
    assert!(matches!(
        step(&mut vm, 1, &mut a, ENVOY, &mut h),
        Next::Wait
    ));

    // nginx, a request whose refetch the window refuses: decided at once as before (401).
    let (mut vm, mut h) = (self::vm(), TestHost::new(NGINX));
    let mut b = request_state(&vm.cfg, &jwt(ec_a(), &header(ec_a(), Some("a")), &claims()));
    step(&mut vm, 1, &mut b, NGINX, &mut h);
    for t in answer_all(&mut vm, &mut h, &jwks(&[ec_a().jwk(Some("a"))])) {
        b.answered(t, NGINX);
    }
    assert!(forwarded(&step(&mut vm, 1, &mut b, NGINX, &mut h)));
    h.reused = true;
    let stranger = jwt(ec_a(), &header(ec_a(), Some("zz")), &claims());
    let mut c = request_state(&vm.cfg, &stranger);
    // The first unknown kid of the window refetches (here: deferred, 503); the next one
    // inside the window is unknown_kid at once, reused connection or not.
    let n = step(&mut vm, 2, &mut c, NGINX, &mut h);
    assert!(refused_with(&n, 503, "jwks_unavailable"), "{n:?}");
    h.now_ms += 100;
    flow::tick(&mut vm, &mut h);
    answer_all(&mut vm, &mut h, &jwks(&[ec_a().jwk(Some("a"))]));
    let mut d = request_state(&vm.cfg, &stranger);
    let n = step(&mut vm, 3, &mut d, NGINX, &mut h);
    assert!(refused_with(&n, 401, "unknown_kid"), "{n:?}");
    assert_eq!(header_of(&n, "connection"), None);
}

#[test]
fn nginx_a_grpc_request_on_a_reused_connection_gets_no_connection_header() {
    let (mut vm, mut h) = (vm(), TestHost::new(NGINX));
    h.reused = true;
    let mut headers = bearer(&es_token(&claims()));
    headers.push(("content-type".into(), "application/grpc".into()));
    let mut a = RequestState::new(vm.cfg.providers.len());
    match gate::prepare(&vm.cfg, &headers) {
        Start::Check(p) => a.prepared = Some(p),
        Start::Done(d) => panic!("decided before any key: {d:?}"),
    }
    let n = step(&mut vm, 1, &mut a, NGINX, &mut h);
    assert_eq!(header_of(&n, "retry-after"), Some("1"), "{n:?}");
    assert_eq!(header_of(&n, "connection"), None, "HTTP/2 forbids it");
    assert!(header_of(&n, "grpc-status").is_some(), "{n:?}");
}

/// `n` cold requests of `t` on one VM, each stepped once: their results, in order.
fn cold_burst(
    vm: &mut Vm<u32>,
    h: &mut TestHost,
    t: &str,
    ids: std::ops::Range<u32>,
) -> Vec<(u32, RequestState, Next)> {
    ids.map(|id| {
        let mut r = request_state(&vm.cfg, t);
        let n = step(vm, id, &mut r, NGINX, h);
        (id, r, n)
    })
    .collect()
}

fn retry_later_503(n: &Next, close: bool) -> bool {
    refused_with(n, 503, "jwks_unavailable")
        && header_of(n, "retry-after") == Some("1")
        && header_of(n, "connection") == if close { Some("close") } else { None }
}

#[test]
fn nginx_a_cold_start_makes_at_most_max_cold_fetches_per_vm_the_rest_retry() {
    let (mut vm, mut h) = (vm(), TestHost::new(NGINX));
    let t = es_token(&claims());
    let n = MAX_COLD_FETCHES as u32;
    let burst = cold_burst(&mut vm, &mut h, &t, 1..2 * n + 1);
    let (waiting, refused): (Vec<_>, Vec<_>) = burst
        .into_iter()
        .partition(|(_, _, n)| matches!(n, Next::Wait));
    assert_eq!(
        waiting.len(),
        MAX_COLD_FETCHES,
        "the first ones fetch and wait"
    );
    assert_eq!(h.asked, MAX_COLD_FETCHES, "no more callouts than the bound");
    for (id, r, n) in &refused {
        assert!(retry_later_503(n, false), "request {id}: {n:?}");
        assert!(r.finished && r.own_fetches.is_empty());
    }
    assert_eq!(
        h.events
            .iter()
            .filter(|e| **e == StepEvent::AtFetchBound(0))
            .count(),
        refused.len(),
        "each refusal counted"
    );
    assert_eq!(
        h.paused(),
        MAX_COLD_FETCHES,
        "only the fetching ones paused"
    );

    // The first answer lands: the waiting request it belongs to passes, and a new request
    // (the retry of a refused one) passes without a fetch, though the others are in flight.
    let (tok, _) = h.out.remove(0);
    let a = Answer::Response {
        status: Some(200),
        body: default_jwks().to_string().into_bytes(),
        too_large: false,
    };
    vm.keys.answer(&mut h.store, tok, a, h.now_ms, 0.5);
    let mut waiting = waiting;
    let (id, r, _) = &mut waiting[0];
    assert!(r.answered(tok, NGINX));
    assert!(forwarded(&step(&mut vm, *id, r, NGINX, &mut h)));
    let asked = h.asked;
    for (id, _, _) in &refused {
        let mut retry = request_state(&vm.cfg, &t);
        let n = step(&mut vm, 100 + id, &mut retry, NGINX, &mut h);
        assert!(forwarded(&n), "retry of {id}: {n:?}");
    }
    assert_eq!(h.asked, asked, "the retries fetch nothing");
    // The others are decided on their own answers.
    for t in answer_all(&mut vm, &mut h, &default_jwks()) {
        let (id, r, _) = waiting
            .iter_mut()
            .find(|(_, r, _)| r.own_fetches.contains(&t))
            .expect("an answer of a waiting request");
        assert!(r.answered(t, NGINX));
        assert!(forwarded(&step(&mut vm, *id, r, NGINX, &mut h)));
    }
}

#[test]
fn nginx_the_root_ticks_fetch_counts_toward_the_bound() {
    let (mut vm, mut h) = (vm(), TestHost::new(NGINX));
    assert!(flow::tick(&mut vm, &mut h).is_empty());
    assert_eq!(h.asked, 1, "the root's cold fetch");
    let t = es_token(&claims());
    let burst = cold_burst(&mut vm, &mut h, &t, 1..MAX_COLD_FETCHES as u32 + 1);
    let fetching = burst
        .iter()
        .filter(|(_, _, n)| matches!(n, Next::Wait))
        .count();
    assert_eq!(fetching, MAX_COLD_FETCHES - 1);
    assert_eq!(h.asked, MAX_COLD_FETCHES);
    let (_, _, last) = burst.last().expect("a burst");
    assert!(retry_later_503(last, false), "{last:?}");
}

#[test]
fn nginx_at_the_bound_a_reused_connection_also_gets_connection_close() {
    let (mut vm, mut h) = (vm(), TestHost::new(NGINX));
    let t = es_token(&claims());
    cold_burst(&mut vm, &mut h, &t, 1..MAX_COLD_FETCHES as u32 + 1);
    h.reused = true;
    let mut r = request_state(&vm.cfg, &t);
    let n = step(&mut vm, 99, &mut r, NGINX, &mut h);
    assert!(retry_later_503(&n, true), "{n:?}");
    assert_eq!(h.asked, MAX_COLD_FETCHES);
}

#[test]
fn nginx_at_the_bound_the_refetch_window_still_decides_first() {
    // VM one has MAX_COLD_FETCHES cold fetches out when VM two's fetch publishes the keys.
    let mut h = TestHost::new(NGINX);
    let (mut one, mut two) = (vm(), Vm::new(Rc::new(remote_config()), 8));
    let good = jwt(ec_a(), &header(ec_a(), Some("a")), &claims());
    cold_burst(&mut one, &mut h, &good, 1..MAX_COLD_FETCHES as u32 + 1);
    let mine = std::mem::take(&mut h.out);
    let mut b = request_state(&two.cfg, &good);
    step(&mut two, 1, &mut b, NGINX, &mut h);
    for t in answer_all(&mut two, &mut h, &jwks(&[ec_a().jwk(Some("a"))])) {
        b.answered(t, NGINX);
    }
    assert!(forwarded(&step(&mut two, 1, &mut b, NGINX, &mut h)));
    h.out = mine;

    // On VM one the keys are found in shared data; an unknown kid with the window open would
    // refetch, but the bound is reached: 503, no callout, the window not spent.
    let stranger = jwt(ec_b(), &header(ec_b(), Some("b")), &claims());
    let asked = h.asked;
    let mut c = request_state(&one.cfg, &stranger);
    let n = step(&mut one, 10, &mut c, NGINX, &mut h);
    assert!(retry_later_503(&n, false), "{n:?}");
    assert_eq!(h.asked, asked);
    // VM two refetches (the window was open): its claim spends the window in shared data
    // before its callout, unseen by VM one until it reads the lease.
    let mut d = request_state(&two.cfg, &stranger);
    assert!(matches!(
        step(&mut two, 2, &mut d, NGINX, &mut h),
        Next::Wait
    ));
    assert_eq!(h.asked, asked + 1);
    assert_eq!(
        one.keys.providers[0].inflight(),
        MAX_COLD_FETCHES,
        "VM one still at its bound"
    );
    // With the window spent, another unknown kid on VM one is 401 at once, bound or not:
    // the bound never turns the refetch limit's verdict into a retry.
    let mut e = request_state(
        &one.cfg,
        &jwt(ec_b(), &header(ec_b(), Some("c")), &claims()),
    );
    let n = step(&mut one, 11, &mut e, NGINX, &mut h);
    assert!(refused_with(&n, 401, "unknown_kid"), "{n:?}");
}

#[test]
fn envoy_has_no_fetch_bound_one_fetch_and_every_request_waits() {
    let (mut vm, mut h) = (vm(), TestHost::new(ENVOY));
    let t = es_token(&claims());
    for id in 1..=2 * MAX_COLD_FETCHES as u32 {
        let mut r = request_state(&vm.cfg, &t);
        let n = step(&mut vm, id, &mut r, ENVOY, &mut h);
        assert!(matches!(n, Next::Wait), "request {id}: {n:?}");
    }
    assert_eq!(h.asked, 1);
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(e, StepEvent::AtFetchBound(_))));
}

#[test]
fn nginx_two_unknown_kids_refetch_one_provider_per_round_without_spending_the_others_window() {
    let cfg = Rc::new(two_provider_config());
    let mut vm: Vm<u32> = Vm::new(cfg.clone(), 7);
    let mut h = TestHost::new(NGINX);
    let prepared = |kid: &str, key: Signer| {
        let one = jwt(key, &header(key, Some(kid)), &claims());
        let two = jwt(
            key,
            &header(key, Some(kid)),
            &claims_with(json!({"iss": "https://two.test/"})),
        );
        two_token_request(&cfg, &one, &two)
    };
    // Both providers' keys arrive: kid "a".
    let mut warm = prepared("a", ec_a());
    let old = jwks(&[ec_a().jwk(Some("a"))]);
    for _ in 0..3 {
        if let Next::Apply(d) = step(&mut vm, 1, &mut warm, NGINX, &mut h) {
            assert!(matches!(d, Decision::Forward(..)), "{d:?}");
            break;
        }
        for t in answer_all(&mut vm, &mut h, &old) {
            warm.answered(t, NGINX);
        }
    }
    assert!(warm.finished, "warm-up was not decided");

    // Both rotate to kid "b": the request refetches one provider, then the other, then passes.
    h.now_ms += 2000;
    let new = jwks(&[ec_a().jwk(Some("a")), ec_b().jwk(Some("b"))]);
    let mut r = prepared("b", ec_b());
    let mut refetched = Vec::new();
    let mut verdict = None;
    for _ in 0..3 {
        let n = step(&mut vm, 2, &mut r, NGINX, &mut h);
        if let Next::Apply(_) = n {
            verdict = Some(n);
            break;
        }
        refetched.extend(h.out.iter().map(|(_, f)| f.provider));
        for t in answer_all(&mut vm, &mut h, &new) {
            r.answered(t, NGINX);
        }
    }
    assert_eq!(
        refetched,
        vec![0, 1],
        "one refetch per provider, one per round"
    );
    let verdict = verdict.expect("no verdict after both refetches");
    assert!(forwarded(&verdict), "{verdict:?}");
}

#[test]
fn nginx_clients_hanging_up_open_no_room_under_the_bound_until_their_fetches_time_out() {
    let (mut vm, mut h) = (vm(), TestHost::new(NGINX));
    let t = es_token(&claims());
    let burst = cold_burst(&mut vm, &mut h, &t, 1..MAX_COLD_FETCHES as u32 + 1);
    assert_eq!(h.asked, MAX_COLD_FETCHES);
    // Every client hangs up: the glue forgets their requests, but the host may still be
    // fetching for them.
    for (id, _, _) in &burst {
        vm.keys.forget(&mut h.store, *id);
    }
    let mut r = request_state(&vm.cfg, &t);
    let n = step(&mut vm, 50, &mut r, NGINX, &mut h);
    assert!(retry_later_503(&n, false), "{n:?}");
    assert_eq!(
        h.asked, MAX_COLD_FETCHES,
        "hanging up made room for more fetches"
    );

    // Once those callouts would have timed out, there is room again.
    h.now_ms += 60_000;
    h.out.clear();
    flow::tick(&mut vm, &mut h);
    let asked = h.asked;
    let mut r = request_state(&vm.cfg, &t);
    let n = step(&mut vm, 51, &mut r, NGINX, &mut h);
    assert!(matches!(n, Next::Wait), "{n:?}");
    assert_eq!(h.asked, asked + 1, "a fetch of its own");
}
