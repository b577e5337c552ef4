//! The JWKS cache policy of one provider, independent of the host: what is stored in shared
//! data (a key record and a fetch lease), when keys are fresh, stale or expired, when to refresh,
//! and how failed fetches back off. Times are milliseconds since the epoch.

use crate::config::RemoteJwks;
use crate::keys::{JwksError, KeySet};

/// A fetched JWKS as kept in shared data for every VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Increases with every successful fetch.
    pub version: u64,
    /// When it was fetched.
    pub fetched_at_ms: u64,
    /// When to refresh (fetched_at + cache_duration, less up to 10% jitter).
    pub refresh_at_ms: u64,
    /// The JWKS document as received.
    pub body: Vec<u8>,
}

const RECORD_MAGIC: &str = "jwtgate-jwks-1";

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
        Some(Record {
            version,
            fetched_at_ms,
            refresh_at_ms,
            body: bytes.get(nl + 1..)?.to_vec(),
        })
    }
}

/// The fetch lease in shared data: at most one fetch per provider in flight across all VMs,
/// and the shared memory of failures (backoff) and unknown-`kid` refetches (rate limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lease {
    /// The VM fetching now, 0 when none.
    pub owner: u64,
    /// Holder: the lease lapses at this time. Free: no fetch before this time (backoff).
    pub until_ms: u64,
    /// Consecutive failed fetches.
    pub failures: u32,
    /// When the last fetch ended (success or failure).
    pub last_done_ms: u64,
    /// When the last unknown-`kid` refetch started.
    pub last_refetch_ms: u64,
}

const LEASE_MAGIC: &str = "jwtgate-lease-1";

impl Lease {
    /// Serializes for shared data.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{LEASE_MAGIC} {} {} {} {} {}",
            self.owner, self.until_ms, self.failures, self.last_done_ms, self.last_refetch_ms
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
            })
        };
        parse().unwrap_or_default()
    }

    /// Whether a VM may take the lease now.
    pub fn available(&self, now_ms: u64) -> bool {
        now_ms >= self.until_ms
    }

    /// The lease as taken by `owner` for one fetch of at most `timeout_ms`.
    pub fn taken(&self, owner: u64, now_ms: u64, timeout_ms: u64, refetch: bool) -> Lease {
        Lease {
            owner,
            // A holder that vanishes (VM reloaded) must not block fetching for long.
            until_ms: now_ms + timeout_ms + 1000,
            last_refetch_ms: if refetch {
                now_ms
            } else {
                self.last_refetch_ms
            },
            ..*self
        }
    }

    /// The lease released after a fetch; `jitter` in [0, 1) spreads retries.
    pub fn released(&self, now_ms: u64, ok: bool, jitter: f64) -> Lease {
        let failures = if ok {
            0
        } else {
            self.failures.saturating_add(1)
        };
        Lease {
            owner: 0,
            until_ms: if ok {
                0
            } else {
                now_ms + backoff_ms(failures, jitter)
            },
            failures,
            last_done_ms: now_ms,
            last_refetch_ms: self.last_refetch_ms,
        }
    }
}

/// Delay before retry number `failures` (≥ 1): 500 ms doubling to 30 s, with ±25% jitter.
pub fn backoff_ms(failures: u32, jitter: f64) -> u64 {
    let base = 500u64
        .saturating_mul(1u64 << failures.saturating_sub(1).min(6))
        .min(30_000);
    let spread = (base as f64 * 0.5 * jitter.clamp(0.0, 1.0)) as u64;
    base - base / 4 + spread
}

/// When keys fetched at `fetched_at_ms` should be refreshed; `jitter` in [0, 1).
pub fn refresh_at(policy: &RemoteJwks, fetched_at_ms: u64, jitter: f64) -> u64 {
    let period = policy.cache_duration_s * 1000;
    let early = (period as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as u64;
    fetched_at_ms + period - early
}

/// How usable a provider's cached keys are at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// No keys have ever been loaded.
    Empty,
    /// Within the refresh period.
    Fresh,
    /// Past the refresh time: serve, and fetch.
    Refresh,
    /// Past `fetched_at + cache_duration`, within `max_stale_s`: serve while fetches fail.
    Stale,
    /// Past `max_stale_s`: do not serve.
    Expired,
}

