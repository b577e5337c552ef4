//! The memory of proof `jti`s seen by any worker (RFC 9449 §11.1), over the host's shared data:
//! the table and the protocol of `crate::dpop::replay` (see there), checked and written by CAS.

use crate::dpop::replay::{clamp, Seen, Ticket, ATTEMPTS, BUCKETS, ENTRY, HASH, SLOTS, TAG};
use crate::jwks_cache::{SharedStore, StoreError};

/// The shared-data key of bucket `i`.
pub fn bucket_key(i: usize) -> String {
    format!("jwtgate/dpop-jti/{i:04x}")
}

/// Creates every absent bucket (at configuration, before any request: see the module note).
pub fn prepare(store: &mut dyn SharedStore) {
    for i in 0..BUCKETS {
        let key = bucket_key(i);
        if let Ok(None) = store.get(&key) {
            let _ = store.set(&key, &[TAG], None);
        }
    }
}

/// The live entries of a bucket value (expired ones dropped).
fn live(value: &[u8], now: u32) -> Vec<[u8; ENTRY]> {
    let body = value.get(1..).unwrap_or_default();
    body.chunks_exact(ENTRY)
        .filter_map(|c| <[u8; ENTRY]>::try_from(c).ok())
        .filter(|e| {
            let until = u32::from_be_bytes([e[12], e[13], e[14], e[15]]);
            until > now
        })
        .collect()
}

