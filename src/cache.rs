//! Verified-token cache: a bounded map from (provider, token) to its verified claims.
//!
//! Replacement is CLOCK (second chance), an O(1) approximation of LRU. Entries remember the
//! key-set version they were verified under and are ignored once the keys change; the checks
//! that depend on the time are re-run by the caller on every hit.

use crate::claims::Verified;
use hashbrown::HashTable;
use std::hash::Hasher;

/// A fast non-cryptographic hash for token keys. Flooding is not a concern: only tokens that
/// passed verification are ever inserted, so no client can fill a bucket with colliding keys.
/// It reads the length and the last [`HASHED_TAIL`] bytes only: a JWS ends with its signature,
/// which differs between any two verified tokens, and this runs on every request (the whole
/// token is still compared on a hit).
#[derive(Default)]
struct TokenHasher(u64);

/// Bytes of a key's end that its hash reads.
const HASHED_TAIL: usize = 32;

impl Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.len().saturating_sub(HASHED_TAIL);
        self.mix(bytes.len() as u64);
        let mut chunks = bytes.get(tail..).unwrap_or(bytes).chunks_exact(8);
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

fn hash_of(token: &str) -> u64 {
    let mut h = TokenHasher::default();
    h.write(token.as_bytes());
    h.finish()
}

/// `a == b`, eight bytes at a time: wasm's `memcmp` goes byte by byte, and a hit compares the
/// whole token (hundreds of bytes).
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut wa, mut wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| <[u8; 8]>::try_from(c).map(u64::from_ne_bytes).ok();
    (&mut wa).zip(&mut wb).all(|(x, y)| word(x) == word(y)) && wa.remainder() == wb.remainder()
}

/// Slot indices of one provider's tokens, by [`hash_of`] the token (the slot's value holds it).
type TokenMap = HashTable<usize>;
use std::rc::Rc;

/// One cached token; its text (the key) is the value's own ([`Verified::token`]).
struct Slot {
    provider: usize,
    version: u64,
    value: Rc<Verified>,
    referenced: bool,
    bytes: usize,
}

/// Most bytes of tokens and claims one VM keeps cached (contract v1.1): a few thousand
/// 8 KB tokens must not grow a worker by hundreds of MB.
pub const MAX_CACHE_BYTES: usize = 16 << 20;

/// What an entry costs: the token, and the parsed claims (estimated from the payload's size: a
/// map costs more than its JSON text).
fn entry_bytes(v: &Verified) -> usize {
    v.token().len() + v.payload_b64().len() * 3 + 256
}

