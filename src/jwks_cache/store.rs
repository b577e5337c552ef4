//! The host's shared key-value store as the fetch policy uses it, and the protocol over it:
//! leases taken and released by CAS, records published by CAS with versions that only grow.
//!
//! Hosts differ on a write without CAS (Envoy overwrites, nginx only creates), so every write
//! here is either a CAS on a value just read, or a create of a key just seen absent.

use super::record::{Lease, Record};

/// Why the store refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The value changed since it was read.
    CasMismatch,
    /// Any other host refusal (its status code).
    Host(u32),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::CasMismatch => f.write_str("shared data changed since it was read"),
            StoreError::Host(code) => write!(f, "shared data refused (host status {code})"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The host's shared data, all VMs of the plugin seeing the same keys.
pub trait SharedStore {
    /// The value and its CAS token; `None` when the key is absent.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError>;
    /// Writes `value` if the key is still at `cas`; `None` creates an absent key.
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError>;
}

/// Shared-data key names of one fetched document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The record (document, version, times).
    pub record: String,
    /// A few bytes naming the record's version: cheap to poll every tick.
    pub hint: String,
    /// The fetch lease.
    pub lease: String,
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Names {
    /// Names for the document `kind` of `provider`, fetched from `what` (issuer, cluster,
    /// URI...): two configs that fetch differently never share records.
    pub fn new(provider: &str, kind: &str, what: &[&str]) -> Names {
        let id = fnv1a(what.join("\n").as_bytes());
        let base = format!("jwtgate/{provider}/{kind}/{id:016x}");
        Names {
            record: format!("{base}/record"),
            hint: format!("{base}/version"),
            lease: format!("{base}/lease"),
        }
    }
}

/// Reads the lease with its CAS token, creating a free one first when absent.
pub fn read_lease(store: &mut dyn SharedStore, names: &Names) -> Option<(Lease, u32)> {
    for _ in 0..2 {
        match store.get(&names.lease) {
            Ok(Some((bytes, cas))) if cas != 0 => return Some((Lease::decode(&bytes), cas)),
            Ok(Some(_)) => return None,
            Ok(None) => {
                // Whoever wins the create, the CAS write that follows decides ownership.
                let _ = store.set(&names.lease, &Lease::default().encode(), None);
            }
            Err(_) => return None,
        }
    }
    None
}

/// Writes `next` only if the lease is still at `cas`.
pub fn write_lease(store: &mut dyn SharedStore, names: &Names, next: &Lease, cas: u32) -> bool {
    store.set(&names.lease, &next.encode(), Some(cas)).is_ok()
}

/// The version the hint names (0 when none).
pub fn hint(store: &dyn SharedStore, names: &Names) -> u64 {
    match store.get(&names.hint) {
        Ok(Some((b, _))) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// The current record, if any.
pub fn read_record(store: &dyn SharedStore, names: &Names) -> Option<Record> {
    match store.get(&names.record) {
        Ok(Some((b, _))) => Record::decode(&b),
        _ => None,
    }
}

/// What became of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Stored as this version.
    As(u64),
    /// Another VM stored a newer record meanwhile: this one is kept out (it is older).
    Superseded(Record),
    /// The host refused; nothing changed in shared data.
    Failed,
}

/// Publishes a document: read the record, write version + 1 by CAS (retrying if another VM
/// wrote in between), then point the hint at it. `at_least` keeps versions above any this VM
/// has seen. A record that appeared newer than `fetched_at_ms` while retrying wins instead.
pub fn publish(
    store: &mut dyn SharedStore,
    names: &Names,
    fetched_at_ms: u64,
    refresh_at_ms: u64,
    body: &[u8],
    at_least: u64,
) -> Published {
    for _ in 0..4 {
        let (current, cas) = match store.get(&names.record) {
            Ok(Some((b, cas))) => (Record::decode(&b), Some(cas)),
            Ok(None) => (None, None),
            Err(_) => return Published::Failed,
        };
        if let Some(cur) = &current {
            if cur.fetched_at_ms > fetched_at_ms {
                return Published::Superseded(cur.clone());
            }
        }
        let version = current
            .as_ref()
            .map_or(0, |r| r.version)
            .max(at_least)
            .saturating_add(1);
        let rec = Record {
            version,
            fetched_at_ms,
            refresh_at_ms,
            body: body.to_vec(),
        };
        match store.set(&names.record, &rec.encode(), cas) {
            Ok(()) => {
                set_hint(store, names, version);
                return Published::As(version);
            }
            Err(StoreError::CasMismatch) => continue,
            Err(StoreError::Host(_)) => return Published::Failed,
        }
    }
    Published::Failed
}

/// Raises the hint to `version` (never lowers it).
fn set_hint(store: &mut dyn SharedStore, names: &Names, version: u64) {
    for _ in 0..4 {
        let (cur, cas) = match store.get(&names.hint) {
            Ok(Some((b, cas))) => (
                std::str::from_utf8(&b)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0),
                Some(cas),
            ),
            Ok(None) => (0, None),
            Err(_) => return,
        };
        if cur >= version {
            return;
        }
        match store.set(&names.hint, version.to_string().as_bytes(), cas) {
            Err(StoreError::CasMismatch) => continue,
            _ => return,
        }
    }
}

/// An in-memory store with a host's semantics, for native tests of the policy (test support:
/// the unit tests and, with the `test-support` feature, the integration tests).
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    entries: std::collections::HashMap<String, (Vec<u8>, u32)>,
    /// Envoy's rule for a write without CAS: overwrite (false: nginx's create-only).
    pub overwrite_without_cas: bool,
    /// Refuse every write (a full or failing shared-data zone).
    pub refuse_writes: bool,
}

