//! Moves document fetches between the core and the host: makes the callouts the core asks
//! for, reads answers without trusting what the host hands over, logs and counts the result.

use super::abi::{self, Buffer, Level, Map};
use super::metrics::{Metrics, ProviderEvent};
use super::state::VmState;
use super::store::HostStore;
use crate::config::Config;
use crate::jwks_cache::{Answer, DocId, Fetch};
use crate::keys::MAX_JWKS_BYTES;
use std::time::Duration;

fn provider_name(cfg: &Config, p: usize) -> &str {
    cfg.providers.get(p).map_or("-", |x| x.name.as_str())
}

/// Makes the callout of `f` from the current context (its answer comes to this context's
/// `on_http_call_response`); logs and counts a refusal. The token when the host took it.
pub fn dispatch(cfg: &Config, metrics: &mut Metrics, f: &Fetch) -> Option<u32> {
    let c = &f.callout;
    let headers = [
        (":method", "GET"),
        (":scheme", c.scheme),
        (":path", c.path.as_str()),
        (":authority", c.authority.as_str()),
        ("accept", "application/json"),
    ];
    let token = abi::dispatch(&c.cluster, &headers, Duration::from_millis(c.timeout_ms)).ok();
    if token.is_none() {
        let name = provider_name(cfg, f.provider);
        super::log(
            Level::Warn,
            &format!(
                "provider={name} {} fetch failed: the host refused a callout to {:?} (unknown cluster?)",
                f.doc.as_str(),
                c.cluster
            ),
        );
        count(metrics, f.provider, f.doc, false);
    }
    token
}

/// Envoy answers a callout that never reached the IdP with a local reply of its own; those
/// are "no response", not the IdP's status.
const LOCAL_REPLIES: [&str; 5] = [
    "upstream connect error",
    "no healthy upstream",
    "upstream request timeout",
    "upstream reset",
    "cluster not found",
];

/// Reads the current callout answer, inside `on_http_call_response`, from the counts the host
/// passed: a host that reset the answer mid-body reports no headers, and asking then fails.
pub fn read_answer(num_headers: usize, body_size: usize) -> Answer {
    let headers = if num_headers > 0 {
        abi::headers(Map::CallResponseHeaders).unwrap_or_default()
    } else {
        Vec::new()
    };
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let status = value(":status").and_then(|s| s.parse::<u32>().ok());
    // nginx says why a callout failed in a pseudo-header of its own, also when a status and
    // part of the body arrived before the connection broke.
    if let Some(ds) = value(":dispatch_status").filter(|s| s != "ok") {
        return Answer::NoResponse(crate::logsafe::log_safe(&ds));
    }
    if headers.is_empty() && body_size == 0 {
        return Answer::NoResponse("connection refused, reset or timed out".into());
    }
    if body_size > MAX_JWKS_BYTES {
        return Answer::Response {
            status,
            body: Vec::new(),
            too_large: true,
        };
    }
    let body = if body_size == 0 {
        Vec::new()
    } else {
        match abi::buffer(Buffer::CallResponseBody, 0, body_size) {
            // nginx announces the Content-Length as the size even when less arrived.
            Ok(Some(b)) if b.len() == body_size => b,
            _ => return Answer::NoResponse("answer cut off mid-body".into()),
        }
    };
    if matches!(status, Some(503) | Some(504)) {
        let text = String::from_utf8_lossy(body.get(..body.len().min(200)).unwrap_or(&[]));
        if LOCAL_REPLIES.iter().any(|p| text.starts_with(p)) {
            return Answer::NoResponse(crate::logsafe::log_safe(&text));
        }
    }
    Answer::Response {
        status,
        body,
        too_large: false,
    }
}

fn count(metrics: &mut Metrics, p: usize, doc: DocId, ok: bool) {
    let e = match (doc, ok) {
        (DocId::Jwks, true) => ProviderEvent::FetchOk,
        (DocId::Jwks, false) => ProviderEvent::FetchFailed,
        (DocId::Discovery, true) => ProviderEvent::DiscoveryOk,
        (DocId::Discovery, false) => ProviderEvent::DiscoveryFailed,
        (DocId::Revocation, true) => ProviderEvent::RevocationOk,
        (DocId::Revocation, false) => ProviderEvent::RevocationFailed,
    };
    metrics.provider(p, e);
}

/// Hands the answer of callout `token` to the core; logs and counts what it did.
/// False when the token is not one of this VM's fetches.
pub fn complete(vm: &mut VmState, token: u32, answer: Answer, now_ms: u64) -> bool {
    let Some((p, doc, done)) =
        vm.core
            .keys
            .answer(&mut HostStore, token, answer, now_ms, super::jitter())
    else {
        return false;
    };
    let name = provider_name(&vm.core.cfg, p).to_owned();
    for w in &done.warnings {
        super::log(Level::Warn, &format!("provider={name} {w}"));
    }
    match &done.result {
        Ok(()) => {
            super::log(
                Level::Info,
                &format!(
                    "provider={name} {} fetched version={}",
                    doc.as_str(),
                    done.version
                ),
            );
            if done.unpublished {
                super::log(
                    Level::Warn,
                    &format!(
                        "provider={name} could not publish {} to shared data",
                        doc.as_str()
                    ),
                );
            }
        }
        Err(e) => super::log(
            Level::Warn,
            &format!("provider={name} {} fetch failed: {e}", doc.as_str()),
        ),
    }
    count(&mut vm.metrics, p, doc, done.result.is_ok());
    vm.metrics.flush();
    true
}
