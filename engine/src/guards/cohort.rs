//! Cohorts: SMS to unknown numbers, counted per country and per number
//! block at several depths, each judged against its own learned baseline.
//!
//! Per cohort and UTC day, one item holds the day's `sent` and `verified`
//! and the same per hour of the day (`sent_hHH`, `verified_hHH`). Only SMS
//! that go out are counted (a conditional add), and only to unknown numbers;
//! a code is credited to the hour it was sent in, when a matching completion
//! arrives.
//!
//! - **Baseline.** The median of the last `baseline-days` completed days'
//!   verified SMS, over the days the cohort has a record of: a real
//!   market's demand, which a day of pumping (or of attacker-confirmed
//!   codes) cannot raise. Its conversion is the same days' verified ÷ sent.
//! - **Volume.** Over a sliding hour and a sliding day (two-bucket
//!   approximation, so a burst across the top of the hour or UTC midnight
//!   meets one limit): `floor + headroom × baseline + surge × verified in
//!   the window`, at most `max-surge` times the limit without the surge
//!   once the cohort has history (a new deployment has none to hold it to). The
//!   floor scales with the cohort: a country gets more than a block of
//!   numbers, and a block gets more for every further hidden digit. Once
//!   the cohort has history, its floor is at most what its own demand
//!   explains (the baseline's Poisson spread, see `allowance`): a market
//!   of 5 sign-ups a day gets 5 an hour, not a floor meant for 500. Codes
//!   that are used raise the limit as they arrive, so a campaign, a launch
//!   or a fleet of consecutive numbers that verifies is let through within
//!   minutes, while codes nobody uses raise nothing.
//! - **Conversion.** Over the sliding day, leaving out this hour's codes
//!   (not yet due): when at least `conversion-min-sends` codes are due and
//!   the Wilson upper bound (99 %) of their conversion is below
//!   `conversion-ratio` × the baseline's, the cohort is *throttled*: its
//!   unknown numbers get only the baseline rate, with no floor and no surge,
//!   so a cohort that never had real traffic gets none. It stays throttled
//!   while codes are due and not clearly used, or while it is *pressed*
//!   (the attempts it refused in the sliding hour, `refused_hHH`, reach
//!   what it admits in a normal hour), and recovers by itself once the
//!   codes it sends are clearly used again, or once nothing is due and the
//!   pressure is off: its own users asking at their usual rate do not keep
//!   a market locked after the attack stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::country::Country;
use crate::guards::known::CodeKind;
use crate::keys;
use crate::policy::{Collector, Mode};
use crate::store::{ItemKey, Op};
use crate::window::Window;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireCohorts {
    mode: Mode,
    prefix_hidden_digits: Vec<i64>,
    country_hourly_floor: i64,
    country_daily_floor: i64,
    prefix_hourly_floor: i64,
    prefix_daily_floor: i64,
    hourly_headroom: f64,
    daily_headroom: f64,
    surge: f64,
    max_surge: i64,
    baseline_days: i64,
    conversion_mode: Mode,
    expected_conversion: f64,
    conversion_ratio: f64,
    sign_in_conversion_ratio: f64,
    conversion_min_sends: i64,
}

impl Default for WireCohorts {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            prefix_hidden_digits: vec![3, 4, 5],
            country_hourly_floor: 6,
            country_daily_floor: 24,
            prefix_hourly_floor: 3,
            prefix_daily_floor: 6,
            hourly_headroom: 3.0,
            daily_headroom: 2.0,
            surge: 2.0,
            max_surge: 50,
            baseline_days: 7,
            conversion_mode: Mode::Enforce,
            expected_conversion: 0.7,
            conversion_ratio: 0.5,
            sign_in_conversion_ratio: 0.8,
            conversion_min_sends: 10,
        }
    }
}

/// `[cohorts]`. Fractions are per mille.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CohortPolicy {
    pub mode: Mode,
    pub prefix_hidden_digits: Vec<u32>,
    pub country_hourly_floor: u32,
    pub country_daily_floor: u32,
    pub prefix_hourly_floor: u32,
    pub prefix_daily_floor: u32,
    pub hourly_headroom_permille: u32,
    pub daily_headroom_permille: u32,
    pub surge_permille: u32,
    pub max_surge: u32,
    pub baseline_days: u32,
    pub conversion_mode: Mode,
    pub expected_conversion_permille: u32,
    pub conversion_ratio_permille: u32,
    /// The same bar for a country's sign-in cohort: an MFA or reset code is
    /// asked for by a user in the middle of signing in and is nearly always
    /// used, so a far smaller drop is already an attack there.
    pub sign_in_conversion_ratio_permille: u32,
    pub conversion_min_sends: u32,
}

