//! `htu` comparison (`htu`): any text as a proof's `htu`, and as a request's path.
//! Checked beyond "no panic": a comparable form is an http(s) URI with a lowercase origin, no
//! default port, no query or fragment and a normalized path; normalizing it again changes
//! nothing; the request side built from that origin and path gives the same form; and a URI
//! with the path's query or fragment changed compares equal.
#![no_main]

use jwtgate::htu;
use jwtgate::path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(n) = htu::normalize(s) {
        assert!(n.starts_with("http://") || n.starts_with("https://"), "{s:?} -> {n:?}");
        assert!(!n.contains('?') && !n.contains('#'), "{s:?} -> {n:?}");
        assert!(!n.ends_with(":80/") || !n.starts_with("http://"), "{n:?}");
        assert_eq!(htu::normalize(&n).as_deref(), Some(n.as_str()), "not idempotent for {s:?}");
        let (scheme, rest) = n.split_once("://").unwrap();
        let end = rest.find('/').unwrap();
        let (authority, p) = rest.split_at(end);
        assert_eq!(authority, authority.to_ascii_lowercase());
        assert!(!(scheme == "https" && authority.ends_with(":443")));
        assert_eq!(path::normalize(p), p, "path of {n:?} not normalized");
        let origin = htu::origin(&format!("{scheme}://{authority}")).unwrap();
        assert_eq!(htu::request(&origin, &format!("{p}?q")).as_deref(), Some(n.as_str()));
        assert_eq!(htu::normalize(&format!("{n}?x#y")).as_deref(), Some(n.as_str()));
    }
    // Any text as a request path under a fixed origin: a form exactly when the path is one.
    if let Some(r) = htu::request("https://api.example.com", s) {
        assert!(r.starts_with("https://api.example.com"), "{s:?} -> {r:?}");
    }
});
