//! Labelled traffic for `pumpguard simulate`: a week of legitimate use of a
//! pool that serves North America and western Europe, with one attack laid
//! over it per scenario. Everything comes from one seeded ChaCha generator,
//! so a seed gives the same events on every machine.
//!
//! Numbers are drawn from libphonenumber's own metadata (its example number
//! of the wanted type, with trailing digits randomised, kept only when the
//! engine's classifier agrees on region and type), never from a hand table.

use pumpguard_engine::phone::{classify, util, NumberType};
use pumpguard_engine::TriggerSource;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rlibphonenumber::Region;

/// 2026-10-25T00:00:00Z: the simulated week ends on the last day of a month.
pub const START: i64 = 1_792_886_400;
pub const DAYS: i64 = 7;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// What reached the trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A CustomMessage event for an SMS.
    Sms(TriggerSource),
    /// `PostConfirmation_ConfirmSignUp`: the sign-up code was used.
    ConfirmSignUp,
    /// `PostConfirmation_ConfirmForgotPassword`.
    ConfirmForgotPassword,
    /// `PostAuthentication_Authentication`: the MFA code was used.
    Authenticated,
}

impl Kind {
    pub fn trigger_source(self) -> &'static str {
        match self {
            Kind::Sms(s) => s.as_str(),
            Kind::ConfirmSignUp => "PostConfirmation_ConfirmSignUp",
            Kind::ConfirmForgotPassword => "PostConfirmation_ConfirmForgotPassword",
            Kind::Authenticated => "PostAuthentication_Authentication",
        }
    }
}

/// Who sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Legit,
    /// A legitimate user's mistyped number: no SMS could reach it.
    LegitTypo,
    Fraud,
}

/// One labelled event.
#[derive(Debug, Clone)]
pub struct SimEvent {
    pub at: i64,
    pub kind: Kind,
    pub phone: String,
    pub user: String,
    pub label: Label,
    /// A returning user's phone, verified before (before the week, or
    /// earlier in it): the known numbers that must never be refused.
    pub returning: bool,
}

impl SimEvent {
    pub fn is_sms(&self) -> bool {
        matches!(self.kind, Kind::Sms(_))
    }

    /// The event as Lambda receives it from Cognito.
    pub fn to_cognito(&self) -> serde_json::Value {
        let verified = if self.is_sms() { "false" } else { "true" };
        let request = match self.kind {
            Kind::Sms(_) => serde_json::json!({
                "userAttributes": {
                    "sub": self.user,
                    "cognito:user_status": "UNCONFIRMED",
                    "phone_number_verified": verified,
                    "phone_number": self.phone,
                },
                "codeParameter": "{####}",
                "linkParameter": "{##Click Here##}",
                "usernameParameter": null,
                "clientMetadata": {},
            }),
            _ => serde_json::json!({
                "userAttributes": {
                    "sub": self.user,
                    "phone_number_verified": verified,
                    "phone_number": self.phone,
                },
            }),
        };
        let response = match self.kind {
            Kind::Sms(_) => {
                serde_json::json!({"smsMessage": null, "emailMessage": null, "emailSubject": null})
            }
            _ => serde_json::json!({}),
        };
        serde_json::json!({
            "version": "1",
            "region": "us-east-1",
            "userPoolId": "us-east-1_SIMULATED",
            "userName": self.user,
            "callerContext": {"awsSdkVersion": "aws-sdk-js-3", "clientId": "simulatedclient"},
            "triggerSource": self.kind.trigger_source(),
            "request": request,
            "response": response,
        })
    }
}

/// The pool's users by country: share of traffic and UTC offset (hours).
const MARKET: &[(&str, f64, i64)] = &[
    ("US", 0.50, -5),
    ("CA", 0.08, -5),
    ("GB", 0.12, 0),
    ("DE", 0.07, 1),
    ("FR", 0.06, 1),
    ("NL", 0.03, 1),
    ("ES", 0.03, 1),
    ("IT", 0.03, 1),
    ("IE", 0.02, 0),
    ("AU", 0.05, 10),
    ("MX", 0.01, -6),
];

/// Relative activity by local hour: quiet nights, busy afternoons.
const DIURNAL: [f64; 24] = [
    0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.9, 1.1, 1.2, 1.25, 1.3, 1.3, 1.35, 1.35, 1.3,
    1.3, 1.35, 1.4, 1.3, 1.1, 0.8, 0.45,
];

