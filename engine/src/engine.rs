//! The guard engine: one pure function from (policy, source, number) to a decision.
//!
//! No I/O, no clock, no AWS: the Lambda adapter and every CLI command call the
//! same [`Engine::decide`], so what `pumpguard check` prints is what the trigger
//! does.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::country::Country;
use crate::features::Features;
use crate::phone::NumberType;
use crate::policy::{Disclosure, Mode, Policy};
use crate::source::TriggerSource;

/// What happens to the SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Send it.
    Allow,
    /// Send it, but a check in `monitor` mode would have blocked it.
    Monitor,
    /// Refuse it.
    Block,
}

impl Verdict {
    /// `allow`, `monitor` or `block`, as in logs and replay output.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Monitor => "monitor",
            Verdict::Block => "block",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which guard produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Country,
    Form,
    NumberType,
    Suspicious,
    Cooldown,
    UserLimits,
    PrefixVelocity,
    CountryVelocity,
    PoolRate,
    Budget,
    Store,
    /// The per-phone daily cap (`[known-numbers]`).
    PhoneLimits,
    /// A cohort's volume or conversion (`[cohorts]`).
    Cohort,
}

impl Check {
    /// Rate limits answer `RATE_LIMITED` with a retry-after.
    pub fn is_rate_limit(self) -> bool {
        matches!(
            self,
            Check::Cooldown
                | Check::UserLimits
                | Check::PrefixVelocity
                | Check::CountryVelocity
                | Check::PoolRate
                | Check::PhoneLimits
                | Check::Cohort
        )
    }
}

/// A stable reason code. Its spelling (`Reason::code`) is part of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The country is on the block list.
    CountryBlocked,
    /// The country is on no list and unlisted countries are blocked.
    CountryNotAllowed,
    /// The country is on the monitor list.
    CountryMonitored,
    /// The number resolves to no country.
    CountryUnknown,
    /// Not a valid E.164 number.
    InvalidNumber,
    /// A trunk `0` after the country code.
    TypoLeadingZero,
    /// The country code typed twice.
    TypoDoubledCountryCode,
    /// A blocked number type.
    NumberType(NumberType),
    /// A long run of one digit.
    SuspiciousRepeatedDigits,
    /// A long ascending or descending run.
    SuspiciousSequentialDigits,
    /// The phone is in its cooldown.
    Cooldown,
    /// The user has had SMS to too many distinct phones today.
    UserPhonesPerDay,
    /// The user has had too many SMS this hour.
    UserSendsPerHour,
    /// Too many SMS to numbers sharing this prefix in the window.
    PrefixVelocity,
    /// Too many SMS to this country this hour / day for its verified traffic.
    CountryVelocityHour,
    CountryVelocityDay,
    /// Few of today's SMS to this country were verified.
    CountryLowConversion,
    /// Too many SMS across the pool this minute / hour.
    PoolRateMinute,
    PoolRateHour,
    /// The daily / monthly spend budget is spent.
    BudgetDaily,
    BudgetMonthly,
    /// The store failed and `on-store-error = "fail-closed"`.
    StoreUnavailable,
    /// The phone has had its SMS for today (`[known-numbers]` caps).
    PhoneDailyCap,
    /// A cohort of unknown numbers is over its learned volume.
    CohortVolume,
    /// A cohort's codes are used far less than its baseline: throttled.
    CohortLowConversion,
    /// One country's unknown numbers spent their share of the budget.
    BudgetCountryShare,
}

