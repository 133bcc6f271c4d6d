//! The spend budget, with a lane for known numbers and a share per country.
//!
//! Only SMS that go out are counted: each counter is a conditional add
//! (`spent + price <= limit`), exact under concurrency, so refused attempts can never
//! spend the budget and lock everyone out. Per UTC day and month:
//!
//! - `spend / d<day>` and `spend / m<yyyymm>`: everything sent. An unknown
//!   number is refused once the budget is spent (unless its country is in
//!   `core-countries` and `when-exhausted = "core-only"`); a known number
//!   only with `when-exhausted = "block"`.
//! - `spend / d<day>#<CC>` and `spend / m<yyyymm>#<CC>`: what unknown
//!   numbers of one non-core country spent, bounded by `country-share` of
//!   each budget.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::country::Country;
use crate::engine::Reason;
use crate::keys;
use crate::limits::{fraction, micro_usd};
use crate::policy::{country_list, Collector, Mode, Section};
use crate::prices::PriceTable;
use crate::store::{ItemKey, Op};
use crate::window::Window;

/// What happens once a budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WhenExhausted {
    /// Block every SMS, to known numbers too.
    Block,
    /// Known numbers keep getting SMS; unknown numbers in `core-countries`
    /// too.
    CoreOnly,
    /// Known numbers keep getting SMS; every unknown number is refused.
    KnownOnly,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireBudget {
    mode: Mode,
    daily_usd: Option<f64>,
    monthly_usd: Option<f64>,
    when_exhausted: WhenExhausted,
    core_countries: Vec<String>,
    country_share: f64,
    default_price_usd: Option<f64>,
    prices: BTreeMap<String, f64>,
}

impl Default for WireBudget {
    fn default() -> Self {
        Self {
            mode: Mode::Off,
            daily_usd: None,
            monthly_usd: None,
            when_exhausted: WhenExhausted::Block,
            core_countries: Vec::new(),
            country_share: 0.5,
            default_price_usd: None,
            prices: BTreeMap::new(),
        }
    }
}

/// `[budget]`: estimated spend per day and month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BudgetPolicy {
    pub mode: Mode,
    pub daily_micro_usd: Option<u64>,
    pub monthly_micro_usd: Option<u64>,
    pub when_exhausted: WhenExhausted,
    pub core_countries: BTreeSet<Country>,
    /// The most of each budget the unknown numbers of one country outside
    /// `core-countries` may spend, per mille: no flood into one country can
    /// spend the budget everyone else needs.
    pub country_share_permille: u32,
    pub prices: PriceTable,
}

impl Section for BudgetPolicy {
    const NAME: &'static str = "budget";
    type Wire = WireBudget;

    fn check(w: WireBudget, c: &mut Collector) -> Self {
        let daily = w.daily_usd.map(|v| micro_usd(c, "budget.daily-usd", v));
        let monthly = w.monthly_usd.map(|v| micro_usd(c, "budget.monthly-usd", v));
        if w.mode != Mode::Off && daily.is_none() && monthly.is_none() {
            c.push(
                "budget",
                "is on but sets neither daily-usd nor monthly-usd; set one or set mode = \"off\"",
            );
        }
        let core = country_list(&w.core_countries, "budget.core-countries", c);
        if w.when_exhausted == WhenExhausted::CoreOnly && core.is_empty() && w.mode != Mode::Off {
            c.push(
                "budget.core-countries",
                "is empty while when-exhausted = \"core-only\"; list the countries that keep SMS",
            );
        }
        let mut prices = PriceTable::shipped();
        if let Some(v) = w.default_price_usd {
            prices.default_micro_usd = micro_usd(c, "budget.default-price-usd", v);
        }
        for (code, usd) in &w.prices {
            let key = format!("budget.prices.{code}");
            match Country::parse(code) {
                Some(country) => {
                    let micro = micro_usd(c, &key, *usd);
                    prices.by_country.insert(country, micro);
                }
                None => c.push(key, "is not an ISO 3166-1 alpha-2 country code"),
            }
        }
        BudgetPolicy {
            mode: w.mode,
            daily_micro_usd: daily,
            monthly_micro_usd: monthly,
            when_exhausted: w.when_exhausted,
            core_countries: core,
            country_share_permille: fraction(c, "budget.country-share", w.country_share, 1.0),
            prices,
        }
    }
}