impl crate::policy::Section for CohortPolicy {
    const NAME: &'static str = "cohorts";
    type Wire = WireCohorts;

    fn check(w: WireCohorts, c: &mut Collector) -> Self {
        check_cohorts(w, c)
    }
}

pub(crate) fn check_cohorts(w: WireCohorts, c: &mut Collector) -> CohortPolicy {
    use crate::limits::{bounded, fraction};
    let k = |key: &str| format!("cohorts.{key}");
    if w.prefix_hidden_digits.len() > 4 {
        c.push(
            k("prefix-hidden-digits"),
            "lists at most 4 depths, e.g. [3, 4, 5]",
        );
    }
    let mut depths: Vec<u32> = w
        .prefix_hidden_digits
        .iter()
        .enumerate()
        .map(|(i, d)| bounded(c, &format!("cohorts.prefix-hidden-digits[{i}]"), *d, 1, 8))
        .collect();
    depths.sort_unstable();
    depths.dedup();
    CohortPolicy {
        mode: w.mode,
        prefix_hidden_digits: depths,
        country_hourly_floor: bounded(
            c,
            &k("country-hourly-floor"),
            w.country_hourly_floor,
            0,
            10_000_000,
        ),
        country_daily_floor: bounded(
            c,
            &k("country-daily-floor"),
            w.country_daily_floor,
            0,
            100_000_000,
        ),
        prefix_hourly_floor: bounded(
            c,
            &k("prefix-hourly-floor"),
            w.prefix_hourly_floor,
            0,
            1_000_000,
        ),
        prefix_daily_floor: bounded(
            c,
            &k("prefix-daily-floor"),
            w.prefix_daily_floor,
            0,
            10_000_000,
        ),
        hourly_headroom_permille: fraction(c, &k("hourly-headroom"), w.hourly_headroom, 100.0),
        daily_headroom_permille: fraction(c, &k("daily-headroom"), w.daily_headroom, 100.0),
        surge_permille: fraction(c, &k("surge"), w.surge, 100.0),
        max_surge: bounded(c, &k("max-surge"), w.max_surge, 1, 1000),
        // At most 14 days: with 4 depths, one read of every cohort's days
        // stays within DynamoDB's 100 keys per BatchGetItem (5 × 16 + 2).
        baseline_days: bounded(c, &k("baseline-days"), w.baseline_days, 1, 14),
        conversion_mode: w.conversion_mode,
        expected_conversion_permille: fraction(
            c,
            &k("expected-conversion"),
            w.expected_conversion,
            1.0,
        ),
        conversion_ratio_permille: fraction(c, &k("conversion-ratio"), w.conversion_ratio, 1.0),
        sign_in_conversion_ratio_permille: fraction(
            c,
            &k("sign-in-conversion-ratio"),
            w.sign_in_conversion_ratio,
            1.0,
        ),
        conversion_min_sends: bounded(
            c,
            &k("conversion-min-sends"),
            w.conversion_min_sends,
            1,
            1_000_000,
        ),
    }
}

/// One cohort of a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    pub country: Option<Country>,
    pub kind: CohortKind,
    pub pk: String,
    pub hourly_floor: i64,
    pub daily_floor: i64,
    /// Its conversion bar, per mille of the baseline conversion:
    /// `sign-in-conversion-ratio` for a country's sign-in cohort,
    /// `conversion-ratio` for any other.
    pub conversion_ratio_permille: u32,
}

/// What a [`Cohort`] groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CohortKind {
    /// A country's sign-up codes.
    Country,
    /// A country's sign-in codes (MFA, password reset).
    SignIn,
    /// A block of numbers hiding this many trailing digits.
    Block(u32),
}

