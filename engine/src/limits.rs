//! The sections every stateful guard shares, `[state]` (what to do when
//! the store fails) and `[exemptions]`, and the checks of numbers every
//! section uses. Each guard's own section lives in its file under
//! [`crate::guards`].
//!
//! Like the rest of the policy, each section is a kebab-case wire struct that
//! is checked into a domain value, with every problem reported by key.
//! Fractions and money become integers here (per mille, micro-USD), so the
//! engine never compares floats.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::phone;
use crate::policy::{Collector, Section};

/// What stateful guards do when the store fails or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnStoreError {
    /// Static guards still apply; stateful ones are skipped (the default).
    FailOpen,
    /// The SMS is blocked with `SMS_UNAVAILABLE`.
    FailClosed,
}

// ---------------------------------------------------------------- wire

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireState {
    on_store_error: OnStoreError,
    timeout_ms: i64,
}

impl Default for WireState {
    fn default() -> Self {
        Self {
            on_store_error: OnStoreError::FailOpen,
            timeout_ms: 700,
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireExemptions {
    admin_create_user: bool,
    allow_numbers: Vec<String>,
}

// ---------------------------------------------------------------- domain

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct StatePolicy {
    pub on_store_error: OnStoreError,
    /// Budget for all store calls of one decision.
    pub timeout_ms: u64,
}

/// `[exemptions]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Exemptions {
    /// AdminCreateUser (IAM-signed) skips the rate limits (not the budget).
    pub admin_create_user: bool,
    /// Numbers (E.164) that skip every check: test phones.
    #[serde(skip)]
    pub allow_numbers: BTreeSet<String>,
}

pub(crate) fn bounded(c: &mut Collector, key: &str, v: i64, lo: i64, hi: i64) -> u32 {
    if (lo..=hi).contains(&v) {
        u32::try_from(v).unwrap_or(0)
    } else {
        c.push(key, format!("must be between {lo} and {hi}, found {v}"));
        u32::try_from(lo.max(0)).unwrap_or(0)
    }
}

pub(crate) fn fraction(c: &mut Collector, key: &str, v: f64, hi: f64) -> u32 {
    if v.is_finite() && (0.0..=hi).contains(&v) {
        // In range by the check above, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let permille = (v * 1000.0).round() as u32;
        permille
    } else {
        c.push(key, format!("must be between 0 and {hi}, found {v}"));
        0
    }
}

/// USD → micro-USD, for amounts up to $10M.
pub(crate) fn micro_usd(c: &mut Collector, key: &str, v: f64) -> u64 {
    if v.is_finite() && v > 0.0 && v <= 10_000_000.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micro = (v * 1_000_000.0).round() as u64;
        micro
    } else {
        c.push(key, format!("must be a positive amount in USD, found {v}"));
        0
    }
}

impl Section for StatePolicy {
    const NAME: &'static str = "state";
    type Wire = WireState;

    fn check(w: WireState, c: &mut Collector) -> Self {
        StatePolicy {
            on_store_error: w.on_store_error,
            timeout_ms: u64::from(bounded(c, "state.timeout-ms", w.timeout_ms, 50, 3000)),
        }
    }
}

impl Section for Exemptions {
    const NAME: &'static str = "exemptions";
    type Wire = WireExemptions;

    fn check(w: WireExemptions, c: &mut Collector) -> Self {
        let mut allow = BTreeSet::new();
        for (i, n) in w.allow_numbers.iter().enumerate() {
            match phone::normalise(n) {
                Ok(e164) => {
                    allow.insert(e164);
                }
                Err(_) => c.push(
                    format!("exemptions.allow-numbers[{i}]"),
                    "is not an E.164 number (+ and 7 to 15 digits)",
                ),
            }
        }
        Exemptions {
            admin_create_user: w.admin_create_user,
            allow_numbers: allow,
        }
    }
}
