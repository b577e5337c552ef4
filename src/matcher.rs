//! Which rule applies to a request: first match on the normalized path wins.

use crate::config::{Config, PathMatch, Requirement};
use std::borrow::Cow;

/// The path part of `:path`, normalized so that `/a//b`, `/a/./b`, `/x/../a/b` and `/%61/b`
/// all match a rule written for `/a/b`: a rule must not be bypassed by spelling.
pub fn normalize(path: &str) -> Cow<'_, str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    // Most paths are already canonical: no copy on the request path for them.
    let canonical = path.starts_with('/')
        && !path.contains("//")
        && !path.contains("/.")
        && !path.contains('%');
    if canonical {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(path);
    let mut segs: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segs {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || (decoded.ends_with('/') && !segs.is_empty()) {
        out.push('/');
    }
    Cow::Owned(out)
}

/// Decodes `%XX` only where XX is an unreserved character (RFC 3986 §2.3), which every server
/// treats as equal to the literal; reserved escapes such as `%2F` keep their meaning. Works on
/// bytes: a path with non-ASCII text is decoded too (skipping it let `/é/%2e%2e/admin` match
/// as a path under `/é/`), and only ASCII is ever inserted, so the result stays UTF-8.
fn decode_unreserved(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let v = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = v.filter(|v| v.is_ascii_alphanumeric() || b"-._~".contains(v)) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| path.to_owned())
}

fn matches(m: &PathMatch, path: &str) -> bool {
    match m {
        PathMatch::Prefix(p) => path.starts_with(p.as_str()),
        PathMatch::Exact(p) => path == p,
    }
}

/// Index of the first rule that matches, or `None` (then the default requirement applies).
pub fn rule_for(cfg: &Config, raw_path: &str) -> Option<usize> {
    let path = normalize(raw_path);
    cfg.rules.iter().position(|r| matches(&r.matcher, &path))
}

/// The requirement for a rule index from [`rule_for`].
pub fn requirement(cfg: &Config, rule: Option<usize>) -> &Requirement {
    rule.and_then(|i| cfg.rules.get(i))
        .map_or(&cfg.default_requirement, |r| &r.requires)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn spelling_tricks_normalize() {
        assert_eq!(normalize("/admin"), "/admin");
        assert_eq!(normalize("//admin"), "/admin");
        assert_eq!(normalize("/x/../admin?q=1"), "/admin");
        assert_eq!(normalize("/./%61dmin"), "/admin");
        assert_eq!(normalize("/admin/"), "/admin/");
        assert_eq!(normalize("/a%2Fb"), "/a%2Fb");
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("/../.."), "/");
    }
}