impl Cohort {
    /// For operators: `GB`, `GB sign-in`, or `GB block of 1e3 numbers
    /// #3f9a2c1b0d4e` (the block's size and the start of its keyed hash: no
    /// digit of any number appears in clear). Worked out only when shown.
    pub fn label(&self) -> String {
        let cc = keys::country_code(self.country);
        match self.kind {
            CohortKind::Country => cc,
            CohortKind::SignIn => format!("{cc} sign-in"),
            CohortKind::Block(hidden) => {
                // The partition ends with the block's keyed hash
                // (`keys::cohort_block`).
                let block = self.pk.rsplit('#').next().unwrap_or_default();
                format!(
                    "{cc} block of 1e{hidden} numbers #{}",
                    block.get(..12).unwrap_or(block)
                )
            }
        }
    }
}

/// Which of a country's two cohorts a code counts in. Codes that set up a
/// phone (sign-up, resend, admin invite, attribute change) and codes sent to
/// an account that already has the phone (MFA, password reset) have
/// different normal rates and conversion: a market's MFA codes to numbers
/// pumpguard does not know yet are a trickle once its users are known, so
/// accounts pumping MFA codes stand out against that trickle instead of
/// hiding in the country's sign-ups. Number blocks are shared by both: an
/// attacker's range shows whatever flow it is pumped through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    SignUp,
    SignIn,
}

impl Flow {
    pub fn of(kind: CodeKind) -> Self {
        match kind {
            CodeKind::Mfa | CodeKind::ForgotPassword => Flow::SignIn,
            CodeKind::SignUp | CodeKind::Attribute => Flow::SignUp,
        }
    }
}

/// The cohorts of a number for a code of `flow`: its country's cohort for
/// that flow, then its blocks from the smallest. `blocks` are the number's
/// keyed block hashes by hidden digits ([`crate::features::Features`]); a
/// depth the number is too short for has none and no cohort.
pub fn cohorts(
    p: &CohortPolicy,
    country: Option<Country>,
    blocks: &std::collections::BTreeMap<u32, String>,
    flow: Flow,
) -> Vec<Cohort> {
    let (kind, pk) = match flow {
        Flow::SignUp => (CohortKind::Country, keys::cohort_country(country)),
        Flow::SignIn => (CohortKind::SignIn, keys::cohort_sign_in(country)),
    };
    let mut out = vec![Cohort {
        country,
        kind,
        pk,
        hourly_floor: i64::from(p.country_hourly_floor),
        daily_floor: i64::from(p.country_daily_floor),
        conversion_ratio_permille: match flow {
            Flow::SignUp => p.conversion_ratio_permille,
            Flow::SignIn => p.sign_in_conversion_ratio_permille,
        },
    }];
    for (i, hidden) in p.prefix_hidden_digits.iter().enumerate() {
        let Some(block) = blocks.get(hidden) else {
            continue;
        };
        // Every further hidden digit doubles the block's floors.
        let scale = 1_i64 << i.min(8);
        out.push(Cohort {
            country,
            kind: CohortKind::Block(*hidden),
            pk: keys::cohort_block(country, *hidden, block),
            hourly_floor: i64::from(p.prefix_hourly_floor) * scale,
            daily_floor: i64::from(p.prefix_daily_floor) * scale,
            conversion_ratio_permille: p.conversion_ratio_permille,
        });
    }
    out
}

fn hour_of_day(now: i64) -> i64 {
    now.rem_euclid(86_400) / 3600
}

/// The hourly attributes of a cohort's day item, by hour of the day: the
/// names are looked up rather than formatted on every decision.
const SENT_H: [&str; 24] = [
    "sent_h00", "sent_h01", "sent_h02", "sent_h03", "sent_h04", "sent_h05", "sent_h06", "sent_h07",
    "sent_h08", "sent_h09", "sent_h10", "sent_h11", "sent_h12", "sent_h13", "sent_h14", "sent_h15",
    "sent_h16", "sent_h17", "sent_h18", "sent_h19", "sent_h20", "sent_h21", "sent_h22", "sent_h23",
];
const VERIFIED_H: [&str; 24] = [
    "verified_h00",
    "verified_h01",
    "verified_h02",
    "verified_h03",
    "verified_h04",
    "verified_h05",
    "verified_h06",
    "verified_h07",
    "verified_h08",
    "verified_h09",
    "verified_h10",
    "verified_h11",
    "verified_h12",
    "verified_h13",
    "verified_h14",
    "verified_h15",
    "verified_h16",
    "verified_h17",
    "verified_h18",
    "verified_h19",
    "verified_h20",
    "verified_h21",
    "verified_h22",
    "verified_h23",
];
const REFUSED_H: [&str; 24] = [
    "refused_h00",
    "refused_h01",
    "refused_h02",
    "refused_h03",
    "refused_h04",
    "refused_h05",
    "refused_h06",
    "refused_h07",
    "refused_h08",
    "refused_h09",
    "refused_h10",
    "refused_h11",
    "refused_h12",
    "refused_h13",
    "refused_h14",
    "refused_h15",
    "refused_h16",
    "refused_h17",
    "refused_h18",
    "refused_h19",
    "refused_h20",
    "refused_h21",
    "refused_h22",
    "refused_h23",
];

