//! The request path, host-free: refusal of ambiguous spellings, RFC 3986 normalization, and the
//! form rules are matched on (the contract's "Paths (v1.1)").
//!
//! Three views of one `:path`:
//! - [`ambiguous`]: spellings that servers disagree on (an encoded `/` or `\`, a `\`, control
//!   characters, broken `%` escapes, not origin-form): refused before any rule.
//! - [`normalize`]: `%XX` of unreserved characters decoded, dot segments removed (RFC 3986
//!   §5.2.4, so `%2E%2E` too), repeated `/` merged. This is what goes upstream.
//! - [`match_form`]: the normalized path with `;` parameters dropped from every segment and
//!   `%xx` hex in uppercase; rules compare against it (never forwarded).
//!
//! A path already in canonical form costs a scan and no allocation.

use std::borrow::Cow;

/// Splits a `:path` into the path and the query (without its `?`), at the first `?`.
pub fn split(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte a `%` at `i` encodes, if `%` is followed by two hex digits.
fn escape_at(b: &[u8], i: usize) -> Option<u8> {
    let h = hex(*b.get(i + 1)?)?;
    let l = hex(*b.get(i + 2)?)?;
    Some(h << 4 | l)
}

/// `%XX` (exactly two hex digits) decoded to its byte, every other byte kept as written; with
/// `plus_is_space`, `+` is a space (a query component, as HTML forms encode it).
pub fn percent_decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if let Some(v) = (c == b'%').then(|| escape_at(b, i)).flatten() {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && c == b'+' { b' ' } else { c });
        i += 1;
    }
    out
}

fn upper_hex(d: u8) -> char {
    char::from(if d < 10 { b'0' + d } else { b'A' + d - 10 })
}

fn is_unreserved(v: u8) -> bool {
    v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~')
}

fn is_control(v: u8) -> bool {
    v < 0x20 || v == 0x7f
}

/// True when `path` (the part before `?`) must be refused with `path_ambiguous`: not
/// origin-form (`/…`; `*`, absolute-form, empty), a `\`, a `#`, a C0 control or DEL (raw or
/// percent-encoded), a `%` not followed by two hex digits, an encoded `/` or `\` (`%2F`, `%5C`,
/// any case) unless `keep_escaped_slashes`, or bytes that were not UTF-8 (a host hands them over
/// as U+FFFD).
pub fn ambiguous(path: &str, keep_escaped_slashes: bool) -> bool {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return true;
    }
    let mut non_ascii = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\\' | b'#' => return true,
            b'%' => match escape_at(b, i) {
                None => return true,
                Some(v) if is_control(v) => return true,
                Some(b'/' | b'\\') if !keep_escaped_slashes => return true,
                Some(_) => {}
            },
            c if is_control(c) => return true,
            c if !c.is_ascii() => non_ascii = true,
            _ => {}
        }
    }
    non_ascii && path.contains('\u{FFFD}')
}

/// True when `normalize` would return `path` unchanged: origin-form, no decodable escape, no
/// dot segment, no empty segment but a final one.
fn is_normal(b: &[u8]) -> bool {
    let Some(rest) = b.strip_prefix(b"/") else {
        return true; // not origin-form: left as is (and refused by `ambiguous`)
    };
    let mut segments = rest.split(|c| *c == b'/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if (seg.is_empty() && !last) || seg == b"." || seg == b".." {
            return false;
        }
    }
    for (i, &c) in b.iter().enumerate() {
        if c == b'%' && escape_at(b, i).is_none_or(is_unreserved) {
            return false;
        }
    }
    true
}

/// The path as RFC 3986 §6.2.2 normalizes it, plus merged slashes: `%XX` of unreserved
/// characters decoded, dot segments removed (§5.2.4, after decoding), then runs of `/` merged.
/// Idempotent and total: a path not in origin-form comes back unchanged, and a `%` without two
/// hex digits becomes `%25` (such paths are refused by [`ambiguous`] anyway).
pub fn normalize(path: &str) -> Cow<'_, str> {
    if is_normal(path.as_bytes()) {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(path);
    Cow::Owned(merge_slashes(&remove_dot_segments(&decoded)))
}

