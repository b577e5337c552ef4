//! JWKS fetching through host callouts, one in flight per provider across all VMs (the lease).

use super::metrics::ProviderEvent;
use super::shared;
use super::state::VmState;
use crate::jwks_cache::{self, Record};
use crate::keys::MAX_JWKS_BYTES;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType};
use std::rc::Rc;
use std::time::Duration;

/// The result of asking for a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// This VM holds the lease and the callout is out; the answer comes with this token.
    Dispatched(u32),
    /// Another VM is fetching, or failures are backing off: wait for its result.
    Busy,
    /// An unknown-`kid` refetch is not allowed yet (`min_refetch_interval_s`).
    RateLimited,
    /// The callout could not be made (e.g. unknown cluster); counted as a failed fetch.
    Failed,
}

fn provider_name(vm: &VmState, p: usize) -> String {
    vm.cfg
        .providers
        .get(p)
        .map_or_else(String::new, |x| x.name.clone())
}

/// Takes the lease for provider `p` and dispatches the callout from the current context.
pub fn start(vm: &mut VmState, p: usize, refetch: bool, now_ms: u64) -> Start {
    let Some(slot) = vm.slots.get_mut(p) else {
        return Start::Failed;
    };
    let Some((policy, keys)) = slot.remote.clone() else {
        return Start::Failed;
    };
    let Some((lease, cas)) = shared::read_lease(&keys) else {
        return Start::Busy;
    };
    slot.lease = lease;
    if !lease.available(now_ms) {
        return Start::Busy;
    }
    if refetch && now_ms < lease.last_refetch_ms + policy.min_refetch_interval_s * 1000 {
        return Start::RateLimited;
    }
    let taken = lease.taken(vm.owner, now_ms, policy.timeout_ms, refetch);
    if !shared::write_lease(&keys, &taken, cas) {
        return Start::Busy;
    }
    slot.lease = taken;
    match dispatch(&policy) {
        Some(token) => {
            if refetch {
                vm.metrics.provider(p, ProviderEvent::Refetch);
            }
            Start::Dispatched(token)
        }
        None => {
            let name = provider_name(vm, p);
            super::log(
                LogLevel::Warn,
                &format!(
                    "provider={name} jwks fetch failed: callout to cluster {:?} refused",
                    policy.cluster
                ),
            );
            finish(
                vm,
                p,
                Err(jwks_cache::FetchError::NoResponse),
                Vec::new(),
                now_ms,
            );
            Start::Failed
        }
    }
}

/// Dispatches a callout for provider `p` without the lease, from the current HTTP context
/// (hosts without root resume). Refetches are still limited per VM by `min_refetch_interval_s`.
pub fn start_own(vm: &mut VmState, p: usize, refetch: bool, now_ms: u64) -> Option<u32> {
    let slot = vm.slots.get_mut(p)?;
    let (policy, _) = slot.remote.clone()?;
    if refetch {
        if now_ms < slot.lease.last_refetch_ms + policy.min_refetch_interval_s * 1000 {
            return None;
        }
        slot.lease.last_refetch_ms = now_ms;
    }
    let token = dispatch(&policy)?;
    if refetch {
        vm.metrics.provider(p, ProviderEvent::Refetch);
    }
    Some(token)
}

fn dispatch(policy: &crate::config::RemoteJwks) -> Option<u32> {
    let headers = vec![
        (":method", "GET"),
        (":path", policy.path.as_str()),
        (":authority", policy.authority.as_str()),
        ("accept", "application/json"),
    ];
    let timeout = Duration::from_millis(policy.timeout_ms);
    hostcalls::dispatch_http_call(&policy.cluster, headers, None, vec![], timeout).ok()
}

/// Reads the current callout answer (only valid inside `on_http_call_response`).
pub fn read_answer(body_size: usize) -> (Option<u32>, Vec<u8>, bool) {
    let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()
        .and_then(|s| s.trim().parse().ok());
    if body_size > MAX_JWKS_BYTES {
        return (status, Vec::new(), true);
    }
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .ok()
        .flatten()
        .unwrap_or_default();
    (status, body, false)
}

/// Handles the answer of provider `p`'s callout: publish good keys, or back off.
pub fn complete(vm: &mut VmState, p: usize, body_size: usize, now_ms: u64) {
    let (status, body, too_large) = read_answer(body_size);
    let result = if too_large {
        Err(jwks_cache::FetchError::Jwks(
            crate::keys::JwksError::TooLarge,
        ))
    } else {
        jwks_cache::accept(status, &body).map(|_| ())
    };
    finish(vm, p, result, body, now_ms);
}

fn finish(
    vm: &mut VmState,
    p: usize,
    result: Result<(), jwks_cache::FetchError>,
    body: Vec<u8>,
    now_ms: u64,
) {
    let name = provider_name(vm, p);
    let Some(slot) = vm.slots.get_mut(p) else {
        return;
    };
    let Some((policy, keys)) = slot.remote.clone() else {
        return;
    };
    let ok = result.is_ok();
    if ok {
        let version = shared::version(&keys).max(slot.version) + 1;
        let rec = Record {
            version,
            fetched_at_ms: now_ms,
            refresh_at_ms: jwks_cache::refresh_at(&policy, now_ms, super::jitter()),
            body,
        };
        if let Ok((set, _)) = crate::keys::KeySet::parse(&rec.body) {
            let published = shared::publish(&keys, &rec);
            slot.set = Some(Rc::new(set));
            slot.version = version;
            slot.record = Some(Record {
                body: Vec::new(),
                ..rec
            });
            if !published {
                super::log(
                    LogLevel::Warn,
                    &format!("provider={name} could not publish keys to shared data"),
                );
            }
        }
        vm.metrics.provider(p, ProviderEvent::FetchOk);
        super::log(
            LogLevel::Info,
            &format!("provider={name} jwks fetched version={version}"),
        );
    } else {
        vm.metrics.provider(p, ProviderEvent::FetchFailed);
        if let Err(e) = &result {
            super::log(
                LogLevel::Warn,
                &format!("provider={name} jwks fetch failed: {e}"),
            );
        }
    }
    // Release with the CAS just read; if it moved, the lease lapsed and another VM owns it.
    if let Some((lease, cas)) = shared::read_lease(&keys) {
        if lease.owner == vm.owner {
            let next = lease.released(now_ms, ok, super::jitter());
            if shared::write_lease(&keys, &next, cas) {
                slot.lease = next;
            }
        }
    }
    vm.metrics.flush();
}
