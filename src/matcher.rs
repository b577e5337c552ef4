//! Which rule applies to a request: first match on the path's match form wins.
//!
//! The path is normalized and refused (if ambiguous) by [`crate::path`] before any rule is
//! consulted; here a rule only compares strings.

use crate::config::{Config, PathMatch, Requirement, Rule};
use crate::path;

fn eq(a: &[u8], b: &[u8], ignore_case: bool) -> bool {
    if ignore_case {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// Whether `rule` applies to `path`, a match form from [`path::match_form`].
pub fn matches(rule: &Rule, path: &str) -> bool {
    let path = path.as_bytes();
    match &rule.matcher {
        PathMatch::Prefix(p) => path
            .get(..p.len())
            .is_some_and(|head| eq(head, p.as_bytes(), rule.ignore_case)),
        PathMatch::Exact(p) => {
            // `/admin` also matches `/admin/` (one trailing slash).
            let path = match path.strip_suffix(b"/") {
                Some(shorter) if path.len() == p.len() + 1 => shorter,
                _ => path,
            };
            eq(path, p.as_bytes(), rule.ignore_case)
        }
    }
}

/// Index of the first rule that matches the normalized path (from [`path::normalize`], without
/// query), or `None` (then the default requirement applies).
pub fn rule_for(cfg: &Config, normalized: &str) -> Option<usize> {
    let form = path::match_form(normalized);
    cfg.rules.iter().position(|r| matches(r, &form))
}

/// The requirement of rule `rule` (an index into `cfg.rules`, as the gate matched it), or the
/// default requirement when no rule matched.
pub fn requirement(cfg: &Config, rule: Option<usize>) -> &Requirement {
    rule.and_then(|i| cfg.rules.get(i))
        .map_or(&cfg.default_requirement, |r| &r.requires)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(m: PathMatch, ignore_case: bool) -> Rule {
        Rule {
            matcher: m,
            ignore_case,
            requires: Requirement::None,
        }
    }

    fn exact(p: &str) -> Rule {
        rule(PathMatch::Exact(p.into()), false)
    }

    fn hit(r: &Rule, request: &str) -> bool {
        matches(r, &path::match_form(&path::normalize(request)))
    }

    #[test]
    fn exact_rule_and_its_spellings() {
        let admin = exact("/admin");
        for p in [
            "/admin",
            "/admin/",
            "/admin;jsessionid=1",
            "/admin;x/",
            "/admin/.",
            "/admin/./",
            "/%61dmin",
            "/%61%64%6D%69%6E",
            "//admin",
            "//admin//",
            "/x/../admin",
            "/./admin",
            "/x/%2e%2e/admin",
            "/x/%2E%2E/admin",
            "/x/..;/admin",
            "/admin%3B",
            "/admin%3bfoo",
            "/admin/x/..",
            "/../admin",
        ] {
            assert!(hit(&admin, p), "{p} should match /admin");
        }
        for p in [
            "/admin//x",
            "/admin/x",
            "/adminx",
            "/ADMIN",
            "/Admin/",
            "/admin%2F",
            "/admin%20",
            "/admi",
            "/",
        ] {
            assert!(!hit(&admin, p), "{p} should not match /admin");
        }
        assert!(hit(&exact("/admin/"), "/admin/"));
        assert!(!hit(&exact("/admin/"), "/admin"), "only a slash is added");
        assert!(hit(&exact("/"), "/"));
        assert!(hit(&exact("/"), "//"));
    }

    #[test]
    fn ignore_case() {
        let admin = rule(PathMatch::Exact("/admin".into()), true);
        for p in ["/ADMIN", "/Admin/", "/%41DMIN", "/aDmIn;x"] {
            assert!(hit(&admin, p), "{p}");
        }
        assert!(!hit(&admin, "/ADMINX"));
        let api = rule(PathMatch::Prefix("/api/".into()), true);
        assert!(hit(&api, "/API/x"));
        assert!(hit(&api, "/Api/"));
        assert!(!hit(&api, "/API"));
        // No ASCII folding of non-ASCII, and no panic on a multi-byte character at the cut.
        let cafe = rule(PathMatch::Prefix("/caf\u{e9}".into()), true);
        assert!(hit(&cafe, "/CAF\u{e9}/x"));
        assert!(!hit(&cafe, "/CAF\u{c9}"));
        assert!(!hit(
            &rule(PathMatch::Prefix("/ab".into()), true),
            "/\u{e9}"
        ));
    }

    #[test]
    fn prefix_is_a_string_prefix_of_the_match_form() {
        let p = rule(PathMatch::Prefix("/healthz".into()), false);
        for ok in [
            "/healthz",
            "/healthz/x",
            "/healthzz",
            "/healthz;v=1",
            "//healthz",
        ] {
            assert!(hit(&p, ok), "{ok}");
        }
        for no in ["/HEALTHZ", "/health", "/x/healthz", "/healthz/../admin"] {
            assert!(!hit(&p, no), "{no}");
        }
    }

    #[test]
    fn escaped_slashes_kept_are_segment_characters() {
        let r = exact("/a%2Fb");
        assert!(hit(&r, "/a%2Fb"));
        assert!(hit(&r, "/a%2fb"));
        assert!(!hit(&r, "/a/b"));
        assert!(!hit(&exact("/a/b"), "/a%2Fb"));
        assert!(!hit(&exact("/admin"), "/admin%2F"));
        let dots = exact("/a%2F..%2Fadmin");
        assert!(hit(&dots, "/a%2F..%2Fadmin"), "%2F.. is not a dot segment");
        assert!(!hit(&exact("/admin"), "/a%2F..%2Fadmin"));
    }
}
