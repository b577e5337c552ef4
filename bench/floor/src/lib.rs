//! The benchmark floor: what any proxy-wasm filter pays in the host.
//!
//! On request headers it reads the `authorization` header with one host call and sets one
//! request header (`x-floor: 1`), nothing else. jwtgate's cache-hit path is compared to this.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| Box::new(FloorRoot));
}}

struct FloorRoot;

impl Context for FloorRoot {}

impl RootContext for FloorRoot {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor))
    }
}

struct Floor;

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let auth = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, "authorization");
        // Keep the read observable so it cannot be optimized away.
        let seen = matches!(auth, Ok(Some(ref v)) if !v.is_empty());
        let _ = hostcalls::set_map_value_bytes(
            MapType::HttpRequestHeaders,
            "x-floor",
            Some(if seen { b"1" } else { b"0" }),
        );
        Action::Continue
    }
}