/// A per-VM cache of verified tokens, at most `capacity` entries and [`MAX_CACHE_BYTES`].
pub struct TokenCache {
    capacity: usize,
    max_bytes: usize,
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
        Self::with_byte_limit(providers, capacity, MAX_CACHE_BYTES)
    }

    /// As [`TokenCache::new`] with another byte limit (tests).
    pub fn with_byte_limit(providers: usize, capacity: usize, max_bytes: usize) -> TokenCache {
        TokenCache {
            capacity,
            max_bytes,
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

    /// Bytes the entries are counted as.
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

    /// The slot holding `token` for `provider`.
    fn find(&self, provider: usize, token: &str) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .get(provider)?
            .find(hash_of(token), |&i| {
                slots.get(i).is_some_and(|s| same(s.value.token(), token))
            })
            .copied()
    }

    fn lookup(&mut self, provider: usize, token: &str, version: u64) -> Option<Rc<Verified>> {
        let i = self.find(provider, token)?;
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

    /// Remembers a verified token (keyed by its own text), evicting cold entries while over a
    /// limit.
    pub fn insert(&mut self, provider: usize, version: u64, value: Rc<Verified>) {
        if self.capacity == 0 || provider >= self.index.len() {
            return;
        }
        let bytes = entry_bytes(&value);
        let hash = hash_of(value.token());
        if bytes > self.max_bytes {
            return;
        }
        if let Some(i) = self.find(provider, value.token()) {
            if let Some(slot) = self.slots.get_mut(i) {
                self.bytes = self.bytes - slot.bytes + bytes;
                slot.version = version;
                slot.value = value;
                slot.referenced = true;
                slot.bytes = bytes;
            }
            self.shrink_to_limits(None);
            return;
        }
        self.bytes += bytes;
        self.slots.push(Slot {
            provider,
            version,
            value,
            referenced: false,
            bytes,
        });
        let at = self.slots.len() - 1;
        let slots = &self.slots;
        if let Some(m) = self.index.get_mut(provider) {
            m.insert_unique(hash, at, |&i| {
                slots.get(i).map_or(0, |s| hash_of(s.value.token()))
            });
        }
        self.shrink_to_limits(Some(at));
    }

    /// Evicts until within both limits; `keep` (the entry just added) goes last.
    fn shrink_to_limits(&mut self, mut keep: Option<usize>) {
        while self.slots.len() > self.capacity || self.bytes > self.max_bytes {
            let mut victim = self.find_victim();
            if Some(victim) == keep && self.slots.len() > 1 {
                victim = self.find_victim();
            }
            let last = self.slots.len().saturating_sub(1);
            if keep == Some(last) {
                keep = Some(victim);
            }
            if !self.remove_at(victim) {
                return;
            }
        }
    }

    /// Removes slot `i` (the last slot moves into its place).
    fn remove_at(&mut self, i: usize) -> bool {
        if i >= self.slots.len() {
            return false;
        }
        let last = self.slots.len() - 1;
        let old = self.slots.swap_remove(i);
        self.bytes = self.bytes.saturating_sub(old.bytes);
        if let Some(m) = self.index.get_mut(old.provider) {
            if let Ok(entry) = m.find_entry(hash_of(old.value.token()), |&j| j == i) {
                entry.remove();
            }
        }
        // The slot that was last now sits at `i`.
        if let Some(moved) = self.slots.get(i) {
            if let Some(m) = self.index.get_mut(moved.provider) {
                if let Some(pos) = m.find_mut(hash_of(moved.value.token()), |&j| j == last) {
                    *pos = i;
                }
            }
        }
        true
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

    /// A verified `token` with an empty payload.
    fn v(token: &str) -> Rc<Verified> {
        Rc::new(Verified::new(
            token,
            0..0,
            Default::default(),
            Dates::default(),
            None,
        ))
    }

    #[test]
    fn bounded_and_versioned() {
        let mut c = TokenCache::new(2, 3);
        for t in ["a", "b", "c", "d", "e"] {
            c.insert(0, 1, v(t));
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
        c.insert(0, 1, v("hot"));
        c.insert(0, 1, v("cold"));
        assert!(c.get(0, "hot", 1).is_some());
        c.insert(0, 1, v("new"));
        assert!(c.get(0, "hot", 1).is_some());
        assert!(c.get(0, "cold", 1).is_none());
    }

    /// A verified `token` followed by a payload segment of `payload` bytes.
    fn v_sized(token: &str, payload: usize) -> Rc<Verified> {
        let text = format!("{token}.{}", "p".repeat(payload));
        Rc::new(Verified::new(
            &text,
            token.len() + 1..text.len(),
            Default::default(),
            Dates::default(),
            None,
        ))
    }

    #[test]
    fn bounded_in_bytes_too() {
        let mut c = TokenCache::with_byte_limit(1, 1000, 10_000);
        let token = |i: usize| v_sized(&format!("t{i}"), 1000).token().to_owned();
        for i in 0..100 {
            c.insert(0, 1, v_sized(&format!("t{i}"), 1000));
            assert!(c.bytes() <= 10_000, "{i}: {}", c.bytes());
        }
        assert!(c.len() >= 2 && c.len() < 10, "{}", c.len());
        assert!(c.get(0, &token(99), 1).is_some(), "the newest stays");
        // Every entry still found at its own index after removals.
        let mut found = 0;
        for i in 0..100 {
            if let Some(hit) = c.get(0, &token(i), 1) {
                assert_eq!(hit.payload_b64().len(), 1000);
                assert_eq!(hit.token(), token(i));
                found += 1;
            }
        }
        assert_eq!(found, c.len());
        // An entry larger than the whole budget is not cached.
        let huge = v_sized("huge", 20_000);
        c.insert(0, 1, huge.clone());
        assert!(c.get(0, huge.token(), 1).is_none());
        assert_eq!(TokenCache::new(1, 1).max_bytes, MAX_CACHE_BYTES);
    }

    #[test]
    fn entry_count_bound_evicts_one_per_insert() {
        let mut c = TokenCache::new(1, 3);
        for t in ["a", "b", "c", "d"] {
            c.insert(0, 1, v(t));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(0, "d", 1).is_some());
        let found = ["a", "b", "c"]
            .iter()
            .filter(|t| c.get(0, t, 1).is_some())
            .count();
        assert_eq!(found, 2);
    }

    #[test]
    fn word_wise_comparison_is_equality() {
        let base = "eyJhbGciOiJFUzI1NiJ9.e30.abcdefghijklmnopqrstuvwxyz0123456789";
        assert!(same(base, base));
        assert!(same("", ""));
        for cut in 0..base.len() {
            assert!(!same(&base[..cut], base), "prefix of {cut}");
        }
        for at in 0..base.len() {
            // One byte changed anywhere, in a word or in the tail.
            let mut b = base.as_bytes().to_vec();
            b[at] ^= 1;
            let other = String::from_utf8(b).unwrap();
            assert!(!same(base, &other), "byte {at}");
        }
    }

    #[test]
    fn every_entry_stays_findable_through_evictions() {
        // Tokens that share their last 32 bytes collide in the hash: the lookup must still
        // tell them apart, and moving slots on eviction must keep each index right.
        let mut c = TokenCache::new(2, 50);
        let tail = "x".repeat(40);
        let tok = |i: usize| format!("t{i}.{tail}");
        for i in 0..400 {
            c.insert(i % 2, 1, v(&tok(i)));
            if i % 3 == 0 {
                assert!(c.get(i % 2, &tok(i), 1).is_some());
            }
        }
        assert_eq!(c.len(), 50);
        let held: Vec<(usize, String)> = c
            .slots
            .iter()
            .map(|s| (s.provider, s.value.token().to_owned()))
            .collect();
        for (p, t) in &held {
            assert!(c.get(*p, t, 1).is_some(), "{t} held but not found");
            assert!(
                c.get(1 - *p, t, 1).is_none(),
                "{t} found under the other provider"
            );
        }
        assert_eq!(c.index.iter().map(|m| m.len()).sum::<usize>(), 50);
        assert!(c.get(0, &tok(0), 1).is_none(), "evicted");
    }

    #[test]
    fn zero_capacity_disables() {
        let mut c = TokenCache::new(1, 0);
        c.insert(0, 1, v("a"));
        assert!(c.get(0, "a", 1).is_none());
    }
}
