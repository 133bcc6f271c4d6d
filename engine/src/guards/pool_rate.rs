//! `[pool-rate]`: sends across the whole pool, per minute and per hour (a
//! counter). The last line: it refuses real users too, so it runs in
//! monitor mode by default and sits well above the pool's own peak.

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
pub(crate) struct WirePool {
    mode: Mode,
    max_per_minute: i64,
    max_per_hour: i64,
}

impl Default for WirePool {
    fn default() -> Self {
        Self {
            mode: Mode::Monitor,
            max_per_minute: 100,
            max_per_hour: 1000,
        }
    }
}

/// `[pool-rate]`: sends across the whole pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PoolRatePolicy {
    pub mode: Mode,
    pub max_per_minute: u32,
    pub max_per_hour: u32,
}

impl Section for PoolRatePolicy {
    const NAME: &'static str = "pool-rate";
    type Wire = WirePool;

    fn check(w: WirePool, c: &mut Collector) -> Self {
        PoolRatePolicy {
            mode: w.mode,
            max_per_minute: bounded(
                c,
                "pool-rate.max-per-minute",
                w.max_per_minute,
                1,
                10_000_000,
            ),
            max_per_hour: bounded(c, "pool-rate.max-per-hour", w.max_per_hour, 1, 100_000_000),
        }
    }
}

/// The guard, registered in [`super::COUNTERS`].
pub(crate) struct PoolRate;

const MINUTE: u8 = 0;
const HOUR: u8 = 1;

impl Counter for PoolRate {
    fn per_subject(&self) -> bool {
        false
    }

    fn plan(&self, cx: &PlanCx<'_>, ops: &mut Ops<'_>) {
        if !cx.on(cx.p.pool_rate.mode) {
            return;
        }
        let now = cx.now;
        ops.push(
            MINUTE,
            Op::Add {
                key: keys::pool_minute(now),
                attr: "sends".into(),
                amount: 1,
                expires_at: Window::MINUTE.end(now) + Window::HOUR.seconds_long(),
            },
        );
        ops.push(
            HOUR,
            Op::Add {
                key: keys::pool_hour(now),
                attr: "sends".into(),
                amount: 1,
                expires_at: Window::HOUR.end(now) + Window::DAY.seconds_long(),
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
        let pr = &p.pool_rate;
        for answer in answers {
            let (part, OpResult::Numbers(m)) = answer else {
                return Err(WrongAnswer);
            };
            let (limit, reason, window) = match *part {
                MINUTE => (pr.max_per_minute, Reason::PoolRateMinute, Window::MINUTE),
                HOUR => (pr.max_per_hour, Reason::PoolRateHour, Window::HOUR),
                _ => return Err(WrongAnswer),
            };
            if super::count(m, "sends") > i64::from(limit) {
                f.add(
                    Check::PoolRate,
                    pr.mode,
                    reason,
                    Some(window.secs_left(now)),
                );
            }
        }
        Ok(())
    }
}
