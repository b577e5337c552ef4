//! A decision's header edits as a host can carry them out.
//!
//! Envoy removes a header when asked. Kong's ngx_wasm_module (0.6) only marks a removed header,
//! and nginx's proxy still forwards it; a header the client sent twice is not fully replaced
//! either. What nginx does obey is `proxy_set_header Name $var`, sending nothing when `$var` is
//! empty. So on such hosts a removal becomes "set to empty", each edit of a header that
//! nginx.conf routes through a variable (see [`nginx_variable`]) sets that variable, and a
//! rewritten `:path` always carries its `?` (a path without one leaves nginx's original query
//! in place).

use crate::gate::Mutations;
use crate::path;
use std::borrow::Cow;

/// How the host takes a request header away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A real removal (Envoy).
    Remove,
    /// Set to an empty value (nginx: dropped by `proxy_set_header`).
    Blank,
}

/// One host call on the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Remove this header (every value).
    Remove(String),
    /// Set this header, replacing its values.
    Set(String, String),
}

/// The nginx variable that carries header `name` upstream where nginx.conf declares it:
/// `set $jwtgate_x_user_id $http_x_user_id;` in the `server` (the client's value unless the
/// filter changes it) and `proxy_set_header X-User-Id $jwtgate_x_user_id;` where it proxies.
/// `jwtgate_` and the name in lowercase with `-` as `_`; `None` for a pseudo-header or a
/// name nginx cannot spell as a variable.
pub fn nginx_variable(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| format!("jwtgate_{}", name.to_ascii_lowercase().replace('-', "_")))
}

/// The host calls that carry out `m`, removals first.
pub fn edits(m: &Mutations, removal: Removal) -> Vec<Edit> {
    let mut out = Vec::with_capacity(m.remove.len() + m.set.len());
    for name in &m.remove {
        match removal {
            Removal::Remove => out.push(Edit::Remove(name.clone())),
            Removal::Blank => {
                // A header that is set anyway is replaced by the set: blanking it first would
                // leave a second, empty value behind on hosts that keep both.
                if !m.set.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    out.push(Edit::Set(name.clone(), String::new()));
                }
            }
        }
    }
    for (name, value) in &m.set {
        let value = match removal {
            Removal::Blank if name == ":path" => nginx_path(value),
            _ => value.clone(),
        };
        out.push(Edit::Set(name.clone(), value));
    }
    out
}

/// A `:path` as nginx takes it: nginx holds the path decoded (and escapes it again when it
/// proxies), so the path part goes over decoded; the query as is, always after a `?`.
fn nginx_path(value: &str) -> String {
    let (raw, query) = value.split_once('?').unwrap_or((value, ""));
    // Decoded only where the result stays UTF-8; otherwise it goes as written.
    let decoded = String::from_utf8(path::percent_decode(raw, false));
    format!("{}?{query}", decoded.as_deref().unwrap_or(raw))
}

/// A local reply's headers as a host that keeps one value per name can send them: values of
/// one name (in any case) joined with `", "` into the first one's place, in their order.
/// ngx_wasm_module 0.6 sets each header of a local response over the last (measured: of the
/// two `WWW-Authenticate` challenges of a DPoP provider only the second arrived). A list
/// header's values may always be joined so (RFC 9110 §5.3); `WWW-Authenticate` is one.
/// `repeats`: the host sends repeated names as they are (Envoy): nothing changes.
pub fn reply_headers(headers: &[(String, String)], repeats: bool) -> Vec<(&str, Cow<'_, str>)> {
    let mut out: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, joined)) if !repeats => {
                let v = joined.to_mut();
                v.push_str(", ");
                v.push_str(value);
            }
            _ => out.push((name.as_str(), Cow::Borrowed(value.as_str()))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(remove: &[&str], set: &[(&str, &str)]) -> Mutations {
        Mutations {
            remove: remove.iter().map(|s| s.to_string()).collect(),
            set: set
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            metadata: Vec::new(),
        }
    }

    #[test]
    fn nginx_variables_are_named_from_the_header_in_any_spelling() {
        assert_eq!(
            nginx_variable("X-User-Id").as_deref(),
            Some("jwtgate_x_user_id")
        );
        assert_eq!(
            nginx_variable("authorization").as_deref(),
            Some("jwtgate_authorization")
        );
        assert_eq!(
            nginx_variable("x_partner_token").as_deref(),
            Some("jwtgate_x_partner_token")
        );
        assert_eq!(nginx_variable(":path"), None);
        assert_eq!(nginx_variable(""), None);
        assert_eq!(nginx_variable("x.user"), None);
    }

    #[test]
    fn envoy_removes() {
        let e = edits(
            &m(&["Authorization", "x-user-id"], &[("x-user-id", "alice")]),
            Removal::Remove,
        );
        assert_eq!(
            e,
            vec![
                Edit::Remove("Authorization".into()),
                Edit::Remove("x-user-id".into()),
                Edit::Set("x-user-id".into(), "alice".into()),
            ]
        );
    }

    #[test]
    fn nginx_blanks_what_it_cannot_remove_and_keeps_the_query_mark() {
        let e = edits(
            &m(
                &["Authorization", "X-User-Id", "Cookie"],
                &[
                    ("x-user-id", "alice"),
                    ("cookie", "theme=dark"),
                    (":path", "/p"),
                ],
            ),
            Removal::Blank,
        );
        assert_eq!(
            e,
            vec![
                Edit::Set("Authorization".into(), String::new()),
                Edit::Set("x-user-id".into(), "alice".into()),
                Edit::Set("cookie".into(), "theme=dark".into()),
                Edit::Set(":path".into(), "/p?".into()),
            ]
        );
        let e = edits(&m(&[], &[(":path", "/p?a=1")]), Removal::Blank);
        assert_eq!(e, vec![Edit::Set(":path".into(), "/p?a=1".into())]);
        // nginx escapes the path again when it proxies: hand it over decoded, query untouched.
        let e = edits(
            &m(&[], &[(":path", "/p/a%2Cb?x=%20y&z=c%26d")]),
            Removal::Blank,
        );
        assert_eq!(
            e,
            vec![Edit::Set(":path".into(), "/p/a,b?x=%20y&z=c%26d".into())]
        );
        let e = edits(&m(&[], &[(":path", "/p/a%2Cb?x=1")]), Removal::Remove);
        assert_eq!(
            e,
            vec![Edit::Set(":path".into(), "/p/a%2Cb?x=1".into())],
            "Envoy: as is"
        );
    }

    #[test]
    fn a_host_keeping_one_value_per_name_gets_the_challenges_joined() {
        let h: Vec<(String, String)> = [
            ("content-type", "application/json"),
            ("www-authenticate", "Bearer realm=\"a\""),
            ("WWW-Authenticate", "DPoP realm=\"a\", algs=\"ES256\""),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let plain = |v: Vec<(&str, Cow<'_, str>)>| {
            v.into_iter()
                .map(|(n, v)| (n.to_owned(), v.into_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(plain(reply_headers(&h, true)), h, "Envoy: as they are");
        assert_eq!(
            plain(reply_headers(&h, false)),
            vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                (
                    "www-authenticate".to_owned(),
                    "Bearer realm=\"a\", DPoP realm=\"a\", algs=\"ES256\"".to_owned()
                ),
            ]
        );
    }
}
