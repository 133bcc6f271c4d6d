//! The stateful parts of the policy: cooldowns, velocity limits, the spend
//! budget, exemptions and what to do when the store fails.
//!
//! Like the rest of the policy, each section is a kebab-case wire struct that
//! is checked into a domain value, with every problem reported by key.
//! Fractions and money become integers here (per mille, micro-USD), so the
//! engine never compares floats.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::country::Country;
use crate::phone;
use crate::policy::{Collector, Mode};
use crate::prices::PriceTable;

/// What stateful guards do when the store fails or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnStoreError {
    /// Static guards still apply; stateful ones are skipped (the default).
    FailOpen,
    /// The SMS is blocked with `SMS_UNAVAILABLE`.
    FailClosed,
}

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

// ---------------------------------------------------------------- wire

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Default, Deserialize)]
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

/// `[cooldown]`: per-phone progressive cooldown.
///
/// A *streak* is a run of sends to one phone with no pause of
/// `reset-after-seconds` or more. After the k-th send of a streak the next
/// send must wait `ladder-seconds[k-1]` (the last step repeats). Seed 000's
/// "60 s, and 300 s after 3 sends in 10 minutes" is `[60, 60, 300]` with a
/// 600 s reset; seeds 002/003's doubling delay is `[60, 120, 240, …, 1920]`.
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

/// `[user-limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct UserLimitsPolicy {
    pub mode: Mode,
    pub max_phones_per_day: u32,
    pub max_sends_per_hour: u32,
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

/// `[country-velocity]`: per-country sends against an adaptive threshold.
///
/// Threshold = max(floor, multiplier × the highest verified count of the
/// last `lookback-days` days), per hour and per day.
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

/// `[pool-rate]`: sends across the whole pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PoolRatePolicy {
    pub mode: Mode,
    pub max_per_minute: u32,
    pub max_per_hour: u32,
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

pub(crate) fn check_state(w: WireState, c: &mut Collector) -> StatePolicy {
    StatePolicy {
        on_store_error: w.on_store_error,
        timeout_ms: u64::from(bounded(c, "state.timeout-ms", w.timeout_ms, 50, 3000)),
    }
}

pub(crate) fn check_cooldown(w: WireCooldown, c: &mut Collector) -> CooldownPolicy {
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

pub(crate) fn check_user(w: WireUserLimits, c: &mut Collector) -> UserLimitsPolicy {
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

pub(crate) fn check_prefix(w: WirePrefix, c: &mut Collector) -> PrefixPolicy {
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

pub(crate) fn check_country_velocity(
    w: WireCountryVelocity,
    c: &mut Collector,
) -> CountryVelocityPolicy {
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

pub(crate) fn check_pool(w: WirePool, c: &mut Collector) -> PoolRatePolicy {
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

pub(crate) fn check_budget(
    w: WireBudget,
    c: &mut Collector,
    country_list: impl Fn(&[String], &str, &mut Collector) -> BTreeSet<Country>,
) -> BudgetPolicy {
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

pub(crate) fn check_exemptions(w: WireExemptions, c: &mut Collector) -> Exemptions {
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
