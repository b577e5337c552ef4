//! Certificate-bound tokens (RFC 8705 §3): the client certificate's SHA-256 from what a host
//! or a trusted TLS terminator hands over, compared with the token's `cnf.x5t#S256`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The header a TLS terminator in front reports the client certificate in (Envoy's format:
/// `By=…;Hash=<hex SHA-256 of the DER>;Cert=…`).
pub const XFCC: &str = "x-forwarded-client-cert";

/// A certificate's SHA-256 digest (of its DER).
pub type Digest32 = [u8; 32];

fn unhex(s: &str) -> Option<Digest32> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Envoy's `connection.sha256_peer_certificate_digest`: lowercase hex (any case accepted).
pub fn digest_from_hex(hex: &[u8]) -> Option<Digest32> {
    unhex(std::str::from_utf8(hex).ok()?)
}

/// The digest of a certificate given as PEM (nginx's `$ssl_client_raw_cert`, a file) or DER.
/// Only the first certificate of a PEM counts; anything else is no certificate.
pub fn digest_of_certificate(bytes: &[u8]) -> Option<Digest32> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let der = match std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| t.find(BEGIN).map(|i| (t, i)))
    {
        Some((text, at)) => {
            let body = text.get(at + BEGIN.len()..)?;
            let body = body.get(..body.find(END)?)?;
            let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            STANDARD.decode(b64).ok()?
        }
        // DER: a SEQUENCE.
        None if bytes.first() == Some(&0x30) => bytes.to_vec(),
        None => return None,
    };
    if der.is_empty() {
        return None;
    }
    Some(Sha256::digest(&der).into())
}

/// Splits `s` at `sep` outside double quotes (XFCC values quote `,` `;` `=` inside them).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(s.get(start..i).unwrap_or(""));
            start = i + c.len_utf8();
        }
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

/// The `Hash=` of the one element of the `x-forwarded-client-cert` header values. Anything
/// but exactly one header with exactly one element holding exactly one `Hash` is no
/// certificate: a second element means the header passed a proxy that appended to what the
/// client sent, and then which element is the terminator's cannot be told.
pub fn digest_from_xfcc(values: &[&str]) -> Option<Digest32> {
    let [value] = values else {
        return None;
    };
    let elements = split_unquoted(value, ',');
    let [element] = elements.as_slice() else {
        return None;
    };
    let mut hashes = split_unquoted(element, ';').into_iter().filter_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("hash").then_some(v)
    });
    let (Some(hash), None) = (hashes.next(), hashes.next()) else {
        return None;
    };
    unhex(hash.trim_matches('"'))
}

/// True when `x5t` (a token's `cnf.x5t#S256`) names the certificate with `digest`.
pub fn matches(x5t: &str, digest: &Digest32) -> bool {
    URL_SAFE_NO_PAD.encode(digest) == x5t
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn xfcc_hash_of_the_single_element() {
        let want = unhex(H);
        assert!(want.is_some());
        for v in [
            format!("Hash={H}"),
            format!("By=spiffe://a;Hash={H};Subject=\"CN=x,O=y\";URI="),
            format!("hash=\"{H}\""),
            format!("Subject=\"a;Hash=00\";Hash={H}"),
        ] {
            assert_eq!(digest_from_xfcc(&[v.as_str()]), want, "{v}");
        }
        for v in [
            format!("Hash={H},Hash={H}"),
            format!("Hash={H};Hash={H}"),
            "Hash=zz".to_owned(),
            "By=x".to_owned(),
            String::new(),
        ] {
            assert_eq!(digest_from_xfcc(&[v.as_str()]), None, "{v}");
        }
        let one = format!("Hash={H}");
        assert_eq!(digest_from_xfcc(&[&one, &one]), None, "two headers");
        assert_eq!(digest_from_xfcc(&[]), None);
    }

    #[test]
    fn hex_and_certificates() {
        assert_eq!(digest_from_hex(H.as_bytes()), unhex(H));
        assert_eq!(digest_from_hex(H.to_uppercase().as_bytes()), unhex(H));
        assert_eq!(digest_from_hex(b"abc"), None);
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x05];
        let d: Digest32 = Sha256::digest(der).into();
        assert_eq!(digest_of_certificate(&der), Some(d));
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        );
        assert_eq!(digest_of_certificate(pem.as_bytes()), Some(d));
        assert_eq!(digest_of_certificate(b""), None);
        assert_eq!(
            digest_of_certificate(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"),
            None
        );
        assert!(matches(&URL_SAFE_NO_PAD.encode(d), &d));
        assert!(!matches(&URL_SAFE_NO_PAD.encode([0u8; 32]), &d));
    }
}
