//! One token against one provider: size, parse, algorithm policy, key choice, signature,
//! dates, issuer, audience, type — in that fixed order, each failure a reason code.

use crate::cache::TokenCache;
pub use crate::claims::Verified;
use crate::claims::{self, Dates};
use crate::config::Provider;
use crate::crypto::{self, SignatureBackend};
use crate::keys::{Candidates, KeySet};
use crate::revocation::{self, RevocationList};
use crate::token::{self, Alg};
use crate::Reason;
use std::rc::Rc;

/// What the key source can offer a provider right now.
#[derive(Clone, Copy)]
pub enum KeyState<'a> {
    /// Keys are loaded.
    Ready {
        /// The usable keys.
        keys: &'a KeySet,
        /// Changes whenever the set changes (cache entries are tied to it).
        version: u64,
        /// An unknown `kid` may trigger a refetch for this request.
        refetch_allowed: bool,
        /// Revoked `jti`s, when the provider has a list.
        revoked: Option<&'a RevocationList>,
    },
    /// No keys yet, but they may arrive: the request can wait.
    Pending,
    /// No keys and no waiting: `jwks_unavailable`.
    Unavailable,
}

/// A failed authentication, with what logs may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The reason code.
    pub reason: Reason,
    /// The token's `kid`, when it was parsed far enough to have one.
    pub kid: Option<String>,
}

/// The result of authenticating one token.
#[derive(Debug, Clone)]
pub enum Auth {
    /// All checks passed.
    Valid(Rc<Verified>),
    /// A check failed.
    Invalid(Failure),
    /// The provider has no keys yet; ask again when they arrive.
    NeedKeys,
    /// No key fits this token's `kid`; a refetch may bring it.
    NeedRefetch,
}

fn fail(reason: Reason, kid: Option<&str>) -> Auth {
    Auth::Invalid(Failure {
        reason,
        kid: kid.map(str::to_owned),
    })
}

/// Authenticates `token` for provider number `index`, consulting and filling `cache`.
pub fn authenticate(
    p: &Provider,
    index: usize,
    token: &str,
    keys: KeyState<'_>,
    max_token_size: usize,
    now: i64,
    cache: &mut TokenCache,
) -> Auth {
    authenticate_using(
        p,
        index,
        token,
        keys,
        max_token_size,
        now,
        cache,
        &crypto::OWN_CODE,
    )
}

/// [`authenticate`], with signatures checked through `signatures` where it offers to.
#[allow(clippy::too_many_arguments)]
pub fn authenticate_using(
    p: &Provider,
    index: usize,
    token: &str,
    keys: KeyState<'_>,
    max_token_size: usize,
    now: i64,
    cache: &mut TokenCache,
    signatures: &dyn SignatureBackend,
) -> Auth {
    if token.len() > max_token_size {
        return fail(Reason::TokenTooLarge, None);
    }
    if let KeyState::Ready {
        version, revoked, ..
    } = keys
    {
        if let Some(hit) = cache.get(index, token, version) {
            // Revocation is checked on every hit: a list may name a token verified earlier.
            return match hit
                .dates
                .check(p, now)
                .and_then(|()| revocation::check(&hit.claims, revoked))
            {
                Ok(()) => Auth::Valid(hit),
                Err(r) => fail(r, hit.kid.as_deref()),
            };
        }
    }
    let t = match token::parse(token) {
        Ok(t) => t,
        Err(r) => return fail(r, None),
    };
    let kid = t.header.kid.as_deref();
    let Some(alg) = Alg::from_name(&t.header.alg).filter(|a| p.algorithms.contains(a)) else {
        return fail(Reason::AlgNotAllowed, kid);
    };
    // Waiting for (or refetching) keys only makes sense for a token that claims this issuer;
    // any other token fails later with wrong_issuer whatever the keys are.
    let claims_issuer = claims::issuer_matches(p, &t.claims);
    let (set, version, refetch_allowed, revoked) = match keys {
        KeyState::Ready {
            keys,
            version,
            refetch_allowed,
            revoked,
        } => (keys, version, refetch_allowed, revoked),
        KeyState::Pending if claims_issuer => return Auth::NeedKeys,
        KeyState::Unavailable if claims_issuer => return fail(Reason::JwksUnavailable, kid),
        _ => return fail(Reason::WrongIssuer, kid),
    };
    let candidates = match set.candidates(alg, kid) {
        Candidates::Keys(k) => k,
        Candidates::None if refetch_allowed && claims_issuer => return Auth::NeedRefetch,
        // A key this provider never had, for a token that is not even its issuer's: the token
        // is another provider's, and saying so tells more than "unknown kid" (and under `any`
        // lets that provider's own verdict speak).
        Candidates::None if !claims_issuer => return fail(Reason::WrongIssuer, kid),
        Candidates::None => return fail(Reason::UnknownKid, kid),
    };
    if !candidates
        .iter()
        .any(|k| k.verify_using(signatures, t.signing_input, &t.signature))
    {
        return fail(Reason::BadSignature, kid);
    }
    let dates = match Dates::read(&t.claims) {
        Ok(d) => d,
        Err(r) => return fail(r, kid),
    };
    if let Err(r) = dates.check(p, now) {
        return fail(r, kid);
    }
    if let Err(r) = claims::check_identity(p, &t.claims, t.header.typ.as_deref()) {
        return fail(r, kid);
    }
    let verified_claims_ok = revocation::check(&t.claims, revoked);
    if let Err(r) = verified_claims_ok {
        return fail(r, kid);
    }
    let verified = Rc::new(Verified::new(
        token,
        t.payload_at,
        t.claims,
        dates,
        t.header.kid,
    ));
    cache.insert(index, version, verified.clone());
    Auth::Valid(verified)
}

/// The JWS layer alone (RFC 7515: size, parse, algorithm allow-list, key choice, signature),
/// for `jwtgate check --signature-only`. The payload may be any octets (RFC 7520 §4 signs a
/// text); only this path accepts one that is not a JSON object. Returns the header and the
/// verified, still unread payload.
pub fn check_signature(
    algorithms: &[Alg],
    keys: &KeySet,
    token: &str,
    max_token_size: usize,
) -> Result<(token::Header, Vec<u8>), Failure> {
    if token.len() > max_token_size {
        return Err(Failure {
            reason: Reason::TokenTooLarge,
            kid: None,
        });
    }
    let t = token::parse_jws(token).map_err(|reason| Failure { reason, kid: None })?;
    let kid = t.header.kid.clone();
    let failure = |reason| Failure {
        reason,
        kid: kid.clone(),
    };
    let alg = Alg::from_name(&t.header.alg)
        .filter(|a| algorithms.contains(a))
        .ok_or_else(|| failure(Reason::AlgNotAllowed))?;
    let Candidates::Keys(candidates) = keys.candidates(alg, kid.as_deref()) else {
        return Err(failure(Reason::UnknownKid));
    };
    if !candidates
        .iter()
        .any(|k| k.verify(t.signing_input, &t.signature))
    {
        return Err(failure(Reason::BadSignature));
    }
    Ok((t.header, t.payload))
}