/// `table`'s name for hour `hh` (0..24; any other value reads hour 0).
fn hourly(table: &'static [&'static str; 24], hh: i64) -> &'static str {
    usize::try_from(hh)
        .ok()
        .and_then(|h| table.get(h))
        .copied()
        .unwrap_or(table[0])
}

/// The items a cohort's judgement reads: today, the days before it that
/// are still open (yesterday) or, without `closed`, every day of the
/// baseline, and its state item, in that order.
pub fn read_keys(p: &CohortPolicy, c: &Cohort, now: i64, closed: bool) -> Vec<ItemKey> {
    let day = Window::DAY.bucket(now);
    let mut keys: Vec<ItemKey> = (0..=days_read(p, closed))
        .map(|back| keys::cohort_day(&c.pk, day - back))
        .collect();
    keys.push(keys::cohort_state(&c.pk));
    keys
}

/// How many days back [`read_keys`] reads.
fn days_read(p: &CohortPolicy, closed: bool) -> i64 {
    let all = i64::from(p.baseline_days);
    if closed {
        all.min(OPEN_DAYS)
    } else {
        all
    }
}

/// How many items [`read_keys`] returns per cohort.
pub fn reads_per_cohort(p: &CohortPolicy, closed: bool) -> usize {
    usize::try_from(days_read(p, closed)).unwrap_or(7) + 2
}

/// Days back that can still change: yesterday, whose codes can still be
/// used (a sign-up code lives 24 hours, the longest of any kind, and a
/// code is credited to the day it was sent). Every earlier day is closed:
/// nothing is added to it again.
const OPEN_DAYS: i64 = 1;

type Item = crate::store::Numbers;

fn get(item: &Item, attr: &str) -> i64 {
    item.get(attr).copied().unwrap_or(0).max(0)
}

/// A cohort's state, worked out from what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub limit_hour: i64,
    pub limit_day: i64,
    pub throttled: bool,
    /// What the state item says (trips > recoveries).
    pub was_throttled: bool,
    pub conversion_permille: i64,
    pub baseline_conversion_permille: i64,
    /// Codes due in the conversion window.
    pub due: i64,
    /// The hour of the day the assessment is for.
    hour: i64,
    previous_hour_sent: i64,
    previous_day_sent: i64,
    trips: i64,
    recoveries: i64,
}

/// Wilson score interval's upper bound for `k` successes in `n`, z = 2.326
/// (one-sided 99 %).
pub fn wilson_upper(k: i64, n: i64) -> f64 {
    wilson(k, n, 1.0)
}

/// The interval's lower bound, same z.
pub fn wilson_lower(k: i64, n: i64) -> f64 {
    wilson(k, n, -1.0)
}

fn wilson(k: i64, n: i64, side: f64) -> f64 {
    if n <= 0 {
        return if side > 0.0 { 1.0 } else { 0.0 };
    }
    #[allow(clippy::cast_precision_loss)]
    let (k, n) = (k.clamp(0, n) as f64, n as f64);
    let z = 2.326_f64;
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre + side * spread) / (1.0 + z2 / n)).clamp(0.0, 1.0)
}

fn permille(a: i64, b: i64) -> i64 {
    if b <= 0 {
        0
    } else {
        a.saturating_mul(1000) / b
    }
}

fn scale(x: i64, permille: u32) -> i64 {
    x.saturating_mul(i64::from(permille)) / 1000
}

/// What a cohort's closed days hold (2 to `baseline-days` days back, see
/// `OPEN_DAYS`): the part of its baseline no later SMS or code changes,
/// so it can be kept ([`HistoryMemo`]) instead of read again by every
/// decision of the day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closed {
    /// `verified` of each closed day the cohort has an item for.
    verified: Vec<i64>,
    sent: i64,
    verified_sum: i64,
}

