//! Strict parsing of a compact JWS: three base64url segments, JSON object header and payload.
//!
//! Nothing here is trusted yet: the result only tells which key and algorithm to try.

use crate::{json, Reason};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// The algorithms jwtgate can ever accept. The token's header never chooses beyond these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256, signature r‖s (64 bytes).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl Alg {
    /// Parses the JOSE name; anything but the two supported names is `None`.
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "ES256" => Some(Alg::Es256),
            "RS256" => Some(Alg::Rs256),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        }
    }
}

/// The protected header fields jwtgate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `alg` exactly as sent (checked against the allow-list later).
    pub alg: String,
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `typ`, if any.
    pub typ: Option<String>,
}

/// A token split and decoded, not yet verified.
#[derive(Debug)]
pub struct Unverified<'a> {
    /// Header fields.
    pub header: Header,
    /// The payload as a JSON object.
    pub claims: Map<String, Value>,
    /// `base64url(header) . base64url(payload)`: what the signature covers.
    pub signing_input: &'a [u8],
    /// The payload segment, still base64url (forwarded as-is on request).
    pub payload_b64: &'a str,
    /// Where `payload_b64` sits in the token.
    pub payload_at: Range<usize>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
}

fn b64(segment: &str) -> Result<Vec<u8>, Reason> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Reason::TokenMalformed)
}

/// A compact JWS split and decoded, its payload still bytes: the JWS layer alone (RFC 7515),
/// where the payload may be any octets (RFC 7520 §4 signs a text), even empty.
#[derive(Debug)]
pub struct Jws<'a> {
    /// Header fields.
    pub header: Header,
    /// The decoded payload octets.
    pub payload: Vec<u8>,
    /// `base64url(header) . base64url(payload)`: what the signature covers.
    pub signing_input: &'a [u8],
    /// The payload segment, still base64url.
    pub payload_b64: &'a str,
    /// Where `payload_b64` sits in the token.
    pub payload_at: Range<usize>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS without reading its payload (only `--signature-only`
/// uses this directly; a JWT goes through [`parse`]).
pub fn parse_jws(token: &str) -> Result<Jws<'_>, Reason> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reason::TokenMalformed);
    };
    if h.is_empty() || s.is_empty() {
        return Err(Reason::TokenMalformed);
    }
    let header = parse_header(&b64(h)?)?;
    let payload = b64(p)?;
    let signature = b64(s)?;
    let signing_input = token
        .get(..h.len() + 1 + p.len())
        .ok_or(Reason::TokenMalformed)?
        .as_bytes();
    Ok(Jws {
        header,
        payload,
        signing_input,
        payload_b64: p,
        payload_at: h.len() + 1..h.len() + 1 + p.len(),
        signature,
    })
}

/// Splits and decodes a compact JWS whose payload is a JWT claims set (a JSON object).
/// Size limits are checked by the caller first.
pub fn parse(token: &str) -> Result<Unverified<'_>, Reason> {
    let jws = parse_jws(token)?;
    let claims = json::parse_object(&jws.payload).ok_or(Reason::TokenMalformed)?;
    Ok(Unverified {
        header: jws.header,
        claims,
        signing_input: jws.signing_input,
        payload_b64: jws.payload_b64,
        payload_at: jws.payload_at,
        signature: jws.signature,
    })
}

/// A member name as serde_json hands it over: borrowed from the input unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The header read straight into [`Header`], without building a map of its members (this runs
/// on every cache miss): the same rules as [`json::parse_object`] then picking the members
/// (a JSON object, no duplicate member at any depth, `alg` a string, `kid` and `typ` strings
/// when present, no `crit` or `b64`), checked by `header_is_read_as_the_map_reads_it`.
struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut names: Vec<Cow<'de, str>> = Vec::with_capacity(4);
        let (mut alg, mut kid, mut typ) = (None, None, None);
        let mut refused = false;
        while let Some(Key(name)) = map.next_key()? {
            // Every value is read strictly (duplicates inside it are errors too).
            let json::Strict(value) = map.next_value()?;
            let slot = match &*name {
                "alg" => Some(&mut alg),
                "kid" => Some(&mut kid),
                "typ" => Some(&mut typ),
                // `crit` names extensions the verifier must understand; jwtgate understands
                // none (RFC 7515 §4.1.11), and `b64: false` would change what the signature
                // covers.
                "crit" | "b64" => {
                    refused = true;
                    None
                }
                _ => None,
            };
            if let Some(slot) = slot {
                match value {
                    Value::String(s) => *slot = Some(s),
                    _ => refused = true,
                }
            }
            names.push(name);
        }
        // Duplicate names, found by sorting (a linear scan per name would be quadratic in a
        // header of many short members).
        names.sort_unstable();
        if refused || names.windows(2).any(|w| w.first() == w.get(1)) {
            return Err(de::Error::custom("refused header"));
        }
        Ok(Header {
            alg: alg.ok_or_else(|| de::Error::custom("no alg"))?,
            kid,
            typ,
        })
    }
}

fn parse_header(bytes: &[u8]) -> Result<Header, Reason> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let header = de
        .deserialize_map(HeaderVisitor)
        .map_err(|_| Reason::TokenMalformed)?;
    de.end().map_err(|_| Reason::TokenMalformed)?;
    Ok(header)
}

