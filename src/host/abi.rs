//! The one layer through which jwtgate calls the host, and none of it panics.
//!
//! The SDK's `hostcalls` panic on any status they do not list (a callout answer reset mid-body
//! makes `get_map_value` panic on Envoy and `get_buffer` on nginx; `get_map` also unwraps
//! UTF-8), and in wasm a panic traps the VM: every later request on that worker fails, and on
//! nginx a trap inside a callout's answer even lets the paused request through. So the ABI
//! functions are declared here and every status comes back as a `Result`.
//!
//! The exception is `dispatch_http_call`, which stays with the SDK: it must register the
//! callout with the SDK's dispatcher (which routes the answer, and itself panics on a token it
//! never saw). Hosts return only the statuses it lists (Ok, BadArgument, InternalFailure).
//!
//! `unsafe` is confined to this file: raw pointers handed to and received from the host, per
//! the proxy-wasm ABI 0.2.1 (memory the host returns was allocated through the SDK's
//! `proxy_on_memory_allocate`, a `Vec<u8>` of exactly that size, so it is taken back as one).
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::cell::OnceCell;
use std::ptr::{null, null_mut};
use std::time::Duration;

/// A status the host answered other than Ok (its ABI code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host answered status {}", self.0)
    }
}

impl std::error::Error for HostError {}

/// `NotFound`.
pub const NOT_FOUND: u32 = 1;
/// `CasMismatch`.
pub const CAS_MISMATCH: u32 = 8;

type R<T> = Result<T, HostError>;

/// Header maps of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Map {
    /// The request's headers.
    RequestHeaders = 0,
    /// A callout answer's headers.
    CallResponseHeaders = 6,
}

/// Buffers of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Buffer {
    /// A callout answer's body.
    CallResponseBody = 4,
    /// The plugin configuration.
    PluginConfiguration = 7,
}

/// Log levels of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Level {
    /// Info.
    Info = 2,
    /// Warn.
    Warn = 3,
    /// Critical.
    Critical = 5,
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, data: *const u8, size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(out: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        kind: u32,
        start: usize,
        max: usize,
        out_data: *mut *mut u8,
        out_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map: u32, out_data: *mut *mut u8, out_size: *mut usize) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        out_data: *mut *mut u8,
        out_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path: *const u8,
        path_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        out_data: *mut *mut u8,
        out_size: *mut usize,
        out_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_continue_stream(stream: u32) -> u32;
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_set_effective_context(context: u32) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, out_id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_call_foreign_function(
        name: *const u8,
        name_size: usize,
        args: *const u8,
        args_size: usize,
        out_data: *mut *mut u8,
        out_size: *mut usize,
    ) -> u32;
}

fn check(status: u32) -> R<()> {
    match status {
        0 => Ok(()),
        s => Err(HostError(s)),
    }
}

/// Takes ownership of bytes the host allocated for us.
fn owned(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: the host allocated `size` bytes through the SDK's allocator (a Vec<u8> of that
    // capacity, leaked) and handed the pointer to us; nobody else holds it.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Logs a line; a refusal changes nothing.
pub fn log(level: Level, msg: &str) {
    // SAFETY: pointer and length of a live &str.
    let _ = unsafe { proxy_log(level as u32, msg.as_ptr(), msg.len()) };
}

/// Milliseconds since the epoch (0 if the host refuses: every date check then fails closed).
pub fn now_ms() -> u64 {
    let mut ns = 0u64;
    // SAFETY: `ns` outlives the call.
    match check(unsafe { proxy_get_current_time_nanoseconds(&mut ns) }) {
        Ok(()) => ns / 1_000_000,
        Err(_) => 0,
    }
}

/// Sets the root's tick period.
pub fn set_tick_period(period: Duration) -> R<()> {
    let ms = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    // SAFETY: no pointers.
    check(unsafe { proxy_set_tick_period_milliseconds(ms) })
}

/// Bytes `start..start+max` of a buffer; `None` when the host has none.
pub fn buffer(kind: Buffer, start: usize, max: usize) -> R<Option<Vec<u8>>> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals.
    let status = unsafe { proxy_get_buffer_bytes(kind as u32, start, max, &mut data, &mut size) };
    match status {
        0 => Ok(owned(data, size)),
        NOT_FOUND => Ok(None),
        s => Err(HostError(s)),
    }
}