impl Reason {
    /// The stable upper-snake code, e.g. `NUMBER_TYPE_PREMIUM_RATE`.
    pub fn code(&self) -> String {
        match self {
            Reason::CountryBlocked => "COUNTRY_BLOCKED".into(),
            Reason::CountryNotAllowed => "COUNTRY_NOT_ALLOWED".into(),
            Reason::CountryMonitored => "COUNTRY_MONITORED".into(),
            Reason::CountryUnknown => "COUNTRY_UNKNOWN".into(),
            Reason::InvalidNumber => "INVALID_NUMBER".into(),
            Reason::TypoLeadingZero => "TYPO_LEADING_ZERO".into(),
            Reason::TypoDoubledCountryCode => "TYPO_DOUBLED_COUNTRY_CODE".into(),
            Reason::NumberType(t) => {
                format!(
                    "NUMBER_TYPE_{}",
                    t.as_str().replace('-', "_").to_uppercase()
                )
            }
            Reason::SuspiciousRepeatedDigits => "SUSPICIOUS_REPEATED_DIGITS".into(),
            Reason::SuspiciousSequentialDigits => "SUSPICIOUS_SEQUENTIAL_DIGITS".into(),
            Reason::Cooldown => "COOLDOWN".into(),
            Reason::UserPhonesPerDay => "USER_PHONES_PER_DAY".into(),
            Reason::UserSendsPerHour => "USER_SENDS_PER_HOUR".into(),
            Reason::PrefixVelocity => "PREFIX_VELOCITY".into(),
            Reason::CountryVelocityHour => "COUNTRY_VELOCITY_HOUR".into(),
            Reason::CountryVelocityDay => "COUNTRY_VELOCITY_DAY".into(),
            Reason::CountryLowConversion => "COUNTRY_LOW_CONVERSION".into(),
            Reason::PoolRateMinute => "POOL_RATE_MINUTE".into(),
            Reason::PoolRateHour => "POOL_RATE_HOUR".into(),
            Reason::BudgetDaily => "BUDGET_DAILY".into(),
            Reason::BudgetMonthly => "BUDGET_MONTHLY".into(),
            Reason::StoreUnavailable => "STORE_UNAVAILABLE".into(),
            Reason::PhoneDailyCap => "PHONE_DAILY_CAP".into(),
            Reason::CohortVolume => "COHORT_VOLUME".into(),
            Reason::CohortLowConversion => "COHORT_LOW_CONVERSION".into(),
            Reason::BudgetCountryShare => "BUDGET_COUNTRY_SHARE".into(),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// One guard's verdict on one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub reason: Reason,
    pub check: Check,
    /// `Enforce` blocks, `Monitor` only records.
    pub mode: Mode,
    /// For rate limits: seconds until the same send would pass this guard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Its guard enforces, and only `[trigger] mode` holds it at monitor:
    /// it blocks once the trigger enforces.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub would_block: bool,
}

impl Finding {
    /// A finding of a guard running in `mode`, under the policy's `[trigger]
    /// mode` ceiling; `None` when that leaves it off.
    pub fn under(
        p: &Policy,
        check: Check,
        mode: Mode,
        reason: Reason,
        retry_after: Option<u64>,
    ) -> Option<Finding> {
        let effective = p.effective(mode);
        (effective != Mode::Off).then_some(Finding {
            reason,
            check,
            mode: effective,
            retry_after,
            would_block: mode == Mode::Enforce && effective == Mode::Monitor,
        })
    }
}

/// The engine's answer for one SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub source: TriggerSource,
    /// The region libphonenumber resolves the number to.
    pub country: Option<Country>,
    pub number_type: Option<NumberType>,
    /// Every finding, enforced and monitored, in check order.
    pub findings: Vec<Finding>,
    /// An `exemptions.allow-numbers` entry: no check ran.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exempt: bool,
    /// A store call failed or timed out; stateful guards followed `on-store-error`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub store_error: bool,
    /// Estimated cost of this SMS (price table), in micro-USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_micro_usd: Option<u64>,
    /// Whether the phone is a known number (`[known-numbers]`), once the
    /// store was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<bool>,
    /// Cohorts whose state this decision changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cohort_events: Vec<crate::guards::CohortEvent>,
}

impl Decision {
    /// The reason codes of every finding.
    pub fn reasons(&self) -> Vec<String> {
        self.findings.iter().map(|f| f.reason.code()).collect()
    }

