//! The proxy-wasm glue: the only code that talks to the host. It moves data between the host
//! and the core and owns nothing but per-VM state (keys, token cache, waiting requests).

mod abi;
mod fetch;
mod http;
mod metrics;
mod root;
mod signatures;
mod state;
mod step_host;
mod store;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| Box::new(root::Root::new()));
}}

/// Logs one line; a host that refuses the log call changes nothing.
pub(crate) fn log(level: abi::Level, msg: &str) {
    abi::log(level, msg);
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