#[cfg(any(test, feature = "test-support"))]
impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        Ok(self.entries.get(key).cloned())
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        if self.refuse_writes {
            return Err(StoreError::Host(1));
        }
        let next = match (self.entries.get(key), cas) {
            (Some((_, c)), Some(want)) if *c != want => return Err(StoreError::CasMismatch),
            (Some(_), None) if !self.overwrite_without_cas => return Err(StoreError::CasMismatch),
            (Some((_, c)), _) => c.wrapping_add(1).max(1),
            (None, Some(_)) => return Err(StoreError::CasMismatch),
            (None, None) => 1,
        };
        self.entries.insert(key.to_owned(), (value.to_vec(), next));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names::new("p", "jwks", &["iss", "idp", "http://idp/jwks"])
    }

    #[test]
    fn names_differ_by_what_is_fetched() {
        assert_ne!(
            names(),
            Names::new("p", "jwks", &["iss", "idp", "http://idp/other"])
        );
        assert_ne!(names().record, names().lease);
    }

    #[test]
    fn versions_grow_and_are_never_reused_by_interleaved_publishers() {
        for overwrite in [true, false] {
            let mut s = MemoryStore {
                overwrite_without_cas: overwrite,
                ..MemoryStore::default()
            };
            let n = names();
            assert_eq!(publish(&mut s, &n, 10, 20, b"a", 0), Published::As(1));
            assert_eq!(publish(&mut s, &n, 11, 21, b"b", 0), Published::As(2));
            // A VM that saw version 7 somewhere never publishes below it.
            assert_eq!(publish(&mut s, &n, 12, 22, b"c", 7), Published::As(8));
            assert_eq!(hint(&s, &n), 8);
            // An older fetch finishing late does not overwrite a newer record.
            match publish(&mut s, &n, 5, 6, b"old", 0) {
                Published::Superseded(r) => assert_eq!(r.body, b"c"),
                other => panic!("{other:?}"),
            }
            assert_eq!(read_record(&s, &n).map(|r| r.version), Some(8));
        }
    }

    #[test]
    fn a_refused_publish_changes_nothing() {
        let mut s = MemoryStore::default();
        let n = names();
        assert_eq!(publish(&mut s, &n, 10, 20, b"a", 0), Published::As(1));
        s.refuse_writes = true;
        assert_eq!(publish(&mut s, &n, 11, 21, b"b", 0), Published::Failed);
        assert_eq!(read_record(&s, &n).map(|r| r.body), Some(b"a".to_vec()));
        assert_eq!(hint(&s, &n), 1);
    }

    #[test]
    fn one_lease_winner_among_racers() {
        let mut s = MemoryStore::default();
        let n = names();
        let (l1, c1) = read_lease(&mut s, &n).unwrap();
        let (l2, c2) = read_lease(&mut s, &n).unwrap();
        assert!(write_lease(&mut s, &n, &l1.taken(1, 0, 100, false), c1));
        assert!(!write_lease(&mut s, &n, &l2.taken(2, 0, 100, false), c2));
        assert_eq!(read_lease(&mut s, &n).unwrap().0.owner, 1);
    }
}