/// Legitimate volumes per day.
const SIGNUPS_PER_DAY: f64 = 250.0;
const LOGINS_PER_DAY: f64 = 300.0;
const FORGOT_PER_DAY: f64 = 20.0;
const UPDATES_PER_DAY: f64 = 6.0;
const USER_BASE: usize = 4000;
/// The marketing day: sign-ups ×5 from 14:00 to 20:00 UTC on day 4.
const SPIKE: (i64, i64, f64) = (4 * DAY + 14 * HOUR, 4 * DAY + 20 * HOUR, 5.0);

/// The scenarios, in report order.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "legitimate",
        "A week of real users only: daily cycles, resends, typos, MFA logins, a marketing-day spike.",
    ),
    (
        "burst-two-countries",
        "About 300 sign-ups a minute for 20 minutes to Yemen and Tunisia, never verified (seed 004).",
    ),
    (
        "month-end-burst",
        "600 an hour for six hours on the last evening of the month, to expensive destinations (seed 004).",
    ),
    (
        "slow-burn",
        "10 to 20 an hour for five days to expensive destinations, under every rate limit (seed 004).",
    ),
    (
        "range-pumping",
        "60 an hour for 12 hours into two 1,000-number mobile ranges of an allowed country (GB).",
    ),
    (
        "nanp-islands",
        "150 an hour for 8 hours to Caribbean +1 numbers, behind a \"+1 is allowed\" rule.",
    ),
    (
        "premium-in-allowed",
        "50 an hour for 8 hours to premium-rate ranges of allowed countries.",
    ),
    (
        "sms-bombing",
        "One victim's phone hit every 5 to 15 seconds for two hours (password resets and sign-ups).",
    ),
    (
        "slow-burn-small-market",
        "15 an hour for five days into Ireland, an allowed, expensive market of about 5 sign-ups a day.",
    ),
    (
        "core-pumping-confirmed",
        "40 an hour for two days to numbers all over the US, the core market; the attacker confirms 40% of the codes.",
    ),
    (
        "mfa-pumping",
        "60 accounts signed up and verified on day 1 ask for MFA codes to GB numbers every 5-10 minutes from day 3, confirming 30%.",
    ),
    (
        "lockout-flood",
        "2,000 sign-ups to US numbers at 00:00 UTC, then 300 an hour to France for three hours: meant to lock real users out.",
    ),
    (
        "boundary-bursts",
        "Bursts into one block of GB numbers across the top of every hour and across UTC midnight.",
    ),
    (
        "campaign-surge",
        "No attack: a campaign multiplies German sign-ups by 10 for four hours; every user verifies as usual.",
    ),
    (
        "market-launch",
        "No attack: a launch brings 40 Australian sign-ups an hour for ten hours, 30 times the usual.",
    ),
    (
        "fleet-onboarding",
        "No attack: a fleet of 80 riders on consecutive GB SIM numbers signs up within one hour.",
    ),
];

/// The events of one scenario, in time order.
pub fn generate(scenario: &str, seed: u64) -> Option<Vec<SimEvent>> {
    let index = SCENARIOS.iter().position(|(n, _)| *n == scenario)?;
    // The legitimate week is the same in every scenario of a seed.
    let mut legit_rng = ChaCha8Rng::seed_from_u64(seed);
    let mut events = legitimate(&mut legit_rng);
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ (0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(index as u64 + 1)),
    );
    let mut g = Gen {
        rng: &mut rng,
        next_user: 0,
        events: Vec::new(),
    };
    match scenario {
        "burst-two-countries" => g.burst_two_countries(),
        "month-end-burst" => g.month_end_burst(),
        "slow-burn" => g.slow_burn(),
        "range-pumping" => g.range_pumping(),
        "nanp-islands" => g.nanp_islands(),
        "premium-in-allowed" => g.premium_in_allowed(),
        "sms-bombing" => g.sms_bombing(),
        "slow-burn-small-market" => g.slow_burn_small_market(),
        "core-pumping-confirmed" => g.core_pumping_confirmed(),
        "mfa-pumping" => g.mfa_pumping(),
        "lockout-flood" => g.lockout_flood(),
        "boundary-bursts" => g.boundary_bursts(),
        "campaign-surge" => g.legit_surge("DE", 3 * DAY + 10 * HOUR, 4, 10.0 * 250.0 * 0.07 / 24.0),
        "market-launch" => g.legit_surge("AU", 5 * DAY + 22 * HOUR, 10, 40.0),
        "fleet-onboarding" => g.fleet(),
        _ => {}
    }
    events.append(&mut g.events);
    // Stable: simultaneous events keep their generation order.
    events.sort_by_key(|e| e.at);
    Some(events)
}