impl Closed {
    /// From the closed days' items (missing items read empty: no record).
    pub fn of(days: &[Item]) -> Self {
        let mut c = Closed::default();
        for i in days.iter().filter(|i| !i.is_empty()) {
            c.add(i);
        }
        c
    }

    fn add(&mut self, day: &Item) {
        let v = get(day, "verified");
        self.verified.push(v);
        self.sent = self.sent.saturating_add(get(day, "sent"));
        self.verified_sum = self.verified_sum.saturating_add(v);
    }
}

/// The closed days of the cohorts a store has been asked about today, kept
/// by the store ([`crate::store::Store::memo`]) so that a decision reads a
/// cohort's open days and state (3 items) instead of its whole baseline
/// (`baseline-days` + 2). What it keeps is a fact about the store's items,
/// not a guess: a closed day is never written again (see `OPEN_DAYS`).
/// The store tells it of any write to a closed day all the same
/// ([`HistoryMemo::written`]: a replay whose clock went back, a test that
/// seeds old days), and it forgets that cohort.
///
/// Entries are for one UTC day and one `baseline-days`: a later day (or
/// another policy's baseline) starts afresh. At most [`HistoryMemo::CAP`]
/// cohorts are kept; beyond that, decisions read every day as before.
#[derive(Debug)]
pub struct HistoryMemo {
    /// The day the entries are for (`i64::MIN`: none yet): changed only
    /// under `inner`'s lock, read without it by [`HistoryMemo::written`].
    day: AtomicI64,
    inner: Mutex<MemoDays>,
}

#[derive(Debug, Default)]
struct MemoDays {
    baseline_days: u32,
    /// Bumped whenever an entry is forgotten: what was read before it may
    /// be out of date, and is not kept.
    epoch: u64,
    cohorts: HashMap<String, Arc<Closed>, foldhash::fast::FixedState>,
}

impl Default for HistoryMemo {
    fn default() -> Self {
        Self {
            day: AtomicI64::new(i64::MIN),
            inner: Mutex::new(MemoDays::default()),
        }
    }
}

/// What [`HistoryMemo::recall`] found for one decision's cohorts.
#[derive(Debug, Clone, Default)]
pub struct Recalled {
    /// Per cohort, its closed days if they are known.
    pub closed: Vec<Option<Arc<Closed>>>,
    epoch: u64,
}

impl HistoryMemo {
    /// Cohorts kept at most (some 250 bytes each).
    pub const CAP: usize = 1 << 18;

    /// The closed days known for `cohorts` on `now`'s day.
    pub fn recall(&self, p: &CohortPolicy, cohorts: &[Cohort], now: i64) -> Recalled {
        let day = Window::DAY.bucket(now);
        let Ok(m) = self.inner.lock() else {
            return Recalled::default();
        };
        let current =
            self.day.load(AtomicOrdering::Relaxed) == day && m.baseline_days == p.baseline_days;
        Recalled {
            closed: cohorts
                .iter()
                .map(|c| current.then(|| m.cohorts.get(&c.pk).cloned()).flatten())
                .collect(),
            epoch: m.epoch,
        }
    }

    /// Keeps `closed` for cohort `pk` on `now`'s day, read after `recalled`.
    pub fn learn(&self, p: &CohortPolicy, pk: &str, now: i64, recalled: &Recalled, closed: Closed) {
        let day = Window::DAY.bucket(now);
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        let kept = self.day.load(AtomicOrdering::Relaxed);
        if m.epoch != recalled.epoch || day < kept {
            return;
        }
        if day > kept || m.baseline_days != p.baseline_days {
            m.cohorts.clear();
            m.baseline_days = p.baseline_days;
            self.day.store(day, AtomicOrdering::Relaxed);
        }
        if m.cohorts.len() < Self::CAP {
            m.cohorts.insert(pk.to_string(), Arc::new(closed));
        }
    }

