//! The host's signature check (`verify_signature`, Envoy ≥ 1.30) as the core's
//! [`SignatureBackend`], where the host has one that gives the known answers.
//!
//! Probed once per VM (by its first request, when the host is identified) with
//! [`crate::crypto::probe`]: a host without the function
//! (nginx answers Unimplemented), or one that errs or disagrees, is not used, and the module's
//! own code verifies. Per call, a host error or an answer that is not a `VerifySignatureResult`
//! falls back to the module's code; a well-formed "invalid" is a bad signature. Never a pass
//! the module's code would not give.

use super::abi;
use crate::crypto::{probe, verify_signature as msg, Scheme, SignatureBackend};
use std::cell::Cell;

/// Which schemes go to the host. ES256 stays with the module: measured in `make bench`
/// (docs/performance.md), the host's check plus a DER key parse per call cost more than the
/// module's P-256 code with its per-key tables.
const HOST_SCHEMES: [Scheme; 1] = [Scheme::Rs256];

/// The host's `verify_signature`, for the schemes that passed the probe.
#[derive(Debug, Default)]
pub struct HostSignatures {
    rs256: bool,
    es256: bool,
    /// Signatures the host decided since the last [`HostSignatures::take_stats`].
    decided: Cell<u64>,
    /// Calls that fell back to the module's code.
    fell_back: Cell<u64>,
}

/// One call to the host: its verdict, or `None` when it gave none.
fn call(spki: &[u8], signature: &[u8], text: &[u8]) -> Option<bool> {
    let args = msg::encode_arguments(spki, signature, text);
    let answer = abi::call_foreign(msg::FUNCTION, &args).ok()?;
    msg::decode_answer(&answer).ok().map(|a| a.valid)
}

impl HostSignatures {
    /// Asks the host the known answers for each scheme jwtgate would hand it.
    pub fn probe() -> HostSignatures {
        let mut h = HostSignatures::default();
        for scheme in HOST_SCHEMES {
            let agrees = probe::agrees(scheme, call);
            match scheme {
                Scheme::Rs256 => h.rs256 = agrees,
                Scheme::Es256 => h.es256 = agrees,
            }
        }
        h
    }

    /// The schemes the host verifies, for the configure log line.
    pub fn describe(&self) -> &'static str {
        match (self.rs256, self.es256) {
            (true, true) => "RS256 and ES256 by the host's verify_signature",
            (true, false) => "RS256 by the host's verify_signature, ES256 by the module",
            (false, true) => "ES256 by the host's verify_signature, RS256 by the module",
            (false, false) => "by the module (the host has no usable verify_signature)",
        }
    }

    /// (decided by the host, fell back) since the last call.
    pub fn take_stats(&self) -> (u64, u64) {
        (self.decided.take(), self.fell_back.take())
    }
}

impl SignatureBackend for HostSignatures {
    fn offers(&self, scheme: Scheme) -> bool {
        match scheme {
            Scheme::Rs256 => self.rs256,
            Scheme::Es256 => self.es256,
        }
    }

    fn verify(&self, scheme: Scheme, spki: &[u8], signature: &[u8], text: &[u8]) -> Option<bool> {
        if !self.offers(scheme) {
            return None;
        }
        let verdict = call(spki, signature, text);
        let counter = if verdict.is_some() {
            &self.decided
        } else {
            &self.fell_back
        };
        counter.set(counter.get().saturating_add(1));
        verdict
    }
}
