//! `[country-velocity]`: sends per destination country against thresholds
//! that grow with the country's verified traffic, and the day's conversion
//! (a counter).
//!
//! Threshold = max(floor, multiplier × the highest verified count of the
//! last `lookback-days` days), per hour and per day. Each send adds to the
//! country's hour and day items; a completion (`verified`) adds to their
//! `verified` counts and raises the day's `peak_hour`.

use serde::{Deserialize, Serialize};

use super::{count, Counter, Findings, Ops, PlanCx, WrongAnswer};
use crate::country::Country;
use crate::engine::{Check, Reason};
use crate::keys;
use crate::limits::{bounded, fraction};
use crate::policy::{Collector, Mode, Policy, Section};
use crate::store::{Op, OpResult, Store, StoreError};
use crate::window::Window;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireCountryVelocity {
    mode: Mode,
    hourly_floor: i64,
    daily_floor: i64,
    verified_multiplier: f64,
    lookback_days: i64,
    conversion_mode: Mode,
    min_conversion: f64,
    conversion_min_sends: i64,
}

impl Default for WireCountryVelocity {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            hourly_floor: 100,
            daily_floor: 1000,
            verified_multiplier: 2.0,
            lookback_days: 7,
            conversion_mode: Mode::Monitor,
            min_conversion: 0.2,
            conversion_min_sends: 50,
        }
    }
}

/// `[country-velocity]`: per-country sends against an adaptive threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CountryVelocityPolicy {
    pub mode: Mode,
    pub hourly_floor: u32,
    pub daily_floor: u32,
    /// The multiplier, in per mille (2.0 → 2000).
    pub verified_multiplier_permille: u32,
    pub lookback_days: u32,
    pub conversion_mode: Mode,
    /// The lowest acceptable verified ÷ sent for the day, in per mille.
    pub min_conversion_permille: u32,
    pub conversion_min_sends: u32,
}

impl CountryVelocityPolicy {
    /// Whether either of its checks runs (before the `[trigger]` ceiling).
    pub fn any_on(&self) -> bool {
        self.mode != Mode::Off || self.conversion_mode != Mode::Off
    }

    /// How long a country item lives after its bucket ends.
    fn keep(&self) -> i64 {
        (i64::from(self.lookback_days) + 2) * Window::DAY.seconds_long()
    }
}

impl Section for CountryVelocityPolicy {
    const NAME: &'static str = "country-velocity";
    type Wire = WireCountryVelocity;

    fn check(w: WireCountryVelocity, c: &mut Collector) -> Self {
        CountryVelocityPolicy {
            mode: w.mode,
            hourly_floor: bounded(
                c,
                "country-velocity.hourly-floor",
                w.hourly_floor,
                1,
                10_000_000,
            ),
            daily_floor: bounded(
                c,
                "country-velocity.daily-floor",
                w.daily_floor,
                1,
                100_000_000,
            ),
            verified_multiplier_permille: fraction(
                c,
                "country-velocity.verified-multiplier",
                w.verified_multiplier,
                100.0,
            ),
            lookback_days: bounded(c, "country-velocity.lookback-days", w.lookback_days, 1, 30),
            conversion_mode: w.conversion_mode,
            min_conversion_permille: fraction(
                c,
                "country-velocity.min-conversion",
                w.min_conversion,
                1.0,
            ),
            conversion_min_sends: bounded(
                c,
                "country-velocity.conversion-min-sends",
                w.conversion_min_sends,
                1,
                10_000_000,
            ),
        }
    }
}

/// The guard, registered in [`super::COUNTERS`].
pub(crate) struct CountryVelocity;

const HOUR: u8 = 0;
const DAY: u8 = 1;
const HISTORY: u8 = 2;

impl Counter for CountryVelocity {
    fn per_subject(&self) -> bool {
        false
    }

