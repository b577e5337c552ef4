//! Shared-data layout: per provider a version key, a record key (raw JWKS + times), and the
//! fetch lease. Keys include a hash of the endpoint so two configs never mix their keys.

use crate::config::{Provider, RemoteJwks};
use crate::jwks_cache::{Lease, Record};
use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

/// Shared-data key names of one provider.
#[derive(Debug, Clone)]
pub struct Keys {
    version: String,
    record: String,
    lease: String,
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Keys {
    /// The key names for `p` fetched per `r`.
    pub fn new(p: &Provider, r: &RemoteJwks) -> Keys {
        let id = fnv1a(format!("{}\n{}\n{}", p.issuer, r.cluster, r.uri).as_bytes());
        let base = format!("jwtgate/{}/{id:016x}", p.name);
        Keys {
            version: format!("{base}/version"),
            record: format!("{base}/jwks"),
            lease: format!("{base}/lease"),
        }
    }
}

/// The published version (0 when nothing was ever fetched). Cheap: a few bytes.
pub fn version(k: &Keys) -> u64 {
    match hostcalls::get_shared_data(&k.version) {
        Ok((Some(b), _)) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// The current record, if any.
pub fn record(k: &Keys) -> Option<Record> {
    match hostcalls::get_shared_data(&k.record) {
        Ok((Some(b), _)) => Record::decode(&b),
        _ => None,
    }
}

/// Writes `value` under `key` with the CAS just read (create when absent): hosts differ on
/// what a write without CAS does (Envoy overwrites, nginx only creates).
fn put(key: &str, value: &[u8]) -> bool {
    for _ in 0..3 {
        let cas = match hostcalls::get_shared_data(key) {
            Ok((Some(_), Some(cas))) if cas != 0 => Some(cas),
            Ok(_) => None,
            Err(_) => return false,
        };
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => return true,
            Err(Status::CasMismatch) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// Publishes a record: the body first, then the version that tells other VMs to read it.
pub fn publish(k: &Keys, rec: &Record) -> bool {
    put(&k.record, &rec.encode()) && put(&k.version, rec.version.to_string().as_bytes())
}

/// Reads the lease with its CAS value, creating it first when missing.
pub fn read_lease(k: &Keys) -> Option<(Lease, u32)> {
    for _ in 0..2 {
        match hostcalls::get_shared_data(&k.lease) {
            Ok((Some(b), Some(cas))) if cas != 0 => return Some((Lease::decode(&b), cas)),
            Ok(_) => {
                // Absent: create it. Every racer writes the same free lease, so whoever wins,
                // the CAS write below decides ownership.
                let _ =
                    hostcalls::set_shared_data(&k.lease, Some(&Lease::default().encode()), None);
            }
            Err(_) => return None,
        }
    }
    None
}

/// Writes `next` only if the lease is still at `cas`. False when another VM got there first.
pub fn write_lease(k: &Keys, next: &Lease, cas: u32) -> bool {
    match hostcalls::set_shared_data(&k.lease, Some(&next.encode()), Some(cas)) {
        Ok(()) => true,
        Err(Status::CasMismatch) | Err(_) => false,
    }
}
