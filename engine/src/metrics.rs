//! CloudWatch metrics for trigger decisions, as Embedded Metric Format lines.
//!
//! The decision log line tells an operator what happened to one SMS; it does
//! not give the graphs and alarms that catch a pumping wave (a jump in blocks,
//! in spend, in one country's traffic) as it starts. A Lambda gets CloudWatch
//! metrics without an API call by writing one JSON object in the Embedded
//! Metric Format (EMF) to stdout, and these pure functions build that object.
//! Every dimension value comes from a closed set (verdict, reason code, a
//! country from the policy's lists or `OTHER`) plus the user pool id, so the
//! number of custom metrics stays bounded; the phone number, its hash, the user
//! and the request id never appear in a line.

use serde_json::{json, Value};

use crate::country::Country;
use crate::engine::{Decision, Verdict};

/// The CloudWatch namespace of every pumpguard metric.
pub const NAMESPACE: &str = "pumpguard";

/// The `Country` dimension of a country outside the policy's lists, or of none.
pub const OTHER_COUNTRY: &str = "OTHER";

/// The `Reason` dimension of a decision without findings.
pub const NO_REASON: &str = "NONE";

/// The `UserPoolId` dimension when the event names no pool.
pub const UNKNOWN_POOL: &str = "UNKNOWN";

/// The most characters the specification allows in a dimension value.
const MAX_DIMENSION_CHARS: usize = 1024;

/// The `Country` dimension: the decision's country if `of_interest` says so
/// (in the trigger: the policy names it, [`CountryPolicy::lists`]), else
/// [`OTHER_COUNTRY`].
///
/// [`CountryPolicy::lists`]: crate::policy::CountryPolicy::lists
pub fn country_dimension(
    country: Option<Country>,
    of_interest: impl Fn(Country) -> bool,
) -> String {
    match country {
        Some(c) if of_interest(c) => c.as_str().to_string(),
        _ => OTHER_COUNTRY.to_string(),
    }
}

/// The `Reason` dimension: for a block, the code of the finding that names it
/// ([`Decision::blocking`]); for a decision that would block once the
/// trigger enforces, the finding that would ([`Decision::would_block_by`]);
/// otherwise the first finding's code; else [`NO_REASON`]. Reason codes are
/// a closed set.
pub fn reason_dimension(d: &Decision) -> String {
    let named = match d.verdict {
        Verdict::Block => d.blocking(),
        Verdict::Allow | Verdict::Monitor => d.would_block_by(),
    };
    named
        .or_else(|| d.findings.first())
        .map_or_else(|| NO_REASON.to_string(), |f| f.reason.code())
}

fn pool_dimension(user_pool_id: &str) -> String {
    if user_pool_id.trim().is_empty() {
        UNKNOWN_POOL.to_string()
    } else {
        user_pool_id.chars().take(MAX_DIMENSION_CHARS).collect()
    }
}

fn flag(b: bool) -> u64 {
    u64::from(b)
}

/// One EMF line for one CustomMessage decision.
///
/// Metrics: `Decisions` (1), `Blocked` and `Monitored` (1 or 0), `WouldBlock`
/// (1 when only `[trigger] mode` keeps an enforcing guard from blocking:
/// [`Decision::would_block`]), `StoreErrors`
/// (1 if a store call failed), `EstimatedSpendUSD` (the price-table cost when
/// the SMS is sent, i.e. allowed or monitored; 0 when blocked or unpriced) and
/// `LatencyMs`. Dimension sets: `[UserPoolId]`, `[UserPoolId, Verdict]`,
/// `[UserPoolId, Reason]`, `[UserPoolId, Country]`. `StoreErrorsTotal` (this
/// instance's running count) and `TriggerSource` ride along as plain members.
pub fn decision_emf(
    d: &Decision,
    country_of_interest: impl Fn(Country) -> bool,
    latency_us: u64,
    timestamp_ms: i64,
    user_pool_id: &str,
    store_errors_total: u64,
) -> Value {
    let sent = matches!(d.verdict, Verdict::Allow | Verdict::Monitor);
    let spend_usd = match (sent, d.cost_micro_usd) {
        (true, Some(micro)) => micro as f64 / 1e6,
        _ => 0.0,
    };
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [
                    ["UserPoolId"],
                    ["UserPoolId", "Verdict"],
                    ["UserPoolId", "Reason"],
                    ["UserPoolId", "Country"],
                ],
                "Metrics": [
                    {"Name": "Decisions", "Unit": "Count"},
                    {"Name": "Blocked", "Unit": "Count"},
                    {"Name": "Monitored", "Unit": "Count"},
                    {"Name": "WouldBlock", "Unit": "Count"},
                    {"Name": "EstimatedSpendUSD", "Unit": "None"},
                    {"Name": "StoreErrors", "Unit": "Count"},
                    {"Name": "LatencyMs", "Unit": "Milliseconds"},
                ],
            }],
        },
        "UserPoolId": pool_dimension(user_pool_id),
        "Verdict": d.verdict.to_string(),
        "Reason": reason_dimension(d),
        "Country": country_dimension(d.country, country_of_interest),
        "Decisions": 1,
        "Blocked": flag(d.verdict == Verdict::Block),
        "Monitored": flag(d.verdict == Verdict::Monitor),
        "WouldBlock": flag(d.would_block()),
        "EstimatedSpendUSD": spend_usd,
        "StoreErrors": flag(d.store_error),
        "LatencyMs": latency_us as f64 / 1000.0,
        "StoreErrorsTotal": store_errors_total,
        "TriggerSource": d.source.as_str(),
    })
}

