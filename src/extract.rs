//! Where tokens are: headers (with a case-insensitive prefix), query parameters and cookies.
//! Also the rewrites that take a token out of the request when it is not forwarded.

use crate::config::{HeaderSource, TokenSources};
use crate::path;

/// Where a token was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In this request header.
    Header(String),
    /// In this query parameter.
    Param(String),
    /// In this cookie.
    Cookie(String),
}

/// One distinct token and every place it was found. The same token under two spellings of
/// one header counts once, with both spellings as locations (each must be removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The token text.
    pub token: String,
    /// Its locations.
    pub locations: Vec<Location>,
}

/// One request header as a host or a caller hands it over: owned strings, or text borrowed
/// from the host's serialized map (no copy per header on the request path).
pub trait HeaderPair {
    /// The name, in whatever case the host keeps.
    fn name(&self) -> &str;
    /// The value.
    fn value(&self) -> &str;
}

impl<N: AsRef<str>, V: AsRef<str>> HeaderPair for (N, V) {
    fn name(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &str {
        self.1.as_ref()
    }
}

/// The parts of a request that extraction reads. Header names come in any case.
pub struct RequestParts<'a, H: HeaderPair> {
    /// All request headers, repeated names kept as separate entries.
    pub headers: &'a [H],
    /// The query string (after `?`), if any.
    pub query: Option<&'a str>,
}

/// Distinct tokens kept per provider and request. Two already fail (`token_malformed`), so the
/// rest change nothing but would make each new one a search over all before it: 1 MiB of
/// `Bearer t1,Bearer t2,…` was ~90,000 tokens and billions of comparisons.
pub const MAX_DISTINCT_TOKENS: usize = 4;

fn add(found: &mut Vec<Found>, token: &str, at: Location) {
    if token.is_empty() {
        return;
    }
    let full = found.len() >= MAX_DISTINCT_TOKENS;
    match found.iter_mut().find(|f| f.token == token) {
        Some(f) if !f.locations.contains(&at) => f.locations.push(at),
        Some(_) => {}
        None if !full => found.push(Found {
            token: token.to_owned(),
            locations: vec![at],
        }),
        None => {}
    }
}

fn strip_prefix_ci<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| value.get(prefix.len()..))
        .flatten()
}

/// `name` is the header's name as the request spelled it: that spelling is what to remove.
fn from_header(found: &mut Vec<Found>, src: &HeaderSource, name: &str, value: &str) {
    let at = || Location::Header(name.to_owned());
    match &src.value_prefix {
        None => add(found, value.trim(), at()),
        Some(prefix) => {
            // Hosts merge repeated headers into one value joined by ','; a JWS never contains
            // ',', so each piece is read on its own and conflicting tokens stay visible.
            for piece in value.split(',') {
                let piece = piece.trim_start();
                if let Some(tok) = strip_prefix_ci(piece, prefix) {
                    add(found, tok.trim(), at());
                }
            }
        }
    }
}

fn decode_component(s: &str) -> String {
    String::from_utf8_lossy(&path::percent_decode(s, true)).into_owned()
}

fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(k), decode_component(v))
    })
}

fn cookie_pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|c| {
        let (k, v) = c.split_once('=')?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v);
        Some((k.trim(), v))
    })
}

/// Every distinct token the sources of one provider see in the request.
pub fn extract<H: HeaderPair>(sources: &TokenSources, req: &RequestParts<'_, H>) -> Vec<Found> {
    let mut found = Vec::new();
    for src in &sources.headers {
        for h in req.headers {
            if h.name().eq_ignore_ascii_case(&src.name) {
                from_header(&mut found, src, h.name(), h.value());
            }
        }
    }
    if let (false, Some(q)) = (sources.params.is_empty(), req.query) {
        for (k, v) in query_pairs(q) {
            if sources.params.contains(&k) {
                add(&mut found, v.trim(), Location::Param(k));
            }
        }
    }
    if !sources.cookies.is_empty() {
        for h in req.headers {
            if h.name().eq_ignore_ascii_case("cookie") {
                for (k, v) in cookie_pairs(h.value()) {
                    if sources.cookies.iter().any(|c| c == k) {
                        add(&mut found, v, Location::Cookie(k.to_owned()));
                    }
                }
            }
        }
    }
    found
}

/// `path` with every query parameter named `name` removed (the rest kept byte for byte).
pub fn strip_param(path: &str, name: &str) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let k = p.split_once('=').map_or(*p, |(k, _)| k);
            !p.is_empty() && decode_component(k) != name
        })
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// A `cookie` header value without the cookie `name`; `None` when nothing would remain.
pub fn strip_cookie(header: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.split_once('=').map_or(*c, |(k, _)| k.trim()) != name)
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn bearer() -> TokenSources {
        TokenSources {
            headers: vec![HeaderSource {
                name: "authorization".into(),
                value_prefix: Some("Bearer ".into()),
            }],
            params: vec!["access_token".into()],
            cookies: vec!["session".into()],
        }
    }

    #[test]
    fn prefix_is_case_insensitive_and_other_schemes_ignored() {
        let hs = h(&[("authorization", "bearer abc")]);
        let f = extract(
            &bearer(),
            &RequestParts {
                headers: &hs,
                query: None,
            },
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].token, "abc");
        let hs = h(&[("authorization", "Basic abc")]);
        assert!(extract(
            &bearer(),
            &RequestParts {
                headers: &hs,
                query: None
            }
        )
        .is_empty());
    }

    #[test]
    fn merged_and_repeated_headers_show_every_token() {
        let hs = h(&[("authorization", "Bearer a,Bearer b")]);
        assert_eq!(
            extract(
                &bearer(),
                &RequestParts {
                    headers: &hs,
                    query: None
                }
            )
            .len(),
            2
        );
        let hs = h(&[("authorization", "Bearer a"), ("authorization", "Bearer a")]);
        assert_eq!(
            extract(
                &bearer(),
                &RequestParts {
                    headers: &hs,
                    query: None
                }
            )
            .len(),
            1
        );
    }

    #[test]
    fn params_and_cookies() {
        let hs = h(&[("cookie", "a=1; session=tok; b=2")]);
        let f = extract(
            &bearer(),
            &RequestParts {
                headers: &hs,
                query: Some("x=1&access_token=tok"),
            },
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].locations.len(), 2);
    }

    #[test]
    fn rewrites_keep_everything_else() {
        assert_eq!(
            strip_param("/p?a=1&access_token=t&b=2", "access_token"),
            "/p?a=1&b=2"
        );
        assert_eq!(strip_param("/p?access_token=t", "access_token"), "/p");
        assert_eq!(
            strip_cookie("a=1; session=t; b=2", "session").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(strip_cookie("session=t", "session"), None);
    }
}