/// `typ` compared case-insensitively, with the optional `application/` prefix removed (RFC 7515 §4.1.9).
pub fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn splits_a_good_token() {
        let t = format!(
            "{}.{}.AQID",
            enc(r#"{"alg":"ES256","kid":"k1"}"#),
            enc(r#"{"sub":"a"}"#)
        );
        let u = parse(&t).unwrap();
        assert_eq!(u.header.alg, "ES256");
        assert_eq!(u.header.kid.as_deref(), Some("k1"));
        assert_eq!(u.signature, vec![1, 2, 3]);
        assert!(t.starts_with(std::str::from_utf8(u.signing_input).unwrap()));
        assert_eq!(&t[u.payload_at.clone()], u.payload_b64);
        assert_eq!(u.payload_b64, enc(r#"{"sub":"a"}"#));
    }

    #[test]
    fn rejects_structural_junk() {
        let h = enc(r#"{"alg":"ES256"}"#);
        let p = enc("{}");
        for bad in [
            String::new(),
            format!("{h}.{p}"),
            format!("{h}.{p}.AQID.x"),
            format!("{h}.{p}."),
            format!("{h}=.{p}.AQID"),
            format!("{h}.{p}.AQ+D"),
            format!("{h}.{p}.AQ/D"),
            format!("{}.{p}.AQID", enc("[]")),
            format!("{h}.{}.AQID", enc("\"s\"")),
            format!("{}.{p}.AQID", enc(r#"{"alg":"ES256","alg":"none"}"#)),
            format!("{}.{p}.AQID", enc(r#"{"alg":5}"#)),
            format!("{}.{p}.AQID", enc(r#"{"alg":"ES256","kid":7}"#)),
            format!("{}.{p}.AQID", enc(r#"{"alg":"ES256","crit":["exp"]}"#)),
            format!("{}.{p}.AQID", enc(r#"{"kid":"x"}"#)),
            format!("{h}..AQID"),
            format!("{h}.{}.AQID", enc("It is a text")),
        ] {
            assert_eq!(parse(&bad).err(), Some(Reason::TokenMalformed), "{bad}");
        }
    }

    /// The header as it was read before `HeaderVisitor`: the whole object into a strict map,
    /// then its members picked. The reference the visitor must agree with.
    fn header_through_the_map(bytes: &[u8]) -> Result<Header, Reason> {
        fn optional_string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, Reason> {
            match obj.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Reason::TokenMalformed),
            }
        }
        let obj = json::parse_object(bytes).ok_or(Reason::TokenMalformed)?;
        if obj.contains_key("crit") || obj.contains_key("b64") {
            return Err(Reason::TokenMalformed);
        }
        let alg = optional_string(&obj, "alg")?.ok_or(Reason::TokenMalformed)?;
        Ok(Header {
            alg,
            kid: optional_string(&obj, "kid")?,
            typ: optional_string(&obj, "typ")?,
        })
    }

    #[test]
    fn header_is_read_as_the_map_reads_it() {
        let cases: &[&str] = &[
            r#"{"alg":"ES256"}"#,
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#" { "typ" : "at+jwt" , "alg" : "ES256" } "#,
            r#"{"alg":"ES256","x":{"y":[1,{"z":null}]},"n":1.5e3,"t":true}"#,
            r#"{"al\u0067":"ES256","kid":"k\"1"}"#,
            r#"{"alg":"ES256","al\u0067":"RS256"}"#,
            r#"{"alg":"ES256","alg":"ES256"}"#,
            r#"{"alg":"ES256","x":1,"x":2}"#,
            r#"{"alg":"ES256","x":1,"y":2,"x":3}"#,
            r#"{"alg":"ES256","x":{"a":1,"a":1}}"#,
            r#"{"alg":"ES256","x":[{"a":1,"a":1}]}"#,
            r#"{"alg":"ES256","kid":null}"#,
            r#"{"alg":"ES256","typ":7}"#,
            r#"{"alg":["ES256"]}"#,
            r#"{"kid":"k"}"#,
            r#"{"alg":"ES256","crit":[]}"#,
            r#"{"alg":"ES256","b64":true}"#,
            r#"{"alg":"ES256"} x"#,
            r#"{"alg":"ES256"}{}"#,
            r#"{"alg":"ES256",}"#,
            r#"{"alg":"ES256""#,
            "[]",
            "\"s\"",
            "",
            "{}",
            "{\"alg\":\"ES256\",\"\u{e9}\":\"\u{e9}\"}",
        ];
        let mut many = String::from(r#"{"alg":"ES256""#);
        for i in 0..300 {
            many.push_str(&format!(r#","m{i}":{i}"#));
        }
        let unique = format!("{many}}}");
        let repeated = format!(r#"{many},"m7":0}}"#);
        for case in cases
            .iter()
            .copied()
            .chain([unique.as_str(), repeated.as_str()])
        {
            assert_eq!(
                parse_header(case.as_bytes()),
                header_through_the_map(case.as_bytes()),
                "{case}"
            );
        }
        assert!(parse_header(unique.as_bytes()).is_ok());
        assert!(parse_header(repeated.as_bytes()).is_err());
        assert!(parse_header(br#"{"alg":"ES256","x":1,"y":2,"x":3}"#).is_err());
        assert!(parse_header(&[b'{', 0xff, b'}']).is_err());
    }

    #[test]
    fn the_jws_layer_takes_any_payload_but_not_a_bad_header() {
        let h = enc(r#"{"alg":"RS256"}"#);
        let text = format!("{h}.{}.AQID", enc("It is a text"));
        assert_eq!(parse_jws(&text).unwrap().payload, b"It is a text");
        assert!(parse_jws(&format!("{h}..AQID")).unwrap().payload.is_empty());
        for bad in [
            format!("{h}.{}.", enc("x")),
            format!(".{}.AQID", enc("x")),
            format!("{h}.e=.AQID"),
            format!(
                "{}.eA.AQID",
                enc(r#"{"alg":"RS256","crit":["b64"],"b64":false}"#)
            ),
        ] {
            assert_eq!(parse_jws(&bad).err(), Some(Reason::TokenMalformed), "{bad}");
        }
    }
}
