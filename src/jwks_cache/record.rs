//! What the fetch policy keeps in the host's shared data: a record (a fetched document with its
//! version and times, written together) and a lease (who fetches now, failures, refetch limit).

/// A fetched document as kept in shared data for every VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Increases with every successful fetch; never reused (writes go through CAS).
    pub version: u64,
    /// When it was fetched.
    pub fetched_at_ms: u64,
    /// When to refresh (fetched_at + cache_duration, less up to 10% jitter).
    pub refresh_at_ms: u64,
    /// The document as received.
    pub body: Vec<u8>,
}

const RECORD_MAGIC: &str = "jwtgate-doc-2";

impl Record {
    /// Serializes for shared data: one header line, then the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "{RECORD_MAGIC} {} {} {}\n",
            self.version, self.fetched_at_ms, self.refresh_at_ms
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses what [`Record::encode`] wrote; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let nl = bytes.iter().position(|&b| b == b'\n')?;
        let head = std::str::from_utf8(bytes.get(..nl)?).ok()?;
        let mut f = head.split(' ');
        if f.next()? != RECORD_MAGIC {
            return None;
        }
        let version = f.next()?.parse().ok()?;
        let fetched_at_ms = f.next()?.parse().ok()?;
        let refresh_at_ms = f.next()?.parse().ok()?;
        if f.next().is_some() {
            return None;
        }
        Some(Record {
            version,
            fetched_at_ms,
            refresh_at_ms,
            body: bytes.get(nl + 1..)?.to_vec(),
        })
    }
}

/// The fetch lease of one document: at most one shared fetch in flight across all VMs, and
/// the shared memory of failures (backoff) and answered unknown-`kid` refetches (rate limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lease {
    /// The VM fetching now, 0 when none.
    pub owner: u64,
    /// Held: the lease lapses at this time. Free: no fetch before this time (backoff).
    pub until_ms: u64,
    /// Consecutive failed fetches.
    pub failures: u32,
    /// When the last fetch ended (success or failure).
    pub last_done_ms: u64,
    /// When the last unknown-`kid` refetch that got an answer ended: the rate limit's clock.
    pub last_refetch_ms: u64,
    /// The held fetch is a refetch, or a failed refetch still wants a retry.
    pub refetch: bool,
}

const LEASE_MAGIC: &str = "jwtgate-lease-2";

impl Lease {
    /// Serializes for shared data.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{LEASE_MAGIC} {} {} {} {} {} {}",
            self.owner,
            self.until_ms,
            self.failures,
            self.last_done_ms,
            self.last_refetch_ms,
            u8::from(self.refetch)
        )
        .into_bytes()
    }

    /// Parses what [`Lease::encode`] wrote; junk reads as a free lease.
    pub fn decode(bytes: &[u8]) -> Lease {
        let parse = || -> Option<Lease> {
            let s = std::str::from_utf8(bytes).ok()?;
            let mut f = s.split(' ');
            if f.next()? != LEASE_MAGIC {
                return None;
            }
            Some(Lease {
                owner: f.next()?.parse().ok()?,
                until_ms: f.next()?.parse().ok()?,
                failures: f.next()?.parse().ok()?,
                last_done_ms: f.next()?.parse().ok()?,
                last_refetch_ms: f.next()?.parse().ok()?,
                refetch: f.next()? == "1",
            })
        };
        parse().unwrap_or_default()
    }

    /// True while some VM holds the lease (its fetch is in flight).
    pub fn held(&self, now_ms: u64) -> bool {
        self.owner != 0 && now_ms < self.until_ms
    }

    /// Whether a VM may take the lease now (free, or lapsed, and not backing off).
    pub fn available(&self, now_ms: u64) -> bool {
        now_ms >= self.until_ms
    }

    /// The lease as taken by `owner` for one fetch of at most `timeout_ms`.
    pub fn taken(&self, owner: u64, now_ms: u64, timeout_ms: u64, refetch: bool) -> Lease {
        Lease {
            owner,
            // A holder that vanishes (VM reloaded, answer lost) must not block fetching for long.
            until_ms: now_ms.saturating_add(timeout_ms).saturating_add(1000),
            refetch: refetch || self.refetch,
            ..*self
        }
    }

    /// The lease after a fetch that got a usable answer.
    pub fn succeeded(&self, now_ms: u64) -> Lease {
        Lease {
            owner: 0,
            until_ms: 0,
            failures: 0,
            last_done_ms: now_ms,
            // Only an answered refetch spends the window (contract v1.1).
            last_refetch_ms: if self.refetch {
                now_ms
            } else {
                self.last_refetch_ms
            },
            refetch: false,
        }
    }

    /// The lease after a failed fetch: back off; a failed refetch stays wanted.
    pub fn failed(&self, now_ms: u64, jitter: f64) -> Lease {
        let failures = self.failures.saturating_add(1);
        Lease {
            owner: 0,
            until_ms: now_ms.saturating_add(backoff_ms(failures, jitter)),
            failures,
            last_done_ms: now_ms,
            last_refetch_ms: self.last_refetch_ms,
            refetch: self.refetch,
        }
    }

    /// The lease given back unused (the fetch's owner went away before any answer):
    /// no failure counted, nothing spent, free at once.
    pub fn abandoned(&self) -> Lease {
        Lease {
            owner: 0,
            until_ms: 0,
            ..*self
        }
    }
}