/// Poisson-like count with mean `x`, from a uniform draw.
fn count(rng: &mut ChaCha8Rng, x: f64) -> u64 {
    let whole = x.floor();
    let extra = u64::from(rng.random_bool((x - whole).clamp(0.0, 1.0)));
    whole as u64 + extra
}

/// The region's example number of a type (national digits), from libphonenumber.
fn example(region: &str, kind: NumberType) -> Option<String> {
    let region = Region::from_code(region).ok()?;
    let n = util()
        .get_example_number_for_type_and_region(region, kind.to_lib()?)
        .ok()?;
    Some(rlibphonenumber::get_national_significant_number_owned(&n))
}

fn calling_code(region: &str) -> Option<u16> {
    let region = Region::from_code(region).ok()?;
    util()
        .get_country_code_for_region(region)
        .and_then(|c| u16::try_from(c).ok())
}

/// A number of `region` whose type satisfies `want`: the example number of
/// `kind` with digits after the first `keep` randomised.
fn number(
    rng: &mut ChaCha8Rng,
    region: &str,
    kind: NumberType,
    keep: usize,
    want: fn(NumberType) -> bool,
) -> Option<String> {
    let base = example(region, kind)?;
    let cc = calling_code(region)?;
    let keep = keep.min(base.len());
    for _ in 0..500 {
        let mut national = base[..keep].to_string();
        for _ in keep..base.len() {
            national.push(char::from(b'0' + rng.random_range(0..10u8)));
        }
        let e164 = format!("+{cc}{national}");
        if fits(&e164, region, want) {
            return Some(e164);
        }
    }
    None
}

fn fits(e164: &str, region: &str, want: fn(NumberType) -> bool) -> bool {
    classify(e164).is_ok_and(|i| {
        i.valid && i.country.is_some_and(|c| c.as_str() == region) && want(i.number_type)
    })
}

fn mobile(t: NumberType) -> bool {
    matches!(t, NumberType::Mobile | NumberType::FixedLineOrMobile)
}

fn premium(t: NumberType) -> bool {
    t == NumberType::PremiumRate
}

/// Digits kept from the example so that random numbers stay in the region:
/// the area code for +1, the first digit elsewhere.
fn keep_for(region: &str) -> usize {
    if calling_code(region) == Some(1) {
        3
    } else {
        1
    }
}

fn pick_market(rng: &mut ChaCha8Rng) -> (&'static str, i64) {
    let mut x: f64 = rng.random();
    for &(region, share, offset) in MARKET {
        if x < share {
            return (region, offset);
        }
        x -= share;
    }
    ("US", -5)
}

/// Legitimate numbers: US numbers anywhere in the US, elsewhere mobiles.
fn legit_number(rng: &mut ChaCha8Rng, region: &str) -> String {
    let keep = if region == "US" || region == "CA" {
        0
    } else {
        1
    };
    number(rng, region, NumberType::Mobile, keep, mobile)
        .or_else(|| number(rng, region, NumberType::Mobile, keep_for(region), mobile))
        .unwrap_or_else(|| "+12015550123".to_string())
}

/// A typo of `e164` that no network can deliver: a dropped digit, a trunk
/// zero kept after the country code, or the country code typed twice.
fn typo(rng: &mut ChaCha8Rng, e164: &str, region: &str) -> String {
    let cc = calling_code(region).map_or_else(String::new, |c| c.to_string());
    let national = e164.get(1 + cc.len()..).unwrap_or("");
    for _ in 0..20 {
        let t = match rng.random_range(0..3) {
            0 => {
                let cut = rng.random_range(0..national.len().max(1));
                let mut n = national.to_string();
                if cut < n.len() {
                    n.remove(cut);
                }
                format!("+{cc}{n}")
            }
            1 => format!("+{cc}0{national}"),
            _ => format!("+{cc}{cc}{national}"),
        };
        if classify(&t).map_or(true, |i| !i.valid) {
            return t;
        }
    }
    format!("+{cc}{}", &national[..national.len().saturating_sub(3)])
}