    /// The store wrote (or removed) the item `key`: if it is a day of a
    /// cohort that is closed for the kept day, that cohort is forgotten.
    pub fn written(&self, key: &ItemKey) {
        let kept = self.day.load(AtomicOrdering::Relaxed);
        // Every cohort's partition starts so (`keys::cohort_country`,
        // `cohort_sign_in`, `cohort_block`); no other item is kept here.
        if kept == i64::MIN || !key.pk().starts_with("cohort#") {
            return;
        }
        let Some(day) = key
            .sk()
            .strip_prefix('d')
            .and_then(|d| d.parse::<i64>().ok())
        else {
            return;
        };
        if day > kept - 1 - OPEN_DAYS {
            return;
        }
        if let Ok(mut m) = self.inner.lock() {
            if m.cohorts.remove(key.pk()).is_some() {
                m.epoch += 1;
            }
        }
    }
}

/// Judges a cohort from its items, in [`read_keys`] order: with `closed`
/// given, the closed days are not among them. Also returns the closed days
/// it worked out from the items when they were not given, for the caller
/// to keep.
pub fn assess(
    p: &CohortPolicy,
    c: &Cohort,
    items: &[Item],
    closed: Option<&Closed>,
    now: i64,
) -> (Assessment, Option<Closed>) {
    let empty = Item::default();
    let at = |i: usize| items.get(i).unwrap_or(&empty);
    let today = at(0);
    let yesterday = at(1);
    let state = at(reads_per_cohort(p, closed.is_some()) - 1);
    let learned = match closed {
        Some(_) => None,
        None => {
            let all = usize::try_from(p.baseline_days).unwrap_or(7);
            let from = usize::try_from(OPEN_DAYS).unwrap_or(1) + 1;
            Some(Closed::of(items.get(from..=all).unwrap_or(&[])))
        }
    };
    let hh = hour_of_day(now);
    let (prev_item, prev_hh) = if hh == 0 {
        (yesterday, 23)
    } else {
        (today, hh - 1)
    };
    let previous_hour_sent = get(prev_item, hourly(&SENT_H, prev_hh));
    let previous_hour_verified = get(prev_item, hourly(&VERIFIED_H, prev_hh));
    let verified_hour = Window::HOUR.sliding(
        now,
        previous_hour_verified,
        get(today, hourly(&VERIFIED_H, hh)),
    );
    let sent_day = Window::DAY.sliding(now, get(yesterday, "sent"), get(today, "sent"));
    let verified_day = Window::DAY.sliding(now, get(yesterday, "verified"), get(today, "verified"));

    // Baseline: completed days 1..=baseline-days back, yesterday (still
    // open) and the closed days.
    // Only days the cohort has an item for: before pumpguard ran (a new
    // deployment, a new market) nothing is known, which is not the same as
    // a day with no real traffic.
    let mut history = closed.or(learned.as_ref()).cloned().unwrap_or_default();
    if !yesterday.is_empty() {
        history.add(yesterday);
    }
    let Closed {
        mut verified,
        sent: hist_sent,
        verified_sum: hist_verified,
    } = history;
    verified.sort_unstable();
    let base_day = verified.get(verified.len() / 2).copied().unwrap_or(0);
    let no_history = verified.is_empty();
    // Never below `expected-conversion`: days an attack ran in must not
    // teach the cohort that unused codes are normal.
    let prior = i64::from(p.expected_conversion_permille);
    let baseline_conversion_permille = if hist_sent >= 30 {
        permille(hist_verified, hist_sent).clamp(prior, 1000)
    } else {
        prior
    };

    // Conversion of the codes that are due: the sliding day without this hour's.
    let due = sent_day.saturating_sub(get(today, hourly(&SENT_H, hh)));
    let used = verified_day
        .saturating_sub(get(today, hourly(&VERIFIED_H, hh)))
        .min(due);
    let conversion_permille = permille(used, due);
    let bar = baseline_conversion_permille * i64::from(c.conversion_ratio_permille) / 1000;
    let (trips, recoveries) = (get(state, "trips"), get(state, "recoveries"));
    let was_throttled = trips > recoveries;
    let enough = due >= i64::from(p.conversion_min_sends);
    #[allow(clippy::cast_precision_loss)]
    let (bad, good) = (
        enough && wilson_upper(used, due) * 1000.0 < bar as f64,
        enough && wilson_lower(used, due) * 1000.0 >= bar as f64,
    );
    // A cohort with history gets at most the floor its own demand explains
    // (a market of 5 sign-ups a day is not given one meant for 500); one
    // with none, the policy's floors.
    // The baseline with its headroom: SMS a day, spread over the hour and
    // over the day.
    let hour_rate = scale(base_day, p.hourly_headroom_permille);
    let day_rate = scale(base_day, p.daily_headroom_permille);
    let (hourly_floor, daily_floor) = if no_history {
        (c.hourly_floor, c.daily_floor)
    } else {
        (
            c.hourly_floor.min(allowance(hour_rate, 24)),
            c.daily_floor.min(allowance(day_rate, 1)),
        )
    };
    let normal_hour = hourly_floor + hour_rate / 24;
    let normal_day = daily_floor + day_rate;
    // Attempts refused in the last hour beyond what the cohort admits in a
    // normal hour: the pressure of an attack that goes on. Its own real
    // users asking at their usual rate are not that, so once an attack
    // stops, a throttled cohort whose codes are no longer due recovers
    // within the hour instead of refusing its market for good.
    let refused_hour = Window::HOUR.sliding(
        now,
        get(prev_item, hourly(&REFUSED_H, prev_hh)),
        get(today, hourly(&REFUSED_H, hh)),
    );
    let pressed = refused_hour >= normal_hour.max(1);
    // Hysteresis: a throttled cohort stays throttled until the codes it
    // sends are clearly used again, so an attack cannot win a fresh
    // allowance each time its own refused attempts fall out of the window;
    // while codes are still due, or while it is pressed, the few codes it
    // still sends are not evidence that the attack has stopped.
    let low =
        p.conversion_mode != Mode::Off && (bad || (was_throttled && !good && (due > 0 || pressed)));
    // Codes used raise the limits at most `max-surge`-fold over what the
    // cohort's history says; with no history there is nothing to hold them
    // to, and the conversion test alone guards the first day.
    let cap = if no_history {
        i64::MAX
    } else {
        i64::from(p.max_surge)
    };
    let (limit_hour, limit_day) = if low {
        (hour_rate / 24, base_day)
    } else {
        (
            (normal_hour + scale(verified_hour, p.surge_permille))
                .min(normal_hour.saturating_mul(cap)),
            (normal_day + scale(verified_day, p.surge_permille))
                .min(normal_day.saturating_mul(cap)),
        )
    };
    let a = Assessment {
        limit_hour,
        limit_day,
        throttled: low,
        was_throttled,
        conversion_permille,
        baseline_conversion_permille,
        due,
        hour: hh,
        previous_hour_sent,
        previous_day_sent: get(yesterday, "sent"),
        trips,
        recoveries,
    };
    (a, learned)
}