/// One budget counter an SMS is added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Day,
    Month,
    CountryDay,
    CountryMonth,
}

impl Counter {
    pub fn reason(self) -> Reason {
        match self {
            Counter::Day => Reason::BudgetDaily,
            Counter::Month => Reason::BudgetMonthly,
            Counter::CountryDay | Counter::CountryMonth => Reason::BudgetCountryShare,
        }
    }
}

pub(crate) fn month_key(now: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(now) {
        Ok(t) => format!("{:04}{:02}", t.year(), u8::from(t.month())),
        Err(_) => "000000".into(),
    }
}

pub(crate) fn month_end(now: i64) -> i64 {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(now) else {
        return now + 31 * 86_400;
    };
    let (y, m) = match t.month() {
        time::Month::December => (t.year() + 1, time::Month::January),
        m => (t.year(), m.next()),
    };
    time::Date::from_calendar_date(y, m, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(now + 31 * 86_400)
}

/// The budget's adds for one SMS costing `cost` micro-USD. Bounds only when
/// `enforce`; the caller compares the results otherwise.
pub fn ops(
    b: &BudgetPolicy,
    country: Option<Country>,
    cost: i64,
    known: bool,
    now: i64,
    enforce: bool,
) -> Vec<(Counter, Op, i64)> {
    let core = country.is_some_and(|c| b.core_countries.contains(&c));
    let exempt_total = match b.when_exhausted {
        WhenExhausted::Block => false,
        WhenExhausted::KnownOnly => known,
        WhenExhausted::CoreOnly => known || core,
    };
    let shared = !known && !core;
    let day = Window::DAY.bucket(now);
    let month = month_key(now);
    let cc = keys::country_code(country);
    let day_expiry = Window::DAY.end(now) + 2 * 86_400;
    let month_expiry = month_end(now) + 32 * 86_400;
    let mut out = Vec::new();
    let mut add = |counter, key: ItemKey, limit: Option<u64>, bounded: bool, expires_at| {
        let Some(limit) = limit else { return };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Admitted while what was spent plus this SMS stays within the limit.
        let below = if enforce && bounded {
            vec![(
                "micro_usd".into(),
                limit.saturating_sub(cost).saturating_add(1),
            )]
        } else {
            Vec::new()
        };
        out.push((
            counter,
            Op::AddIf {
                key,
                adds: vec![("micro_usd".into(), cost)],
                below,
                set: Vec::new(),
                expires_at,
            },
            if bounded { limit } else { i64::MAX },
        ));
    };
    let share =
        |l: Option<u64>| l.map(|l| l.saturating_mul(u64::from(b.country_share_permille)) / 1000);
    add(
        Counter::Day,
        keys::spend_day(day, None),
        b.daily_micro_usd,
        !exempt_total,
        day_expiry,
    );
    add(
        Counter::Month,
        keys::spend_month(&month, None),
        b.monthly_micro_usd,
        !exempt_total,
        month_expiry,
    );
    // A share of the whole budget or more says nothing the totals do not.
    if shared && b.country_share_permille < 1000 {
        add(
            Counter::CountryDay,
            keys::spend_day(day, Some(&cc)),
            share(b.daily_micro_usd),
            true,
            day_expiry,
        );
        add(
            Counter::CountryMonth,
            keys::spend_month(&month, Some(&cc)),
            share(b.monthly_micro_usd),
            true,
            month_expiry,
        );
    }
    out
}
