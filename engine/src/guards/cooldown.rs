//! `[cooldown]`: the per-phone progressive cooldown (a counter).
//!
//! A *streak* is a run of sends to one phone with no pause of
//! `reset-after-seconds` or more. After the k-th send of a streak the next
//! send must wait `ladder-seconds[k-1]` (the last step repeats). One
//! [`Op::Cooldown`] on the phone's cooldown item takes the send or answers
//! how long to wait. The same item records a pending send for verification
//! feedback: with the cooldown off and `[country-velocity]` on, an
//! [`Op::MarkSent`] records it instead.

use serde::{Deserialize, Serialize};

use super::{Counter, Findings, Ops, PlanCx, WrongAnswer};
use crate::engine::{Check, Reason};
use crate::keys;
use crate::limits::bounded;
use crate::policy::{Collector, Mode, Policy, Section};
use crate::store::{Op, OpResult};
use crate::window::Window;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireCooldown {
    mode: Mode,
    ladder_seconds: Vec<i64>,
    reset_after_seconds: i64,
    jitter_percent: i64,
}

impl Default for WireCooldown {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            ladder_seconds: vec![60, 60, 300],
            reset_after_seconds: 600,
            jitter_percent: 0,
        }
    }
}

/// `[cooldown]`: per-phone progressive cooldown.
///
/// Seed 000's "60 s, and 300 s after 3 sends in 10 minutes" is
/// `[60, 60, 300]` with a 600 s reset; seeds 002/003's doubling delay is
/// `[60, 120, 240, …, 1920]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CooldownPolicy {
    pub mode: Mode,
    pub ladder_seconds: Vec<u32>,
    pub reset_after_seconds: u32,
    /// Each step is lengthened by up to this many percent, by a fraction
    /// derived from the phone's hash (stable per phone).
    pub jitter_percent: u32,
}

impl Section for CooldownPolicy {
    const NAME: &'static str = "cooldown";
    type Wire = WireCooldown;

    fn check(w: WireCooldown, c: &mut Collector) -> Self {
        if w.ladder_seconds.is_empty() || w.ladder_seconds.len() > 16 {
            c.push(
                "cooldown.ladder-seconds",
                "must list 1 to 16 steps, e.g. [60, 60, 300]",
            );
        }
        let ladder: Vec<u32> = w
            .ladder_seconds
            .iter()
            .enumerate()
            .map(|(i, v)| bounded(c, &format!("cooldown.ladder-seconds[{i}]"), *v, 1, 86_400))
            .collect();
        let reset = bounded(
            c,
            "cooldown.reset-after-seconds",
            w.reset_after_seconds,
            1,
            7 * 86_400,
        );
        let jitter = bounded(c, "cooldown.jitter-percent", w.jitter_percent, 0, 100);
        if let Some(max) = ladder.iter().max() {
            // The longest a step can be once jittered.
            let longest = u64::from(*max) * (100 + u64::from(jitter)) / 100;
            if u64::from(reset) < longest {
                c.push(
                    "cooldown.reset-after-seconds",
                    format!(
                        "is {reset}, shorter than the longest step with its jitter ({longest} s): \
                         a pause that ends the streak must be at least as long as any cooldown"
                    ),
                );
            }
        }
        CooldownPolicy {
            mode: w.mode,
            ladder_seconds: ladder,
            reset_after_seconds: reset,
            jitter_percent: jitter,
        }
    }
}

/// The guard, registered in [`super::COUNTERS`].
pub(crate) struct Cooldown;

const COOLDOWN: u8 = 0;
const MARK_SENT: u8 = 1;

/// Two hex digits of the phone's store hash, offset by the step: 0..=255.
fn jitter_fraction(hash: &str, step: usize) -> i64 {
    let i = (step * 2) % hash.len().saturating_sub(1).max(1);
    hash.get(i..i + 2)
        .and_then(|h| i64::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

impl Counter for Cooldown {
    fn per_subject(&self) -> bool {
        true
    }

    fn plan(&self, cx: &PlanCx<'_>, ops: &mut Ops<'_>) {
        let (p, now) = (cx.p, cx.now);
        let c = &p.cooldown;
        let phone = &cx.k.phone;
        if cx.on(c.mode) {
            let ladder = c
                .ladder_seconds
                .iter()
                .enumerate()
                .map(|(i, secs)| {
                    let base = i64::from(*secs);
                    base + base * i64::from(c.jitter_percent) * jitter_fraction(phone, i)
                        / (100 * 256)
                })
                .collect();
            ops.push(
                COOLDOWN,
                Op::Cooldown {
                    key: keys::cooldown(phone),
                    now,
                    ladder,
                    reset_after: i64::from(c.reset_after_seconds),
                    expires_at: now + i64::from(c.reset_after_seconds) + Window::DAY.seconds_long(),
                    // Set by `judge`, once per attempt.
                    attempt: 0,
                },
            );
        } else if cx.on(p.country_velocity.mode) || cx.on(p.country_velocity.conversion_mode) {
            // Verification feedback (country thresholds) needs to know a
            // code was sent; the cooldown item records it when it is on.
            ops.push(
                MARK_SENT,
                Op::MarkSent {
                    key: keys::cooldown(phone),
                    now,
                    expires_at: now + Window::DAY.seconds_long(),
                },
            );
        }
    }

    fn conclude(
        &self,
        p: &Policy,
        _now: i64,
        answers: &[(u8, OpResult)],
        f: &mut Findings<'_>,
    ) -> Result<(), WrongAnswer> {
        for answer in answers {
            match answer {
                (
                    COOLDOWN,
                    OpResult::Cooldown {
                        allowed,
                        retry_after,
                    },
                ) => {
                    if !allowed {
                        let secs = u64::try_from((*retry_after).max(1)).unwrap_or(1);
                        f.add(
                            Check::Cooldown,
                            p.cooldown.mode,
                            Reason::Cooldown,
                            Some(secs),
                        );
                    }
                }
                (MARK_SENT, OpResult::Done) => {}
                _ => return Err(WrongAnswer),
            }
        }
        Ok(())
    }
}
