//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Decodes lowercase/uppercase hex; panics on malformed input (test data only).
pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Location of the Wycheproof vectors: the repository's copy, or the directory WYCHEPROOF_DIR names.
pub fn wycheproof_dir() -> PathBuf {
    match std::env::var_os("WYCHEPROOF_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/wycheproof"),
    }
}

/// Loads one Wycheproof JSON file.
pub fn load(name: &str) -> serde_json::Value {
    let path = wycheproof_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// Left-pads (or strips leading zeros of) a big-endian integer to exactly `len` bytes.
pub fn fixed_be(v: &[u8], len: usize) -> Vec<u8> {
    let start = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    let v = &v[start..];
    assert!(v.len() <= len);
    let mut out = vec![0u8; len - v.len()];
    out.extend_from_slice(v);
    out
}

/// Simple deterministic xorshift generator for no-panic fuzz loops.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
