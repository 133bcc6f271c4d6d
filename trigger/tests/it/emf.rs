//! Conformance tests of the EMF lines that `pumpguard_engine::metrics` builds for
//! trigger decisions and verifications. CloudWatch drops a malformed EMF line
//! silently (the log survives, the metric does not), so a broken line would
//! only show up as a dashboard that stopped moving. These tests run real
//! decisions through the engine and the stateful guards (allowed, blocked by
//! number type and by country, monitored, rate-limited, a store error, an
//! unparsable number), validate every line against a JSON Schema transcribed
//! from AWS's "Specification: Embedded metric format"
//! (`tests/fixtures/emf-schema.json`), and then check the specification's
//! cross-field rules the schema cannot express: each dimension key names a
//! root string member, each metric name a root number (or array of at most
//! 100 numbers). They also pin the cardinality bounds (verdict, reason code,
//! country from the policy's lists or `OTHER`) and that no phone number or
//! phone hash reaches a line.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::metrics::{decision_emf, verification_emf, NAMESPACE};
use pumpguard_engine::stateful::{judge, Subject};
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Country, Decision, Engine, Policy, TriggerSource, Verdict};

/// 2026-11-21T12:00:00Z.
const T0: i64 = 1_795_262_400;
const TS_MS: i64 = T0 * 1000 + 123;
const POOL: &str = "eu-west-1_Abc123XYZ";

const US: &str = "+14155552671";
const PREMIUM: &str = "+19002345678";
const MEXICO: &str = "+525548172936";
const JAMAICA: &str = "+18762101234";
const JUNK: &str = "call me";

const VERDICTS: [&str; 3] = ["allow", "monitor", "block"];

fn schema() -> Value {
    let text = include_str!("../fixtures/emf-schema.json");
    serde_json::from_str(text).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema = schema();
    if let Err(e) = jsonschema::draft7::meta::validate(&schema) {
        panic!("emf-schema.json is not a valid draft-07 schema: {e}");
    }
    jsonschema::draft7::new(&schema).unwrap()
}

fn schema_errors(v: &jsonschema::Validator, line: &Value) -> Vec<String> {
    v.iter_errors(line)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn engine() -> Engine {
    Engine::new(Arc::new(Policy::example()))
}

fn keys() -> PhoneHasher {
    PhoneHasher::new(b"test-key-0123456789").unwrap()
}

/// What the caller passes: every country named in the policy's lists.
fn countries_of_interest(e: &Engine) -> BTreeSet<Country> {
    let c = &e.policy().countries;
    c.allow
        .iter()
        .chain(&c.monitor)
        .chain(&c.block)
        .copied()
        .collect()
}

async fn judged(e: &Engine, store: &MemoryStore, phone: &str, now: i64) -> Decision {
    let subject = Subject {
        source: TriggerSource::SignUp,
        phone,
        user: None,
        now,
    };
    judge(e, store, &keys(), subject).await
}

/// The specification's rules on the root node's target members, which a JSON
/// Schema cannot state (its property names come from the directives).
fn spec_cross_field_errors(line: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(root) = line.as_object() else {
        return vec!["the root node is not an object".into()];
    };
    let directives = line
        .pointer("/_aws/CloudWatchMetrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, directive) in directives.iter().enumerate() {
        let sets = directive["Dimensions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for key in sets
            .iter()
            .flat_map(|s| s.as_array().cloned().unwrap_or_default())
        {
            let key = key.as_str().unwrap_or_default();
            match root.get(key) {
                Some(Value::String(s)) if s.chars().count() <= 1024 => {}
                Some(Value::String(_)) => errors.push(format!(
                    "directive {i}: dimension {key} exceeds 1024 characters"
                )),
                Some(other) => errors.push(format!(
                    "directive {i}: dimension {key} is not a string: {other}"
                )),
                None => errors.push(format!(
                    "directive {i}: dimension {key} is not a root member"
                )),
            }
        }
        for metric in directive["Metrics"].as_array().cloned().unwrap_or_default() {
            let name = metric["Name"].as_str().unwrap_or_default();
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                Some(other) => errors.push(format!(
                    "directive {i}: metric {name} is not a number or <= 100 numbers: {other}"
                )),
                None => errors.push(format!("directive {i}: metric {name} is not a root member")),
            }
        }
    }
    errors
}

/// Schema, cross-field rules, bounded dimensions and no phone in the line.
fn assert_valid_line(
    v: &jsonschema::Validator,
    line: &Value,
    phone: &str,
    countries: &BTreeSet<Country>,
) {
    let pretty = serde_json::to_string_pretty(line).unwrap();
    let schema = schema_errors(v, line);
    assert!(schema.is_empty(), "schema: {schema:#?}\n{pretty}");
    let cross = spec_cross_field_errors(line);
    assert!(cross.is_empty(), "cross-field: {cross:#?}\n{pretty}");

    // The line is one JSON object on one line (what the Lambda writes).
    let text = serde_json::to_string(line).unwrap();
    assert!(!text.contains('\n'));
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), *line);

    assert_eq!(line["_aws"]["Timestamp"], json!(TS_MS));
    assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    assert_eq!(line["UserPoolId"], POOL);

    // Bounded dimensions.
    if let Some(verdict) = line.get("Verdict") {
        assert!(VERDICTS.contains(&verdict.as_str().unwrap()), "{pretty}");
    }
    if let Some(country) = line.get("Country").and_then(Value::as_str) {
        let listed = Country::parse(country).is_some_and(|c| countries.contains(&c));
        assert!(listed || country == "OTHER", "unbounded country {country}");
    }
    if let Some(reason) = line.get("Reason").and_then(Value::as_str) {
        assert!(
            !reason.is_empty() && reason.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
            "reason {reason} is not a reason code"
        );
    }

    // No phone number, in any spelling, and no hash of it.
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let hashes = [keys().hash(phone), PhoneHasher::unkeyed().hash(phone)];
    for (key, value) in line.as_object().unwrap() {
        let value = value.to_string();
        if digits.len() >= 6 {
            assert!(!value.contains(&digits), "{key} holds the phone's digits");
            assert!(
                !value.contains(&digits[digits.len() - 6..]),
                "{key} holds the phone's tail"
            );
        }
        for h in &hashes {
            assert!(!value.contains(h.as_str()), "{key} holds the phone hash");
        }
    }
}