/// Classifies a record's age under `policy`.
pub fn freshness(policy: &RemoteJwks, rec: Option<&Record>, now_ms: u64) -> Freshness {
    let Some(rec) = rec else {
        return Freshness::Empty;
    };
    let expires = rec.fetched_at_ms + policy.cache_duration_s * 1000;
    if now_ms < rec.refresh_at_ms {
        Freshness::Fresh
    } else if now_ms < expires {
        Freshness::Refresh
    } else if now_ms < expires + policy.max_stale_s * 1000 {
        Freshness::Stale
    } else {
        Freshness::Expired
    }
}

/// Why a fetched response is not accepted (the old keys stay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No response, or no `:status` (timeout, reset, unknown cluster).
    NoResponse,
    /// A status other than 200.
    Status(u32),
    /// The body is unusable.
    Jwks(JwksError),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::NoResponse => f.write_str("no response"),
            FetchError::Status(s) => write!(f, "status {s}"),
            FetchError::Jwks(e) => write!(f, "{e}"),
        }
    }
}

/// Checks a callout's answer: 200 and a JWKS with at least one usable key.
pub fn accept(status: Option<u32>, body: &[u8]) -> Result<KeySet, FetchError> {
    match status {
        None => Err(FetchError::NoResponse),
        Some(200) => KeySet::parse(body)
            .map(|(set, _)| set)
            .map_err(FetchError::Jwks),
        Some(s) => Err(FetchError::Status(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RemoteJwks {
        RemoteJwks {
            cluster: "idp".into(),
            uri: "http://idp/jwks".into(),
            authority: "idp".into(),
            path: "/jwks".into(),
            timeout_ms: 1000,
            cache_duration_s: 100,
            min_refetch_interval_s: 30,
            max_stale_s: 50,
            discovery: None,
        }
    }

    #[test]
    fn records_round_trip() {
        let r = Record {
            version: 3,
            fetched_at_ms: 10,
            refresh_at_ms: 20,
            body: b"{\"keys\":[]}\n".to_vec(),
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(b"junk"), None);
    }

    #[test]
    fn leases_round_trip_and_junk_is_free() {
        let l = Lease {
            owner: 7,
            until_ms: 9,
            failures: 2,
            last_done_ms: 4,
            last_refetch_ms: 5,
        };
        assert_eq!(Lease::decode(&l.encode()), l);
        assert_eq!(Lease::decode(b"??"), Lease::default());
        assert!(Lease::default().available(0));
    }

    #[test]
    fn lease_blocks_then_backs_off() {
        let l = Lease::default().taken(1, 1000, 1000, false);
        assert!(!l.available(2500));
        assert!(l.available(3000));
        let failed = l.released(2000, false, 0.0);
        assert_eq!(failed.failures, 1);
        assert!(!failed.available(2000));
        assert!(failed.available(2000 + backoff_ms(1, 0.99) + 1));
        assert_eq!(failed.released(9000, true, 0.0).failures, 0);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert!(backoff_ms(1, 0.5) < backoff_ms(3, 0.5));
        assert!(backoff_ms(40, 1.0) <= 30_000 + 7_500);
    }

    #[test]
    fn freshness_windows() {
        let p = policy();
        let rec = Record {
            version: 1,
            fetched_at_ms: 0,
            refresh_at_ms: refresh_at(&p, 0, 0.5),
            body: Vec::new(),
        };
        assert_eq!(freshness(&p, None, 0), Freshness::Empty);
        assert_eq!(freshness(&p, Some(&rec), 1), Freshness::Fresh);
        assert_eq!(freshness(&p, Some(&rec), 96_000), Freshness::Refresh);
        assert_eq!(freshness(&p, Some(&rec), 120_000), Freshness::Stale);
        assert_eq!(freshness(&p, Some(&rec), 150_000), Freshness::Expired);
    }

    #[test]
    fn only_a_good_200_is_accepted() {
        assert_eq!(accept(None, b"").err(), Some(FetchError::NoResponse));
        assert_eq!(accept(Some(500), b"").err(), Some(FetchError::Status(500)));
        assert!(matches!(
            accept(Some(200), b"nope"),
            Err(FetchError::Jwks(_))
        ));
    }
}
