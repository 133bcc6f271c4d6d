//! Keyed hashes of phone numbers for logs.
//!
//! A phone number never reaches a log in clear. Logs carry an HMAC-SHA256 of
//! the normalised number under a key from configuration, so one number's
//! events can be correlated by whoever holds the key, and by nobody else.

use std::fmt;
use std::hash::{BuildHasher, RandomState};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::phone;

/// Hashes phone numbers under one key.
#[derive(Clone)]
pub struct PhoneHasher {
    key: Vec<u8>,
    /// Whether the key came from configuration (stable across instances).
    configured: bool,
}

impl fmt::Debug for PhoneHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneHasher")
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

impl PhoneHasher {
    /// A hasher under a configured key (at least 16 bytes).
    pub fn new(key: &[u8]) -> Option<Self> {
        (key.len() >= 16).then(|| Self {
            key: key.to_vec(),
            configured: true,
        })
    }

    /// A hasher under a random per-process key: hashes are still private but
    /// cannot be correlated across instances. Used when no key is configured.
    pub fn ephemeral() -> Self {
        let mut key = Vec::with_capacity(32);
        for i in 0u64..4 {
            // RandomState is seeded from the OS's random source.
            key.extend_from_slice(&RandomState::new().hash_one(i).to_le_bytes());
        }
        Self {
            key,
            configured: false,
        }
    }

    /// A hasher under a fixed, public key: stable across instances but not
    /// secret. Used for store keys when no key is configured, so that state
    /// is shared; the table itself is private to the account.
    pub fn unkeyed() -> Self {
        Self {
            key: b"pumpguard-unkeyed-store-v1".to_vec(),
            configured: false,
        }
    }

    /// Whether the key came from configuration.
    pub fn is_configured(&self) -> bool {
        self.configured
    }

    /// Whether `other` hashes under the same key (both are this process's
    /// own copies: nothing outside chooses what is compared).
    pub fn same_key(&self, other: &PhoneHasher) -> bool {
        self.key == other.key
    }

    /// The first 16 bytes of HMAC-SHA256(key, normalised number), in hex.
    /// Spellings of one number (`tel:`, spaces) hash alike.
    pub fn hash(&self, raw: &str) -> String {
        let normalised = phone::normalise(raw).unwrap_or_else(|_| raw.trim().to_string());
        self.hash_text(&normalised)
    }

    /// The same keyed hash of any text (a user id, a number prefix).
    pub fn hash_text(&self, text: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            // HMAC accepts keys of any length; keep a total function anyway.
            Err(_) => return "unhashable".into(),
        };
        mac.update(text.as_bytes());
        let out = mac.finalize().into_bytes();
        hex::encode(&out[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_stable_and_private() {
        let h = PhoneHasher::new(b"0123456789abcdef").expect("key");
        let a = h.hash("+14155552671");
        assert_eq!(a, h.hash("tel:+1 415-555-2671"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("4155552671"));
        let other = PhoneHasher::new(b"fedcba9876543210").expect("key");
        assert_ne!(a, other.hash("+14155552671"));
        assert!(PhoneHasher::new(b"short").is_none());
        let e1 = PhoneHasher::ephemeral();
        let e2 = PhoneHasher::ephemeral();
        assert!(!e1.is_configured());
        assert_ne!(e1.hash("+14155552671"), e2.hash("+14155552671"));
    }
}
