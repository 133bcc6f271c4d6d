//! `[user-limits]`: how many phones one user may ask codes for in a day, and
//! how many codes in an hour (a counter).
//!
//! One account cycling through many numbers is how a pumping script reuses
//! a session; a real user has one phone or two.

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
pub(crate) struct WireUserLimits {
    mode: Mode,
    max_phones_per_day: i64,
    max_sends_per_hour: i64,
}

impl Default for WireUserLimits {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            max_phones_per_day: 3,
            max_sends_per_hour: 10,
        }
    }
}

/// `[user-limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct UserLimitsPolicy {
    pub mode: Mode,
    pub max_phones_per_day: u32,
    pub max_sends_per_hour: u32,
}

impl Section for UserLimitsPolicy {
    const NAME: &'static str = "user-limits";
    type Wire = WireUserLimits;

    fn check(w: WireUserLimits, c: &mut Collector) -> Self {
        UserLimitsPolicy {
            mode: w.mode,
            max_phones_per_day: bounded(
                c,
                "user-limits.max-phones-per-day",
                w.max_phones_per_day,
                1,
                1000,
            ),
            max_sends_per_hour: bounded(
                c,
                "user-limits.max-sends-per-hour",
                w.max_sends_per_hour,
                1,
                100_000,
            ),
        }
    }
}

/// The guard, registered in [`super::COUNTERS`].
pub(crate) struct UserLimits;

const PHONES: u8 = 0;
const SENDS: u8 = 1;

impl Counter for UserLimits {
    fn per_subject(&self) -> bool {
        true
    }

    fn plan(&self, cx: &PlanCx<'_>, ops: &mut Ops<'_>) {
        let (Some(user), true) = (&cx.k.user, cx.on(cx.p.user_limits.mode)) else {
            return;
        };
        let now = cx.now;
        let day = Window::DAY.seconds_long();
        ops.push(
            PHONES,
            Op::AddMember {
                key: keys::user_phones(user, now),
                attr: "phones".into(),
                member: cx.k.phone.clone(),
                expires_at: Window::DAY.end(now) + day,
            },
        );
        ops.push(
            SENDS,
            Op::Add {
                key: keys::user_sends(user, now),
                attr: "sends".into(),
                amount: 1,
                expires_at: Window::HOUR.end(now) + day,
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
        let u = &p.user_limits;
        for answer in answers {
            match answer {
                (PHONES, OpResult::SetSize(n)) => {
                    if *n > u64::from(u.max_phones_per_day) {
                        f.add(
                            Check::UserLimits,
                            u.mode,
                            Reason::UserPhonesPerDay,
                            Some(Window::DAY.secs_left(now)),
                        );
                    }
                }
                (SENDS, OpResult::Numbers(m)) => {
                    if super::count(m, "sends") > i64::from(u.max_sends_per_hour) {
                        f.add(
                            Check::UserLimits,
                            u.mode,
                            Reason::UserSendsPerHour,
                            Some(Window::HOUR.secs_left(now)),
                        );
                    }
                }
                _ => return Err(WrongAnswer),
            }
        }
        Ok(())
    }
}
