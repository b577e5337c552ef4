//! The proxy-wasm glue: the only code that talks to the host. It moves data between the host
//! and the core and owns nothing but per-VM state (keys, token cache, waiting requests).

mod fetch;
mod http;
mod metrics;
mod root;
mod shared;
mod state;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| Box::new(root::Root::new()));
}}

/// Logs one line; a host that refuses the log call changes nothing.
pub(crate) fn log(level: LogLevel, msg: &str) {
    let _ = proxy_wasm::hostcalls::log(level, msg);
}

/// Milliseconds since the epoch from the host clock (0 if the host refuses, which fails closed:
/// every token looks issued in the future or expired consistently).
pub(crate) fn now_ms() -> u64 {
    proxy_wasm::hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

/// A uniform number in [0, 1) for jitter; 0.5 when the host has no randomness.
pub(crate) fn jitter() -> f64 {
    let mut b = [0u8; 8];
    match getrandom::getrandom(&mut b) {
        Ok(()) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

/// A random non-zero id for this VM (lease ownership).
pub(crate) fn random_id() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    u64::from_le_bytes(b).max(1)
}
