//! Path normalization and rule matching (contract v1.1 Paths): `path::ambiguous`,
//! `path::normalize`, `matcher::rule_for`.
//! Checked beyond "no panic": the normalized path is origin-form without empty or dot segments;
//! for paths whose every `%` starts a well-formed escape (contract v1.1 refuses the others with
//! `path_ambiguous`), normalizing is idempotent, and the rule chosen for the raw path is the rule
//! chosen for the path an upstream sees after decoding its unreserved escapes.
#![no_main]

use jwtgate::{matcher, path};
use jwtgate_fuzz::config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let (raw, _query) = path::split(target);
    if path::ambiguous(raw, false) {
        return; // refused with 400 before any rule
    }
    let n = path::normalize(raw);
    assert!(n.starts_with('/'), "{raw:?} -> {n:?}");
    let body = n.strip_suffix('/').unwrap_or(&n);
    if !body.is_empty() {
        for seg in body[1..].split('/') {
            assert!(!matches!(seg, "" | "." | ".."), "{raw:?} -> {n:?}");
        }
    }
    if !well_formed_escapes(raw) {
        return;
    }
    let cfg = config();
    assert_eq!(path::normalize(&n), n, "not idempotent for {raw:?}");
    let decoded = decode_unreserved(raw);
    assert_eq!(
        matcher::rule_for(cfg, &n),
        matcher::rule_for(cfg, &path::normalize(&decoded)),
        "{raw:?} and its decoded form {decoded:?} match different rules"
    );
});

fn well_formed_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// What an upstream reads: `%XX` of unreserved characters decoded (bytes, any text around them).
fn decode_unreserved(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let v = (b[i] == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
            .filter(|v| v.is_ascii_alphanumeric() || b"-._~".contains(v));
        match v {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}