fn metric(line: &Value, name: &str) -> f64 {
    line[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[test]
fn the_schema_follows_the_specification() {
    let v = validator();
    // The specification's own example is valid.
    let example = json!({
        "_aws": {
            "Timestamp": 1_574_109_732_004_i64,
            "CloudWatchMetrics": [{
                "Namespace": "lambda-function-metrics",
                "Dimensions": [["functionVersion"]],
                "Metrics": [{"Name": "time", "Unit": "Milliseconds", "StorageResolution": 60}]
            }]
        },
        "functionVersion": "$LATEST",
        "time": 100,
        "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
    });
    assert!(schema_errors(&v, &example).is_empty());
    assert!(spec_cross_field_errors(&example).is_empty());
    for unit in [
        "None",
        "Count",
        "Count/Second",
        "Terabits/Second",
        "Percent",
    ] {
        let mut line = example.clone();
        line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!(unit);
        assert!(schema_errors(&v, &line).is_empty(), "{unit} rejected");
    }

    // And it rejects what the specification forbids.
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut line = example.clone();
        edit(&mut line);
        line
    };
    let rejected = [
        broken(&|l| {
            l["_aws"].as_object_mut().unwrap().remove("Timestamp");
        }),
        broken(&|l| l["_aws"]["Timestamp"] = json!(1.5)),
        broken(&|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("")),
        broken(&|l| l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([])),
        broken(&|l| {
            let keys: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
            l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([keys]);
        }),
        broken(&|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Dollars")),
        broken(&|l| {
            let defs: Vec<Value> = (0..101).map(|i| json!({"Name": format!("m{i}")})).collect();
            l["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(defs);
        }),
        broken(&|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Extra"] = json!(1)),
        broken(&|l| {
            l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] = json!("1")
        }),
    ];
    for line in &rejected {
        assert!(!schema_errors(&v, line).is_empty(), "accepted: {line}");
    }
    let cross_rejected = [
        broken(&|l| {
            l.as_object_mut().unwrap().remove("functionVersion");
        }),
        broken(&|l| l["functionVersion"] = json!(7)),
        broken(&|l| l["time"] = json!("100")),
        broken(&|l| l["time"] = json!((0..101).collect::<Vec<_>>())),
        broken(&|l| l["functionVersion"] = json!("v".repeat(1025))),
    ];
    for line in &cross_rejected {
        assert!(
            !spec_cross_field_errors(line).is_empty(),
            "accepted: {line}"
        );
    }
}

#[tokio::test]
async fn an_allowed_us_sms() {
    let (v, e, store) = (validator(), engine(), MemoryStore::new());
    let countries = countries_of_interest(&e);
    let d = judged(&e, &store, US, T0).await;
    assert_eq!(d.verdict, Verdict::Allow, "{d:?}");
    let line = decision_emf(&d, |c| countries.contains(&c), 2_345, TS_MS, POOL, 0);
    assert_valid_line(&v, &line, US, &countries);
    assert_eq!(line["Verdict"], "allow");
    assert_eq!(line["Reason"], "NONE");
    assert_eq!(line["Country"], "US");
    assert_eq!(metric(&line, "Decisions"), 1.0);
    assert_eq!(metric(&line, "Blocked"), 0.0);
    assert_eq!(metric(&line, "Monitored"), 0.0);
    assert_eq!(metric(&line, "StoreErrors"), 0.0);
    assert_eq!(metric(&line, "LatencyMs"), 2.345);
    let cost = d.cost_micro_usd.unwrap();
    assert!(cost > 0);
    assert_eq!(metric(&line, "EstimatedSpendUSD"), cost as f64 / 1e6);
}

#[test]
fn a_blocked_premium_rate_number() {
    let (v, e) = (validator(), engine());
    let countries = countries_of_interest(&e);
    let d = e.decide(TriggerSource::SignUp, PREMIUM);
    assert_eq!(d.verdict, Verdict::Block);
    let line = decision_emf(&d, |c| countries.contains(&c), 80, TS_MS, POOL, 0);
    assert_valid_line(&v, &line, PREMIUM, &countries);
    assert_eq!(line["Verdict"], "block");
    assert_eq!(line["Reason"], "NUMBER_TYPE_PREMIUM_RATE");
    assert_eq!(line["Country"], "US");
    assert_eq!(metric(&line, "Blocked"), 1.0);
    assert_eq!(metric(&line, "EstimatedSpendUSD"), 0.0);
}

#[test]
fn an_unlisted_country_and_an_unparsable_number_are_other() {
    let (v, e) = (validator(), engine());
    let countries = countries_of_interest(&e);
    let jm = e.decide(TriggerSource::ResendCode, JAMAICA);
    let line = decision_emf(&jm, |c| countries.contains(&c), 80, TS_MS, POOL, 0);
    assert_valid_line(&v, &line, JAMAICA, &countries);
    assert_eq!(line["Country"], "OTHER");
    assert_eq!(line["Reason"], "COUNTRY_NOT_ALLOWED");
    assert_eq!(line["TriggerSource"], "CustomMessage_ResendCode");

    let junk = e.decide(TriggerSource::SignUp, JUNK);
    assert_eq!(junk.country, None);
    let line = decision_emf(&junk, |c| countries.contains(&c), 80, TS_MS, POOL, 0);
    assert_valid_line(&v, &line, JUNK, &countries);
    assert_eq!(line["Country"], "OTHER");
    assert_eq!(line["Reason"], "COUNTRY_UNKNOWN");
}

#[tokio::test]
async fn a_monitored_sms_is_sent_and_spends() {
    let (v, e, store) = (validator(), engine(), MemoryStore::new());
    let countries = countries_of_interest(&e);
    let d = judged(&e, &store, MEXICO, T0).await;
    assert_eq!(d.verdict, Verdict::Monitor, "{d:?}");
    let line = decision_emf(&d, |c| countries.contains(&c), 1_000, TS_MS, POOL, 0);
    assert_valid_line(&v, &line, MEXICO, &countries);
    assert_eq!(line["Verdict"], "monitor");
    assert_eq!(line["Reason"], "COUNTRY_MONITORED");
    assert_eq!(line["Country"], "MX");
    assert_eq!(metric(&line, "Monitored"), 1.0);
    // Monitored by its list: it would not block once the trigger enforces.
    assert_eq!(metric(&line, "WouldBlock"), 0.0);
    assert_eq!(metric(&line, "Blocked"), 0.0);
    assert!(metric(&line, "EstimatedSpendUSD") > 0.0);
}

#[tokio::test]
async fn a_rate_limited_sms_with_a_store_error() {
    let (v, e, store) = (validator(), engine(), MemoryStore::new());
    let countries = countries_of_interest(&e);
    assert_eq!(judged(&e, &store, US, T0).await.verdict, Verdict::Allow);
    let d = judged(&e, &store, US, T0 + 10).await;
    assert_eq!(d.verdict, Verdict::Block, "{d:?}");
    let mut d = d.clone();
    d.store_error = true;
    let line = decision_emf(&d, |c| countries.contains(&c), 701_000, TS_MS, POOL, 4);
    assert_valid_line(&v, &line, US, &countries);
    assert_eq!(line["Reason"], "COOLDOWN");
    assert_eq!(metric(&line, "StoreErrors"), 1.0);
    assert_eq!(metric(&line, "Blocked"), 1.0);
    assert_eq!(metric(&line, "EstimatedSpendUSD"), 0.0);
    assert_eq!(metric(&line, "LatencyMs"), 701.0);
    assert_eq!(line["StoreErrorsTotal"], 4);
}

#[test]
fn verification_lines() {
    let v = validator();
    let none = BTreeSet::new();
    for (recorded, store_error) in [(true, false), (false, false), (false, true)] {
        let line = verification_emf(recorded, store_error, TS_MS, POOL);
        assert_valid_line(&v, &line, US, &none);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["UserPoolId"]])
        );
        assert_eq!(
            metric(&line, "Verifications"),
            f64::from(u8::from(recorded))
        );
        assert_eq!(
            metric(&line, "StoreErrors"),
            f64::from(u8::from(store_error))
        );
    }
}