/// A week of legitimate traffic: sign-ups (with resends, typos and
/// abandons), MFA logins by returning users, password resets, phone updates.
fn legitimate(rng: &mut ChaCha8Rng) -> Vec<SimEvent> {
    let mut out = Vec::new();
    let users: Vec<(String, &str, i64)> = (0..USER_BASE)
        .map(|_| {
            let (region, offset) = pick_market(rng);
            (legit_number(rng, region), region, offset)
        })
        .collect();
    // Before the week: each returning user verified their phone with two
    // MFA logins 2 to 60 days earlier, so their numbers are known.
    for (u, (phone, _, _)) in users.iter().enumerate().flat_map(|x| [x, x]) {
        let at = START - rng.random_range(2 * DAY..60 * DAY);
        let user = format!("user-{u}");
        out.push(returning_ev(
            at,
            Kind::Sms(TriggerSource::Authentication),
            phone,
            &user,
        ));
        out.push(returning_ev(
            at + rng.random_range(10..90),
            Kind::Authenticated,
            phone,
            &user,
        ));
    }
    // The last SMS to each returning user: a real user never asks twice
    // within ten minutes (the cooldown a client's resend timer respects).
    let mut last_sms = vec![i64::MIN / 2; USER_BASE];
    let mut signup_no = 0u64;
    let total: f64 = DIURNAL.iter().sum();
    for hour in 0..DAYS * 24 {
        let t0 = START + hour * HOUR;
        for &(region, share, offset) in MARKET {
            let local = usize::try_from((hour + offset).rem_euclid(24)).unwrap_or(0);
            let w = DIURNAL[local] / total * share;
            let spike = if (SPIKE.0..SPIKE.1).contains(&(t0 - START)) {
                SPIKE.2
            } else {
                1.0
            };
            for _ in 0..count(rng, SIGNUPS_PER_DAY * w * spike) {
                signup_no += 1;
                let at = t0 + rng.random_range(0..HOUR);
                signup(rng, &mut out, region, at, signup_no);
            }
            let mut returning = ReturningUsers {
                rng: &mut *rng,
                out: &mut out,
                users: &users,
                last_sms: &mut last_sms,
                region,
                t0,
            };
            returning.sms_then(
                LOGINS_PER_DAY * w,
                TriggerSource::Authentication,
                (Kind::Authenticated, 0.96, 10..90),
            );
            returning.sms_then(
                FORGOT_PER_DAY * w,
                TriggerSource::ForgotPassword,
                (Kind::ConfirmForgotPassword, 0.9, 30..600),
            );
            for _ in 0..count(rng, UPDATES_PER_DAY * w) {
                let at = t0 + rng.random_range(0..HOUR);
                let Some(u) = returning_user(rng, &users, region, &mut last_sms, at) else {
                    continue;
                };
                // A new number of the same country.
                let phone = legit_number(rng, region);
                let user = format!("user-{u}");
                out.push(ev(
                    at,
                    Kind::Sms(TriggerSource::UpdateUserAttribute),
                    &phone,
                    &user,
                    Label::Legit,
                ));
            }
        }
    }
    out
}

/// Returning users of one region in one hour.
struct ReturningUsers<'a, 'u> {
    rng: &'a mut ChaCha8Rng,
    out: &'a mut Vec<SimEvent>,
    users: &'a [(String, &'u str, i64)],
    last_sms: &'a mut [i64],
    region: &'a str,
    t0: i64,
}

impl ReturningUsers<'_, '_> {
    /// About `mean` SMS of `source` this hour, each followed with
    /// probability `p` by its `confirm` event `delay` seconds later.
    fn sms_then(
        &mut self,
        mean: f64,
        source: TriggerSource,
        (confirm, p, delay): (Kind, f64, std::ops::Range<i64>),
    ) {
        for _ in 0..count(self.rng, mean) {
            let at = self.t0 + self.rng.random_range(0..HOUR);
            let Some(u) = returning_user(self.rng, self.users, self.region, self.last_sms, at)
            else {
                continue;
            };
            let phone = &self.users[u].0;
            let user = format!("user-{u}");
            self.out
                .push(returning_ev(at, Kind::Sms(source), phone, &user));
            if self.rng.random_bool(p) {
                let done = at + self.rng.random_range(delay.clone());
                self.out.push(returning_ev(done, confirm, phone, &user));
            }
        }
    }
}

