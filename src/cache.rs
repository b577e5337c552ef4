//! Verified-token cache: a bounded map from (provider, token) to its verified claims.
//!
//! Replacement is CLOCK (second chance), an O(1) approximation of LRU. Entries remember the
//! key-set version they were verified under and are ignored once the keys change; the checks
//! that depend on the time are re-run by the caller on every hit.

use crate::authenticator::Verified;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast non-cryptographic hash for token keys. Flooding is not a concern: only tokens that
/// passed verification are ever inserted, so no client can fill a bucket with colliding keys.
#[derive(Default)]
struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        let rest = chunks.remainder();
        if let Some(head) = w.get_mut(..rest.len()) {
            head.copy_from_slice(rest);
        }
        self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
    }

    fn finish(&self) -> u64 {
        // Final avalanche so the low bits hashbrown uses depend on every input word.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

impl TokenHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type TokenMap = HashMap<Box<str>, usize, BuildHasherDefault<TokenHasher>>;
use std::rc::Rc;

struct Slot {
    provider: usize,
    token: Box<str>,
    version: u64,
    value: Rc<Verified>,
    referenced: bool,
}

/// Bytes of tokens and claims a cache may hold (contract: under 16 MiB per VM), whatever
/// `token_cache_size` and `max_token_size` allow: 4096 entries of 1 MiB tokens would be 8 GiB.
pub const MAX_CACHE_BYTES: usize = 16 << 20;

/// What an entry costs against [`MAX_CACHE_BYTES`]: the token twice (slot and index key), the
/// payload segment, the parsed claims (about the size of the decoded payload) and bookkeeping.
fn cost(token: &str, value: &Verified) -> usize {
    2 * token.len() + 2 * value.payload_b64.len() + 256
}

/// A per-VM cache of verified tokens, at most `capacity` entries and [`MAX_CACHE_BYTES`].
pub struct TokenCache {
    capacity: usize,
    bytes: usize,
    index: Vec<TokenMap>,
    slots: Vec<Slot>,
    hand: usize,
    hits: u64,
    misses: u64,
}

impl TokenCache {
    /// A cache for `providers` providers holding at most `capacity` tokens (0 disables it).
    pub fn new(providers: usize, capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            bytes: 0,
            index: (0..providers).map(|_| TokenMap::default()).collect(),
            slots: Vec::new(),
            hand: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Bytes held, as counted against [`MAX_CACHE_BYTES`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The verified token, if cached under the current key-set `version`.
    pub fn get(&mut self, provider: usize, token: &str, version: u64) -> Option<Rc<Verified>> {
        if self.capacity == 0 {
            return None;
        }
        let found = self.lookup(provider, token, version);
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    fn lookup(&mut self, provider: usize, token: &str, version: u64) -> Option<Rc<Verified>> {
        let i = *self.index.get(provider)?.get(token)?;
        let slot = self.slots.get_mut(i)?;
        if slot.version != version {
            return None;
        }
        slot.referenced = true;
        Some(slot.value.clone())
    }

    /// Hits and misses since the last call (for metrics).
    pub fn take_stats(&mut self) -> (u64, u64) {
        let out = (self.hits, self.misses);
        self.hits = 0;
        self.misses = 0;
        out
    }

    /// Remembers a verified token, evicting cold entries when full (by count or by bytes).
    pub fn insert(&mut self, provider: usize, token: &str, version: u64, value: Rc<Verified>) {
        if self.capacity == 0 || provider >= self.index.len() {
            return;
        }
        if let Some(&i) = self.index.get(provider).and_then(|m| m.get(token)) {
            // Same token, so the same payload: the cost does not change.
            if let Some(slot) = self.slots.get_mut(i) {
                slot.version = version;
                slot.value = value;
                slot.referenced = true;
            }
            return;
        }
        let new_cost = cost(token, &value);
        if new_cost > MAX_CACHE_BYTES {
            return;
        }
        // Make room by bytes first (whole entries leave), then by count (CLOCK replaces one).
        while !self.slots.is_empty() && self.bytes.saturating_add(new_cost) > MAX_CACHE_BYTES {
            let victim = self.find_victim();
            self.remove_slot(victim);
        }
        let slot = Slot {
            provider,
            token: token.into(),
            version,
            value,
            referenced: false,
        };
        let at = if self.slots.len() < self.capacity {
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let victim = self.find_victim();
            let Some(old) = self.slots.get_mut(victim) else {
                return;
            };
            let old = std::mem::replace(old, slot);
            self.bytes = self.bytes.saturating_sub(cost(&old.token, &old.value));
            if let Some(m) = self.index.get_mut(old.provider) {
                m.remove(&old.token);
            }
            victim
        };
        self.bytes = self.bytes.saturating_add(new_cost);
        if let Some(m) = self.index.get_mut(provider) {
            m.insert(token.into(), at);
        }
    }

    /// Removes slot `i` entirely (the last slot moves into its place).
    fn remove_slot(&mut self, i: usize) {
        if i >= self.slots.len() {
            return;
        }
        let old = self.slots.swap_remove(i);
        self.bytes = self.bytes.saturating_sub(cost(&old.token, &old.value));
        if let Some(m) = self.index.get_mut(old.provider) {
            m.remove(&old.token);
        }
        if let Some(moved) = self.slots.get(i) {
            if let Some(ix) = self
                .index
                .get_mut(moved.provider)
                .and_then(|m| m.get_mut(&moved.token))
            {
                *ix = i;
            }
        }
        if self.hand > self.slots.len() {
            self.hand = 0;
        }
    }

    fn find_victim(&mut self) -> usize {
        // Each slot is passed over at most once with its bit set, so this ends within 2 rounds.
        for _ in 0..2 * self.slots.len() {
            let i = self.hand % self.slots.len().max(1);
            self.hand = i + 1;
            match self.slots.get_mut(i) {
                Some(s) if s.referenced => s.referenced = false,
                _ => return i,
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Dates;

    fn v() -> Rc<Verified> {
        Rc::new(Verified {
            claims: Default::default(),
            dates: Dates::default(),
            payload_b64: String::new(),
            kid: None,
        })
    }

    #[test]
    fn bounded_and_versioned() {
        let mut c = TokenCache::new(2, 3);
        for t in ["a", "b", "c", "d", "e"] {
            c.insert(0, t, 1, v());
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(0, "e", 1).is_some());
        assert!(
            c.get(0, "e", 2).is_none(),
            "another key-set version must miss"
        );
        assert!(c.get(1, "e", 1).is_none(), "providers do not share entries");
    }

    #[test]
    fn recently_used_entries_survive() {
        let mut c = TokenCache::new(1, 2);
        c.insert(0, "hot", 1, v());
        c.insert(0, "cold", 1, v());
        assert!(c.get(0, "hot", 1).is_some());
        c.insert(0, "new", 1, v());
        assert!(c.get(0, "hot", 1).is_some());
        assert!(c.get(0, "cold", 1).is_none());
    }

    #[test]
    fn bytes_stay_under_the_budget() {
        let big = |n: usize| {
            Rc::new(Verified {
                claims: Default::default(),
                dates: Dates::default(),
                payload_b64: "p".repeat(n),
                kid: None,
            })
        };
        let mut c = TokenCache::new(1, 4096);
        for i in 0..100 {
            let token = format!("{i}{}", "t".repeat(256 << 10));
            c.insert(0, &token, 1, big(256 << 10));
            assert!(c.bytes() <= MAX_CACHE_BYTES, "{} bytes", c.bytes());
            assert!(c.get(0, &token, 1).is_some(), "the newest entry is kept");
        }
        assert!(c.len() < 20, "{} entries", c.len());
        // Every remaining entry is still reachable through the index after the moves.
        let held = c.len();
        let reachable = (0..100)
            .filter(|i| {
                c.get(0, &format!("{i}{}", "t".repeat(256 << 10)), 1)
                    .is_some()
            })
            .count();
        assert_eq!(reachable, held);
        // One entry larger than the budget is not cached at all.
        c.insert(0, "huge", 1, big(MAX_CACHE_BYTES));
        assert!(c.get(0, "huge", 1).is_none());
        assert!(c.bytes() <= MAX_CACHE_BYTES);
    }

    #[test]
    fn zero_capacity_disables() {
        let mut c = TokenCache::new(1, 0);
        c.insert(0, "a", 1, v());
        assert!(c.get(0, "a", 1).is_none());
    }
}