impl Assessment {
    /// The conditional add that counts this SMS in the cohort, bounded when
    /// `enforce` (so a refused SMS adds nothing), unbounded otherwise.
    pub fn admit(&self, c: &Cohort, now: i64, enforce: bool) -> Op {
        let below = if enforce {
            vec![
                (
                    hourly(&SENT_H, self.hour).into(),
                    Window::HOUR.bound(now, self.previous_hour_sent, self.limit_hour),
                ),
                (
                    "sent".into(),
                    Window::DAY.bound(now, self.previous_day_sent, self.limit_day),
                ),
            ]
        } else {
            Vec::new()
        };
        Op::AddIf {
            key: keys::cohort_day(&c.pk, Window::DAY.bucket(now)),
            adds: vec![("sent".into(), 1), (hourly(&SENT_H, self.hour).into(), 1)],
            below,
            set: Vec::new(),
            expires_at: expiry(now),
        }
    }

    /// Whether the cohort's limits are already full, from its day item as
    /// read (nothing added): the next SMS to an unknown number would be refused.
    pub fn full(&self, now: i64, today: &Item) -> bool {
        self.at_limit(now, today, 0)
    }

    /// Whether the item after an unbounded add is over a limit.
    pub fn over(&self, now: i64, after: &Item) -> bool {
        self.at_limit(now, after, 1)
    }

    /// Whether the sends `item` counts, less `this` (the one just added),
    /// already fill the sliding hour or day.
    fn at_limit(&self, now: i64, item: &Item, this: i64) -> bool {
        let hour = Window::HOUR.sliding(
            now,
            self.previous_hour_sent,
            get(item, hourly(&SENT_H, self.hour)) - this,
        );
        let day = Window::DAY.sliding(now, self.previous_day_sent, get(item, "sent") - this);
        hour >= self.limit_hour || day >= self.limit_day
    }

