//! No log line, metric line or Lambda error of the trigger shows a phone
//! number or a secret.
//!
//! Every number of `tests/fixtures/test-phones.txt`, written in every usual
//! format, goes through the Lambda adapter (`trigger::handle`) as the phone
//! attribute, the user name and client metadata, for every trigger source
//! (the seven CustomMessage ones, both verification triggers, an unknown
//! one), twice (the second send hits the cooldown), under the example
//! policy and a policy with detailed disclosure, exemptions and fail-closed
//! store errors; on the in-memory store, on DynamoDB (moto,
//! `PUMPGUARD_TEST_MOTO`, required) and on a store that refuses connections;
//! plus malformed events carrying numbers where they do not belong.
//! Everything is captured: the JSON log lines (every level of pumpguard's
//! targets, info of the rest), the EMF metric lines, the errors returned to
//! Cognito, and the table's items. `support/privacy.rs` then looks for the
//! numbers and for the phone-hash key and the AWS secret key.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;
use pumpguard_testkit::privacy;

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::store::{MemoryStore, Store};
use pumpguard_engine::{Engine, Policy};
use pumpguard_trigger::dynamo::DynamoStore;
use pumpguard_trigger::trigger::{handle, MetricsSink, TriggerContext};
use serde_json::{json, Value};

use privacy::{assert_no_leaks, formats, leaks, test_phones, TestPhone};

const HASH_KEY: &str = "privacy-test-phone-hash-key-7Qx2";
const AWS_SECRET: &str = "privacy-test-aws-secret-key-Zr8w";
/// 2026-11-21T12:00:00Z.
const NOW: i64 = 1_795_262_400;

const SOURCES: [&str; 12] = [
    "CustomMessage_SignUp",
    "CustomMessage_AdminCreateUser",
    "CustomMessage_ResendCode",
    "CustomMessage_ForgotPassword",
    "CustomMessage_UpdateUserAttribute",
    "CustomMessage_VerifyUserAttribute",
    "CustomMessage_Authentication",
    "PostConfirmation_ConfirmSignUp",
    "PostAuthentication_Authentication",
    "PreSignUp_SignUp",
    "PreSignUp_ExternalProvider",
    "CustomMessage_SomethingNew",
];

/// The test binary's subscriber, whose process-wide buffer holds every
/// line pumpguard's targets wrote, at every level.
fn capture_logs() {
    crate::common::logs::install();
}

fn take_log() -> String {
    crate::common::logs::take_all()
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signup-allow.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A Cognito event for `source` with `phone` wherever a caller could put it.
fn event(source: &str, phone: &str) -> Value {
    let mut e = fixture();
    e["triggerSource"] = json!(source);
    e["userName"] = json!(phone);
    e["request"]["userAttributes"]["phone_number"] = json!(phone);
    e["request"]["userAttributes"]["sub"] = json!(format!("sub-{phone}"));
    e["request"]["clientMetadata"] = json!({ "phone": phone, "note": format!("call {phone}") });
    e
}

/// Malformed events with numbers in them.
fn malformed(p: &TestPhone) -> Vec<Value> {
    let n = p.e164();
    let digits: u64 = format!("{}{}", p.country_code, p.national).parse().unwrap();
    let mut no_source = event("CustomMessage_SignUp", &n);
    no_source.as_object_mut().unwrap().remove("triggerSource");
    let mut as_number = event("CustomMessage_SignUp", &n);
    as_number["request"]["userAttributes"]["phone_number"] = json!(digits);
    let mut as_list = event("CustomMessage_ResendCode", &n);
    as_list["request"]["userAttributes"]["phone_number"] = json!([n.clone()]);
    let mut no_request = event("CustomMessage_SignUp", &n);
    no_request["request"] = json!(n.clone());
    let mut source_is_number = event("CustomMessage_SignUp", &n);
    source_is_number["triggerSource"] = json!(n.clone());
    let mut pre_sign_up_no_request = event("PreSignUp_SignUp", &n);
    pre_sign_up_no_request["request"] = json!(n.clone());
    vec![
        no_source,
        as_number,
        as_list,
        no_request,
        source_is_number,
        pre_sign_up_no_request,
    ]
}

fn policy(extra: &str, phones: &[TestPhone]) -> Engine {
    let exempt = &phones
        .iter()
        .find(|p| p.note.contains("allow-numbers"))
        .expect("an allow-numbers test number")
        .e164();
    let text = pumpguard_engine::policy::EXAMPLE_POLICY
        .replace(
            "allow-numbers = []",
            &format!("allow-numbers = [\"{exempt}\"]"),
        )
        .replace("admin-create-user = false", "admin-create-user = true")
        + extra;
    Engine::new(Arc::new(common::unhurried(
        Policy::parse(&text, "privacy.toml").unwrap(),
    )))
}

fn with_section(base: &str, section: &str, key: &str, value: &str) -> String {
    let text = base.to_string();
    let start = text.find(&format!("\n[{section}]\n")).unwrap();
    let rel = text[start..].find(&format!("\n{key} = ")).unwrap() + 1;
    let at = start + rel;
    let end = at + text[at..].find('\n').unwrap();
    format!("{}{key} = {value}{}", &text[..at], &text[end..])
}

fn engines(phones: &[TestPhone]) -> Vec<(&'static str, Engine)> {
    let detailed = with_section(
        pumpguard_engine::policy::EXAMPLE_POLICY,
        "trigger",
        "disclosure",
        "\"detailed\"",
    );
    let closed = with_section(
        &with_section(&detailed, "state", "on-store-error", "\"fail-closed\""),
        "state",
        "timeout-ms",
        "200",
    );
    let base = policy("", phones);
    let build = |text: &str| {
        let t = text.replace(
            "allow-numbers = []",
            &format!(
                "allow-numbers = [\"{}\"]",
                phones
                    .iter()
                    .find(|p| p.note.contains("allow-numbers"))
                    .unwrap()
                    .e164()
            ),
        );
        Engine::new(Arc::new(Policy::parse(&t, "privacy.toml").unwrap()))
    };
    // The first two may wait as long as moto takes (a busy machine must not
    // turn their decisions into store errors); the third fails closed after
    // 200 ms on purpose.
    let unhurried = |e: Engine| Engine::new(Arc::new(common::unhurried((**e.policy()).clone())));
    vec![
        ("example", base),
        ("detailed", unhurried(build(&detailed))),
        ("fail-closed", build(&closed)),
    ]
}

/// Runs `events` through the adapter on `store`; returns the errors'
/// messages and the EMF lines.
async fn run<S: Store>(
    engine: &Engine,
    store: S,
    events: Vec<Value>,
) -> (Vec<String>, Vec<String>) {
    let ctx = TriggerContext::new(
        store,
        PhoneHasher::new(HASH_KEY.as_bytes()).unwrap(),
        PhoneHasher::new(HASH_KEY.as_bytes()).unwrap(),
    )
    .with_function_name(Some("pumpguard-trigger".into()))
    .with_metrics(MetricsSink::Capture(Mutex::default()));
    let mut errors = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let now = NOW + i64::try_from(i).unwrap();
        if let Err(err) = handle(engine, &ctx, e, now).await {
            errors.push(format!("{} {} {err:?}", err.error_type, err.message));
        }
    }
    (errors, ctx.metrics.captured())
}

