//! JWKS parsing: `KeySet::parse` on arbitrary bytes, then key choice and a verify with every
//! usable key. Checked beyond "no panic": a set never exceeds `MAX_KEYS` keys, every key fits the
//! algorithm it is offered for, a token `kid` only selects keys with that `kid`, and the refusal
//! message (logged and shown in config errors) stays one bounded line.
#![no_main]

use jwtgate::{Candidates, KeySet, MAX_KEYS};
use jwtgate::token::Alg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match KeySet::parse(data) {
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains(['\n', '\r']), "multi-line JWKS error");
            assert!(msg.len() <= 4096, "JWKS error of {} bytes", msg.len());
        }
        Ok((set, skipped)) => {
            assert!(!set.is_empty());
            assert!(set.len() <= MAX_KEYS);
            assert!(set.len() + skipped.len() <= data.len());
            let mut kids: Vec<Option<&str>> = vec![None, Some(""), Some("ec-a")];
            kids.extend(set.keys().iter().take(4).map(|k| k.kid.as_deref()));
            for alg in [Alg::Es256, Alg::Rs256] {
                for kid in &kids {
                    if let Candidates::Keys(keys) = set.candidates(alg, *kid) {
                        for k in keys {
                            assert!(k.fits(alg));
                            if let Some(kid) = kid {
                                assert_eq!(k.kid.as_deref(), Some(*kid));
                            }
                            let sig = vec![1u8; if alg == Alg::Es256 { 64 } else { 256 }];
                            assert!(!k.verify(data, &sig), "a constant signature verified");
                        }
                    }
                }
            }
        }
    }
});