    /// The state item's update when the state changed, recorded once even
    /// if many decisions see the change at the same time.
    pub fn change(&self, c: &Cohort, now: i64) -> Option<Op> {
        let key = keys::cohort_state(&c.pk);
        let expires_at = now + 30 * 86_400;
        match (self.throttled, self.was_throttled) {
            (true, false) => Some(Op::AddIf {
                key,
                adds: vec![("trips".into(), 1)],
                below: vec![("trips".into(), self.recoveries + 1)],
                set: vec![("since".into(), now)],
                expires_at,
            }),
            (false, true) => Some(Op::AddIf {
                key,
                adds: vec![("recoveries".into(), 1)],
                below: vec![("recoveries".into(), self.trips)],
                set: vec![("since".into(), now)],
                expires_at,
            }),
            _ => None,
        }
    }
}

/// The floor a cohort with history gets at most: what its own demand
/// explains. `rate` is the baseline's SMS per `per` (its daily count ×
/// headroom, per hour when `per` is 24), and the allowance is that rate's
/// Poisson spread, three standard deviations, plus two: so a market of 5
/// sign-ups a day gets 5 an hour (not the policy's floor meant for markets
/// with no history), and a block whose codes were never used 2.
fn allowance(rate: i64, per: i64) -> i64 {
    #[allow(clippy::cast_precision_loss)]
    let mean = rate.max(0) as f64 / per.max(1) as f64;
    #[allow(clippy::cast_possible_truncation)]
    let spread = (3.0 * mean.sqrt()).ceil() as i64;
    spread.saturating_add(2)
}

/// Cohort items live for the baseline window and a margin.
fn expiry(now: i64) -> i64 {
    Window::DAY.end(now) + 30 * 86_400
}

/// The op that counts an attempt the cohort refused (`refused` and
/// `refused_hHH`, per day).
pub fn refused(c: &Cohort, now: i64) -> Op {
    Op::AddIf {
        key: keys::cohort_day(&c.pk, Window::DAY.bucket(now)),
        adds: vec![
            ("refused".into(), 1),
            (hourly(&REFUSED_H, hour_of_day(now)).into(), 1),
        ],
        below: Vec::new(),
        set: Vec::new(),
        expires_at: expiry(now),
    }
}

/// The op that credits a used code to a cohort, in the hour it was sent.
pub fn credit(c: &Cohort, sent_at: i64) -> Op {
    Op::AddIf {
        key: keys::cohort_day(&c.pk, Window::DAY.bucket(sent_at)),
        adds: vec![
            ("verified".into(), 1),
            (hourly(&VERIFIED_H, hour_of_day(sent_at)).into(), 1),
        ],
        below: Vec::new(),
        set: Vec::new(),
        expires_at: expiry(sent_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_country_and_the_block_by_its_hash() {
        let p = check_cohorts(WireCohorts::default(), &mut Collector::detached());
        let gb = Country::parse("GB");
        let blocks: std::collections::BTreeMap<u32, String> = [
            (3, "3f9a2c1b0d4e5f60718293a4b5c6d7e8".to_string()),
            (5, "00112233445566778899aabbccddeeff".to_string()),
        ]
        .into();
        let labels = |flow| -> Vec<String> {
            cohorts(&p, gb, &blocks, flow)
                .iter()
                .map(Cohort::label)
                .collect()
        };
        assert_eq!(
            labels(Flow::SignUp),
            [
                "GB",
                "GB block of 1e3 numbers #3f9a2c1b0d4e",
                "GB block of 1e5 numbers #001122334455"
            ]
        );
        assert_eq!(labels(Flow::SignIn)[0], "GB sign-in");
        assert_eq!(
            cohorts(&p, None, &blocks, Flow::SignUp)[0].label(),
            keys::country_code(None)
        );
    }

    #[test]
    fn wilson_bound_needs_volume() {
        // No code used out of 10: clearly below a 90 % market.
        assert!(wilson_upper(0, 10) < 0.4);
        // 1 of 2: could be anything.
        assert!(wilson_upper(1, 2) > 0.9);
        // 45 of 100 is not below 0.3.
        assert!(wilson_upper(45, 100) > 0.3);
        assert!((wilson_upper(5, 0) - 1.0).abs() < f64::EPSILON);
    }
}
