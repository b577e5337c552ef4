//! Every numeric range and default of the plugin JSON, written once: `raw` puts them in the
//! JSON Schema (whose defaults `docs/configuration.md` is checked against) and `validate`
//! enforces them, so the schema, the checks and the reference cannot disagree.

use super::ConfigError;

/// Ten years: keeps all time arithmetic (milliseconds included) far from overflow.
const TEN_YEARS_S: u64 = 10 * 365 * 86400;

/// The range of one integer field and its value when omitted (`None`: no default, the field
/// is then optional and means "not checked").
#[derive(Debug, Clone, Copy)]
pub(super) struct Bound {
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value.
    pub max: u64,
    /// The value of an omitted field.
    pub default: Option<u64>,
}

impl Bound {
    const fn new(min: u64, max: u64, default: u64) -> Bound {
        Bound {
            min,
            max,
            default: Some(default),
        }
    }

    const fn optional(min: u64, max: u64) -> Bound {
        Bound {
            min,
            max,
            default: None,
        }
    }

    /// The value given, else the default, if within the range; else an error naming `field`.
    pub fn read(&self, field: impl Into<String>, v: Option<u64>) -> Result<u64, ConfigError> {
        let v = v.or(self.default).unwrap_or(self.min);
        self.check(field, v)
    }

    /// `v` if within the range; else an error naming `field`.
    pub fn check(&self, field: impl Into<String>, v: u64) -> Result<u64, ConfigError> {
        if v < self.min || v > self.max {
            let (min, max) = (self.min, self.max);
            return Err(ConfigError::new(
                field,
                format!("must be between {min} and {max}"),
            ));
        }
        Ok(v)
    }
}

/// `max_token_size`: bytes of the token (the whole header value holding it).
pub(super) const MAX_TOKEN_SIZE: Bound = Bound::new(16, 1 << 20, 8192);
/// `token_cache_size`: verified tokens kept per VM (0 turns the cache off).
pub(super) const TOKEN_CACHE_SIZE: Bound = Bound::new(0, 1 << 20, 4096);
/// `clock_skew_s`: leeway on `exp`, `nbf` and `iat`.
pub(super) const CLOCK_SKEW_S: Bound = Bound::new(0, 86400, 60);
/// `max_lifetime_s`: the longest `exp - iat` accepted.
pub(super) const MAX_LIFETIME_S: Bound = Bound::optional(1, TEN_YEARS_S);
/// `timeout_ms` of a fetched document (JWKS, discovery, revocation list).
pub(super) const TIMEOUT_MS: Bound = Bound::new(1, 60_000, 5000);
/// `cache_duration_s` of a fetched document.
pub(super) const CACHE_DURATION_S: Bound = Bound::new(1, TEN_YEARS_S, 600);
/// `min_refetch_interval_s`: unknown-`kid` refetches per provider at most this often.
pub(super) const MIN_REFETCH_INTERVAL_S: Bound = Bound::new(1, TEN_YEARS_S, 30);
/// `max_stale_s`: how long past their expiry the last good keys still serve.
pub(super) const MAX_STALE_S: Bound = Bound::new(0, TEN_YEARS_S, 86400);
/// `max_age_s` of a requirement (step-up): the oldest `auth_time` accepted.
pub(super) const MAX_AGE_S: Bound = Bound::optional(0, TEN_YEARS_S);
/// `dpop.max_age_s`: the oldest proof `iat` accepted (clock skew added); also how long a
/// proof's `jti` is remembered.
pub(super) const DPOP_MAX_AGE_S: Bound = Bound::new(1, 86400, 300);

/// `bypass_cors_preflight` when omitted.
pub(super) const BYPASS_CORS_PREFLIGHT: bool = true;
/// `require_expiration` when omitted.
pub(super) const REQUIRE_EXPIRATION: bool = true;
/// `forward` when omitted.
pub(super) const FORWARD: bool = false;
/// `discovery` when omitted.
pub(super) const DISCOVERY: bool = false;
/// `ignore_case` of a rule's match when omitted.
pub(super) const IGNORE_CASE: bool = false;
/// `dpop.required` when omitted.
pub(super) const DPOP_REQUIRED: bool = false;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_takes_the_default_and_checks_both_ends() {
        assert_eq!(CLOCK_SKEW_S.read("f", None), Ok(60));
        assert_eq!(CLOCK_SKEW_S.read("f", Some(0)), Ok(0));
        assert_eq!(CLOCK_SKEW_S.read("f", Some(86400)), Ok(86400));
        let e = CLOCK_SKEW_S.read("f", Some(86401)).unwrap_err();
        assert_eq!(e.field, "f");
        assert_eq!(e.problem, "must be between 0 and 86400");
        assert!(TIMEOUT_MS.read("t", Some(0)).is_err());
        assert_eq!(TIMEOUT_MS.read("t", Some(1)), Ok(1));
        assert!(MAX_LIFETIME_S.check("m", 0).is_err());
        assert!(MAX_LIFETIME_S.check("m", TEN_YEARS_S + 1).is_err());
    }
}
