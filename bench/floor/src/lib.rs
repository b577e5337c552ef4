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
//!
//! With `{"verify_spki": "<hex of a DER SubjectPublicKeyInfo>"}` it also hands each request's
//! token (`Bearer h.p.s`) to the host's `verify_signature` (RS256: SHA-256 over `h.p`, the
//! signature `s`), as jwtgate does on a cache miss, and sets `x-floor` to the verdict: the
//! difference to the plain floor is what that host call costs a request, the least any filter
//! verifying RS256 through the host pays on a miss.

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
    proxy_wasm::set_root_context(|_| Box::new(FloorRoot { spki: Rc::default(), replay: Rc::new(Cell::new(false)), seq: Rc::new(Cell::new(0)) }));
}}

struct FloorRoot {
    /// The key `verify_signature` is handed (empty: no verify).
    spki: Rc<Vec<u8>>,
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
        self.spki = Rc::new(spki_of(&String::from_utf8_lossy(&config)));
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
            spki: self.spki.clone(),
            replay: self.replay.get(),
            seq: self.seq.clone(),
            context_id,
        }))
    }
}

struct Floor {
    spki: Rc<Vec<u8>>,
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
        let mut seen = matches!(auth, Ok(Some(ref v)) if !v.is_empty());
        if !self.spki.is_empty() {
            seen = matches!(auth, Ok(Some(ref v)) if host_verify(&self.spki, v));
        }
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

/// The bytes of the hex string `verify_spki` in the plugin configuration (empty without one).
fn spki_of(config: &str) -> Vec<u8> {
    let compact = config.replace(' ', "");
    let Some(start) = compact.find("\"verify_spki\":\"") else {
        return Vec::new();
    };
    let hex = compact[start + 15..].split('"').next().unwrap_or("");
    (0..hex.len() / 2)
        .filter_map(|i| hex.get(2 * i..2 * i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// Base64url without padding (the floor decodes what a benchmark token holds, nothing more).
fn base64url(text: &[u8]) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            _ => 63,
        }
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in text {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// One length-delimited protobuf field.
fn field(out: &mut Vec<u8>, number: u8, value: &[u8]) {
    out.push(number << 3 | 2);
    let mut n = value.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(value);
}

/// The host's verdict on the RS256 token in `auth` (`Bearer h.p.s`) with the key `spki`
/// (`VerifySignatureArguments` in, `VerifySignatureResult` out, as jwtgate sends them).
fn host_verify(spki: &[u8], auth: &[u8]) -> bool {
    let token = auth.strip_prefix(b"Bearer ").unwrap_or(auth);
    let Some(dot) = token.iter().rposition(|&c| c == b'.') else {
        return false;
    };
    let signature = base64url(&token[dot + 1..]);
    let mut args = Vec::with_capacity(spki.len() + signature.len() + dot + 24);
    field(&mut args, 1, b"sha256");
    field(&mut args, 2, spki);
    field(&mut args, 3, &signature);
    field(&mut args, 4, &token[..dot]);
    matches!(hostcalls::call_foreign_function("verify_signature", Some(&args)), Ok(Some(r)) if r == [0x08, 0x01])
}
