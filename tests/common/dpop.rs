//! DPoP helpers of the tests: a client key, tokens bound to it, proofs that pass every check
//! until a test changes one thing.

use super::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const HTU: &str = "https://api.example.com/orders";

/// RFC 7638 thumbprint, written out here independently of the filter's.
pub fn jkt(signer: Signer) -> String {
    let j = signer.jwk(None);
    let s = |k: &str| j[k].as_str().unwrap().to_owned();
    let text = match signer {
        Signer::Ec(_) => format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            s("x"),
            s("y")
        ),
        Signer::Rsa(_) => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
    };
    b64(Sha256::digest(text.as_bytes()))
}

pub fn ath(token: &str) -> String {
    b64(Sha256::digest(token.as_bytes()))
}

/// The client's key: the proof is signed with it, the token bound to it.
pub fn client() -> Signer {
    ec_b()
}

/// An access token of `corp` bound to `key`.
pub fn bound_token(key: Signer) -> String {
    es_token(&claims_with(json!({"cnf": {"jkt": jkt(key)}})))
}

/// `base_config()` with `dpop` as its provider's DPoP policy.
pub fn with_dpop(dpop: Value) -> Value {
    let mut v = base_config();
    v["providers"][0]["dpop"] = dpop;
    v
}

/// A proof that passes every check for GET `HTU` with `token`, before any change.
pub struct Proof {
    pub header: Value,
    pub claims: Value,
    pub signer: Signer,
}

impl Proof {
    pub fn new(token: &str) -> Proof {
        Proof::for_request(token, "GET", HTU)
    }

    pub fn for_request(token: &str, htm: &str, htu: &str) -> Proof {
        let signer = client();
        Proof {
            header: json!({"typ": "dpop+jwt", "alg": signer.alg(), "jwk": signer.jwk(None)}),
            claims: json!({
                "jti": format!("jti-{}", rand::random::<u64>()),
                "htm": htm,
                "htu": htu,
                "iat": NOW,
                "ath": ath(token),
            }),
            signer,
        }
    }

    pub fn header(mut self, k: &str, v: Value) -> Proof {
        if v.is_null() {
            self.header.as_object_mut().unwrap().remove(k);
        } else {
            self.header[k] = v;
        }
        self
    }

    pub fn claim(mut self, k: &str, v: Value) -> Proof {
        if v.is_null() {
            self.claims.as_object_mut().unwrap().remove(k);
        } else {
            self.claims[k] = v;
        }
        self
    }

    /// Signed by `s`, whatever key the header names.
    pub fn signed_by(mut self, s: Signer) -> Proof {
        self.signer = s;
        self
    }

    /// Signed by `key`, with its algorithm and public key in the header.
    pub fn key(self, key: Signer) -> Proof {
        let (alg, jwk) = (key.alg(), key.jwk(None));
        self.header("alg", json!(alg))
            .header("jwk", jwk)
            .signed_by(key)
    }

    pub fn text(&self) -> String {
        jwt(self.signer, &self.header, &self.claims)
    }

    /// The header as it is and `raw` as the claims, signed (claims that need not be JSON).
    pub fn text_with_raw_claims(&self, raw: &str) -> String {
        sign_raw(self.signer, &self.header.to_string(), raw)
    }

    /// The text with one character in the middle of the signature changed, for certain (the
    /// last character would be a coin toss: it carries only two bits of the 64 bytes).
    pub fn text_with_tampered_signature(&self) -> String {
        let text = self.text();
        let at = text.rfind('.').unwrap() + 20;
        let was = &text[at..at + 1];
        format!(
            "{}{}{}",
            &text[..at],
            if was == "A" { "B" } else { "A" },
            &text[at + 1..]
        )
    }

    /// Header (with `alg` HS256) and claims under an HMAC-SHA256 keyed with `secret` in place
    /// of a signature.
    pub fn hs256_text(&self, secret: &[u8]) -> String {
        use hmac::Mac;
        let mut header = self.header.clone();
        header["alg"] = json!("HS256");
        let input = format!(
            "{}.{}",
            b64(header.to_string()),
            b64(self.claims.to_string())
        );
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(mac.finalize().into_bytes()))
    }
}