fn returning_user(
    rng: &mut ChaCha8Rng,
    users: &[(String, &str, i64)],
    region: &str,
    last_sms: &mut [i64],
    at: i64,
) -> Option<usize> {
    for _ in 0..50 {
        let u = rng.random_range(0..users.len());
        if users[u].1 == region && at - last_sms[u] >= 600 {
            last_sms[u] = at;
            return Some(u);
        }
    }
    None
}

fn signup(rng: &mut ChaCha8Rng, out: &mut Vec<SimEvent>, region: &str, at: i64, n: u64) {
    let phone = legit_number(rng, region);
    let mut user = format!("new-{n}");
    let mut at = at;
    let roll: f64 = rng.random();
    if roll < 0.03 {
        // Mistyped first: the code never arrives, the user fixes the number
        // and signs up again.
        let bad = typo(rng, &phone, region);
        out.push(ev(
            at,
            Kind::Sms(TriggerSource::SignUp),
            &bad,
            &user,
            Label::LegitTypo,
        ));
        at += rng.random_range(90..600);
        user = format!("new-{n}-b");
    }
    out.push(ev(
        at,
        Kind::Sms(TriggerSource::SignUp),
        &phone,
        &user,
        Label::Legit,
    ));
    let roll: f64 = rng.random();
    if roll < 0.05 {
        return; // abandoned
    }
    if roll < 0.15 {
        // The code was slow or lost: one resend, after the app's 60 s timer.
        at += rng.random_range(60..300);
        out.push(ev(
            at,
            Kind::Sms(TriggerSource::ResendCode),
            &phone,
            &user,
            Label::Legit,
        ));
    }
    let done = at + rng.random_range(20..240);
    out.push(ev(done, Kind::ConfirmSignUp, &phone, &user, Label::Legit));
}

fn ev(at: i64, kind: Kind, phone: &str, user: &str, label: Label) -> SimEvent {
    SimEvent {
        at,
        kind,
        phone: phone.to_string(),
        user: user.to_string(),
        label,
        returning: false,
    }
}

fn returning_ev(at: i64, kind: Kind, phone: &str, user: &str) -> SimEvent {
    SimEvent {
        returning: true,
        ..ev(at, kind, phone, user, Label::Legit)
    }
}

struct Gen<'a> {
    rng: &'a mut ChaCha8Rng,
    next_user: u64,
    events: Vec<SimEvent>,
}

