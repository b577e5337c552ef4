//! Native timing of the request path (prepare + decide) on a token-cache hit and on a miss:
//! `cargo run --release --example hotpath`. What a request costs in the core, without the host.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use jwtgate::cache::TokenCache;
use jwtgate::gate::{self, Decision, Start};
use serde_json::json;
use std::time::Instant;

fn main() {
    let mut cfg_json = base_config();
    cfg_json["providers"][0]["claim_to_headers"] =
        json!([{"claim": "sub", "header": "x-user-id"}, {"claim": "roles", "header": "x-roles"}]);
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
    let t = Instant::now();
    let mut sink = 0;
    for _ in 0..n {
        sink += run(&mut cache);
    }
    let hit = t.elapsed().as_nanos() as f64 / f64::from(n);
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
    println!("cache hit: {hit:.0} ns/request, miss (ES256 verify): {miss:.0} ns/request ({sink})");
}