    fn plan(&self, cx: &PlanCx<'_>, ops: &mut Ops<'_>) {
        let cv = &cx.p.country_velocity;
        if !cx.on(cv.mode) && !cx.on(cv.conversion_mode) {
            return;
        }
        let (now, country) = (cx.now, cx.d.country);
        let day = Window::DAY.bucket(now);
        ops.push(
            HOUR,
            Op::Add {
                key: keys::country_hour(country, now),
                attr: "sent".into(),
                amount: 1,
                expires_at: Window::HOUR.end(now) + cv.keep(),
            },
        );
        ops.push(
            DAY,
            Op::Add {
                key: keys::country_day(country, day),
                attr: "sent".into(),
                amount: 1,
                expires_at: Window::DAY.end(now) + cv.keep(),
            },
        );
        ops.push(
            HISTORY,
            Op::Read {
                keys: (1..=i64::from(cv.lookback_days))
                    .map(|back| keys::country_day(country, day - back))
                    .collect(),
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
        let (mut hour, mut today, mut history) = (None, None, None);
        for answer in answers {
            match answer {
                (HOUR, OpResult::Numbers(m)) => hour = Some(m),
                (DAY, OpResult::Numbers(m)) => today = Some(m),
                (HISTORY, OpResult::Items(items)) => history = Some(items.as_slice()),
                _ => return Err(WrongAnswer),
            }
        }
        // Judged only with both of today's counts (an unanswered call is a
        // store error already).
        let (Some(hour), Some(today)) = (hour, today) else {
            return Ok(());
        };
        let cv = &p.country_velocity;
        let days = history
            .unwrap_or_default()
            .iter()
            .chain(std::iter::once(today));
        let (peak_day, peak_hour) = days.fold((0, 0), |(d_max, h_max), m| {
            (
                d_max.max(count(m, "verified")),
                h_max.max(count(m, "peak_hour")),
            )
        });
        let grow = |floor: u32, peak: i64| {
            let scaled = peak.saturating_mul(i64::from(cv.verified_multiplier_permille)) / 1000;
            i64::from(floor).max(scaled)
        };
        if count(hour, "sent") > grow(cv.hourly_floor, peak_hour) {
            f.add(
                Check::CountryVelocity,
                cv.mode,
                Reason::CountryVelocityHour,
                Some(Window::HOUR.secs_left(now)),
            );
        }
        if count(today, "sent") > grow(cv.daily_floor, peak_day) {
            f.add(
                Check::CountryVelocity,
                cv.mode,
                Reason::CountryVelocityDay,
                Some(Window::DAY.secs_left(now)),
            );
        }
        let sent = count(today, "sent");
        let verified = count(today, "verified");
        if sent >= i64::from(cv.conversion_min_sends)
            && verified.saturating_mul(1000)
                < sent.saturating_mul(i64::from(cv.min_conversion_permille))
        {
            f.add(
                Check::CountryVelocity,
                cv.conversion_mode,
                Reason::CountryLowConversion,
                Some(Window::DAY.secs_left(now)),
            );
        }
        Ok(())
    }
}

/// A code sent to `country` was used: its hour's and day's verified counts
/// go up, and the day's `peak_hour` is raised to the hour's count.
pub(crate) async fn verified<S: Store>(
    store: &S,
    cv: &CountryVelocityPolicy,
    country: Option<Country>,
    now: i64,
) -> Result<(), StoreError> {
    let keep = cv.keep();
    let day_key = keys::country_day(country, Window::DAY.bucket(now));
    let day_expiry = Window::DAY.end(now) + keep;
    let (h, d) = futures_util::future::join(
        store.execute(Op::Add {
            key: keys::country_hour(country, now),
            attr: "verified".into(),
            amount: 1,
            expires_at: Window::HOUR.end(now) + keep,
        }),
        store.execute(Op::Add {
            key: day_key.clone(),
            attr: "verified".into(),
            amount: 1,
            expires_at: day_expiry,
        }),
    )
    .await;
    d?;
    if let OpResult::Numbers(m) = h? {
        store
            .execute(Op::RaiseTo {
                key: day_key,
                attr: "peak_hour".into(),
                value: count(&m, "verified"),
                expires_at: day_expiry,
            })
            .await?;
    }
    Ok(())
}
