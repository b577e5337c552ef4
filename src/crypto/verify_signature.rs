//! The two protobuf messages of the `verify_signature` foreign function some hosts offer
//! (Envoy ≥ 1.30): `VerifySignatureArguments` in, `VerifySignatureResult` out.
//!
//! Written by hand: five fields do not justify a protobuf library in a 1 MiB module. Proto3
//! wire format: each field is a varint key `(number << 3) | wire type`, then a varint (type 0)
//! or a varint length and that many octets (type 2).
//!
//! `VerifySignatureArguments`: 1 `hash_function` (string), 2 `public_key` (bytes, DER
//! `SubjectPublicKeyInfo`), 3 `signature` (bytes), 4 `text` (bytes), 5 `public_key_pem` (not
//! used here). `VerifySignatureResult`: 1 `result` (bool), 2 `error` (string).

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// Field numbers of `VerifySignatureArguments`.
pub const HASH_FUNCTION: u32 = 1;
/// DER public key.
pub const PUBLIC_KEY: u32 = 2;
/// The signature.
pub const SIGNATURE: u32 = 3;
/// The signed text.
pub const TEXT: u32 = 4;

/// Field numbers of `VerifySignatureResult`.
const RESULT: u32 = 1;
const ERROR: u32 = 2;

/// The name of the foreign function.
pub const FUNCTION: &str = "verify_signature";

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn push_bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    push_varint(out, u64::from(field) << 3 | u64::from(LENGTH_DELIMITED));
    push_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// Encodes `VerifySignatureArguments` for a SHA-256 signature `signature` over `text` by the
/// key `spki` (DER `SubjectPublicKeyInfo`).
pub fn encode_arguments(spki: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(spki.len() + signature.len() + text.len() + 24);
    push_bytes(&mut out, HASH_FUNCTION, b"sha256");
    push_bytes(&mut out, PUBLIC_KEY, spki);
    push_bytes(&mut out, SIGNATURE, signature);
    push_bytes(&mut out, TEXT, text);
    out
}

/// A decoded `VerifySignatureResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The host found the signature valid.
    pub valid: bool,
    /// The host's message when it did not (may be empty).
    pub error: String,
}

/// An answer that is not a well-formed `VerifySignatureResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed VerifySignatureResult")
    }
}

impl std::error::Error for Malformed {}

/// One field of a message: its number and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// A varint.
    Varint(u32, u64),
    /// Length-delimited octets.
    Bytes(u32, &'a [u8]),
    /// A fixed-width value (skipped by the readers here).
    Fixed(u32),
}

fn read_varint(input: &mut &[u8]) -> Result<u64, Malformed> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first().ok_or(Malformed)?;
        *input = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Malformed)
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], Malformed> {
    if n > input.len() {
        return Err(Malformed);
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

/// Every field of a serialized message, in order; `Err` on a truncated or unknown-typed one.
pub fn fields(mut input: &[u8]) -> Result<Vec<Field<'_>>, Malformed> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let key = read_varint(&mut input)?;
        let number = u32::try_from(key >> 3).map_err(|_| Malformed)?;
        if number == 0 {
            return Err(Malformed);
        }
        let field = match (key & 7) as u8 {
            VARINT => Field::Varint(number, read_varint(&mut input)?),
            LENGTH_DELIMITED => {
                let len = usize::try_from(read_varint(&mut input)?).map_err(|_| Malformed)?;
                Field::Bytes(number, take(&mut input, len)?)
            }
            FIXED64 => {
                take(&mut input, 8)?;
                Field::Fixed(number)
            }
            FIXED32 => {
                take(&mut input, 4)?;
                Field::Fixed(number)
            }
            _ => return Err(Malformed),
        };
        out.push(field);
    }
    Ok(out)
}

/// Decodes a `VerifySignatureResult`. An empty message is `result: false` (proto3 leaves out
/// default values); for a repeated field the last one counts, as protobuf says.
pub fn decode_answer(bytes: &[u8]) -> Result<Answer, Malformed> {
    let mut answer = Answer {
        valid: false,
        error: String::new(),
    };
    for field in fields(bytes)? {
        match field {
            Field::Varint(RESULT, v) => answer.valid = v != 0,
            Field::Bytes(ERROR, text) => answer.error = String::from_utf8_lossy(text).into_owned(),
            // A field of the right number but the wrong type is not this message.
            Field::Varint(ERROR, _) | Field::Bytes(RESULT, _) => return Err(Malformed),
            _ => {}
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(valid: bool, error: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if valid {
            push_varint(&mut out, u64::from(RESULT) << 3);
            push_varint(&mut out, 1);
        }
        if !error.is_empty() {
            push_bytes(&mut out, ERROR, error.as_bytes());
        }
        out
    }

    #[test]
    fn arguments_encode_field_by_field() {
        let spki = vec![0x30; 300];
        let sig = [7u8; 2];
        let text = b"a.b";
        let bytes = encode_arguments(&spki, &sig, text);
        // Hand-assembled: key 0x0a len 6 "sha256", key 0x12 len 300 (varint ac 02), ...
        let mut expected = vec![0x0a, 6];
        expected.extend_from_slice(b"sha256");
        expected.extend_from_slice(&[0x12, 0xac, 0x02]);
        expected.extend_from_slice(&spki);
        expected.extend_from_slice(&[0x1a, 2, 7, 7, 0x22, 3]);
        expected.extend_from_slice(text);
        assert_eq!(bytes, expected);
        assert_eq!(
            fields(&bytes).unwrap(),
            vec![
                Field::Bytes(HASH_FUNCTION, b"sha256"),
                Field::Bytes(PUBLIC_KEY, &spki),
                Field::Bytes(SIGNATURE, &sig),
                Field::Bytes(TEXT, text),
            ]
        );
    }

    #[test]
    fn answers_round_trip() {
        for (valid, error) in [
            (true, ""),
            (false, ""),
            (false, "BAD_SIGNATURE"),
            (true, "x"),
        ] {
            let answer = decode_answer(&result(valid, error)).unwrap();
            assert_eq!(answer.valid, valid);
            assert_eq!(answer.error, error);
        }
        // What Envoy sends for a valid signature: result 1 and nothing else.
        assert!(decode_answer(&[0x08, 0x01]).unwrap().valid);
        assert!(!decode_answer(&[]).unwrap().valid);
        // An unknown field (number 9, varint) is skipped; fixed-width ones too.
        assert!(decode_answer(&[0x48, 0x05, 0x08, 0x01]).unwrap().valid);
        assert!(
            decode_answer(&[0x0d, 1, 2, 3, 4, 0x08, 0x01])
                .unwrap()
                .valid
        );
    }

    #[test]
    fn malformed_answers_are_errors() {
        for bad in [
            &[0x08][..],         // key without value
            &[0x08, 0x80],       // varint cut short
            &[0x12, 0x05, b'a'], // length beyond the end
            &[0x0a, 0x01, 0x01], // result as bytes
            &[0x10, 0x01],       // error as varint
            &[0x0b],             // wire type 3 (groups)
            &[0x00, 0x01],       // field number 0
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert_eq!(decode_answer(bad), Err(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            push_varint(&mut out, v);
            let mut input = &out[..];
            assert_eq!(read_varint(&mut input), Ok(v));
            assert!(input.is_empty());
        }
    }
}
