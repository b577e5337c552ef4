//! The few DER structures a host's signature check wants (RFC 5280 `SubjectPublicKeyInfo`,
//! RFC 8017 `RSAPublicKey`, RFC 5480 / RFC 3279 `ECDSA-Sig-Value`), built from JWK members.
//!
//! Only encoding, and only of public values jwtgate already validated: the key's SPKI is built
//! once when a JWKS loads, a signature's DER form per call.

/// DER tags used here.
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;

/// `rsaEncryption`, 1.2.840.113549.1.1.1 (content octets).
const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-ecPublicKey`, 1.2.840.10045.2.1.
const EC_PUBLIC_KEY: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `secp256r1` (P-256), 1.2.840.10045.3.1.7.
const SECP256R1: [u8; 8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Appends a DER length (definite form; short below 128, else the fewest octets).
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let significant = bytes.get(skip..).unwrap_or(&[]);
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// One tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER from big-endian magnitude octets: minimal (leading zeros dropped),
/// with a zero octet in front when the top bit is set, so it does not read as negative.
fn unsigned_integer(be: &[u8]) -> Vec<u8> {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let magnitude = be.get(start..).unwrap_or(&[]);
    let mut content = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_none_or(|&b| b & 0x80 != 0) {
        // Zero is the single octet 00; a set top bit needs the 00 in front.
        content.push(0);
    }
    content.extend_from_slice(magnitude);
    tlv(INTEGER, &content)
}

/// A BIT STRING holding whole octets (no unused bits).
fn bit_string(octets: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(octets.len() + 1);
    content.push(0);
    content.extend_from_slice(octets);
    tlv(BIT_STRING, &content)
}

fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// The `SubjectPublicKeyInfo` of an RSA key from its big-endian modulus and exponent.
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let algorithm = sequence(&[&tlv(OID, &RSA_ENCRYPTION), &tlv(NULL, &[])]);
    let key = sequence(&[&unsigned_integer(n), &unsigned_integer(e)]);
    sequence(&[&algorithm, &bit_string(&key)])
}

/// The `SubjectPublicKeyInfo` of a P-256 key from its 32-byte affine coordinates
/// (uncompressed point).
pub fn p256_spki(x: &[u8; 32], y: &[u8; 32]) -> Vec<u8> {
    let algorithm = sequence(&[&tlv(OID, &EC_PUBLIC_KEY), &tlv(OID, &SECP256R1)]);
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    sequence(&[&algorithm, &bit_string(&point)])
}

/// The DER `ECDSA-Sig-Value` of a JWS ES256 signature (r‖s, 32 octets each); `None` for any
/// other length.
pub fn ecdsa_signature(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let (r, s) = raw.split_at(32);
    Some(sequence(&[&unsigned_integer(r), &unsigned_integer(s)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_fewest_octets() {
        let len = |n| {
            let mut v = Vec::new();
            push_len(&mut v, n);
            v
        };
        assert_eq!(len(0), [0x00]);
        assert_eq!(len(127), [0x7f]);
        assert_eq!(len(128), [0x81, 0x80]);
        assert_eq!(len(255), [0x81, 0xff]);
        assert_eq!(len(256), [0x82, 0x01, 0x00]);
        assert_eq!(len(1030), [0x82, 0x04, 0x06]);
    }

    #[test]
    fn integers_are_minimal_and_non_negative() {
        assert_eq!(unsigned_integer(&[]), [0x02, 0x01, 0x00]);
        assert_eq!(unsigned_integer(&[0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(unsigned_integer(&[0, 0x7f]), [0x02, 0x01, 0x7f]);
        assert_eq!(unsigned_integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(
            unsigned_integer(&[0x01, 0x00, 0x01]),
            [0x02, 0x03, 0x01, 0x00, 0x01]
        );
    }

    #[test]
    fn ecdsa_signature_needs_64_octets() {
        assert!(ecdsa_signature(&[1; 63]).is_none());
        assert!(ecdsa_signature(&[1; 65]).is_none());
        let der = ecdsa_signature(&[0xff; 64]).unwrap_or_default();
        // Two 33-octet INTEGERs (00 in front of a set top bit) in a 70-octet SEQUENCE.
        assert_eq!(der.len(), 2 + 2 * 35);
        assert_eq!(&der[..4], [0x30, 70, 0x02, 33]);
    }
}
