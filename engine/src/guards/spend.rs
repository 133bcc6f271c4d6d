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

use crate::country::Country;
use crate::engine::Reason;
use crate::limits::{BudgetPolicy, WhenExhausted};
use crate::store::{ItemKey, Op};
use crate::window::Window;

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
    let cc = country.map_or_else(|| "ZZ".to_string(), |c| c.to_string());
    let day_expiry = Window::DAY.end(now) + 2 * 86_400;
    let month_expiry = month_end(now) + 32 * 86_400;
    let mut out = Vec::new();
    let mut add = |counter, sk: String, limit: Option<u64>, bounded: bool, expires_at| {
        let Some(limit) = limit else { return };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Admitted while what was spent plus this SMS stays within the limit.
        let below = if enforce && bounded {
            vec![(
                "micro_usd".to_string(),
                limit.saturating_sub(cost).saturating_add(1),
            )]
        } else {
            Vec::new()
        };
        out.push((
            counter,
            Op::AddIf {
                key: ItemKey::new("spend", sk),
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
        format!("d{day}"),
        b.daily_micro_usd,
        !exempt_total,
        day_expiry,
    );
    add(
        Counter::Month,
        format!("m{month}"),
        b.monthly_micro_usd,
        !exempt_total,
        month_expiry,
    );
    // A share of the whole budget or more says nothing the totals do not.
    if shared && b.country_share_permille < 1000 {
        add(
            Counter::CountryDay,
            format!("d{day}#{cc}"),
            share(b.daily_micro_usd),
            true,
            day_expiry,
        );
        add(
            Counter::CountryMonth,
            format!("m{month}#{cc}"),
            share(b.monthly_micro_usd),
            true,
            month_expiry,
        );
    }
    out
}
