//! The `htu` of a DPoP proof and the URI of the request, in one comparable form (RFC 9449
//! §4.3: "the HTTP target URI, without query and fragment"): scheme and host lowercased, the
//! default port removed, the path normalized as rules see it (contract "Paths"), and `%xx`
//! escapes in uppercase (RFC 3986 §6.2.2.1). Two spellings of one resource compare equal; two
//! resources never do.

use crate::path;
use std::borrow::Cow;

/// The origin part of a URI, `scheme://authority`, lowercased, default port removed; `None`
/// unless the scheme is http or https and the authority a plain host with an optional port.
fn split_origin(uri: &str) -> Option<(String, &str)> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = authority.to_ascii_lowercase();
    // Userinfo names no resource and has no place in a target URI (RFC 9110 §4.2.4).
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // An IPv6 literal carries its own colons: the port follows the closing bracket.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inside, after) = v6.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (format!("[{inside}]"), port)
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.clone(), None),
        },
    };
    if host.is_empty()
        || host == "[]"
        || host
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b == b'"')
    {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => {
            if !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5 {
                return None;
            }
            let n: u16 = p.parse().ok()?;
            (n.to_string() != default_port).then(|| n.to_string())
        }
    };
    let origin = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    Some((origin, tail))
}

/// A configured origin (`external_origin`) in comparable form: nothing may follow the
/// authority but one `/`.
pub fn origin(s: &str) -> Option<String> {
    let (origin, tail) = split_origin(s)?;
    matches!(tail, "" | "/").then_some(origin)
}

/// `%xx` escapes with uppercase hex digits.
fn upper_escapes(p: &str) -> Cow<'_, str> {
    let b = p.as_bytes();
    let lower_escape = b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && b.get(i + 1..i + 3).is_some_and(|h| {
                h.iter().all(u8::is_ascii_hexdigit) && h.iter().any(u8::is_ascii_lowercase)
            })
    });
    if !lower_escape {
        return Cow::Borrowed(p);
    }
    let mut out = String::with_capacity(p.len());
    let mut upper_next = 0u8;
    for c in p.chars() {
        if upper_next > 0 {
            upper_next -= 1;
            out.push(c.to_ascii_uppercase());
            continue;
        }
        if c == '%' {
            upper_next = 2;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// The path in comparable form: normalized as rules see it, escapes in uppercase.
fn comparable_path(p: &str) -> String {
    let p = if p.is_empty() { "/" } else { p };
    let n = path::normalize(p);
    upper_escapes(&n).into_owned()
}

/// An absolute http(s) URI in comparable form, query and fragment dropped; `None` when it is
/// not one (a proof whose `htu` is not an http(s) URI matches no request).
pub fn normalize(uri: &str) -> Option<String> {
    let uri = uri.split('#').next().unwrap_or(uri);
    let uri = uri.split('?').next().unwrap_or(uri);
    let (origin, path) = split_origin(uri)?;
    Some(format!("{origin}{}", comparable_path(path)))
}

/// The request's target URI in comparable form: `origin` (the configured external origin, or
/// `scheme://authority` as the proxy saw the request) and `:path` without its query.
pub fn request(origin: &str, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    normalize(&format!("{origin}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_target_compare_equal() {
        let want = Some("https://api.example.com/a/b".to_owned());
        for u in [
            "https://api.example.com/a/b",
            "HTTPS://API.Example.COM/a/b",
            "https://api.example.com:443/a/b",
            "https://api.example.com/a/b?x=1",
            "https://api.example.com/a/b#frag",
            "https://api.example.com/a/./c/../b",
            "https://api.example.com//a/b",
            "https://api.example.com/%61/b",
        ] {
            assert_eq!(normalize(u), want, "{u}");
        }
        assert_eq!(
            normalize("http://h:80"),
            Some("http://h/".to_owned()),
            "empty path is /"
        );
        assert_eq!(normalize("http://h:8080/x"), Some("http://h:8080/x".into()));
        assert_eq!(normalize("http://h:/x"), Some("http://h/x".into()));
        assert_eq!(
            normalize("http://[::1]:80/x"),
            Some("http://[::1]/x".into())
        );
        assert_eq!(
            normalize("http://[::1]:81/x"),
            Some("http://[::1]:81/x".into())
        );
        assert_eq!(normalize("http://h/a%2fb"), Some("http://h/a%2Fb".into()));
    }

    #[test]
    fn different_targets_differ() {
        let a = normalize("https://h/a");
        for u in [
            "http://h/a",
            "https://h:8443/a",
            "https://g/a",
            "https://h/A",
            "https://h/a/",
            "https://h/b",
        ] {
            assert_ne!(normalize(u), a, "{u}");
        }
    }

    #[test]
    fn not_http_uris_have_no_form() {
        for u in [
            "",
            "/a",
            "ftp://h/a",
            "https://",
            "https:///a",
            "https://user@h/a",
            "https://h:99999/a",
            "https://h:8x/a",
            "https://[::1/a",
            "https://[::1]x/a",
        ] {
            assert_eq!(normalize(u), None, "{u:?}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("HTTPS://Api.Example.com:443/"),
            Some("https://api.example.com".into())
        );
        assert_eq!(origin("http://h:8080"), Some("http://h:8080".into()));
        assert_eq!(origin("http://h/x"), None);
        assert_eq!(origin("http://h?x"), None);
        assert_eq!(
            request("https://h", "/a/../b?q=1"),
            Some("https://h/b".into())
        );
    }
}