    /// The finding that names the block: the first enforced one that is not
    /// a rate limit, else the first enforced rate limit.
    pub fn blocking(&self) -> Option<&Finding> {
        Self::naming(self.findings.iter().filter(|f| f.mode == Mode::Enforce))
    }

    /// Of `findings`, the one that names a refusal: the first that is not a
    /// rate limit, else the first.
    fn naming<'a>(mut findings: impl Iterator<Item = &'a Finding> + Clone) -> Option<&'a Finding> {
        let first = findings.clone().next();
        findings.find(|f| !f.check.is_rate_limit()).or(first)
    }

    /// For a block by rate limits only: the seconds until every enforced
    /// rate limit would let the send through.
    pub fn retry_after(&self) -> Option<u64> {
        let enforced = || self.findings.iter().filter(|f| f.mode == Mode::Enforce);
        if self.verdict != Verdict::Block || !enforced().all(|f| f.check.is_rate_limit()) {
            return None;
        }
        enforced().filter_map(|f| f.retry_after).max()
    }

    /// Recomputes the verdict from the findings.
    /// Not blocked, but it would be once `[trigger] mode` enforces: what a
    /// monitored rollout shows before it is switched on.
    pub fn would_block(&self) -> bool {
        self.would_block_by().is_some()
    }

    /// The finding that would block it once the trigger enforces, chosen as
    /// [`Decision::blocking`] chooses (a non-rate-limit first).
    pub fn would_block_by(&self) -> Option<&Finding> {
        if self.verdict == Verdict::Block {
            return None;
        }
        Self::naming(self.findings.iter().filter(|f| f.would_block))
    }

    pub(crate) fn settle(&mut self) {
        self.verdict = if self.findings.iter().any(|f| f.mode == Mode::Enforce) {
            Verdict::Block
        } else if self.findings.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Monitor
        };
    }

    /// The short, end-user-safe code for a blocked SMS, at the given disclosure.
    /// `None` unless the verdict is `block`.
    ///
    /// | finding that names the block ([`Decision::blocking`]) | coarse code |
    /// |---|---|
    /// | country | `SMS_BLOCKED_COUNTRY` |
    /// | form, number type, suspicious digits | `SMS_BLOCKED_NUMBER` |
    /// | rate limits only | `RATE_LIMITED retryAfterSeconds=N` |
    /// | budget, store failure (fail-closed) | `SMS_UNAVAILABLE` |
    ///
    /// `generic` always says `SMS_BLOCKED`; `detailed` adds the reason
    /// (`SMS_BLOCKED_NUMBER:NUMBER_TYPE_PREMIUM_RATE`).
    pub fn block_code(&self, disclosure: Disclosure) -> Option<String> {
        let f = self.blocking()?;
        if disclosure == Disclosure::Generic {
            return Some("SMS_BLOCKED".to_string());
        }
        let detail = |category: &str| match disclosure {
            Disclosure::Detailed => format!("{category}:{}", f.reason.code()),
            Disclosure::Generic | Disclosure::Coarse => category.to_string(),
        };
        Some(match f.check {
            Check::Country => detail("SMS_BLOCKED_COUNTRY"),
            Check::Form | Check::NumberType | Check::Suspicious => detail("SMS_BLOCKED_NUMBER"),
            Check::Budget | Check::Store => detail("SMS_UNAVAILABLE"),
            Check::Cooldown
            | Check::UserLimits
            | Check::PrefixVelocity
            | Check::CountryVelocity
            | Check::PoolRate
            | Check::PhoneLimits
            | Check::Cohort => match self.retry_after() {
                Some(secs) => format!("{} retryAfterSeconds={secs}", detail("RATE_LIMITED")),
                None => detail("RATE_LIMITED"),
            },
        })
    }
}

/// The guard engine for one policy.
#[derive(Debug, Clone)]
pub struct Engine {
    policy: Arc<Policy>,
}