/// Checks `ticket` against the memory and remembers it, at `now`.
pub fn remember(store: &mut dyn SharedStore, ticket: &Ticket, now: i64) -> Seen {
    let key = bucket_key(ticket.bucket);
    let now = clamp(now);
    for _ in 0..ATTEMPTS {
        let (value, cas) = match store.get(&key) {
            Ok(Some((v, cas))) if cas != 0 => (v, cas),
            // A value without a CAS token cannot be written safely.
            Ok(Some(_)) => return Seen::Unavailable,
            Ok(None) => {
                // Evicted or never created: create it (whoever wins, the CAS write decides).
                let _ = store.set(&key, &[TAG], None);
                continue;
            }
            Err(_) => return Seen::Unavailable,
        };
        let mut entries = live(&value, now);
        if entries
            .iter()
            .any(|e| e.get(..HASH) == Some(&ticket.hash[..]))
        {
            return Seen::Replayed;
        }
        if entries.len() >= SLOTS {
            return Seen::Full;
        }
        let mut entry = [0u8; ENTRY];
        entry[..HASH].copy_from_slice(&ticket.hash);
        entry[HASH..].copy_from_slice(&ticket.until.to_be_bytes());
        entries.push(entry);
        let mut next = Vec::with_capacity(1 + entries.len() * ENTRY);
        next.push(TAG);
        for e in &entries {
            next.extend_from_slice(e);
        }
        match store.set(&key, &next, Some(cas)) {
            Ok(()) => return Seen::Fresh,
            Err(StoreError::CasMismatch) => continue,
            Err(StoreError::Host(_)) => return Seen::Unavailable,
        }
    }
    Seen::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpop::replay::{Seen, Ticket, SLOTS};
    use crate::jwks_cache::store::MemoryStore;

    /// Envoy's write rule (a write without CAS overwrites), then nginx's (it only creates).
    fn hosts() -> [MemoryStore; 2] {
        let mut envoy = MemoryStore::default();
        envoy.overwrite_without_cas = true;
        [envoy, MemoryStore::default()]
    }

    #[test]
    fn a_proof_is_fresh_once_then_replayed_until_it_expires() {
        for mut s in hosts() {
            prepare(&mut s);
            let t = Ticket::new("key", "jti-1", 1000);
            assert_eq!(remember(&mut s, &t, 900), Seen::Fresh);
            assert_eq!(remember(&mut s, &t, 901), Seen::Replayed);
            assert_eq!(remember(&mut s, &t, 999), Seen::Replayed);
            // Past its window the proof fails its iat check anyway: the slot is reused.
            assert_eq!(remember(&mut s, &t, 1000), Seen::Fresh);
            // Another key's proof with the same jti is another proof.
            assert_eq!(
                remember(&mut s, &Ticket::new("other", "jti-1", 1000), 900),
                Seen::Fresh
            );
        }
    }

    #[test]
    fn works_without_prepare_on_both_hosts() {
        for mut s in hosts() {
            let t = Ticket::new("k", "j", 100);
            assert_eq!(remember(&mut s, &t, 1), Seen::Fresh);
            assert_eq!(remember(&mut s, &t, 2), Seen::Replayed);
        }
    }

    #[test]
    fn prepare_keeps_what_is_there() {
        for mut s in hosts() {
            let t = Ticket::new("k", "j", 100);
            assert_eq!(remember(&mut s, &t, 1), Seen::Fresh);
            // A VM configured later (or a reload) must not wipe the memory.
            prepare(&mut s);
            assert_eq!(remember(&mut s, &t, 2), Seen::Replayed);
        }
    }

    /// Tickets that land in one bucket (found by search: the bucket is part of the hash).
    fn same_bucket(n: usize) -> Vec<Ticket> {
        let first = Ticket::new("k", "0", 100);
        let mut out = vec![first];
        let mut i = 1u64;
        while out.len() < n {
            let t = Ticket::new("k", &i.to_string(), 100);
            if t.bucket == first.bucket {
                out.push(t);
            }
            i += 1;
        }
        out
    }

    #[test]
    fn a_full_bucket_fails_closed_until_entries_expire() {
        for mut s in hosts() {
            prepare(&mut s);
            let tickets = same_bucket(SLOTS + 1);
            for t in &tickets[..SLOTS] {
                assert_eq!(remember(&mut s, t, 10), Seen::Fresh);
            }
            assert_eq!(remember(&mut s, &tickets[SLOTS], 10), Seen::Full);
            // Remembered ones are still replays, not "full".
            assert_eq!(remember(&mut s, &tickets[0], 10), Seen::Replayed);
            // Once they expire, there is room again.
            assert_eq!(remember(&mut s, &tickets[SLOTS], 100), Seen::Fresh);
        }
    }

    /// A store where another worker writes the bucket between this worker's read and write.
    struct Racing {
        inner: MemoryStore,
        other: Option<Ticket>,
        races: usize,
    }

    impl SharedStore for Racing {
        fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
            self.inner.get(key)
        }
        fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
            if self.races > 0 && cas.is_some() {
                self.races -= 1;
                if let Some(t) = self.other {
                    assert_eq!(remember(&mut self.inner, &t, 1), Seen::Fresh);
                } else {
                    // The same bytes written again still move the CAS token on.
                    let (v, c) = self.inner.get(key)?.unwrap();
                    self.inner.set(key, &v, Some(c))?;
                }
            }
            self.inner.set(key, value, cas)
        }
    }

    #[test]
    fn a_race_on_one_proof_lets_exactly_one_through() {
        for inner in hosts() {
            let t = Ticket::new("k", "same", 100);
            let mut s = Racing {
                inner,
                other: Some(t),
                races: 1,
            };
            prepare(&mut s.inner);
            // The other worker remembered the same proof first: the CAS fails, the re-read
            // sees it, and this one is a replay.
            assert_eq!(remember(&mut s, &t, 1), Seen::Replayed);
        }
    }

    #[test]
    fn a_race_on_another_proof_keeps_both() {
        for inner in hosts() {
            let mine = same_bucket(2);
            let mut s = Racing {
                inner,
                other: Some(mine[1]),
                races: 1,
            };
            prepare(&mut s.inner);
            assert_eq!(remember(&mut s, &mine[0], 1), Seen::Fresh);
            assert_eq!(remember(&mut s.inner, &mine[0], 2), Seen::Replayed);
            assert_eq!(remember(&mut s.inner, &mine[1], 2), Seen::Replayed);
        }
    }

    #[test]
    fn endless_contention_fails_closed() {
        let mut s = Racing {
            inner: MemoryStore::default(),
            other: None,
            races: usize::MAX,
        };
        prepare(&mut s.inner);
        assert_eq!(
            remember(&mut s, &Ticket::new("k", "j", 100), 1),
            Seen::Unavailable
        );
    }

    #[test]
    fn a_refusing_host_fails_closed() {
        let mut s = MemoryStore::default();
        prepare(&mut s);
        s.refuse_writes = true;
        assert_eq!(
            remember(&mut s, &Ticket::new("k", "j", 100), 1),
            Seen::Unavailable
        );
    }

    #[test]
    fn on_envoy_an_unprepared_create_race_is_what_prepare_prevents() {
        // Envoy: a write without CAS overwrites. Two workers that both saw the bucket absent
        // both create it; the later create wipes the earlier one's entry. With `prepare` run
        // first no bucket is absent and every write is a CAS write.
        let [mut s, _] = hosts();
        let t = Ticket::new("k", "j", 100);
        assert_eq!(remember(&mut s, &t, 1), Seen::Fresh);
        let _ = s.set(&bucket_key(t.bucket), &[TAG], None); // the late racer's create
        assert_eq!(
            remember(&mut s, &t, 2),
            Seen::Fresh,
            "the replay slipped through"
        );
        // nginx semantics: the late create fails, the entry stays.
        let mut s = MemoryStore::default();
        assert_eq!(remember(&mut s, &t, 1), Seen::Fresh);
        assert!(s.set(&bucket_key(t.bucket), &[TAG], None).is_err());
        assert_eq!(remember(&mut s, &t, 2), Seen::Replayed);
    }

    #[test]
    fn expiry_is_kept_as_given() {
        assert_eq!(Ticket::new("k", "j", 1234).until(), 1234);
        assert_eq!(Ticket::new("k", "j", -5).until(), 0);
        assert_eq!(Ticket::new("k", "j", i64::MAX).until(), i64::from(u32::MAX));
    }
}
