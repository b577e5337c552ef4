//! The benchmark floor: what any proxy-wasm filter pays in the host.
//!
//! On request headers it reads the `authorization` header with one host call and sets one
//! request header (`x-floor: 1`), nothing else. jwtgate's cache-hit path is compared to this.
//!
//! With the plugin configuration `{"replay": true}` it also makes, per request, the host traffic
//! of jwtgate's DPoP replay memory (src/replay_memory.rs) for a proof never seen before: one
//! `get_shared_data` of a bucket among the same 8,192 keys, a scan of its 16-byte entries and
//! one CAS `set_shared_data` of the bucket with one entry more. The difference to the plain
//! floor is what that memory costs a request in the host (jwtgate's own code for it is a
//! SHA-256 of a few dozen bytes and that scan, in wasm).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType};
use std::cell::Cell;
use std::rc::Rc;

/// The replay memory's shape, as src/dpop/replay.rs states it.
const BUCKETS: u64 = 8192;
const SLOTS: usize = 64;
const ENTRY: usize = 16;
const HASH: usize = 12;
const TAG: u8 = b'J';

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| Box::new(FloorRoot { replay: Rc::new(Cell::new(false)), seq: Rc::new(Cell::new(0)) }));
}}

struct FloorRoot {
    replay: Rc<Cell<bool>>,
    seq: Rc<Cell<u64>>,
}

impl Context for FloorRoot {}

fn bucket_key(i: u64) -> String {
    format!("jwtgate/dpop-jti/{i:04x}")
}

impl RootContext for FloorRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = hostcalls::get_buffer(proxy_wasm::types::BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let replay = String::from_utf8_lossy(&config).replace(' ', "").contains("\"replay\":true");
        self.replay.set(replay);
        if replay {
            // As jwtgate does at configuration: every bucket exists before requests.
            for i in 0..BUCKETS {
                let key = bucket_key(i);
                if matches!(hostcalls::get_shared_data(&key), Ok((None, _))) {
                    let _ = hostcalls::set_shared_data(&key, Some(&[TAG]), None);
                }
            }
        }
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor {
            replay: self.replay.get(),
            seq: self.seq.clone(),
            context_id,
        }))
    }
}

struct Floor {
    replay: bool,
    seq: Rc<Cell<u64>>,
    context_id: u32,
}

impl Context for Floor {}

/// splitmix64: a well-mixed 64-bit value per request, standing in for SHA-256(jkt, jti).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Floor {
    /// One fresh proof remembered, as src/replay_memory.rs does it (a CAS retry on a race).
    fn remember(&self) {
        let n = self.seq.get().wrapping_add(1);
        self.seq.set(n);
        let h = mix(n ^ (u64::from(self.context_id) << 40));
        let h2 = mix(h);
        let mut hash = [0u8; HASH];
        hash[..8].copy_from_slice(&h.to_be_bytes());
        hash[8..].copy_from_slice(&h2.to_be_bytes()[..4]);
        let key = bucket_key(h2 % BUCKETS);
        let until: u32 = u32::MAX;
        for _ in 0..8 {
            let Ok((Some(value), Some(cas))) = hostcalls::get_shared_data(&key) else {
                return;
            };
            let entries = value.get(1..).unwrap_or_default();
            let seen = entries.chunks_exact(ENTRY).any(|e| e[..HASH] == hash);
            if seen || entries.len() / ENTRY >= SLOTS {
                return;
            }
            let mut next = Vec::with_capacity(value.len() + ENTRY);
            next.extend_from_slice(&value);
            next.extend_from_slice(&hash);
            next.extend_from_slice(&until.to_be_bytes());
            if hostcalls::set_shared_data(&key, Some(&next), Some(cas)).is_ok() {
                return;
            }
        }
    }
}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let auth = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, "authorization");
        // Keep the read observable so it cannot be optimized away.
        let seen = matches!(auth, Ok(Some(ref v)) if !v.is_empty());
        if self.replay {
            self.remember();
        }
        let _ = hostcalls::set_map_value_bytes(
            MapType::HttpRequestHeaders,
            "x-floor",
            Some(if seen { b"1" } else { b"0" }),
        );
        Action::Continue
    }
}
