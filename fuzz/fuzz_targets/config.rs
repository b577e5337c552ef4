//! Config parsing: `config::parse` on arbitrary bytes; an accepted config then decides a request
//! with a token (local keys ready, remote ones unavailable), so any requirement tree the parser
//! accepts is evaluated. Checked beyond "no panic": a refusal is one line naming a field, and a
//! request with local keys never waits.
#![no_main]

use jwtgate::TokenCache;
use jwtgate::config;
use jwtgate::gate::{self, Decision, Start};
use jwtgate_fuzz::{LocalKeys, NOW};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLWEifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0LyJ9.AAAA";

fuzz_target!(|data: &[u8]| {
    let cfg = match config::parse(data) {
        Ok(c) => c,
        Err(e) => {
            assert!(
                !e.to_string().contains(['\n', '\r']),
                "multi-line config error: {e}"
            );
            return;
        }
    };
    assert!(!cfg.providers.is_empty());
    for path in ["/", "/admin/x?access_token=t"] {
        let headers: Vec<(String, String)> = vec![
            (":method".into(), "GET".into()),
            (":path".into(), path.into()),
            (":authority".into(), "h".into()),
            ("authorization".into(), format!("Bearer {TOKEN}")),
            ("cookie".into(), format!("session={TOKEN}")),
            ("x-user-id".into(), "forged".into()),
        ];
        let mut cache = TokenCache::new(cfg.providers.len(), cfg.token_cache_size);
        if let Start::Check(prep) = gate::prepare(&cfg, &headers) {
            let d = gate::decide(&cfg, &prep, &LocalKeys(&cfg), &mut cache, NOW);
            assert!(
                !matches!(d, Decision::Wait(_)),
                "waited with no fetchable keys"
            );
        }
    }
});
