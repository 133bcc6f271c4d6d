//! Keyed hashes of phone numbers for logs.
//!
//! A phone number never reaches a log in clear. Logs carry an HMAC-SHA256 of
//! the normalised number under a key from configuration, so one number's
//! events can be correlated by whoever holds the key, and by nobody else.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::phone;

/// Hashes phone numbers under one key. Cloned for nothing: copies share
/// the key.
#[derive(Clone)]
pub struct PhoneHasher(Arc<Keyed>);

struct Keyed {
    key: Vec<u8>,
    /// HMAC-SHA256 with the key already absorbed: each hash starts from a
    /// copy of it instead of hashing the key's two padded blocks again.
    /// (HMAC takes a key of any length, so it is always made; the function
    /// stays total anyway.)
    mac: Option<Hmac<Sha256>>,
    /// Whether the key came from configuration (stable across instances).
    configured: bool,
}

impl fmt::Debug for PhoneHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneHasher")
            .field("configured", &self.0.configured)
            .finish_non_exhaustive()
    }
}

impl PhoneHasher {
    fn under(key: Vec<u8>, configured: bool) -> Self {
        let mac = Hmac::<Sha256>::new_from_slice(&key).ok();
        Self(Arc::new(Keyed {
            key,
            mac,
            configured,
        }))
    }

    /// A hasher under a configured key (at least 16 bytes).
    pub fn new(key: &[u8]) -> Option<Self> {
        (key.len() >= 16).then(|| Self::under(key.to_vec(), true))
    }

    /// A hasher under a random per-process key: hashes are still private but
    /// cannot be correlated across instances. Used when no key is configured.
    pub fn ephemeral() -> Self {
        let mut key = Vec::with_capacity(32);
        for i in 0u64..4 {
            // RandomState is seeded from the OS's random source.
            key.extend_from_slice(&RandomState::new().hash_one(i).to_le_bytes());
        }
        Self::under(key, false)
    }

    /// A hasher under a fixed, public key: stable across instances but not
    /// secret. Used for store keys when no key is configured, so that state
    /// is shared; the table itself is private to the account.
    pub fn unkeyed() -> Self {
        Self::under(b"pumpguard-unkeyed-store-v1".to_vec(), false)
    }

    /// Whether the key came from configuration.
    pub fn is_configured(&self) -> bool {
        self.0.configured
    }

    /// Whether `other` hashes under the same key (both are this process's
    /// own copies: nothing outside chooses what is compared).
    pub fn same_key(&self, other: &PhoneHasher) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.key == other.0.key
    }

    /// The first 16 bytes of HMAC-SHA256(key, normalised number), in hex.
    /// Spellings of one number (`tel:`, spaces) hash alike.
    pub fn hash(&self, raw: &str) -> String {
        let normalised = phone::normalise(raw).unwrap_or_else(|_| raw.trim().to_string());
        self.hash_text(&normalised)
    }

    /// The same keyed hash of any text (a user id, a number prefix).
    pub fn hash_text(&self, text: &str) -> String {
        let Some(mut mac) = self.0.mac.clone() else {
            return "unhashable".into();
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

    /// RFC 4231, test case 1, truncated to 16 bytes: the state with the key
    /// absorbed is copied for every hash, never used up.
    #[test]
    fn the_hash_is_hmac_sha256_every_time() {
        let h = PhoneHasher::new(&[0x0b; 20]).expect("key");
        for _ in 0..3 {
            assert_eq!(h.hash_text("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b");
        }
        let copy = h.clone();
        assert!(copy.same_key(&h));
        assert_eq!(
            copy.hash_text("Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b"
        );
        assert!(PhoneHasher::new(&[0x0b; 21]).is_some_and(|o| !o.same_key(&h)));
    }
}
