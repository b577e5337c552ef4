//! The root context: configuration, the tick (key sync, refresh, waking paused requests),
//! and the answers of root-made callouts.

use super::abi::{self, Buffer, Level};
use super::fetch;
use super::http::{self, Http, Step};
use super::metrics::Event;
use super::state::VmState;
use super::step_host::Host;
use super::store::HostStore;
use crate::config;
use crate::flow::{self, HostCaps, Origin};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
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

/// Whether the host can answer or resume a paused request from the root context. Only Envoy
/// is known to (nginx traps, hangs or crashes), so it must be positively identified; any other
/// host gets the portable behaviour: each paused request is decided in its own callback.
/// Envoy serves `xds.node` (its bootstrap node, serialized), Envoy 1.40 measured; nginx has no
/// `xds` properties. Asked in a request's context, never the root's: ngx_wasm_module logs an
/// `[error]` ("cannot get scoped properties outside of a request") for any dotted property
/// read outside a request, on every worker start. Read once per configured VM, by its first
/// request ([`VmState::know_host`]); nothing is paused before that.
pub(super) fn host_caps() -> HostCaps {
    match abi::property(&["xds", "node"]) {
        Ok(Some(node)) if !node.is_empty() => HostCaps::ENVOY,
        _ => HostCaps::PORTABLE,
    }
}

impl Root {
    fn tick(&self, vm: &Rc<RefCell<VmState>>) {
        let wake = {
            let Ok(mut v) = vm.try_borrow_mut() else {
                return;
            };
            let v = &mut *v;
            let mut host = Host::new(v.core.cfg.clone(), &mut v.metrics);
            let wake = flow::tick(&mut v.core, &mut host);
            let (hits, misses) = v.core.cache.take_stats();
            v.metrics.add(Event::CacheHit, hits);
            v.metrics.add(Event::CacheMiss, misses);
            v.count_signatures();
            v.metrics.flush();
            wake
        };
        for (ctx, ()) in wake {
            if abi::set_effective_context(ctx).is_err() {
                continue;
            }
            if http::step(vm, ctx, Origin::Root) == Step::Continue {
                let _ = abi::resume_request();
            }
        }
    }
}

impl Context for Root {
    /// The VM is going away (a new configuration, a drain): counts not yet sent go now.
    fn on_done(&mut self) -> bool {
        if let Some(vm) = &self.vm {
            if let Ok(mut v) = vm.try_borrow_mut() {
                v.metrics.flush();
            }
        }
        true
    }

    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(vm) = &self.vm else {
            return;
        };
        let answer = fetch::read_answer(num_headers, body_size);
        if let Ok(mut v) = vm.try_borrow_mut() {
            fetch::complete(&mut v, token, answer, abi::now_ms());
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = abi::buffer(Buffer::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        match config::parse(&raw) {
            Ok(cfg) => {
                let mut vm = VmState::new(Rc::new(cfg), self.owner);
                // Creates the shared leases that are still absent (and loads keys other VMs
                // published) before any request: on Envoy a create overwrites, so a lease first
                // created while another worker had just taken it would let both fetch.
                vm.core.keys.sync(&mut HostStore);
                // The DPoP replay memory's buckets, for the same reason: after this every write
                // to them is a CAS write.
                if vm.core.cfg.providers.iter().any(|p| p.dpop.is_some()) {
                    crate::replay_memory::prepare(&mut HostStore);
                }
                self.vm = Some(Rc::new(RefCell::new(vm)));
                let _ = abi::set_tick_period(TICK);
                true
            }
            Err(e) => {
                super::log(Level::Critical, &format!("{e}"));
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