/// The host's serialized header map (empty when it has none): [`decode_map`] reads it.
pub fn header_bytes(map: Map) -> R<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals.
    check(unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) })?;
    Ok(owned(data, size).unwrap_or_default())
}

/// Every header of a map as owned (name, value) pairs.
pub fn headers(map: Map) -> R<Vec<(String, String)>> {
    let bytes = header_bytes(map)?;
    Ok(decode_map(&bytes)
        .into_iter()
        .map(|(n, v)| (n.into_owned(), v.as_ref().to_owned()))
        .collect())
}

/// Parses the ABI's serialized map: count, then (name length, value length) pairs, then each
/// name and value followed by a NUL. Anything malformed ends the list where it breaks. Names
/// and values borrow from `bytes`, decoded lossily where they are not UTF-8 (a byte that is
/// not UTF-8 cannot match any configured name or token anyway).
pub fn decode_map(bytes: &[u8]) -> Vec<(Cow<'_, str>, LazyText<'_>)> {
    let u32_at = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        let arr: [u8; 4] = b.try_into().ok()?;
        Some(u32::from_le_bytes(arr) as usize)
    };
    let Some(count) = u32_at(0) else {
        return Vec::new();
    };
    let Some(mut p) = count.checked_mul(8).and_then(|n| n.checked_add(4)) else {
        return Vec::new();
    };
    // Each pair takes at least its 8 length bytes: a count larger than the map can hold must
    // not size the list.
    let mut out = Vec::with_capacity(count.min(bytes.len() / 8));
    for i in 0..count {
        let (Some(nl), Some(vl)) = (u32_at(4 + i * 8), u32_at(8 + i * 8)) else {
            break;
        };
        let name = p.checked_add(nl).and_then(|e| bytes.get(p..e));
        let vs = p.saturating_add(nl).saturating_add(1);
        let value = vs.checked_add(vl).and_then(|e| bytes.get(vs..e));
        let (Some(name), Some(value)) = (name, value) else {
            break;
        };
        out.push((text(name), LazyText::new(value)));
        p = vs.saturating_add(vl).saturating_add(1);
    }
    out
}

/// A header value as the host sent it, turned into text only when something reads it: most
/// headers of a request are never looked at, and checking a value costs a pass over it.
pub struct LazyText<'a> {
    raw: &'a [u8],
    text: OnceCell<Cow<'a, str>>,
}

impl<'a> LazyText<'a> {
    /// A value still to be read.
    pub fn new(raw: &'a [u8]) -> Self {
        LazyText {
            raw,
            text: OnceCell::new(),
        }
    }

    /// A value given as text.
    pub fn owned(text: String) -> Self {
        LazyText {
            raw: &[],
            text: OnceCell::from(Cow::Owned(text)),
        }
    }
}

impl AsRef<str> for LazyText<'_> {
    fn as_ref(&self) -> &str {
        self.text.get_or_init(|| text(self.raw))
    }
}

