//! JWKS JSON → [`KeySet`]: the keys a provider may verify with, after the contract's "Keys" rules.
//!
//! An unusable key is skipped with a [`SkipReason`], never fatal to the set; a set with no usable
//! key at all is an error, so a bad publish cannot replace good keys.

use crate::crypto::{self, EcKey, RsaKey};
use crate::json;
use crate::token::Alg;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// Largest JWKS document accepted (contract: over 1 MiB is a failed fetch).
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Keys examined per document; the rest are skipped (bounds work per fetch).
pub const MAX_KEYS: usize = 100;

/// Skipped keys named in a [`JwksError::NoUsableKey`] message; the rest are counted.
pub const MAX_LISTED_SKIPS: usize = 8;

/// JWK members are base64url; tolerate padding there (it changes nothing) but no other alphabet.
const JWK_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The verification material of one key.
#[derive(Clone, Debug)]
pub enum Material {
    /// EC P-256.
    Ec(EcKey),
    /// RSA, at least [`crypto::MIN_RSA_BITS`].
    Rsa(RsaKey),
}

/// One usable key.
#[derive(Clone, Debug)]
pub struct Key {
    /// `kid`, if published.
    pub kid: Option<String>,
    /// `alg`, if published (then only that algorithm may use the key).
    pub alg: Option<Alg>,
    /// The public key.
    pub material: Material,
}

impl Key {
    /// Whether this key may verify a token whose header says `alg`.
    pub fn fits(&self, alg: Alg) -> bool {
        let kind_fits = matches!(
            (&self.material, alg),
            (Material::Ec(_), Alg::Es256) | (Material::Rsa(_), Alg::Rs256)
        );
        kind_fits && self.alg.is_none_or(|a| a == alg)
    }

    /// Verifies `sig` over `message` with this key.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Ec(k) => k.verify(message, sig),
            Material::Rsa(k) => k.verify(message, sig),
        }
    }
}

/// Why a JWK was left out of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The entry is not a JSON object.
    NotAnObject,
    /// `kty` missing or not `EC`/`RSA`.
    UnsupportedKty,
    /// EC key on a curve other than P-256.
    UnsupportedCurve,
    /// `alg` names an algorithm jwtgate never accepts, or does not fit `kty`.
    UnsupportedAlg,
    /// `use` is present and not `sig`.
    NotForSignatures,
    /// `key_ops` is present and lacks `verify`.
    NoVerifyOp,
    /// The JWK carries private key material; a published private key is never trusted.
    PrivateMaterial,
    /// A member is missing, not a string, or not base64url of the right length.
    BadEncoding,
    /// The EC point is not on P-256.
    InvalidPoint,
    /// The RSA modulus has fewer than 2048 bits.
    RsaTooSmall,
    /// The RSA modulus or exponent is unusable (even, too large, exponent < 3).
    RsaInvalid,
    /// The RSA modulus carries the ROCA fingerprint.
    RsaRoca,
    /// More than [`MAX_KEYS`] keys in the document.
    TooManyKeys,
}

impl SkipReason {
    /// A short code for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::NotAnObject => "not_an_object",
            SkipReason::UnsupportedKty => "unsupported_kty",
            SkipReason::UnsupportedCurve => "unsupported_curve",
            SkipReason::UnsupportedAlg => "unsupported_alg",
            SkipReason::NotForSignatures => "use_not_sig",
            SkipReason::NoVerifyOp => "key_ops_without_verify",
            SkipReason::PrivateMaterial => "private_key_material",
            SkipReason::BadEncoding => "bad_encoding",
            SkipReason::InvalidPoint => "invalid_point",
            SkipReason::RsaTooSmall => "rsa_modulus_too_small",
            SkipReason::RsaInvalid => "rsa_invalid",
            SkipReason::RsaRoca => "rsa_roca_vulnerable",
            SkipReason::TooManyKeys => "too_many_keys",
        }
    }
}

/// A key that was not loaded, for logging (`kid` only; never key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The JWK's `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub why: SkipReason,
}