impl Engine {
    pub fn new(policy: Arc<Policy>) -> Self {
        Self { policy }
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Judges one SMS to `phone` sent for `source`.
    pub fn decide(&self, source: TriggerSource, phone: &str) -> Decision {
        self.decide_features(source, &Features::of(phone, &self.policy, None))
    }

    /// [`Engine::decide`] on the number's features.
    pub fn decide_features(&self, source: TriggerSource, number: &Features) -> Decision {
        let p = &*self.policy;
        if number.exempt {
            return Decision {
                verdict: Verdict::Allow,
                source,
                country: number.country,
                number_type: number.number_type,
                findings: Vec::new(),
                exempt: true,
                store_error: false,
                cost_micro_usd: None,
                known: None,
                cohort_events: Vec::new(),
            };
        }
        let mut found = crate::guards::Findings::new(p);
        for guard in crate::guards::STATIC {
            guard(p, number, &mut found);
        }
        let findings = found.list;

        let mut d = Decision {
            verdict: Verdict::Allow,
            source,
            country: number.country,
            number_type: number.number_type,
            findings,
            exempt: false,
            store_error: false,
            cost_micro_usd: None,
            known: None,
            cohort_events: Vec::new(),
        };
        d.settle();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(extra: &str) -> Engine {
        let text = format!(
            "{extra}\n[countries]\nallow = [\"US\", \"CA\", \"GB\", \"TH\"]\nmonitor = [\"MX\"]\n\
             block = [\"NG\"]\ncrown-dependencies = \"separate\"\n"
        );
        match Policy::parse(&text, "test") {
            Ok(p) => Engine::new(Arc::new(p)),
            Err(e) => panic!("{e}"),
        }
    }

    fn codes(d: &Decision) -> Vec<String> {
        d.reasons()
    }

    const SRC: TriggerSource = TriggerSource::SignUp;

    #[test]
    fn allows_a_plain_mobile_in_an_allowed_country() {
        let d = engine("").decide(SRC, "+14155552671");
        assert_eq!(d.verdict, Verdict::Allow, "{d:?}");
        assert_eq!(d.country.map(|c| c.to_string()), Some("US".into()));
        assert!(d.findings.is_empty());
        assert_eq!(d.block_code(Disclosure::Coarse), None);
    }

    #[test]
    fn country_lists() {
        let e = engine("");
        let jm = e.decide(SRC, "+18762101234");
        assert_eq!(jm.verdict, Verdict::Block);
        assert_eq!(codes(&jm), ["COUNTRY_NOT_ALLOWED"]);
        assert_eq!(
            jm.block_code(Disclosure::Coarse).as_deref(),
            Some("SMS_BLOCKED_COUNTRY")
        );
        let ng = e.decide(SRC, "+2348034517892");
        assert_eq!(codes(&ng), ["COUNTRY_BLOCKED"]);
        let mx = e.decide(SRC, "+525548172936");
        assert_eq!(mx.verdict, Verdict::Monitor, "{mx:?}");
        assert_eq!(codes(&mx), ["COUNTRY_MONITORED"]);
    }

    #[test]
    fn crown_dependencies_follow_the_policy() {
        let im = "+447624123456";
        assert_eq!(engine("").decide(SRC, im).verdict, Verdict::Block);
        let as_gb = Policy::parse(
            "[countries]\nallow = [\"GB\"]\ncrown-dependencies = \"as-gb\"\n",
            "t",
        )
        .expect("valid");
        let d = Engine::new(Arc::new(as_gb)).decide(SRC, im);
        assert_eq!(d.verdict, Verdict::Allow, "{d:?}");
        assert_eq!(d.country.map(|c| c.to_string()), Some("IM".into()));
    }

    #[test]
    fn unlisted_modes() {
        let mk = |u: &str| {
            Engine::new(Arc::new(
                Policy::parse(
                    &format!(
                        "[countries]\nallow = [\"US\"]\nunlisted = \"{u}\"\n\
                         crown-dependencies = \"separate\"\n"
                    ),
                    "t",
                )
                .expect("valid"),
            ))
        };
        let fr = "+33645178290";
        assert_eq!(mk("block").decide(SRC, fr).verdict, Verdict::Block);
        assert_eq!(mk("monitor").decide(SRC, fr).verdict, Verdict::Monitor);
        assert_eq!(mk("allow").decide(SRC, fr).verdict, Verdict::Allow);
    }

    #[test]
    fn number_types() {
        let e = engine("");
        let prem = e.decide(SRC, "+19002345678");
        assert_eq!(prem.verdict, Verdict::Block);
        // 2345678 is also a sequential run; the number type is the first reason.
        assert_eq!(
            codes(&prem),
            ["NUMBER_TYPE_PREMIUM_RATE", "SUSPICIOUS_SEQUENTIAL_DIGITS"]
        );
        assert_eq!(prem.number_type, Some(NumberType::PremiumRate));
        assert_eq!(
            prem.block_code(Disclosure::Detailed).as_deref(),
            Some("SMS_BLOCKED_NUMBER:NUMBER_TYPE_PREMIUM_RATE")
        );
        assert_eq!(
            prem.block_code(Disclosure::Generic).as_deref(),
            Some("SMS_BLOCKED")
        );
        let voip = e.decide(SRC, "+445647182930");
        assert_eq!(codes(&voip), ["NUMBER_TYPE_VOIP"]);
        let toll = e.decide(SRC, "+18004571829");
        assert_eq!(codes(&toll), ["NUMBER_TYPE_TOLL_FREE"]);
        // Configurable: allow VoIP.
        let e = engine("[number-types]\nblock = [\"premium-rate\"]\n");
        assert_eq!(e.decide(SRC, "+445647182930").verdict, Verdict::Allow);
    }

    #[test]
    fn form_and_typos() {
        let e = engine("");
        let lz = e.decide(SRC, "+66081234567");
        assert_eq!(lz.verdict, Verdict::Block);
        assert_eq!(
            lz.blocking().map(|f| f.reason),
            Some(Reason::TypoLeadingZero)
        );
        let lz = e.decide(SRC, "+66084571829");
        assert_eq!(codes(&lz), ["TYPO_LEADING_ZERO", "NUMBER_TYPE_UNKNOWN"]);
        let dbl = e.decide(SRC, "+6666845718290");
        assert_eq!(
            codes(&dbl),
            ["TYPO_DOUBLED_COUNTRY_CODE", "NUMBER_TYPE_UNKNOWN"]
        );
        let junk = e.decide(SRC, "call me");
        assert_eq!(
            codes(&junk),
            ["COUNTRY_UNKNOWN", "INVALID_NUMBER", "NUMBER_TYPE_UNKNOWN"]
        );
        assert_eq!(junk.number_type, None);
        assert_eq!(e.decide(SRC, "tel:+66 81-457-1829").verdict, Verdict::Allow);
    }

    #[test]
    fn suspicious_patterns() {
        let e = engine("");
        let rep = e.decide(SRC, "+14155555555");
        assert!(
            codes(&rep).contains(&"SUSPICIOUS_REPEATED_DIGITS".to_string()),
            "{rep:?}"
        );
        let seq = e.decide(SRC, "+12012345678");
        assert!(
            codes(&seq).contains(&"SUSPICIOUS_SEQUENTIAL_DIGITS".to_string()),
            "{seq:?}"
        );
        let e = engine("[suspicious]\nmode = \"monitor\"\n");
        assert_eq!(e.decide(SRC, "+12012345678").verdict, Verdict::Monitor);
    }

    #[test]
    fn modes_off_and_ceiling() {
        let e = engine("[number-types]\nmode = \"off\"\n");
        assert_eq!(e.decide(SRC, "+19004571829").verdict, Verdict::Allow);
        let e = engine("[trigger]\nmode = \"monitor\"\n");
        let d = e.decide(SRC, "+19004571829");
        assert_eq!(d.verdict, Verdict::Monitor);
        assert_eq!(d.block_code(Disclosure::Coarse), None);
        let e = engine("[trigger]\nmode = \"off\"\n");
        assert_eq!(e.decide(SRC, "+2348034517892").verdict, Verdict::Allow);
    }
}
