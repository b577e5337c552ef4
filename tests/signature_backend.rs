//! The host-verify path's encodings against independent references, and the fallback rules of
//! a signature backend.
//!
//! - DER `SubjectPublicKeyInfo` of RSA and P-256 keys and DER ECDSA signatures: byte for byte
//!   what RustCrypto (`rsa`/`pkcs8`, `p256`) writes.
//! - A backend that verifies as a host would (from the DER key and, for ES256, the DER
//!   signature, with RustCrypto's parsers and verifiers) gives the module's own verdict on
//!   valid and mutated signatures.
//! - A backend that declines falls back to the module's code; one that says "invalid" is
//!   believed (a host `false` is a bad signature, never a second chance).

use jwtgate::crypto::{der, probe, EcKey, OwnCode, RsaKey, Scheme, SignatureBackend, OWN_CODE};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use std::cell::Cell;

/// Verifies as a host does: parses the DER key (and DER signature) it is handed.
#[derive(Default)]
struct Reference {
    calls: Cell<u32>,
}

impl SignatureBackend for Reference {
    fn offers(&self, _: Scheme) -> bool {
        true
    }

    fn verify(&self, scheme: Scheme, spki: &[u8], signature: &[u8], text: &[u8]) -> Option<bool> {
        self.calls.set(self.calls.get() + 1);
        match scheme {
            Scheme::Rs256 => {
                use rsa::signature::Verifier;
                let key = RsaPublicKey::from_public_key_der(spki).ok()?;
                let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key);
                let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                    return Some(false);
                };
                Some(vk.verify(text, &sig).is_ok())
            }
            Scheme::Es256 => {
                use p256::ecdsa::signature::Verifier;
                let vk = p256::ecdsa::VerifyingKey::from_public_key_der(spki).ok()?;
                let Ok(sig) = Signature::from_der(signature) else {
                    return Some(false);
                };
                Some(vk.verify(text, &sig).is_ok())
            }
        }
    }
}

/// Answers every call with the same verdict, or declines (`None`).
struct Fixed(Option<bool>, Cell<u32>);

impl SignatureBackend for Fixed {
    fn offers(&self, _: Scheme) -> bool {
        true
    }

    fn verify(&self, _: Scheme, _: &[u8], _: &[u8], _: &[u8]) -> Option<bool> {
        self.1.set(self.1.get() + 1);
        self.0
    }
}

fn random_odd_modulus(rng: &mut StdRng, bits: usize) -> Vec<u8> {
    let mut n = vec![0u8; bits.div_ceil(8)];
    rng.fill_bytes(&mut n);
    let top = bits % 8;
    if top != 0 {
        n[0] &= (1u8 << top) - 1;
        n[0] |= 1 << (top - 1);
    } else {
        n[0] |= 0x80;
    }
    *n.last_mut().unwrap() |= 1;
    n
}

#[test]
fn rsa_spki_is_what_pkcs8_writes() {
    let mut rng = StdRng::seed_from_u64(25);
    for bits in [2048usize, 2049, 2055, 2056, 3072, 4095, 4096] {
        for e in [3u32, 17, 65537, 0x7fff_ffff, 0xffff_ffff] {
            let n = random_odd_modulus(&mut rng, bits);
            let reference = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from(e))
                .unwrap()
                .to_public_key_der()
                .unwrap();
            let e_be = e.to_be_bytes();
            assert_eq!(der::rsa_spki(&n, &e_be), reference.as_bytes(), "{bits} {e}");
            // Leading zeros in the JWK members change nothing.
            let padded_n = [&[0, 0][..], &n].concat();
            assert_eq!(der::rsa_spki(&padded_n, &e_be), reference.as_bytes());
            let key = RsaKey::from_components(&n, &e_be).unwrap();
            assert_eq!(key.spki(), reference.as_bytes());
        }
    }
}

#[test]
fn p256_spki_is_what_pkcs8_writes() {
    let mut rng = StdRng::seed_from_u64(26);
    for _ in 0..50 {
        let sk = SigningKey::random(&mut rng);
        let point = sk.verifying_key().to_encoded_point(false);
        let (x, y) = (point.x().unwrap(), point.y().unwrap());
        let reference = sk.verifying_key().to_public_key_der().unwrap();
        let key = EcKey::from_affine(x, y).unwrap();
        assert_eq!(key.spki(), reference.as_bytes());
    }
}

#[test]
fn ecdsa_signature_der_is_what_p256_writes() {
    let mut rng = StdRng::seed_from_u64(27);
    let sk = SigningKey::random(&mut rng);
    let check = |sig: Signature| {
        let raw = sig.to_bytes();
        assert_eq!(
            der::ecdsa_signature(&raw).unwrap(),
            sig.to_der().as_bytes(),
            "{raw:02x?}"
        );
    };
    for _ in 0..200 {
        let mut msg = [0u8; 16];
        rng.fill_bytes(&mut msg);
        let sig: Signature = sk.sign(&msg);
        check(sig);
    }
    // Small and top-bit-set scalars: leading zeros dropped, a zero octet in front of a set bit.
    let scalar = |be: [u8; 32]| p256::FieldBytes::from(be);
    let mut one = [0u8; 32];
    one[31] = 1;
    let mut high = [0u8; 32];
    high[0] = 0x80;
    high[31] = 5;
    let mut low = [0u8; 32];
    low[1] = 0x7f;
    for (r, s) in [(one, high), (high, one), (low, high), (one, one)] {
        check(Signature::from_scalars(scalar(r), scalar(s)).unwrap());
    }
}