/// Adds a `[FunctionName]` dimension set to an EMF line from this module, so
/// that a stack's alarms can select one function's metrics (one value per
/// function: bounded). Lines without a directive are left alone.
pub fn with_function(mut line: Value, function_name: &str) -> Value {
    let name: String = function_name.chars().take(MAX_DIMENSION_CHARS).collect();
    if name.trim().is_empty() {
        return line;
    }
    if let Some(sets) = line
        .pointer_mut("/_aws/CloudWatchMetrics/0/Dimensions")
        .and_then(Value::as_array_mut)
    {
        sets.insert(0, json!(["FunctionName"]));
        if let Some(obj) = line.as_object_mut() {
            obj.insert("FunctionName".into(), Value::String(name));
        }
    }
    line
}

/// One EMF line for one PostConfirmation / PostAuthentication event:
/// `Verifications` (1 if a verified send was recorded, else 0) and
/// `StoreErrors` (1 or 0), by `[UserPoolId]`.
pub fn verification_emf(
    recorded: bool,
    store_error: bool,
    timestamp_ms: i64,
    user_pool_id: &str,
) -> Value {
    pool_counts_emf(
        timestamp_ms,
        user_pool_id,
        [("Verifications", recorded), ("StoreErrors", store_error)],
    )
}

/// One EMF line of two Count metrics (1 or 0) by `[UserPoolId]`.
fn pool_counts_emf(timestamp_ms: i64, user_pool_id: &str, counts: [(&str, bool); 2]) -> Value {
    let [(a, x), (b, y)] = counts;
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["UserPoolId"]],
                "Metrics": [
                    {"Name": a, "Unit": "Count"},
                    {"Name": b, "Unit": "Count"},
                ],
            }],
        },
        "UserPoolId": pool_dimension(user_pool_id),
        a: flag(x),
        b: flag(y),
    })
}

/// One EMF line per PreSignUp decision: `PreSignUpRefused` (1 when a
/// registration was refused) and `PreSignUpWouldRefuse` (1 when a guard in
/// monitor mode would have refused it), by `[UserPoolId]`.
pub fn pre_sign_up_emf(
    refused: bool,
    would_refuse: bool,
    timestamp_ms: i64,
    user_pool_id: &str,
) -> Value {
    pool_counts_emf(
        timestamp_ms,
        user_pool_id,
        [
            ("PreSignUpRefused", refused),
            ("PreSignUpWouldRefuse", would_refuse),
        ],
    )
}

/// One EMF line per cohort state change ([`crate::guards::CohortEvent`]):
/// `CohortThrottled` (1 when a cohort of unknown numbers was throttled for
/// low conversion) and `CohortRecovered`, by `[UserPoolId]`. The cohort
/// (a country, or a block's size and keyed hash) and the conversions are
/// properties, not dimensions: blocks are unbounded. The stack alarms on
/// any throttling.
pub fn cohort_emf(e: &crate::guards::CohortEvent, timestamp_ms: i64, user_pool_id: &str) -> Value {
    let throttled = e.state == "throttled";
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["UserPoolId"]],
                "Metrics": [
                    {"Name": "CohortThrottled", "Unit": "Count"},
                    {"Name": "CohortRecovered", "Unit": "Count"},
                ],
            }],
        },
        "UserPoolId": pool_dimension(user_pool_id),
        "CohortThrottled": flag(throttled),
        "CohortRecovered": flag(!throttled),
        "Cohort": e.cohort,
        "ConversionPermille": e.conversion_permille,
        "BaselinePermille": e.baseline_permille,
        "DueCodes": e.due,
    })
}