/// Delay before retry number `failures` (≥ 1): 500 ms doubling, at most 30 s, with the lower
/// quarter jittered so VMs and proxies that failed together do not retry together.
pub fn backoff_ms(failures: u32, jitter: f64) -> u64 {
    let base = 500u64
        .saturating_mul(1u64 << failures.saturating_sub(1).min(7))
        .min(30_000);
    let spread = (base as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as u64;
    base - base / 4 + spread
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_junk_is_refused() {
        let r = Record {
            version: 3,
            fetched_at_ms: 10,
            refresh_at_ms: 20,
            body: b"{\"keys\":[]}\n".to_vec(),
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(b"junk"), None);
        assert_eq!(Record::decode(b"jwtgate-doc-2 1 2\n{}"), None);
        assert_eq!(Record::decode(b"jwtgate-doc-2 1 2 3 4\n{}"), None);
        assert_eq!(Record::decode(b"jwtgate-jwks-1 1 2 3\n{}"), None);
    }

    #[test]
    fn leases_round_trip_and_junk_is_free() {
        let l = Lease {
            owner: 7,
            until_ms: 9,
            failures: 2,
            last_done_ms: 4,
            last_refetch_ms: 5,
            refetch: true,
        };
        assert_eq!(Lease::decode(&l.encode()), l);
        assert_eq!(Lease::decode(b"??"), Lease::default());
        assert!(Lease::default().available(0));
        assert!(!Lease::default().held(0));
    }

    #[test]
    fn only_an_answered_refetch_spends_the_window() {
        let l = Lease::default().taken(1, 1000, 1000, true);
        assert!(l.held(1500) && !l.available(2500) && l.available(3000));
        let failed = l.failed(1200, 0.0);
        assert_eq!(failed.last_refetch_ms, 0, "a failed refetch spends nothing");
        assert!(failed.refetch, "and is still wanted");
        assert_eq!(failed.failures, 1);
        assert!(!failed.available(1200) && failed.available(1200 + 500));
        let ok = failed.taken(2, 1700, 1000, false).succeeded(1800);
        assert_eq!(ok.last_refetch_ms, 1800);
        assert!(!ok.refetch && ok.failures == 0 && ok.available(1800));
        let plain = Lease::default().taken(1, 10, 10, false).succeeded(20);
        assert_eq!(plain.last_refetch_ms, 0, "a refresh is not a refetch");
        let gone = Lease::default().taken(1, 10, 10, true).abandoned();
        assert!(gone.available(10) && gone.failures == 0 && gone.last_refetch_ms == 0);
    }

    #[test]
    fn backoff_doubles_from_half_a_second_to_thirty() {
        assert_eq!(backoff_ms(1, 1.0), 500);
        assert_eq!(backoff_ms(1, 0.0), 375);
        assert_eq!(backoff_ms(2, 1.0), 1000);
        assert_eq!(backoff_ms(3, 1.0), 2000);
        for n in 1..200 {
            assert!(backoff_ms(n, 1.0) <= 30_000, "{n}");
            assert!(backoff_ms(n, 0.0) >= 375);
        }
        assert_eq!(backoff_ms(40, 1.0), 30_000);
        assert!(backoff_ms(40, 0.0) >= 22_500);
    }
}
