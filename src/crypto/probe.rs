//! A known answer for a host's signature check, asked once before the host is trusted with
//! any token: a valid signature must come back valid and the same signature with one bit
//! flipped invalid, for the key in the DER form [`super::der`] builds. A host that answers
//! anything else (refuses, errs, disagrees) is not used, and the module's code verifies.
//!
//! The vectors are a throwaway RSA-2048 key (e = 65537) and P-256 key made for this purpose
//! (openssl), each signing [`TEXT`] with SHA-256.

use super::backend::Scheme;
use super::{der, EcKey, RsaKey};

/// The signed text.
pub const TEXT: &[u8] = b"jwtgate verify_signature probe";

/// Modulus (e = 65537).
const RSA_N: &str = concat!(
    "c1bd6bb1b64c6e9fce3849f9c25c2952887e17af07b8206754f10e77bbb7d6ef904a4de672ded5200d62c571068c0588",
    "c70591b91c75ba29f073fce4896aa443ac70d5a4402783bb80ef24322a43cc47771cc6a45fa28da8b4258aaa8a7b340b",
    "865b62ed15ccf9dd534196b3d1d2af0b58bc2e158bc426dc37ea143d3edc3dc13c8c100b57c64c67d162c578df4b45b9",
    "bceeb2e9dd1a948609fd86fb91a7a39d7775bc294e01129d6ebe01338d6efd837815e9694566aea38e6302c63382a7ee",
    "6e8a6d5cd0c358581691790340f4869f3b0b259a1e3e6e5b3e74c76603fb461498b8bf816333521d27e9509b0c44bcda",
    "739130db04c3e4d8ec34e54b3ab322c1",
);
/// RS256 signature over [`TEXT`].
const RSA_SIG: &str = concat!(
    "6af7bff56424505a788a6ad577ae7e041d4dee4caeffb5d60df783a51053ab153163f73893b18bc2d3a94285f56d7c60",
    "c8ef58b1e4fd3d4597cea47c8a409005772e4988ebfda5fe375820445932e2c7b50747b28fe8f7fc6f4a2fb15d0a7583",
    "e0eb913dd08d4904031a2d8d191de12a6cabb33fc7a9111967ac5d25dd1d4cd463682d593b2cc2ed5d28743b231afb8e",
    "785d25eed99a457fddd39eb493154ce9f21e0bb23bfff11a967d9dc4aebf2bcebc65a129f5e1f41f5eefa8947c5bf2a0",
    "bb287a567f785cd4b8f9f754d8411aeca33d3767b2546c13c373d048aba2189e69e0d7a17f73e55077c8b3dddd4dee34",
    "49408c623b8e43b81d32f63ddf0fb1a5",
);
/// P-256 public point.
const EC_X: &str = "05f50adcd52d7d5d3d5709e28fd837707f0db901216ba54db1b764b50a3b303b";
const EC_Y: &str = "e68cb13fb8a932448dcb563437967da56777464d43d0ffa179e365a5c66d5215";
/// ES256 signature (r‖s) over [`TEXT`].
const EC_SIG: &str = concat!(
    "5b76c297bf08ae09b090ced8781bfaab7801e7fb0ccec8a857b50ed47d46bcb48f2d71a708f1dad20b8c20807c4adabb",
    "91846b3a01558d79a7923be1d1ba4e45",
);

/// Decodes the hex constants above (lowercase, even length; anything else gives nothing).
fn unhex(s: &str) -> Vec<u8> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map_while(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

/// One known-answer case: the key's DER form, a valid signature in the form the host wants,
/// and that signature with a bit flipped.
pub struct Case {
    /// DER `SubjectPublicKeyInfo`.
    pub spki: Vec<u8>,
    /// Valid over [`TEXT`].
    pub good: Vec<u8>,
    /// Invalid over [`TEXT`].
    pub bad: Vec<u8>,
}

/// The case for `scheme`.
pub fn case(scheme: Scheme) -> Option<Case> {
    match scheme {
        Scheme::Rs256 => {
            let key = RsaKey::from_components(&unhex(RSA_N), &[1, 0, 1])?;
            let good = unhex(RSA_SIG);
            let mut bad = good.clone();
            // A middle octet: the last ones of a PKCS#1 block carry the hash, the first the
            // padding; either way the block no longer matches.
            *bad.get_mut(100)? ^= 0x10;
            Some(Case {
                spki: key.spki().to_vec(),
                good,
                bad,
            })
        }
        Scheme::Es256 => {
            let key = EcKey::from_affine(&unhex(EC_X), &unhex(EC_Y))?;
            let raw = unhex(EC_SIG);
            let mut flipped = raw.clone();
            *flipped.get_mut(40)? ^= 0x10;
            Some(Case {
                spki: key.spki().to_vec(),
                good: der::ecdsa_signature(&raw)?,
                bad: der::ecdsa_signature(&flipped)?,
            })
        }
    }
}

/// Whether `verify` (a host's check: spki, signature, text → its verdict, `None` when it
/// failed) gives the known answers for `scheme`.
pub fn agrees(scheme: Scheme, verify: impl Fn(&[u8], &[u8], &[u8]) -> Option<bool>) -> bool {
    let Some(c) = case(scheme) else {
        return false;
    };
    verify(&c.spki, &c.good, TEXT) == Some(true) && verify(&c.spki, &c.bad, TEXT) == Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vectors_verify_with_the_modules_own_code() {
        let rsa = RsaKey::from_components(&unhex(RSA_N), &[1, 0, 1]).unwrap();
        assert!(rsa.verify(TEXT, &unhex(RSA_SIG)));
        let ec = EcKey::from_affine(&unhex(EC_X), &unhex(EC_Y)).unwrap();
        assert!(ec.verify(TEXT, &unhex(EC_SIG)));
        for scheme in [Scheme::Rs256, Scheme::Es256] {
            let c = case(scheme).unwrap();
            assert_ne!(c.good, c.bad);
        }
    }

    #[test]
    fn a_backend_that_says_yes_or_no_to_everything_disagrees() {
        for scheme in [Scheme::Rs256, Scheme::Es256] {
            assert!(!agrees(scheme, |_, _, _| Some(true)));
            assert!(!agrees(scheme, |_, _, _| Some(false)));
            assert!(!agrees(scheme, |_, _, _| None));
        }
    }

    #[test]
    fn unhex_reads_the_constants() {
        assert_eq!(unhex("00ff10"), [0, 255, 16]);
        assert_eq!(unhex(RSA_N).len(), 256);
        assert_eq!(unhex(EC_SIG).len(), 64);
    }
}