#[test]
fn the_function_dimension_keeps_lines_valid() {
    let v = validator();
    let engine = Engine::new(Arc::new(Policy::example()));
    let d = engine.decide(TriggerSource::SignUp, PREMIUM);
    let countries = countries_of_interest(&engine);
    let line = pumpguard_engine::metrics::with_function(
        decision_emf(&d, |c| countries.contains(&c), 80, TS_MS, POOL, 0),
        "pumpguard-trigger",
    );
    assert_valid_line(&v, &line, PREMIUM, &countries);
    assert_eq!(line["FunctionName"], "pumpguard-trigger");
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
        json!(["FunctionName"])
    );
    let line = pumpguard_engine::metrics::with_function(
        pumpguard_engine::metrics::verification_emf(true, false, TS_MS, POOL),
        "pumpguard-trigger",
    );
    assert_valid_line(&v, &line, US, &BTreeSet::new());
}

#[test]
fn a_failed_policy_read_is_one_valid_line_per_failure() {
    let v = validator();
    let line = pumpguard_engine::metrics::with_function(
        pumpguard_engine::metrics::policy_fetch_failed_emf(TS_MS),
        "pumpguard-trigger",
    );
    let errors: Vec<String> = v.iter_errors(&line).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}: {line}");
    assert_eq!(line["PolicyFetchFailed"], 1);
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
        "PolicyFetchFailed"
    );
    // The stack's alarm selects it by function.
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
        json!(["FunctionName"])
    );
}

#[test]
fn a_cohort_state_change_is_one_valid_line() {
    let v = validator();
    let e = pumpguard_engine::guards::CohortEvent {
        cohort: "IE block of 1e3 numbers #3f9a2c1b0d4e".into(),
        state: "throttled",
        conversion_permille: 40,
        baseline_permille: 910,
        due: 25,
    };
    let line = pumpguard_engine::metrics::with_function(
        pumpguard_engine::metrics::cohort_emf(&e, TS_MS, POOL),
        "pumpguard-trigger",
    );
    let errors: Vec<String> = v.iter_errors(&line).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}: {line}");
    assert_eq!(line["CohortThrottled"], 1);
    assert_eq!(line["CohortRecovered"], 0);
    assert_eq!(line["Cohort"], "IE block of 1e3 numbers #3f9a2c1b0d4e");
    // The stack's alarm selects it by function; the cohort is no dimension.
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName"], ["UserPoolId"]])
    );
}
