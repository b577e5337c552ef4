//! The root context: configuration, the tick (key sync, refresh, waking paused requests),
//! and the answers of root-made JWKS callouts.

use super::fetch;
use super::http::{self, Http, Origin, Step};
use super::metrics::Event;
use super::state::{VmState, Waiter};
use crate::config;
use crate::verifier::Need;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Tick period: how soon paused requests see keys another VM fetched.
const TICK: Duration = Duration::from_millis(100);

/// The plugin's root context.
pub struct Root {
    vm: Option<Rc<RefCell<VmState>>>,
    owner: u64,
}

impl Root {
    /// An unconfigured root.
    pub fn new() -> Root {
        Root {
            vm: None,
            owner: super::random_id(),
        }
    }
}

/// True when a paused request has something new to look at.
fn ready(vm: &VmState, w: &Waiter, now_ms: u64) -> bool {
    let Ok(r) = w.req.try_borrow() else {
        return false;
    };
    if r.own_fetch.is_some() || r.finished {
        return false;
    }
    r.needs.iter().any(|n| match *n {
        // Re-deciding a key wait also retries the fetch once backoff allows.
        Need::Keys(_) => true,
        // A refetch wait must not be decided before the refetch ends: the request would fail
        // with unknown_kid against the old keys.
        Need::Refetch(p) => vm.slots.get(p).is_none_or(|slot| {
            let timeout = slot.remote.as_ref().map_or(0, |(pol, _)| pol.timeout_ms);
            slot.version != r.wait_versions.get(p).copied().unwrap_or(0)
                || slot.lease.last_done_ms >= r.wait_started_ms
                || now_ms >= r.wait_started_ms + timeout
        }),
    })
}

impl Root {
    fn tick(&self, vm: &Rc<RefCell<VmState>>) {
        let now_ms = super::now_ms();
        let woken: Vec<Waiter> = {
            let Ok(mut v) = vm.try_borrow_mut() else {
                return;
            };
            v.sync();
            for p in v.due(now_ms) {
                if v.root_fetches.iter().any(|(_, q)| *q == p) {
                    continue;
                }
                if let fetch::Start::Dispatched(token) = fetch::start(&mut v, p, false, now_ms) {
                    v.root_fetches.push((token, p));
                }
            }
            let (go, stay): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut v.waiters)
                .into_iter()
                .partition(|w| ready(&v, w, now_ms));
            v.waiters = stay;
            let (hits, misses) = v.cache.take_stats();
            v.metrics.add(Event::CacheHit, hits);
            v.metrics.add(Event::CacheMiss, misses);
            v.metrics.flush();
            go
        };
        for w in woken {
            if hostcalls::set_effective_context(w.context_id).is_err() {
                continue;
            }
            if http::step(vm, w.context_id, &w.req, None, Origin::Root) == Step::Continue {
                let _ = hostcalls::resume_http_request();
            }
        }
    }
}

/// Kong's ngx_wasm_module cannot resume a request from the root context; it exposes nginx
/// variables as `ngx.*` properties, which Envoy does not have. Read-only, so safe in on_configure.
fn host_is_nginx() -> bool {
    matches!(hostcalls::get_property(vec!["ngx", "pid"]), Ok(Some(_)))
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(vm) = &self.vm else {
            return;
        };
        let Ok(mut v) = vm.try_borrow_mut() else {
            return;
        };
        let Some(i) = v.root_fetches.iter().position(|(t, _)| *t == token) else {
            return;
        };
        let (_, p) = v.root_fetches.swap_remove(i);
        fetch::complete(&mut v, p, body_size, super::now_ms());
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        match config::parse(&raw) {
            Ok(cfg) => {
                let isolated = host_is_nginx();
                self.vm = Some(Rc::new(RefCell::new(VmState::new(
                    Rc::new(cfg),
                    self.owner,
                    isolated,
                ))));
                let _ = hostcalls::set_tick_period(TICK);
                true
            }
            Err(e) => {
                super::log(LogLevel::Critical, &format!("{e}"));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(vm) = self.vm.clone() {
            self.tick(&vm);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::new(context_id, self.vm.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