/// Why a whole JWKS document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Over [`MAX_JWKS_BYTES`].
    TooLarge,
    /// Not JSON, or not an object with a `keys` array.
    NotAJwks,
    /// Parsed, but not a single key is usable.
    NoUsableKey(Vec<Skipped>),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::TooLarge => write!(f, "JWKS larger than {MAX_JWKS_BYTES} bytes"),
            JwksError::NotAJwks => f.write_str("not a JSON object with a \"keys\" array"),
            JwksError::NoUsableKey(skipped) => {
                // One bounded log line whatever the document: the first few keys, each `kid`
                // made log-safe (a `kid` is publisher text, up to 1 MiB of it).
                f.write_str("no usable key")?;
                for (i, s) in skipped.iter().take(MAX_LISTED_SKIPS).enumerate() {
                    let sep = if i == 0 { " (" } else { ", " };
                    let kid = crate::logsafe::log_safe(s.kid.as_deref().unwrap_or("-"));
                    write!(f, "{sep}kid \"{kid}\": {}", s.why.as_str())?;
                }
                if let Some(more) = skipped
                    .len()
                    .checked_sub(MAX_LISTED_SKIPS)
                    .filter(|&n| n > 0)
                {
                    write!(f, ", and {more} more")?;
                }
                if !skipped.is_empty() {
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for JwksError {}

/// The usable keys of one provider, indexed by `kid`.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    by_kid: HashMap<String, Vec<usize>>,
}

/// The outcome of choosing keys for one token.
pub enum Candidates<'a> {
    /// Keys to try, in order.
    Keys(Vec<&'a Key>),
    /// No usable key for this token (`unknown_kid`).
    None,
}

impl KeySet {
    /// Parses a JWKS document. Returns the set and the keys skipped on the way.
    pub fn parse(bytes: &[u8]) -> Result<(KeySet, Vec<Skipped>), JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let doc = json::parse(bytes).map_err(|_| JwksError::NotAJwks)?;
        Self::from_value(&doc)
    }

    /// Builds a set from an already parsed JWKS value.
    pub fn from_value(doc: &Value) -> Result<(KeySet, Vec<Skipped>), JwksError> {
        let Some(Value::Array(entries)) = doc.get("keys") else {
            return Err(JwksError::NotAJwks);
        };
        let mut set = KeySet::default();
        let mut skipped = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            if i >= MAX_KEYS {
                skipped.push(Skipped {
                    kid,
                    why: SkipReason::TooManyKeys,
                });
                continue;
            }
            match parse_key(entry, Uses::Many) {
                Ok(key) => set.push(key),
                Err(why) => skipped.push(Skipped { kid, why }),
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKey(skipped));
        }
        Ok((set, skipped))
    }

    fn push(&mut self, key: Key) {
        if let Some(kid) = &key.kid {
            self.by_kid
                .entry(kid.clone())
                .or_default()
                .push(self.keys.len());
        }
        self.keys.push(key);
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set holds no key (only a default-constructed set).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// All usable keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Keys that may verify a token with header `alg` and `kid` (contract: "Keys").
    pub fn candidates(&self, alg: Alg, kid: Option<&str>) -> Candidates<'_> {
        let picked: Vec<&Key> = match kid {
            Some(kid) => self
                .by_kid
                .get(kid)
                .map(|ix| ix.iter().filter_map(|&i| self.keys.get(i)).collect())
                .unwrap_or_default(),
            None => self.keys.iter().collect(),
        };
        let fitting: Vec<&Key> = picked.into_iter().filter(|k| k.fits(alg)).collect();
        if fitting.is_empty() {
            Candidates::None
        } else {
            Candidates::Keys(fitting)
        }
    }
}

fn member<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, SkipReason> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SkipReason::BadEncoding),
    }
}

fn bytes(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, SkipReason> {
    let s = member(obj, name)?.ok_or(SkipReason::BadEncoding)?;
    JWK_B64.decode(s).map_err(|_| SkipReason::BadEncoding)
}

/// How many signatures a key is built to verify.
#[derive(Clone, Copy)]
enum Uses {
    /// A JWKS key: many tokens, worth its full precomputation.
    Many,
    /// A DPoP proof's `jwk`: the one proof carrying it.
    One,
}

impl Key {
    /// A key from one JWK under the same rules as a JWKS's keys, built to verify one
    /// signature (a DPoP proof's `jwk`, new with every proof): `None` where a JWKS would skip it.
    pub fn for_one_signature(jwk: &Value) -> Option<Key> {
        parse_key(jwk, Uses::One).ok()
    }
}

fn parse_key(entry: &Value, uses: Uses) -> Result<Key, SkipReason> {
    let obj = entry.as_object().ok_or(SkipReason::NotAnObject)?;
    // `kid` of another type is junk we cannot index by; refuse the key rather than guess.
    let kid = member(obj, "kid")?.map(str::to_owned);
    if member(obj, "use")?.is_some_and(|u| u != "sig") {
        return Err(SkipReason::NotForSignatures);
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or(SkipReason::BadEncoding)?;
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Err(SkipReason::NoVerifyOp);
        }
    }
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| obj.contains_key(*m))
    {
        return Err(SkipReason::PrivateMaterial);
    }
    let alg = match member(obj, "alg")? {
        None => None,
        Some(name) => Some(Alg::from_name(name).ok_or(SkipReason::UnsupportedAlg)?),
    };
    let material = match member(obj, "kty")? {
        Some("EC") => {
            if member(obj, "crv")? != Some("P-256") {
                return Err(SkipReason::UnsupportedCurve);
            }
            let (x, y) = (bytes(obj, "x")?, bytes(obj, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(SkipReason::BadEncoding);
            }
            let key = match uses {
                Uses::Many => EcKey::from_affine(&x, &y),
                Uses::One => EcKey::from_affine_for_one_use(&x, &y),
            };
            Material::Ec(key.ok_or(SkipReason::InvalidPoint)?)
        }
        Some("RSA") => Material::Rsa(rsa_key(&bytes(obj, "n")?, &bytes(obj, "e")?)?),
        _ => return Err(SkipReason::UnsupportedKty),
    };
    let key = Key { kid, alg, material };
    if let Some(a) = alg {
        if !key.fits(a) {
            return Err(SkipReason::UnsupportedAlg);
        }
    }
    Ok(key)
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<RsaKey, SkipReason> {
    if crypto::bit_len(n) < crypto::MIN_RSA_BITS {
        return Err(SkipReason::RsaTooSmall);
    }
    let n_odd = n.last().is_some_and(|b| b & 1 == 1);
    let e_odd = e.last().is_some_and(|b| b & 1 == 1);
    if !n_odd || !e_odd || crypto::bit_len(e) < 2 || crypto::bit_len(e) > 32 {
        return Err(SkipReason::RsaInvalid);
    }
    if crypto::roca::is_vulnerable(n) {
        return Err(SkipReason::RsaRoca);
    }
    RsaKey::from_components(n, e).ok_or(SkipReason::RsaInvalid)
}
