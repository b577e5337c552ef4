//! Header, cookie and query extraction (`extract::extract`) and the rewrites that remove a token
//! (`strip_param`, `strip_cookie`).
//!
//! Input: lines; the first is the query string, each other `name:value` is a header (a line
//! without ':' is a `cookie` header). Sources: `authorization` with prefix `Bearer `, `x-token`
//! without prefix, parameter `access_token`, cookie `session`.
//! Checked beyond "no panic": tokens are distinct, non-empty and each has a location; after
//! stripping a parameter or cookie, extraction no longer finds a token there, the path before `?`
//! is unchanged, and the other parameters and cookies are kept in order.
#![no_main]

use jwtgate::config::{HeaderSource, TokenSources};
use jwtgate::extract::{self, Location, RequestParts};
use libfuzzer_sys::fuzz_target;

fn sources() -> TokenSources {
    TokenSources {
        headers: vec![
            HeaderSource {
                name: "authorization".into(),
                value_prefix: Some("Bearer ".into()),
            },
            HeaderSource {
                name: "x-token".into(),
                value_prefix: None,
            },
        ],
        params: vec!["access_token".into()],
        cookies: vec!["session".into()],
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let query = lines.next().unwrap_or("");
    let headers: Vec<(String, String)> = lines
        .map(|l| match l.split_once(':') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => ("cookie".to_owned(), l.to_owned()),
        })
        .collect();
    let src = sources();
    let found = extract::extract(
        &src,
        &RequestParts {
            headers: &headers,
            query: Some(query),
        },
    );
    for (i, f) in found.iter().enumerate() {
        assert!(!f.token.is_empty());
        assert!(!f.locations.is_empty());
        assert!(
            found[..i].iter().all(|g| g.token != f.token),
            "duplicate token"
        );
    }

    // Query parameters: strip and extract again.
    let path = format!("/p/q?{query}");
    let stripped = extract::strip_param(&path, "access_token");
    assert!(
        stripped == "/p/q" || stripped.starts_with("/p/q?"),
        "{stripped:?}"
    );
    let q2 = stripped.split_once('?').map(|(_, q)| q);
    let again = extract::extract(
        &TokenSources {
            headers: Vec::new(),
            ..src.clone()
        },
        &RequestParts::<(String, String)> {
            headers: &[],
            query: q2,
        },
    );
    assert!(
        again.iter().all(|f| !f
            .locations
            .contains(&Location::Param("access_token".into()))),
        "parameter survived stripping: {path:?} -> {stripped:?}"
    );
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            !p.is_empty() && !extract::strip_param(&format!("/?{p}"), "access_token").eq("/")
        })
        .collect();
    assert_eq!(
        q2.map(|q| q.split('&').collect::<Vec<_>>())
            .unwrap_or_default(),
        kept
    );

    // Cookies: strip each cookie header and extract again.
    for (n, v) in &headers {
        if n != "cookie" {
            continue;
        }
        let Some(rest) = extract::strip_cookie(v, "session") else {
            continue;
        };
        let hs = vec![("cookie".to_owned(), rest.clone())];
        let again = extract::extract(
            &src,
            &RequestParts {
                headers: &hs,
                query: None,
            },
        );
        assert!(
            again.is_empty(),
            "cookie survived stripping: {v:?} -> {rest:?}"
        );
    }
});
