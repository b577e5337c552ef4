//! What the memory of seen proofs (RFC 9449 §11.1) stores: a [`Ticket`] per accepted proof, and
//! the table's shape. The memory itself, over the host's shared data, is
//! `src/replay_memory.rs` (the gate's, so that checking a proof needs no store).
//!
//! A fixed table: [`BUCKETS`] shared-data keys, each holding at most [`SLOTS`] entries of 16
//! bytes (the first 12 bytes of SHA-256(jkt, jti) and the second until which it is kept). An
//! entry goes into the bucket its hash names, by a CAS write on the value just read, so two
//! workers checking one proof at the same time cannot both see it fresh. Expired entries are
//! dropped on every write. A bucket with no free slot answers [`Seen::Full`]: the request fails
//! closed instead of forgetting a proof that may come again.
//!
//! Hosts differ on a write without CAS (Envoy overwrites, nginx only creates): buckets are
//! created by [`prepare`] at configuration, before requests, and a write here is a CAS write
//! unless the bucket is absent (nginx may evict it; creating it there cannot overwrite).

use sha2::{Digest, Sha256};

/// Shared-data keys of the table.
pub const BUCKETS: usize = 8192;
/// Entries per bucket.
pub const SLOTS: usize = 64;
/// Bytes of one entry: hash prefix and expiry.
pub(crate) const ENTRY: usize = 16;
pub(crate) const HASH: usize = 12;
/// First byte of every bucket value (an empty value is never written: some hosts treat it
/// as absent).
pub(crate) const TAG: u8 = b'J';
/// CAS attempts before a contended bucket fails the request closed.
pub(crate) const ATTEMPTS: usize = 8;

/// What the memory says about a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen within its window: now remembered.
    Fresh,
    /// Seen before.
    Replayed,
    /// Its bucket has no free slot: it cannot be remembered.
    Full,
    /// The host refused or kept changing the bucket: it could not be checked.
    Unavailable,
}

/// A proof to remember: which, and until when (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub(crate) hash: [u8; HASH],
    pub(crate) bucket: usize,
    pub(crate) until: u32,
}

impl Ticket {
    /// The proof with `jti` of the key with thumbprint `jkt`, kept until `until`. The key is
    /// part of the name: a client choosing another client's `jti` replays nothing of theirs.
    pub fn new(jkt: &str, jti: &str, until: i64) -> Ticket {
        let digest = Sha256::new()
            .chain_update(jkt.as_bytes())
            .chain_update([0u8])
            .chain_update(jti.as_bytes())
            .finalize();
        let mut hash = [0u8; HASH];
        hash.copy_from_slice(digest.get(..HASH).unwrap_or(&[0u8; HASH]));
        let b = digest.get(HASH..HASH + 4).map_or(0, |t| {
            u32::from_be_bytes([
                t.first().copied().unwrap_or(0),
                t.get(1).copied().unwrap_or(0),
                t.get(2).copied().unwrap_or(0),
                t.get(3).copied().unwrap_or(0),
            ])
        });
        Ticket {
            hash,
            bucket: b as usize % BUCKETS,
            until: clamp(until),
        }
    }

    /// Until when it is kept.
    pub fn until(&self) -> i64 {
        i64::from(self.until)
    }
}

pub(crate) fn clamp(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}