/// Valid signatures and mutations of them: the reference backend's verdict, reached through
/// the DER forms, is the module's own.
#[test]
fn a_host_verifying_from_the_der_forms_agrees_with_the_modules_code() {
    let mut rng = StdRng::seed_from_u64(28);
    let host = Reference::default();
    let sk = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let key = RsaKey::from_components(&sk.n().to_bytes_be(), &sk.e().to_bytes_be()).unwrap();
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(sk);
    let ec_sk = SigningKey::random(&mut rng);
    let point = ec_sk.verifying_key().to_encoded_point(false);
    let ec = EcKey::from_affine(point.x().unwrap(), point.y().unwrap()).unwrap();
    let (mut valid, mut cases) = (0, 0);
    for _ in 0..40 {
        let mut msg = vec![0u8; rng.gen_range(1..300)];
        rng.fill_bytes(&mut msg);
        let rs: Vec<u8> =
            rsa::signature::SignatureEncoding::to_vec(&rsa::signature::Signer::sign(&signer, &msg));
        let es_sig: Signature = ec_sk.sign(&msg);
        let es = es_sig.to_bytes().to_vec();
        let mut variants: Vec<(Vec<u8>, Vec<u8>)> = vec![(rs.clone(), es.clone())];
        for _ in 0..3 {
            let (mut r, mut e) = (rs.clone(), es.clone());
            let (i, j) = (rng.gen_range(0..r.len()), rng.gen_range(0..e.len()));
            r[i] ^= 1 << rng.gen_range(0..8);
            e[j] ^= 1 << rng.gen_range(0..8);
            variants.push((r, e));
        }
        // Wrong lengths, zero and all-ones signatures.
        variants.push((rs[1..].to_vec(), es[1..].to_vec()));
        variants.push((vec![0; 256], vec![0; 64]));
        variants.push((vec![0xff; 256], vec![0xff; 64]));
        for (r, e) in variants {
            let own = key.verify(&msg, &r);
            assert_eq!(key.verify_using(&host, &msg, &r), own);
            let own_ec = ec.verify(&msg, &e);
            assert_eq!(ec.verify_using(&host, &msg, &e), own_ec);
            valid += usize::from(own) + usize::from(own_ec);
            cases += 2;
        }
    }
    // Both kinds of verdict were exercised, and through the host.
    assert_eq!(valid, 80, "of {cases}");
    assert!(host.calls.get() > 400);
}

#[test]
fn the_probe_vectors_pass_the_reference_host_and_fail_a_wrong_one() {
    let host = Reference::default();
    for scheme in [Scheme::Rs256, Scheme::Es256] {
        assert!(probe::agrees(scheme, |k, s, t| host.verify(scheme, k, s, t)));
        // A host that checked another text, or another key, disagrees.
        assert!(!probe::agrees(scheme, |k, s, _| host.verify(scheme, k, s, b"x")));
        let other = probe::case(match scheme {
            Scheme::Rs256 => Scheme::Es256,
            Scheme::Es256 => Scheme::Rs256,
        })
        .unwrap();
        assert!(!probe::agrees(scheme, |_, s, t| host
            .verify(scheme, &other.spki, s, t)
            .or(Some(false))));
    }
}

#[test]
fn a_declining_backend_falls_back_and_a_refusing_one_is_believed() {
    let c = probe::case(Scheme::Rs256).unwrap();
    let key_der = RsaPublicKey::from_public_key_der(&c.spki).unwrap();
    let key =
        RsaKey::from_components(&key_der.n().to_bytes_be(), &key_der.e().to_bytes_be()).unwrap();
    let good = c.good.clone();
    assert!(key.verify(probe::TEXT, &good));

    let declines = Fixed(None, Cell::new(0));
    assert!(key.verify_using(&declines, probe::TEXT, &good));
    assert!(!key.verify_using(&declines, probe::TEXT, &c.bad));
    assert_eq!(declines.1.get(), 2);

    // Fails closed: a host "invalid" on a valid signature is a bad signature.
    let refuses = Fixed(Some(false), Cell::new(0));
    assert!(!key.verify_using(&refuses, probe::TEXT, &good));
    // The length rule is the module's and comes first: the host is not asked.
    let accepts = Fixed(Some(true), Cell::new(0));
    assert!(!key.verify_using(&accepts, probe::TEXT, &good[1..]));
    assert_eq!(accepts.1.get(), 0);
    // The module's own code is what a backend-less caller gets.
    assert!(key.verify_using(&OWN_CODE, probe::TEXT, &good));
    assert!(!OwnCode.offers(Scheme::Rs256) && !OwnCode.offers(Scheme::Es256));

    let e = probe::case(Scheme::Es256).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_public_key_der(&e.spki).unwrap();
    let point = vk.to_encoded_point(false);
    let ec = EcKey::from_affine(point.x().unwrap(), point.y().unwrap()).unwrap();
    let raw = Signature::from_der(&e.good).unwrap().to_bytes().to_vec();
    assert!(ec.verify_using(&declines, probe::TEXT, &raw));
    assert!(!ec.verify_using(&refuses, probe::TEXT, &raw));
    // An ES256 signature that is not 64 octets never reaches the host.
    let before = accepts.1.get();
    assert!(!ec.verify_using(&accepts, probe::TEXT, &raw[..63]));
    assert_eq!(accepts.1.get(), before);
}