/// Decodes `%XX` where XX is unreserved (RFC 3986 §2.3); other escapes stay as written.
fn decode_unreserved(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c != b'%' || i < start {
            continue;
        }
        // `%` is ASCII: `start..i` and `i..` are on character boundaries.
        out.push_str(path.get(start..i).unwrap_or(""));
        match escape_at(b, i) {
            Some(v) if is_unreserved(v) => {
                out.push(char::from(v));
                start = i + 3;
            }
            Some(_) => {
                out.push_str(path.get(i..i + 3).unwrap_or(""));
                start = i + 3;
            }
            None => {
                out.push_str("%25");
                start = i + 1;
            }
        }
    }
    out.push_str(path.get(start..).unwrap_or(""));
    out
}

/// RFC 3986 §5.2.4 on an origin-form path: `.` and `..` segments resolved, `..` never above
/// the root; empty segments count as segments (`/a//../b` is `/a/b`, as Envoy has it).
fn remove_dot_segments(path: &str) -> String {
    let Some(rest) = path.strip_prefix('/') else {
        return path.to_owned();
    };
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in rest.split('/') {
        trailing = false;
        match seg {
            "." => trailing = true,
            ".." => {
                stack.pop();
                trailing = true;
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &stack {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The form rules are compared with, from a normalized path: `;` parameters dropped from every
/// segment (`/admin;jsessionid=1/x` → `/admin/x`), an encoded `%3B` treated as `;` (servers
/// that decode before stripping parameters would otherwise serve `/admin%3Bx` as `/admin`),
/// `%xx` hex digits in uppercase, then dot segments and repeated `/` resolved again (so
/// `/x/..;/admin` is `/admin`, as Tomcat and Envoy's `normalize_path` have it).
pub fn match_form(path: &str) -> Cow<'_, str> {
    let b = path.as_bytes();
    let plain = !b.iter().enumerate().any(|(i, &c)| {
        c == b';'
            || (c == b'%'
                && b.get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().any(u8::is_ascii_lowercase) || h == b"3B"))
    });
    if plain && is_normal(b) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut in_params = false;
    let mut skip = 0;
    for (i, c) in path.char_indices() {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if c == '/' {
            in_params = false;
        } else if in_params {
            continue;
        } else if c == ';' {
            in_params = true;
            continue;
        } else if c == '%' {
            if let Some(v) = escape_at(b, i) {
                if v == b';' {
                    in_params = true;
                } else {
                    out.push('%');
                    out.push(upper_hex(v >> 4));
                    out.push(upper_hex(v & 0xf));
                }
                skip = 2;
                continue;
            }
        }
        out.push(c);
    }
    Cow::Owned(merge_slashes(&remove_dot_segments(&out)))
}

/// `normalize` then `match_form`, for a rule written in a config (which must already be in
/// this form to ever match).
pub fn canonical_rule(path: &str) -> String {
    match_form(&normalize(path)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> String {
        normalize(p).into_owned()
    }

    fn m(p: &str) -> String {
        match_form(&normalize(p)).into_owned()
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        for p in [
            "/",
            "/admin",
            "/admin/",
            "/a/b/c",
            "/.well-known/jwks.json",
            "/a..b/.c/..d",
            "/caf%C3%A9",
            "/a%2Fb",
            "/a%2fb",
            "/x;y",
        ] {
            assert!(matches!(normalize(p), Cow::Borrowed(_)), "{p}");
        }
        for p in ["/", "/admin", "/admin/", "/.well-known/x", "/caf%C3%A9"] {
            assert!(matches!(match_form(p), Cow::Borrowed(_)), "{p}");
        }
    }

    #[test]
    fn rfc3986_normalization() {
        let cases = [
            ("//admin", "/admin"),
            ("///admin//x//", "/admin/x/"),
            ("/x/../admin", "/admin"),
            ("/./admin", "/admin"),
            ("/admin/.", "/admin/"),
            ("/admin/./", "/admin/"),
            ("/a/b/..", "/a/"),
            ("/a/b/../", "/a/"),
            ("/..", "/"),
            ("/../..", "/"),
            ("/../admin", "/admin"),
            ("/a//../b", "/a/b"),
            ("/a/./b/../../c", "/c"),
            ("/%61dmin", "/admin"),
            ("/%41DMIN", "/ADMIN"),
            ("/%7Euser", "/~user"),
            ("/%7euser", "/~user"),
            ("/x/%2e%2e/admin", "/admin"),
            ("/x/%2E%2E/admin", "/admin"),
            ("/x/.%2e/admin", "/admin"),
            ("/a/%2e/b", "/a/b"),
            ("/a%2Fb", "/a%2Fb"),
            ("/a%2fb", "/a%2fb"),
            ("/a%3Bb", "/a%3Bb"),
            ("/caf%c3%a9", "/caf%c3%a9"),
            ("/a%252Fb", "/a%252Fb"),
            ("/x/..;/admin", "/x/..;/admin"),
            ("/admin;x", "/admin;x"),
            ("/caf\u{e9}/../x", "/x"),
            ("/a%", "/a%25"),
            ("/%zz", "/%25zz"),
            ("/a%2", "/a%252"),
            ("*", "*"),
            ("http://h/admin", "http://h/admin"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(n(input), want, "{input:?}");
            assert_eq!(n(want), want, "idempotent: {want:?}");
        }
    }

    #[test]
    fn match_form_drops_parameters_and_folds_hex() {
        let cases = [
            ("/admin", "/admin"),
            ("/admin;jsessionid=1/x", "/admin/x"),
            ("/admin;x", "/admin"),
            ("/admin;x/", "/admin/"),
            ("/admin/;x", "/admin/"),
            ("/;x/admin", "/admin"),
            ("/a;x;y=1/b;", "/a/b"),
            ("/admin%3B", "/admin"),
            ("/admin%3bx/y", "/admin/y"),
            ("/x/..;/admin", "/admin"),
            ("/x/.;y/admin", "/x/admin"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%5cb", "/a%5Cb"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/ADMIN", "/ADMIN"),
        ];
        for (input, want) in cases {
            assert_eq!(m(input), want, "{input:?}");
            assert_eq!(m(want), want, "idempotent: {want:?}");
        }
    }

    #[test]
    fn ambiguous_spellings_are_refused() {
        for p in [
            "/admin%2f",
            "/admin%2F",
            "/a%5Cb",
            "/a%5cb",
            "/a\\b",
            "/a#frag",
            "/admin#frag",
            "/a%00b",
            "/a\u{0}b",
            "/a%0ab",
            "/a%0Db",
            "/a\nb",
            "/a\tb",
            "/a%7fb",
            "/a%7Fb",
            "/a\u{7f}b",
            "/a%1fb",
            "/%zz",
            "/a%",
            "/a%2",
            "/a%%32%66",
            "/a%g0",
            "*",
            "http://h/admin",
            "admin",
            "",
            "/a\u{FFFD}b",
        ] {
            assert!(ambiguous(p, false), "{p:?} should be refused");
        }
        for p in ["/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb"] {
            assert!(
                !ambiguous(p, true),
                "{p:?} is kept with escaped_slashes keep"
            );
        }
        for p in ["/a\\b", "/a%00", "/a%", "*"] {
            assert!(ambiguous(p, true), "{p:?}: keep lets only %2F/%5C through");
        }
        for p in [
            "/",
            "/admin",
            "/admin/",
            "/admin;x=1",
            "/admin%3B",
            "/%61dmin",
            "/x/../admin",
            "/a%252Fb",
            "/caf%C3%A9",
            "/caf\u{e9}",
            "/a%20b",
            "/a%80",
            "/a b",
        ] {
            assert!(!ambiguous(p, false), "{p:?} should pass");
        }
    }

    #[test]
    fn percent_decode_takes_exactly_two_hex_digits() {
        let d = |s: &str, plus| String::from_utf8_lossy(&percent_decode(s, plus)).into_owned();
        assert_eq!(d("a%2Fb%2fc%41", false), "a/b/cA");
        // `u8::from_str_radix` would read `+1` as 1: a sign is not a hex digit.
        assert_eq!(d("%+1%-1%1%%zz%", false), "%+1%-1%1%%zz%");
        assert_eq!(d("a+b%2B", false), "a+b+");
        assert_eq!(d("a+b%2B", true), "a b+");
        assert_eq!(percent_decode("%ff%00", false), vec![0xff, 0]);
    }

    #[test]
    fn split_keeps_the_query_byte_for_byte() {
        assert_eq!(split("/a?b=/../c?d"), ("/a", Some("b=/../c?d")));
        assert_eq!(split("/a?"), ("/a", Some("")));
        assert_eq!(split("/a"), ("/a", None));
    }
}