/// One line per failed read of the published policy (a read that failed
/// or timed out, or a published policy that does not parse): while they
/// continue, a policy published since the instance started is not in force.
/// The stack alarms on any.
pub fn policy_fetch_failed_emf(timestamp_ms: i64) -> Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [
                    {"Name": "PolicyFetchFailed", "Unit": "Count"},
                ],
            }],
        },
        "PolicyFetchFailed": 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    use crate::engine::{Check, Finding, Reason};
    use crate::policy::Mode;
    use crate::source::TriggerSource;

    fn country(code: &str) -> Country {
        Country::parse(code).expect("a known region")
    }

    fn finding(reason: Reason, check: Check, mode: Mode) -> Finding {
        Finding {
            reason,
            check,
            mode,
            retry_after: None,
            would_block: false,
        }
    }

    /// Under `[trigger] mode = "monitor"`: what an enforcing guard finds is
    /// counted as `WouldBlock`, by the reason that would block; what a
    /// monitoring guard finds is not.
    #[test]
    fn monitored_rollouts_count_what_would_block() {
        let policy = crate::Policy::parse(
            "[trigger]\nmode = \"monitor\"\n[countries]\nallow = [\"US\"]\nmonitor = [\"MX\"]\n\
             crown-dependencies = \"separate\"\n",
            "test",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let engine = crate::Engine::new(std::sync::Arc::new(policy));
        let line = |phone: &str| {
            let d = engine.decide(TriggerSource::SignUp, phone);
            assert_eq!(d.verdict, Verdict::Monitor, "{d:?}");
            decision_emf(&d, |_| true, 1000, 0, "us-east-1_Abc", 0)
        };
        // Nigeria is on no list: blocked once the trigger enforces.
        let ng = line("+2348039472615");
        assert_eq!(ng["WouldBlock"], json!(1));
        assert_eq!(ng["Monitored"], json!(1));
        assert_eq!(ng["Reason"], json!("COUNTRY_NOT_ALLOWED"));
        // Mexico is monitored by its list: never blocked.
        let mx = line("+525583947261");
        assert_eq!(mx["WouldBlock"], json!(0));
        assert_eq!(mx["Reason"], json!("COUNTRY_MONITORED"));
    }

    fn decision(verdict: Verdict, findings: Vec<Finding>) -> Decision {
        Decision {
            verdict,
            source: TriggerSource::SignUp,
            country: Some(country("US")),
            number_type: None,
            findings,
            exempt: false,
            store_error: false,
            cost_micro_usd: Some(8_830),
            known: None,
            cohort_events: Vec::new(),
        }
    }

    #[test]
    fn countries_outside_the_lists_are_other() {
        let lists: BTreeSet<Country> = ["US", "MX", "NG"].map(country).into();
        let listed = |c: Country| lists.contains(&c);
        assert_eq!(country_dimension(Some(country("US")), listed), "US");
        assert_eq!(country_dimension(Some(country("NG")), listed), "NG");
        assert_eq!(country_dimension(Some(country("JM")), listed), "OTHER");
        assert_eq!(country_dimension(None, listed), "OTHER");
        assert_eq!(country_dimension(Some(country("US")), |_| false), "OTHER");
    }

    #[test]
    fn reason_is_the_one_that_names_the_block() {
        assert_eq!(reason_dimension(&decision(Verdict::Allow, vec![])), "NONE");
        let monitored = decision(
            Verdict::Monitor,
            vec![finding(
                Reason::CountryMonitored,
                Check::Country,
                Mode::Monitor,
            )],
        );
        assert_eq!(reason_dimension(&monitored), "COUNTRY_MONITORED");
        // A monitored finding first, then the enforced one that blocks.
        let blocked = decision(
            Verdict::Block,
            vec![
                finding(Reason::CountryMonitored, Check::Country, Mode::Monitor),
                finding(Reason::Cooldown, Check::Cooldown, Mode::Enforce),
                finding(Reason::BudgetDaily, Check::Budget, Mode::Enforce),
            ],
        );
        // A rate limit gives way to a non-rate-limit block, as in the block code.
        assert_eq!(reason_dimension(&blocked), "BUDGET_DAILY");
        let rate = decision(
            Verdict::Block,
            vec![finding(Reason::Cooldown, Check::Cooldown, Mode::Enforce)],
        );
        assert_eq!(reason_dimension(&rate), "COOLDOWN");
    }

    #[test]
    fn spend_counts_only_sent_sms() {
        let us = |c: Country| c == country("US");
        let allowed = decision_emf(
            &decision(Verdict::Allow, vec![]),
            us,
            1500,
            1,
            "eu-west-1_abc",
            0,
        );
        assert_eq!(allowed["EstimatedSpendUSD"], json!(0.00883));
        assert_eq!(allowed["LatencyMs"], json!(1.5));
        assert_eq!(allowed["Blocked"], json!(0));
        let blocked = decision(
            Verdict::Block,
            vec![finding(Reason::BudgetDaily, Check::Budget, Mode::Enforce)],
        );
        let line = decision_emf(&blocked, us, 0, 1, "", 3);
        assert_eq!(line["EstimatedSpendUSD"], json!(0.0));
        assert_eq!(line["Blocked"], json!(1));
        assert_eq!(line["UserPoolId"], json!("UNKNOWN"));
        assert_eq!(line["StoreErrorsTotal"], json!(3));
    }
}