/// `bytes` as text: borrowed when UTF-8 (checked by `from_utf8`, whose ASCII fast path is several
/// times quicker in wasm than the lossy decoder's), else decoded lossily.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Serializes a map the way the ABI reads it.
pub fn encode_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (n, v) in pairs {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (n, v) in pairs {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Removes a request header.
pub fn remove_header(name: &str) -> R<()> {
    // SAFETY: pointer and length of a live &str.
    check(unsafe {
        proxy_remove_header_map_value(Map::RequestHeaders as u32, name.as_ptr(), name.len())
    })
}

/// Sets a request header, replacing any value it had.
pub fn set_header(name: &str, value: &str) -> R<()> {
    // SAFETY: pointers and lengths of live &strs.
    check(unsafe {
        proxy_replace_header_map_value(
            Map::RequestHeaders as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// A property path as the ABI takes it: segments joined by NUL, no NUL at the end (nginx
/// looks the name up as given).
fn property_path(path: &[&str]) -> Vec<u8> {
    let mut encoded = Vec::new();
    for (i, seg) in path.iter().enumerate() {
        if i > 0 {
            encoded.push(0);
        }
        encoded.extend_from_slice(seg.as_bytes());
    }
    encoded
}

/// Sets a host property (nginx: `["ngx", name]` sets a variable that nginx.conf declared with
/// `set`; any other is refused with an error status).
pub fn set_property(path: &[&str], value: &[u8]) -> R<()> {
    let encoded = property_path(path);
    // SAFETY: pointers and lengths of a live Vec and slice.
    check(unsafe {
        proxy_set_property(encoded.as_ptr(), encoded.len(), value.as_ptr(), value.len())
    })
}

/// A host property (`None` when the host has none by that path).
pub fn property(path: &[&str]) -> R<Option<Vec<u8>>> {
    let encoded = property_path(path);
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: pointer and length of a live Vec; out-pointers to locals.
    let status =
        unsafe { proxy_get_property(encoded.as_ptr(), encoded.len(), &mut data, &mut size) };
    match status {
        0 => Ok(owned(data, size)),
        NOT_FOUND => Ok(None),
        s => Err(HostError(s)),
    }
}

/// A shared-data value and its CAS token (`None` when absent).
pub fn shared_get(key: &str) -> R<Option<(Vec<u8>, u32)>> {
    let (mut data, mut size, mut cas) = (null_mut(), 0usize, 0u32);
    // SAFETY: pointer and length of a live &str; out-pointers to locals.
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match status {
        0 => Ok(Some((owned(data, size).unwrap_or_default(), cas))),
        NOT_FOUND => Ok(None),
        s => Err(HostError(s)),
    }
}

/// Writes a shared-data value if still at `cas` (0: no CAS).
pub fn shared_set(key: &str, value: &[u8], cas: u32) -> R<()> {
    // SAFETY: pointers and lengths of live slices.
    check(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

/// Lets the paused request go on.
pub fn resume_request() -> R<()> {
    // SAFETY: no pointers. Stream type 0 is the HTTP request.
    check(unsafe { proxy_continue_stream(0) })
}

/// Answers the request locally.
pub fn send_response(status: u32, headers: &[(&str, &str)], body: &[u8]) -> R<()> {
    let map = encode_map(headers);
    // SAFETY: pointers and lengths of live buffers; an empty details string.
    check(unsafe {
        proxy_send_local_response(
            status,
            null(),
            0,
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    })
}

/// Makes `context` the one later calls act on (the root acting for a paused request).
pub fn set_effective_context(context: u32) -> R<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_set_effective_context(context) })
}

/// Defines a counter.
pub fn define_counter(name: &str) -> R<u32> {
    let mut id = 0u32;
    // SAFETY: pointer and length of a live &str; out-pointer to a local. Kind 0 is a counter.
    check(unsafe { proxy_define_metric(0, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// Defines a gauge.
pub fn define_gauge(name: &str) -> R<u32> {
    let mut id = 0u32;
    // SAFETY: pointer and length of a live &str; out-pointer to a local. Kind 1 is a gauge.
    check(unsafe { proxy_define_metric(1, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// Adds to a counter or (by a negative `by`) takes from a gauge.
pub fn increment(id: u32, by: i64) -> R<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_increment_metric(id, by) })
}

/// Calls the host's foreign function `name` with `args`; its answer (empty when it gave none).
/// A host without the function answers an error status (nginx: Unimplemented; Envoy:
/// NotFound).
pub fn call_foreign(name: &str, args: &[u8]) -> R<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: pointers and lengths of live slices; out-pointers to locals.
    check(unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            args.as_ptr(),
            args.len(),
            &mut data,
            &mut size,
        )
    })?;
    Ok(owned(data, size).unwrap_or_default())
}

/// Dispatches a callout through the SDK (see the module note). `None` when the host refused.
pub fn dispatch(
    upstream: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<u32, HostError> {
    proxy_wasm::hostcalls::dispatch_http_call(upstream, headers.to_vec(), None, vec![], timeout)
        .map_err(|s| HostError(s as u32))
}