impl Gen<'_> {
    fn user(&mut self) -> String {
        self.next_user += 1;
        format!("bot-{}", self.next_user)
    }

    /// A fraudulent sign-up at `at` to `phone`, from a fresh account.
    fn signup(&mut self, at: i64, phone: &str) {
        let user = self.user();
        self.events.push(ev(
            at,
            Kind::Sms(TriggerSource::SignUp),
            phone,
            &user,
            Label::Fraud,
        ));
    }

    /// `per_hour` requests an hour, spread evenly with jitter, over `hours`
    /// from `from` (seconds after START); `phone` makes each destination.
    fn stream(
        &mut self,
        from: i64,
        hours: f64,
        per_hour: impl Fn(&mut ChaCha8Rng) -> f64,
        mut phone: impl FnMut(&mut ChaCha8Rng) -> Option<String>,
    ) {
        let end = from + (hours * HOUR as f64) as i64;
        let mut hour_start = from;
        while hour_start < end {
            let mean = per_hour(self.rng);
            let n = count(self.rng, mean);
            let span = (end - hour_start).min(HOUR);
            for _ in 0..n {
                let at = START + hour_start + self.rng.random_range(0..span.max(1));
                if let Some(p) = phone(self.rng) {
                    self.signup(at, &p);
                }
            }
            hour_start += HOUR;
        }
    }

    fn burst_two_countries(&mut self) {
        // 02:00 UTC on day 2, 20 minutes at ~300 a minute.
        let from = 2 * DAY + 2 * HOUR;
        for minute in 0..20 {
            for _ in 0..count(self.rng, 300.0) {
                let at = START + from + minute * 60 + self.rng.random_range(0..60);
                let region = if self.rng.random_bool(0.5) {
                    "YE"
                } else {
                    "TN"
                };
                if let Some(p) = number(self.rng, region, NumberType::Mobile, 1, mobile) {
                    self.signup(at, &p);
                }
            }
        }
    }

    fn month_end_burst(&mut self) {
        // The last evening of the month (day 6 is October 31st).
        let regions = ["LK", "KH", "MM", "SN", "AZ", "UZ"];
        self.stream(
            6 * DAY + 17 * HOUR,
            6.0,
            |_| 600.0,
            |rng| {
                let region = regions[rng.random_range(0..regions.len())];
                number(rng, region, NumberType::Mobile, 1, mobile)
            },
        );
    }

    fn slow_burn(&mut self) {
        let regions = ["LK", "SN", "TN"];
        self.stream(
            DAY + 12 * HOUR,
            120.0,
            |rng| f64::from(rng.random_range(10..=20u8)),
            |rng| {
                let region = regions[rng.random_range(0..regions.len())];
                number(rng, region, NumberType::Mobile, 1, mobile)
            },
        );
    }

    fn range_pumping(&mut self) {
        // Two 1,000-number ranges of GB mobiles, as an international
        // premium-rate reseller hands them out.
        let ranges: Vec<String> = (0..2)
            .filter_map(|_| number(self.rng, "GB", NumberType::Mobile, 1, mobile))
            .map(|n| n[..n.len() - 3].to_string())
            .collect();
        if ranges.is_empty() {
            return;
        }
        self.stream(
            4 * DAY + 20 * HOUR,
            12.0,
            |_| 60.0,
            |rng| {
                let base = &ranges[rng.random_range(0..ranges.len())];
                let n = format!("{base}{:03}", rng.random_range(0..1000));
                fits(&n, "GB", mobile).then_some(n)
            },
        );
    }

    fn nanp_islands(&mut self) {
        let regions = [
            "JM", "DO", "TT", "BS", "BB", "AG", "GD", "TC", "KN", "LC", "VC", "DM", "KY", "VG",
        ];
        self.stream(
            3 * DAY + 22 * HOUR,
            8.0,
            |_| 150.0,
            |rng| {
                let region = regions[rng.random_range(0..regions.len())];
                number(rng, region, NumberType::Mobile, 3, mobile)
            },
        );
    }

    fn premium_in_allowed(&mut self) {
        let regions = ["US", "GB", "DE", "FR", "IT", "AU"];
        self.stream(
            2 * DAY + 12 * HOUR,
            8.0,
            |_| 50.0,
            |rng| {
                let region = regions[rng.random_range(0..regions.len())];
                let keep = example(region, NumberType::PremiumRate)
                    .map_or(1, |e| e.len().saturating_sub(4));
                number(rng, region, NumberType::PremiumRate, keep, premium)
            },
        );
    }

    fn sms_bombing(&mut self) {
        let Some(victim) = number(self.rng, "US", NumberType::Mobile, 0, mobile) else {
            return;
        };
        let mut at = START + 5 * DAY + 13 * HOUR;
        let end = at + 2 * HOUR;
        while at < end {
            if self.rng.random_bool(0.5) {
                self.events.push(ev(
                    at,
                    Kind::Sms(TriggerSource::ForgotPassword),
                    &victim,
                    "victim",
                    Label::Fraud,
                ));
            } else {
                self.signup(at, &victim);
            }
            at += self.rng.random_range(5..=15);
        }
    }

    fn confirm(&mut self, at: i64, kind: Kind, phone: &str, user: &str) {
        self.events.push(ev(at, kind, phone, user, Label::Fraud));
    }

    fn slow_burn_small_market(&mut self) {
        self.stream(
            DAY + 6 * HOUR,
            120.0,
            |_| 15.0,
            |rng| number(rng, "IE", NumberType::Mobile, 1, mobile),
        );
    }

    fn core_pumping_confirmed(&mut self) {
        let from = START + 2 * DAY + 8 * HOUR;
        for hour in 0..48 {
            for _ in 0..count(self.rng, 40.0) {
                let at = from + hour * HOUR + self.rng.random_range(0..HOUR);
                let Some(phone) = number(self.rng, "US", NumberType::Mobile, 0, mobile) else {
                    continue;
                };
                let user = self.user();
                self.events.push(ev(
                    at,
                    Kind::Sms(TriggerSource::SignUp),
                    &phone,
                    &user,
                    Label::Fraud,
                ));
                if self.rng.random_bool(0.4) {
                    let done = at + self.rng.random_range(20..180);
                    self.confirm(done, Kind::ConfirmSignUp, &phone, &user);
                }
            }
        }
    }

    fn mfa_pumping(&mut self) {
        let mut accounts: Vec<(String, String)> = Vec::new();
        for _ in 0..60 {
            if let Some(p) = number(self.rng, "GB", NumberType::Mobile, 1, mobile) {
                let user = self.user();
                accounts.push((p, user));
            }
        }
        for (phone, user) in &accounts {
            // Signed up and verified on day 1, like any user.
            let at = START + DAY + self.rng.random_range(0..DAY);
            self.events.push(ev(
                at,
                Kind::Sms(TriggerSource::SignUp),
                phone,
                user,
                Label::Fraud,
            ));
            let done = at + self.rng.random_range(20..120);
            self.confirm(done, Kind::ConfirmSignUp, phone, user);
            // From day 3, twelve hours of MFA requests.
            let mut t = START + 3 * DAY + self.rng.random_range(0..2 * HOUR);
            let end = t + 12 * HOUR;
            while t < end {
                self.events.push(ev(
                    t,
                    Kind::Sms(TriggerSource::Authentication),
                    phone,
                    user,
                    Label::Fraud,
                ));
                if self.rng.random_bool(0.3) {
                    let done = t + self.rng.random_range(10..60);
                    self.confirm(done, Kind::Authenticated, phone, user);
                }
                t += self.rng.random_range(300..600);
            }
        }
    }

    fn lockout_flood(&mut self) {
        // 00:00 UTC on day 3: the start of a UTC day, when daily counters reset.
        let from = START + 3 * DAY;
        for _ in 0..2000 {
            let at = from + self.rng.random_range(0..HOUR);
            if let Some(p) = number(self.rng, "US", NumberType::Mobile, 0, mobile) {
                self.signup(at, &p);
            }
        }
        // Then France, expensive, until the budget is gone.
        self.stream(
            3 * DAY + 2 * HOUR,
            3.0,
            |_| 300.0,
            |rng| number(rng, "FR", NumberType::Mobile, 1, mobile),
        );
    }

    fn boundary_bursts(&mut self) {
        let Some(base) = number(self.rng, "GB", NumberType::Mobile, 1, mobile) else {
            return;
        };
        // One block of 10,000 numbers.
        let block = base[..base.len() - 4].to_string();
        let burst = |g: &mut Self, centre: i64, n: usize| {
            for _ in 0..n {
                let at = centre + g.rng.random_range(-300..300);
                let p = format!("{block}{:04}", g.rng.random_range(0..10_000));
                if fits(&p, "GB", mobile) {
                    g.signup(at, &p);
                }
            }
        };
        for day in 2..6 {
            burst(self, START + day * DAY, 40);
        }
        for hour in 0..12 {
            burst(self, START + 4 * DAY + (10 + hour) * HOUR, 12);
        }
    }

    /// Legitimate sign-ups in `region`: `per_hour` for `hours` from `from`.
    fn legit_surge(&mut self, region: &str, from: i64, hours: i64, per_hour: f64) {
        let mut n = 10_000_000;
        for hour in 0..hours {
            for _ in 0..count(self.rng, per_hour) {
                n += 1;
                let at = START + from + hour * HOUR + self.rng.random_range(0..HOUR);
                signup(self.rng, &mut self.events, region, at, n);
            }
        }
    }

    fn fleet(&mut self) {
        let Some(base) = number(self.rng, "GB", NumberType::Mobile, 1, mobile) else {
            return;
        };
        let block = base[..base.len() - 3].to_string();
        let first = self.rng.random_range(100..800);
        let from = START + 2 * DAY + 9 * HOUR;
        let mut n = 20_000_000;
        for i in 0..80 {
            let phone = format!("{block}{:03}", first + i);
            if !fits(&phone, "GB", mobile) {
                continue;
            }
            n += 1;
            let at = from + self.rng.random_range(0..HOUR);
            let user = format!("rider-{n}");
            self.events.push(ev(
                at,
                Kind::Sms(TriggerSource::SignUp),
                &phone,
                &user,
                Label::Legit,
            ));
            let done = at + self.rng.random_range(30..300);
            self.events
                .push(ev(done, Kind::ConfirmSignUp, &phone, &user, Label::Legit));
        }
    }
}