fn dynamo(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "privacy-test",
            AWS_SECRET,
            None,
            None,
            "tests",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[test]
fn the_checker_catches_planted_leaks() {
    privacy::self_test();
}

#[tokio::test]
async fn no_log_line_metric_or_error_shows_a_number_or_a_secret() {
    capture_logs();
    let phones = test_phones();
    let every: Vec<Value> = phones
        .iter()
        .flat_map(|p| {
            formats(p)
                .into_iter()
                .flat_map(|f| {
                    SOURCES
                        .iter()
                        .flat_map(move |s| [event(s, &f), event(s, &f)])
                })
                .chain(malformed(p))
        })
        .collect();
    let e164_only: Vec<Value> = phones
        .iter()
        .flat_map(|p| {
            [
                "CustomMessage_SignUp",
                "PostConfirmation_ConfirmSignUp",
                "CustomMessage_ResendCode",
            ]
            .iter()
            .flat_map(|s| [event(s, &p.e164()), event(s, &p.e164())])
            .collect::<Vec<_>>()
        })
        .collect();

    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut errors_seen = 0;
    let mut emf_seen = 0;
    take_log();
    let ddb = dynamo(&common::moto_endpoint());
    let table = common::fresh_table(&ddb, "privacy").await;
    for (name, engine) in engines(&phones) {
        let (errors, emf) = run(&engine, MemoryStore::new(), every.clone()).await;
        errors_seen += errors.len();
        emf_seen += emf.len();
        outputs.push((format!("{name}, memory store: errors"), errors.join("\n")));
        outputs.push((format!("{name}, memory store: EMF"), emf.join("\n")));

        let (errors, emf) = run(
            &engine,
            DynamoStore::new(ddb.clone(), &table),
            e164_only.clone(),
        )
        .await;
        outputs.push((format!("{name}, DynamoDB: errors"), errors.join("\n")));
        outputs.push((format!("{name}, DynamoDB: EMF"), emf.join("\n")));

        let refused = DynamoStore::new(dynamo("http://127.0.0.1:1"), "refused");
        let (errors, emf) = run(&engine, refused, e164_only[..6].to_vec()).await;
        outputs.push((format!("{name}, refused store: errors"), errors.join("\n")));
        outputs.push((format!("{name}, refused store: EMF"), emf.join("\n")));
    }
    let log = take_log();

    // The capture works: decisions were logged, blocked, measured; store
    // errors happened; and a planted line would be caught.
    let decisions = log.lines().filter(|l| l.contains("\"phone_hash\"")).count();
    assert!(decisions > 1000, "{decisions} decision lines captured");
    assert!(
        log.contains("\"store_error\":true"),
        "no store error was logged"
    );
    assert!(
        errors_seen > 100 && emf_seen > 1000,
        "{errors_seen} errors, {emf_seen} EMF lines"
    );
    tracing::warn!(target: "pumpguard::decision", "planted {}", phones[0].e164());
    assert!(!leaks(&take_log(), &phones, &[], "planted").is_empty());
    outputs.push(("trigger log".into(), log));

    // The table's items: keys are keyed hashes.
    let items = ddb
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert!(items.len() > 20, "{} items", items.len());
    let items: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    outputs.push(("table items".into(), items.join("\n")));

    assert_no_leaks(&outputs, &phones, &[HASH_KEY, AWS_SECRET]);
}
