//! `[prefix-velocity]`: sends to numbers that share all but their last
//! digits, in a fixed window (a counter).
//!
//! Pumping rents ranges of numbers; a real audience is spread over many.
//! The prefix is keyed-hashed before it becomes a key.

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
pub(crate) struct WirePrefix {
    mode: Mode,
    hidden_digits: i64,
    window_seconds: i64,
    max_sends: i64,
}

impl Default for WirePrefix {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            hidden_digits: 3,
            window_seconds: 3600,
            max_sends: 20,
        }
    }
}

/// `[prefix-velocity]`: sends to numbers sharing all but their last digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PrefixPolicy {
    pub mode: Mode,
    pub hidden_digits: u32,
    pub window_seconds: u32,
    pub max_sends: u32,
}

impl PrefixPolicy {
    fn window(&self) -> Window {
        Window::seconds(i64::from(self.window_seconds))
    }
}

impl Section for PrefixPolicy {
    const NAME: &'static str = "prefix-velocity";
    type Wire = WirePrefix;

    fn check(w: WirePrefix, c: &mut Collector) -> Self {
        PrefixPolicy {
            mode: w.mode,
            hidden_digits: bounded(c, "prefix-velocity.hidden-digits", w.hidden_digits, 1, 6),
            window_seconds: bounded(
                c,
                "prefix-velocity.window-seconds",
                w.window_seconds,
                60,
                7 * 86_400,
            ),
            max_sends: bounded(c, "prefix-velocity.max-sends", w.max_sends, 1, 1_000_000),
        }
    }
}

/// The guard, registered in [`super::COUNTERS`].
pub(crate) struct PrefixVelocity;

const SENDS: u8 = 0;

impl Counter for PrefixVelocity {
    fn per_subject(&self) -> bool {
        false
    }

    fn plan(&self, cx: &PlanCx<'_>, ops: &mut Ops<'_>) {
        let pv = &cx.p.prefix_velocity;
        if !cx.on(pv.mode) {
            return;
        }
        // Features worked out for this policy, or a record checked against
        // it (`Features::missing_for`), have the hash at its depth.
        let Some(prefix) = cx.f.prefixes.get(&pv.hidden_digits) else {
            return;
        };
        let window = pv.window();
        ops.push(
            SENDS,
            Op::Add {
                key: keys::prefix(prefix, window, cx.now),
                attr: "sends".into(),
                amount: 1,
                expires_at: window.end(cx.now) + Window::DAY.seconds_long(),
            },
        );
    }

    fn conclude(
        &self,
        p: &Policy,
        now: i64,
        answers: &[(u8, OpResult)],
        f: &mut Findings<'_>,
    ) -> Result<(), WrongAnswer> {
        let pv = &p.prefix_velocity;
        for answer in answers {
            let (SENDS, OpResult::Numbers(m)) = answer else {
                return Err(WrongAnswer);
            };
            if super::count(m, "sends") > i64::from(pv.max_sends) {
                f.add(
                    Check::PrefixVelocity,
                    pv.mode,
                    Reason::PrefixVelocity,
                    Some(pv.window().secs_left(now)),
                );
            }
        }
        Ok(())
    }
}
