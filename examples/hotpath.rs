//! Native timing of the request path (prepare + decide) on a token-cache hit and on a miss:
//! `cargo run --release --example hotpath`. What a request costs in the core, without the host,
//! and how many heap allocations it makes (each costs about as much again in wasm's allocator).
//! `HOT_BENCH=1`: the plugin config of `make bench` (token forwarded, no claim headers).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use jwtgate::gate::{self, Decision, Start};
use jwtgate::TokenCache;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let mut cfg_json = base_config();
    if std::env::var_os("HOT_BENCH").is_some() {
        cfg_json["providers"][0]["forward"] = json!(true);
    } else {
        cfg_json["providers"][0]["claim_to_headers"] = json!([{"claim": "sub", "header": "x-user-id"}, {"claim": "roles", "header": "x-roles"}]);
    }
    let cfg = parse_config(&cfg_json);
    let keys = Keys::from_config(&cfg);
    let token = es_token(&claims_with(json!({"roles": ["a", "b"]})));
    let headers = request(
        "/orders/1",
        &[("authorization", &format!("Bearer {token}"))],
    );
    let mut cache = TokenCache::new(cfg.providers.len(), 4096);
    let run = |cache: &mut TokenCache| {
        let Start::Check(prep) = gate::prepare(&cfg, &headers) else {
            panic!("no check")
        };
        match gate::decide(&cfg, &prep, &keys, cache, NOW) {
            Decision::Forward(m, _) => m.set.len(),
            other => panic!("{other:?}"),
        }
    };
    run(&mut cache);
    let n: u32 = std::env::var("HOT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut sink = 0;
    for _ in 0..n {
        sink += run(&mut cache);
    }
    let hit = t.elapsed().as_nanos() as f64 / f64::from(n);
    let hit_allocs = (ALLOCS.load(Ordering::Relaxed) - a0) as f64 / f64::from(n);
    let mut cold = TokenCache::new(cfg.providers.len(), 0);
    let m: u32 = std::env::var("HOT_MISS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let t = Instant::now();
    for _ in 0..m {
        sink += run(&mut cold);
    }
    let miss = t.elapsed().as_nanos() as f64 / f64::from(m.max(1));
    println!(
        "cache hit: {hit:.0} ns/request, {hit_allocs:.1} allocations; miss (ES256 verify): {miss:.0} ns/request ({sink})"
    );
}
