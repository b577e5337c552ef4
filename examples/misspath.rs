//! The request path on distinct tokens (every request a token-cache miss), as `make bench` drives
//! it, for profiling where a miss spends its time outside the host:
//! `cargo build --release --example misspath --target wasm32-wasip1`, then
//! `node --cpu-prof bench/verify/node_wasi.mjs target/…/misspath.wasm es|rs [POOL [ROUNDS]]`.
//! Prints ns per request for the whole core path and for its parts measured alone.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use jwtgate::gate::{self, Decision, Start};
use jwtgate::token;
use jwtgate::TokenCache;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::Instant;

fn per_op(n: usize, t: Instant) -> f64 {
    t.elapsed().as_nanos() as f64 / n.max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rs = args.get(1).is_some_and(|a| a == "rs");
    let pool: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2);
    let mut cfg_json = base_config();
    cfg_json["providers"][0]["forward"] = json!(true);
    let cfg = parse_config(&cfg_json);
    let keys = Keys::from_config(&cfg);
    let tokens: Vec<String> = (0..pool)
        .map(|i| {
            let c = claims_with(json!({"jti": format!("t-{i}")}));
            if rs {
                rs_token(&c)
            } else {
                es_token(&c)
            }
        })
        .collect();
    let requests: Vec<Vec<(String, String)>> = tokens
        .iter()
        .map(|t| request("/bench", &[("authorization", &format!("Bearer {t}"))]))
        .collect();
    // Smaller than the pool, so a round robin misses every time (as in the bench).
    let mut cache = TokenCache::new(cfg.providers.len(), pool / 2);
    let mut forwarded = 0usize;
    let t = Instant::now();
    for _ in 0..rounds {
        for h in &requests {
            let Start::Check(prep) = gate::prepare(&cfg, h) else {
                panic!("no check")
            };
            if let Decision::Forward(..) = gate::decide(&cfg, &prep, &keys, &mut cache, NOW) {
                forwarded += 1;
            }
        }
    }
    let whole = per_op(pool * rounds, t);
    assert_eq!(forwarded, pool * rounds, "every token verifies");

    let t = Instant::now();
    for tok in &tokens {
        black_box(token::parse(black_box(tok)).is_ok());
    }
    let parse = per_op(pool, t);
    let t = Instant::now();
    for tok in &tokens {
        let input = tok.rsplit_once('.').map_or("", |(i, _)| i);
        black_box(Sha256::digest(black_box(input.as_bytes())));
    }
    let sha = per_op(pool, t);
    let parsed: Vec<_> = tokens.iter().filter_map(|t| token::parse(t).ok()).collect();
    let jwtgate::config::JwksSource::Local(set) = &cfg.providers[0].jwks else {
        panic!("local keys")
    };
    let alg = if rs {
        token::Alg::Rs256
    } else {
        token::Alg::Es256
    };
    let key = set
        .keys()
        .iter()
        .find(|k| k.fits(alg))
        .expect("a key for the algorithm");
    let t = Instant::now();
    for p in &parsed {
        assert!(key.verify(p.signing_input, &p.signature));
    }
    let verify = per_op(pool, t);
    let t = Instant::now();
    for _ in &parsed {
        assert!(key.verify(parsed[0].signing_input, &parsed[0].signature));
    }
    let verify_same = per_op(pool, t);
    println!(
        "{{\"alg\":\"{}\",\"pool\":{pool},\"whole_ns\":{whole:.0},\"parse_ns\":{parse:.0},\"sha256_ns\":{sha:.0},\"verify_ns\":{verify:.0},\"verify_one_token_ns\":{verify_same:.0},\"rest_ns\":{:.0}}}",
        if rs { "RS256" } else { "ES256" },
        whole - parse - verify
    );
}
