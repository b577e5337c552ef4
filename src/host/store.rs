//! The host's shared data as the core's [`SharedStore`].

use super::abi;
use crate::jwks_cache::{SharedStore, StoreError};

/// Shared data through [`abi`].
pub struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        abi::shared_get(key).map_err(|e| StoreError::Host(e.0))
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        match abi::shared_set(key, value, cas.unwrap_or(0)) {
            Ok(()) => Ok(()),
            Err(abi::HostError(abi::CAS_MISMATCH)) => Err(StoreError::CasMismatch),
            Err(e) => Err(StoreError::Host(e.0)),
        }
    }
}
