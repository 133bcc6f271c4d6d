//! `[suspicious]`: digit patterns in the subscriber number (static).
//!
//! Long runs of one digit, or of ascending or descending digits, in the
//! national part of the number: the numbers scripts make up.

use serde::{Deserialize, Serialize};

use super::Findings;
use crate::engine::{Check, Reason};
use crate::features::Features;
use crate::policy::{Collector, Mode, Policy, Section};

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireSuspicious {
    mode: Mode,
    max_repeated_digits: i64,
    max_sequential_digits: i64,
}

impl Default for WireSuspicious {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            max_repeated_digits: 6,
            max_sequential_digits: 7,
        }
    }
}

/// `[suspicious]`: digit patterns in the subscriber number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SuspiciousPolicy {
    pub mode: Mode,
    /// Flag a run of this many identical digits or more.
    pub max_repeated_digits: usize,
    /// Flag an ascending or descending run of this many digits or more.
    pub max_sequential_digits: usize,
}

impl Section for SuspiciousPolicy {
    const NAME: &'static str = "suspicious";
    type Wire = WireSuspicious;

    fn check(w: WireSuspicious, c: &mut Collector) -> Self {
        let mut bound = |v: i64, key: &str| -> usize {
            if (3..=15).contains(&v) {
                usize::try_from(v).unwrap_or(15)
            } else {
                c.push(
                    format!("suspicious.{key}"),
                    format!("must be between 3 and 15 digits, found {v}"),
                );
                15
            }
        };
        let max_repeated_digits = bound(w.max_repeated_digits, "max-repeated-digits");
        let max_sequential_digits = bound(w.max_sequential_digits, "max-sequential-digits");
        SuspiciousPolicy {
            mode: w.mode,
            max_repeated_digits,
            max_sequential_digits,
        }
    }
}

/// The guard: a finding for each pattern the subscriber number has.
pub(crate) fn find(p: &Policy, n: &Features, f: &mut Findings<'_>) {
    let s = &p.suspicious;
    if !n.form.readable() || s.mode == Mode::Off {
        return;
    }
    if usize::from(n.repeat) >= s.max_repeated_digits {
        f.add(
            Check::Suspicious,
            s.mode,
            Reason::SuspiciousRepeatedDigits,
            None,
        );
    }
    if usize::from(n.sequence) >= s.max_sequential_digits {
        f.add(
            Check::Suspicious,
            s.mode,
            Reason::SuspiciousSequentialDigits,
            None,
        );
    }
}
