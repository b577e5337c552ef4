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

    pub fn signed_by(mut self, s: Signer) -> Proof {
        self.signer = s;
        self
    }

    pub fn text(&self) -> String {
        jwt(self.signer, &self.header, &self.claims)
    }
}
